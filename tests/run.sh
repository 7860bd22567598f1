#!/usr/bin/env bash
# The project's one test command: every unit and integration test, against a real local
# control plane (etcd + kube-apiserver + kube-controller-manager) that the harness builds
# and starts itself. A first run on a machine builds Kubernetes (about 8 minutes on 2
# cores) and says so; later runs reuse the cached binaries.
#
#   tests/run.sh                  # everything
#   tests/run.sh -- smoke         # extra arguments go to `cargo test` (here: a name filter)
#   HARDENING_TEST_KUBECONFIG=~/.kube/config tests/run.sh   # against an existing cluster
set -euo pipefail
cd "$(dirname "$0")/.."

die() { printf 'tests/run.sh: %s\n' "$*" >&2; exit 1; }
command -v cargo >/dev/null || die "cargo is missing: install Rust 1.89 or newer with rustup (https://rustup.rs)"

# Debian packages the tests link or run (libseccomp-dev, apparmor, python3).
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
echo "tests/run.sh: building the static image binary (tests/build-static.sh)" >&2
HARDENING_STATIC_BINARY=$(tests/build-static.sh | tail -n 1)
export HARDENING_STATIC_BINARY

leftovers() {
  ls -d /dev/shm/hardening-controlplane-* "${TMPDIR:-/tmp}"/hardening-controlplane-* 2>/dev/null
  pgrep -f 'hardening-controlplane-[0-9]+-' | sed 's/^/pid /'
}
before=$(leftovers | sort || true)

cargo fmt --all -- --check || die "code is not formatted: run 'cargo fmt --all'"
extra=()
if [ "${1:-}" = "--" ]; then shift; extra=("$@"); fi
cargo test --workspace --locked "${extra[@]}"

# The harness must leave nothing behind: no control-plane directory, no process.
after=$(leftovers | sort || true)
new=$(comm -13 <(printf '%s\n' "$before") <(printf '%s\n' "$after") | grep . || true)
[ -z "$new" ] || die "the test control plane left these behind: $(echo $new)"
echo "tests/run.sh: all tests passed; no control-plane process or directory left behind"
