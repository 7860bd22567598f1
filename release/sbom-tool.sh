#!/usr/bin/env bash
# Installs (once per machine) cargo-cyclonedx, which writes the release's CycloneDX SBOM from
# Cargo's dependency graph, from crates.io at the version pinned below (cargo install
# --locked: its own Cargo.lock), cached outside the clone in
#   ${HARDENING_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hardening-operator}/cargo-cyclonedx-<version>/bin/
# Prints the binary's path on the last line of stdout; cargo's output goes to stderr. The
# first run builds it (a few minutes on 2 cores); later runs only check it runs.
set -euo pipefail
version=0.5.9
cache_root=${HARDENING_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hardening-operator}
root="$cache_root/cargo-cyclonedx-$version"
mkdir -p "$root"
exec 9>"$root/.lock"
flock 9
if [ ! -x "$root/bin/cargo-cyclonedx" ]; then
  echo "sbom-tool: installing cargo-cyclonedx $version from crates.io (first run on this machine: a few minutes; later runs reuse $root)" >&2
  started=$SECONDS
  cargo install --locked --quiet --root "$root" --version "$version" cargo-cyclonedx >&2
  echo "sbom-tool: installed cargo-cyclonedx in $((SECONDS - started)) s" >&2
fi
"$root/bin/cargo-cyclonedx" cyclonedx --version >/dev/null 2>&1 || { echo "sbom-tool: $root/bin/cargo-cyclonedx does not run" >&2; exit 1; }
echo "$root/bin/cargo-cyclonedx"
