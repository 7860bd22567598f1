#!/usr/bin/env bash
# The project's one test command: every unit and integration test, against a real local
# control plane (etcd + kube-apiserver + kube-controller-manager) and, for the tests whose
# pods really run, a node (containerd + kubelet + kube-scheduler) that the harness builds
# and starts itself. A first run on a machine builds Kubernetes (about 11 minutes on 2
# cores) and says so; later runs reuse the cached binaries. Needs root for the node.
#
#   tests/run.sh                  # everything
#   tests/run.sh -- smoke         # extra arguments go to `cargo test` (here: a name filter)
#   HARDENING_TEST_KUBECONFIG=~/.kube/config tests/run.sh   # against an existing cluster
set -euo pipefail
cd "$(dirname "$0")/.."

die() { printf 'tests/run.sh: %s\n' "$*" >&2; exit 1; }
command -v cargo >/dev/null || die "cargo is missing: install Rust 1.89 or newer with rustup (https://rustup.rs)"

# Debian packages the tests link or run (libseccomp-dev, apparmor, python3; for the node
# containerd, runc, containernetworking-plugins, busybox-static).
tests/prerequisites.sh

if [ -z "${HARDENING_TEST_KUBECONFIG:-}" ]; then
  # Build (or find cached) Kubernetes binaries and etcd before cargo hides the output.
  HARDENING_K8S_BIN_DIR=$(tests/controlplane/build.sh | tail -n 1)
  export HARDENING_K8S_BIN_DIR
else
  [ -r "$HARDENING_TEST_KUBECONFIG" ] || die "HARDENING_TEST_KUBECONFIG=$HARDENING_TEST_KUBECONFIG is not a readable file"
fi

# What already exists (say, a demo control plane) is not this run's to account for.
# Builds that take minutes on a fresh machine run here, where their progress shows, rather
# than inside a test competing with the timed ones: helm for the chart tests, and the
# static binary of the container image (tests/integration/image.rs then finds it built).
HARDENING_HELM=$(tests/controlplane/build-helm.sh | tail -n 1)
export HARDENING_HELM
# Prometheus' PromQL parser, for the chart's dashboard and alert rules (about a minute once).
HARDENING_PROMQL=$(tests/controlplane/build-promql.sh | tail -n 1)
export HARDENING_PROMQL
# compliance-trestle (pinned, from PyPI into a cached virtualenv; about a minute once): the
# OSCAL library the report tests validate the operator's OSCAL output with.
HARDENING_TRESTLE=$(tests/controlplane/install-trestle.sh | tail -n 1)
export HARDENING_TRESTLE
# The published OpenReports and wgpolicyk8s.io CRDs the policy report tests install (11 MB
# once, from the Go module proxy).
HARDENING_REPORT_CRDS=$(tests/controlplane/fetch-report-crds.sh | tail -n 1)
export HARDENING_REPORT_CRDS
# cargo-cyclonedx for the release recipe's SBOM (tests/integration/chart_release.rs runs
# release/release.sh): built once from crates.io, about 3 minutes on 2 cores, then cached.
release/sbom-tool.sh >/dev/null
# The release profile: the image's `dist` adds whole-program LTO, minutes more on 2 cores.
echo "tests/run.sh: building the static image binary (tests/build-static.sh --profile release)" >&2
HARDENING_STATIC_BINARY=$(tests/build-static.sh --profile release | tail -n 1)
export HARDENING_STATIC_BINARY

# What the control plane and the node make on this machine (tests/harness/node.rs says what
# the node makes and how its teardown removes it).
leftovers() {
  ls -d /dev/shm/hardening-controlplane-* "${TMPDIR:-/tmp}"/hardening-controlplane-* \
    /dev/shm/hardening-node-* "${TMPDIR:-/tmp}"/hardening-node-* 2>/dev/null
  # Components and shims name their directory; containers live in a node's cgroups.
  pgrep -f 'hardening-(controlplane|node)-[0-9]+-' | sed 's/^/pid /'
  grep -l ':/hardening-node-' /proc/[0-9]*/cgroup 2>/dev/null | sed 's/^/process in a node cgroup: /'
  ls -d /sys/fs/cgroup/*/hardening-node-* 2>/dev/null
  awk '$5 ~ /hardening-node-/ { print "mount " $5 }' /proc/self/mountinfo
  ip -o link show 2>/dev/null | awk -F': ' '$2 ~ /^hn-/ { sub(/@.*/, "", $2); print "link " $2 }'
  # containerd's and the kubelet's files outside the node's directory.
  find /run/containerd /var/lib/cni /var/log/containers 2>/dev/null
  for program in iptables ip6tables; do
    for table in filter nat mangle; do
      "$program" -t "$table" -S 2>/dev/null | grep KUBE- | sed "s/^/$program $table: /"
    done
  done
  # Kernel settings the kubelet changes at start-up (the harness puts them back).
  for setting in vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops \
    kernel/keys/root_maxkeys kernel/keys/root_maxbytes; do
    echo "sysctl $setting=$(cat "/proc/sys/$setting")"
  done
}
before=$(leftovers | sort || true)

cargo fmt --all -- --check || die "code is not formatted: run 'cargo fmt --all'"
extra=()
if [ "${1:-}" = "--" ]; then shift; extra=("$@"); fi
cargo test --workspace --locked "${extra[@]}"

# The harness must leave nothing behind: no directory, process, mount, cgroup, link, file,
# iptables chain or changed kernel setting of the control plane or the node.
after=$(leftovers | sort || true)
new=$(comm -13 <(printf '%s\n' "$before") <(printf '%s\n' "$after") | grep . || true)
[ -z "$new" ] || die "the test control plane or node left these behind: $(echo $new)"
echo "tests/run.sh: all tests passed; nothing of the control plane or the node left behind"
