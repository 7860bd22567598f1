#!/usr/bin/env bash
# Builds (once per machine) the helm binary the chart tests run. Prints its path on the last
# line of stdout; progress goes to stderr.
#
# helm comes from the Go module proxy: helm/go.mod requires helm.sh/helm/v3 at one pinned
# release (to move: `cd helm && go get -tool helm.sh/helm/v3/cmd/helm@v3.X.Y && go mod tidy`).
# The binary is cached outside the clone, keyed by that release and a hash of go.mod, go.sum
# and this script, in
#   ${HARDENING_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hardening-operator}/helm-<version>-<hash>/helm
# so only the first run on a machine pays for the build (about 2 minutes on 2 cores).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
module="$here/helm"
prefix=helm
# shellcheck source=lib.sh
. "$here/lib.sh"

version=$(sed -n 's/^[[:space:]]*helm\.sh\/helm\/v3 \(v[0-9.]*\).*/\1/p' "$module/go.mod")
[ -n "$version" ] || die "cannot read the pinned helm.sh/helm/v3 version from $module/go.mod"
# helm's Makefile derives the Kubernetes version it assumes without a cluster (`helm
# template`, `helm lint`) from its client-go: v0.X.Y means v1.X. Unset, it would be v1.20.
client_go=$(sed -n 's/^[[:space:]]*k8s\.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$module/go.mod")
[ -n "$client_go" ] || die "cannot read the k8s.io/client-go version from $module/go.mod"
hash=$(cat "$module/go.mod" "$module/go.sum" "$here/build-helm.sh" | sha256sum | cut -c1-12)
cache_root=${HARDENING_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hardening-operator}
bin="$cache_root/helm-$version-$hash"

build() {
  local pkg=helm.sh/helm/v3
  say "building helm $version from the Go module proxy (first run on this machine: about 2 minutes; later runs reuse $bin)"
  export CGO_ENABLED=0  # a static helm, like its release builds
  go_build "$module" "$bin/helm" "$pkg/cmd/helm" \
    "-s -w -X $pkg/internal/version.version=$version -X $pkg/internal/version.gitTreeState=clean \
     -X $pkg/pkg/lint/rules.k8sVersionMajor=1 -X $pkg/pkg/lint/rules.k8sVersionMinor=$client_go \
     -X $pkg/pkg/chartutil.k8sVersionMajor=1 -X $pkg/pkg/chartutil.k8sVersionMinor=$client_go"
}

mkdir -p "$bin"
# One build at a time per cache directory, even with parallel test runs.
exec 9>"$bin/.lock"
flock 9
if [ ! -x "$bin/helm" ]; then
  check_go "helm $version"
  build
fi
"$bin/helm" version --short >/dev/null 2>&1 || die "$bin/helm does not run"
echo "$bin/helm"
