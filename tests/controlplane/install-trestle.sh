#!/usr/bin/env bash
# Installs (once per machine) compliance-trestle, the OSCAL library the report tests validate
# the operator's OSCAL output with, into a virtualenv of its own, and prints the path of the
# validator (trestle/validate.py run by that virtualenv's python) on the last line of stdout;
# progress goes to stderr.
#
# The version is pinned in trestle/requirements.txt (from PyPI, with pip). The virtualenv is
# cached outside the clone, keyed by a hash of requirements.txt, validate.py and this script, in
#   ${HARDENING_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hardening-operator}/trestle-<hash>/
# so only the first run on a machine pays for the download (about 40 MB) and install
# (about a minute). Needs python3 with the venv module (Debian: python3, python3-venv).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
prefix=trestle
# shellcheck source=lib.sh
. "$here/lib.sh"

source_dir="$here/trestle"
hash=$(cat "$source_dir/requirements.txt" "$source_dir/validate.py" "$here/install-trestle.sh" | sha256sum | cut -c1-12)
cache_root=${HARDENING_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hardening-operator}
dir="$cache_root/trestle-$hash"

mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9
if [ ! -x "$dir/validate" ]; then
  command -v python3 >/dev/null || die "python3 is missing: run tests/prerequisites.sh"
  say "installing compliance-trestle into $dir (pinned in $source_dir/requirements.txt; first run on this machine: about a minute)"
  rm -rf "$dir/venv"
  python3 -m venv "$dir/venv" >&2 || die "python3 -m venv failed: install Debian's python3-venv"
  "$dir/venv/bin/pip" install --quiet --disable-pip-version-check -r "$source_dir/requirements.txt" >&2 \
    || die "pip install -r $source_dir/requirements.txt failed"
  cp "$source_dir/validate.py" "$dir/validate.py"
  printf '#!/bin/sh\nexec "%s/venv/bin/python" "%s/validate.py" "$@"\n' "$dir" "$dir" > "$dir/validate.tmp"
  chmod +x "$dir/validate.tmp"
  mv "$dir/validate.tmp" "$dir/validate"
fi
"$dir/venv/bin/python" -c 'import trestle.oscal.assessment_results' >/dev/null 2>&1 \
  || die "$dir: compliance-trestle does not import; remove the directory and run again"
echo "$dir/validate"
