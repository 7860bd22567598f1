#!/usr/bin/env bash
# Installs the Debian packages the operator's confinement tests need, when missing:
#   libseccomp-dev  links the tests that compile generated seccomp profiles with libseccomp
#                   (operator/tests/confinement.rs, through the `libseccomp` crate)
#   apparmor        apparmor_parser, which compiles the generated AppArmor profiles
#                   (parse only, nothing is loaded into the kernel)
#   python3         a threaded program whose learned seccomp profile is tested
# Idempotent: installs nothing when everything is there. Needs root (apt-get) otherwise,
# and says so.
set -euo pipefail

packages=(libseccomp-dev apparmor python3)
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
    echo "prerequisites: missing Debian packages: ${missing[*]}; run as root: apt-get install ${missing[*]}" >&2
    exit 1
fi

echo "prerequisites: installing ${missing[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "prerequisites: installed ${missing[*]}"
