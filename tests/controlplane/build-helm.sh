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
say() { printf 'helm: %s\n' "$*" >&2; }
die() { printf 'helm: error: %s\n' "$*" >&2; exit 1; }

version=$(sed -n 's/^[[:space:]]*helm\.sh\/helm\/v3 \(v[0-9.]*\).*/\1/p' "$module/go.mod")
[ -n "$version" ] || die "cannot read the pinned helm.sh/helm/v3 version from $module/go.mod"
# helm's Makefile derives the Kubernetes version it assumes without a cluster (`helm
# template`, `helm lint`) from its client-go: v0.X.Y means v1.X. Unset, it would be v1.20.
client_go=$(sed -n 's/^[[:space:]]*k8s\.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$module/go.mod")
[ -n "$client_go" ] || die "cannot read the k8s.io/client-go version from $module/go.mod"
hash=$(cat "$module/go.mod" "$module/go.sum" "$here/build-helm.sh" | sha256sum | cut -c1-12)
cache_root=${HARDENING_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hardening-operator}
bin="$cache_root/helm-$version-$hash"

check_go() {
  command -v go >/dev/null || die "Go is missing: install Go 1.26.x from https://go.dev/dl/ and put 'go' on PATH (Debian's golang package is too old)"
  local gov minor
  gov=$(go env GOVERSION)           # e.g. go1.26.8
  minor=$(printf '%s' "$gov" | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
  [ -n "$minor" ] || die "cannot parse the Go version '$gov'"
  [ "$minor" -ge 26 ] || die "Go $gov is too old for helm $version: install Go 1.26.x from https://go.dev/dl/"
  export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
}

build() {
  local started=$SECONDS
  say "building helm $version from the Go module proxy (first run on this machine: about 2 minutes; later runs reuse $bin)"
  # Report progress while the compiler is silent, so a first run never looks hung.
  ( while sleep 30; do say "  ... still building helm ($((SECONDS - started)) s)"; done ) &
  local ticker=$!
  local status=0
  local pkg=helm.sh/helm/v3
  (cd "$module" && go build -trimpath -o "$bin/.helm.tmp" \
      -ldflags "-s -w -X $pkg/internal/version.version=$version -X $pkg/internal/version.gitTreeState=clean \
        -X $pkg/pkg/lint/rules.k8sVersionMajor=1 -X $pkg/pkg/lint/rules.k8sVersionMinor=$client_go \
        -X $pkg/pkg/chartutil.k8sVersionMajor=1 -X $pkg/pkg/chartutil.k8sVersionMinor=$client_go" \
      "$pkg/cmd/helm") >&2 || status=$?
  kill "$ticker" 2>/dev/null; wait "$ticker" 2>/dev/null || true
  [ "$status" = 0 ] || die "go build of helm failed (exit $status); see the compiler output above"
  mv "$bin/.helm.tmp" "$bin/helm"
  say "built helm $version in $((SECONDS - started)) s"
}

mkdir -p "$bin"
# One build at a time per cache directory, even with parallel test runs.
exec 9>"$bin/.lock"
flock 9
if [ ! -x "$bin/helm" ]; then
  check_go
  build
fi
"$bin/helm" version --short >/dev/null 2>&1 || die "$bin/helm does not run"
echo "$bin/helm"
