#!/usr/bin/env bash
# Builds the statically linked hardening-operator binary that the container image ships:
# the Dockerfile RUNs this script, and tests/integration/image.rs runs it too and checks
# the result (no ELF interpreter, `--help` runs), so both build exactly the same way.
# Prints the binary's path on the last line of stdout; cargo's output goes to stderr.
#
#   tests/build-static.sh                    # the shipped binary: cargo profile `dist`
#   tests/build-static.sh --profile release  # what the tests build: same code, no LTO
#
# `dist` (Cargo.toml) is `release` with fat LTO in one codegen unit: a third smaller binary
# and about 4 MiB less resident code, for a build several times longer; the image, the
# release recipe and the benchmark use it, the test command builds `release` to keep its
# time (the test checks the linking, which the profile does not change).
#
# glibc, linked statically (+crt-static), needs no libc in the image (distroless/static).
# The operator resolves no host names through NSS: in a Pod it reaches the API server at
# the IP address in KUBERNETES_SERVICE_HOST.
# `--target` is explicit so RUSTFLAGS apply to the binary only, not to build scripts and
# proc macros (which must stay dynamic). CARGO_TARGET_DIR is honoured.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=dist
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile=${2:?--profile needs a cargo profile name}; shift 2 ;;
    *) echo "tests/build-static.sh: unknown argument $1 (only --profile NAME)" >&2; exit 2 ;;
  esac
done
target=x86_64-unknown-linux-gnu
# CARGO_ENCODED_RUSTFLAGS would win over RUSTFLAGS.
unset CARGO_ENCODED_RUSTFLAGS
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --profile "$profile" --locked --target "$target" -p hardening-operator >&2
# cargo's own directory name for the built-in `dev` profile is `debug`.
[ "$profile" = dev ] && directory=debug || directory=$profile
echo "${CARGO_TARGET_DIR:-$PWD/target}/$target/$directory/hardening-operator"
