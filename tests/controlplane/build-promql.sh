#!/usr/bin/env bash
# Builds (once per machine) promql-check, the PromQL parser the chart tests run on the
# dashboard's and the alert rules' expressions. Prints its path on the last line of stdout;
# progress goes to stderr.
#
# promql-check (promql/main.go) is Prometheus' own parser,
# github.com/prometheus/prometheus/promql/parser, from the Go module proxy at the release
# pinned in promql/go.mod (to move: `cd promql && go get
# github.com/prometheus/prometheus@v0.X.Y && go mod tidy`). It reads a JSON array of
# expressions on stdin and prints, for each, the parse error or the metric names it selects.
# The binary is cached outside the clone, keyed by that release and a hash of go.mod, go.sum,
# main.go and this script, in
#   ${HARDENING_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hardening-operator}/promql-<version>-<hash>/promql-check
# so only the first run on a machine pays for the download (about 120 MB) and build (about
# a minute on 2 cores: only the parser's packages are built, not Prometheus).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
module="$here/promql"
prefix=promql
# shellcheck source=lib.sh
. "$here/lib.sh"

version=$(sed -n 's/^require github\.com\/prometheus\/prometheus \(v[0-9.]*\).*/\1/p' "$module/go.mod")
[ -n "$version" ] || die "cannot read the pinned github.com/prometheus/prometheus version from $module/go.mod"
hash=$(cat "$module/go.mod" "$module/go.sum" "$module/main.go" "$here/build-promql.sh" | sha256sum | cut -c1-12)
cache_root=${HARDENING_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hardening-operator}
bin="$cache_root/promql-$version-$hash"

mkdir -p "$bin"
# One build at a time per cache directory, even with parallel test runs.
exec 9>"$bin/.lock"
flock 9
if [ ! -x "$bin/promql-check" ]; then
  check_go "promql-check (Prometheus $version's PromQL parser)"
  say "building promql-check from the Go module proxy (Prometheus $version's promql/parser; first run on this machine: about a minute; later runs reuse $bin)"
  export CGO_ENABLED=0
  go_build "$module" "$bin/promql-check" . "-s -w"
fi
echo '["up"]' | "$bin/promql-check" >/dev/null 2>&1 || die "$bin/promql-check does not run"
echo "$bin/promql-check"
