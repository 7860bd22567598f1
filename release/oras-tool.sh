#!/usr/bin/env bash
# Builds (once per machine) oras, which release/release.sh --push uses to push the image's
# OCI layout and attach its SBOM, from the Go module proxy at the version pinned below,
# cached in
#   ${HARDENING_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hardening-operator}/oras-<version>/oras
# Prints its path on the last line of stdout; progress goes to stderr.
set -euo pipefail
version=v1.3.6
here=$(cd "$(dirname "$0")/../tests/controlplane" && pwd)
prefix=oras
# shellcheck source=../tests/controlplane/lib.sh
. "$here/lib.sh"
cache_root=${HARDENING_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hardening-operator}
bin="$cache_root/oras-$version"
mkdir -p "$bin"
exec 9>"$bin/.lock"
flock 9
if [ ! -x "$bin/oras" ]; then
  check_go "oras $version"
  say "building oras $version from the Go module proxy (first push from this machine; later runs reuse $bin)"
  export CGO_ENABLED=0
  GOFLAGS= GOBIN="$bin" go install "oras.land/oras/cmd/oras@$version" >&2
fi
"$bin/oras" version >/dev/null 2>&1 || die "$bin/oras does not run"
echo "$bin/oras"
