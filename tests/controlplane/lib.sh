# Shared by build.sh and build-helm.sh (sourced, not run): messages, the Go toolchain
# check and a Go build that shows progress. Callers set $prefix first.

say() { printf '%s: %s\n' "$prefix" "$*" >&2; }
die() { printf '%s: error: %s\n' "$prefix" "$*" >&2; exit 1; }

# check_go WHAT: the machine's Go can build WHAT (Go 1.26 or newer); sets the build
# environment once.
check_go() {
  [ -n "${go_checked:-}" ] && return
  go_checked=1
  command -v go >/dev/null || die "Go is missing: install Go 1.26.x from https://go.dev/dl/ and put 'go' on PATH (Debian's golang package is too old)"
  local gov minor
  gov=$(go env GOVERSION)           # e.g. go1.26.8
  minor=$(printf '%s' "$gov" | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
  [ -n "$minor" ] || die "cannot parse the Go version '$gov'"
  [ "$minor" -ge 26 ] || die "Go $gov is too old for $1: install Go 1.26.x from https://go.dev/dl/"
  # Go 1.27 turns on encoding/json v2, which breaks the API server's /openapi/v2.
  if [ "$minor" -ge 27 ]; then export GOEXPERIMENT=nojsonv2; say "Go $gov: building with GOEXPERIMENT=nojsonv2"; fi
  export GOTOOLCHAIN=local GOFLAGS=-mod=mod
}

# go_build MODULE_DIR OUTPUT PACKAGE LDFLAGS: builds PACKAGE of the module in MODULE_DIR
# into OUTPUT (written whole or not at all), reporting progress every 30 s so a first run
# never looks hung.
go_build() {
  local module=$1 output=$2 package=$3 ldflags=$4
  local name started=$SECONDS status=0 ticker
  name=$(basename "$output")
  ( while sleep 30; do say "  ... still building $name ($((SECONDS - started)) s)"; done ) &
  ticker=$!
  (cd "$module" && go build -trimpath -o "$output.tmp" -ldflags "$ldflags" "$package") >&2 || status=$?
  kill "$ticker" 2>/dev/null; wait "$ticker" 2>/dev/null || true
  [ "$status" = 0 ] || die "go build of $name failed (exit $status); see the compiler output above"
  mv "$output.tmp" "$output"
  say "built $name in $((SECONDS - started)) s"
}
