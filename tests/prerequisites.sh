#!/usr/bin/env bash
# Installs the Debian packages the tests need, when missing:
#   libseccomp-dev  links the tests that compile generated seccomp profiles with libseccomp
#                   (operator/tests/confinement.rs, through the `libseccomp` crate)
#   apparmor        apparmor_parser, which compiles the generated AppArmor profiles
#                   (parse only, nothing is loaded into the kernel)
#   python3         a threaded program whose learned seccomp profile is tested
#   python3-venv    the virtualenv compliance-trestle is installed into, which validates the
#                   OSCAL report (tests/controlplane/install-trestle.sh)
#   chromium        renders the HTML compliance report headless (tests/integration/report.rs:
#                   a screenshot and the DOM)
#   lua5.1          runs the Argo CD health check (config/argocd/) over its test cases, as
#                   Argo CD's own Lua 5.1 interpreter does (tests/integration/argocd.rs)
# and, for the test node (tests/harness/node.rs: pods really run):
#   containerd, runc              the container runtime the kubelet drives (CRI)
#   containernetworking-plugins   the CNI bridge, host-local and loopback plugins
#   busybox-static                the one program of the workload and pause test images
# No service is started: a policy-rc.d refuses every start while apt-get runs (the harness
# starts its own containerd with its own configuration, directories and socket).
# Idempotent: installs nothing when everything is there. Needs root (apt-get) otherwise,
# and says so.
set -euo pipefail

packages=(libseccomp-dev apparmor python3 python3-venv chromium lua5.1 containerd runc containernetworking-plugins busybox-static)
missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$package")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "prerequisites: ${packages[*]} already installed"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "prerequisites: missing Debian packages: ${missing[*]}; run as root: apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

# Package scripts must not start containerd (or anything else) on this machine. An existing
# policy-rc.d is put back afterwards.
policy=/usr/sbin/policy-rc.d
saved=""
if [ -e "$policy" ]; then saved=$(mktemp); cp -p "$policy" "$saved"; fi
restore_policy() {
    if [ -n "$saved" ]; then mv "$saved" "$policy"; else rm -f "$policy"; fi
}
trap restore_policy EXIT
printf '#!/bin/sh\n# tests/prerequisites.sh: no service starts while packages are installed\nexit 101\n' > "$policy"
chmod +x "$policy"

echo "prerequisites: installing ${missing[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "prerequisites: installed ${missing[*]}"
