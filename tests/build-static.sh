#!/usr/bin/env bash
# Builds the statically linked hardening-operator binary that the container image ships:
# the Dockerfile RUNs this script, and tests/integration/image.rs runs it too and checks
# the result (no ELF interpreter, `--help` runs), so both build exactly the same way.
# Prints the binary's path on the last line of stdout; cargo's output goes to stderr.
#
# glibc, linked statically (+crt-static), needs no libc in the image (distroless/static).
# The operator resolves no host names through NSS: in a Pod it reaches the API server at
# the IP address in KUBERNETES_SERVICE_HOST.
# `--target` is explicit so RUSTFLAGS apply to the binary only, not to build scripts and
# proc macros (which must stay dynamic). CARGO_TARGET_DIR is honoured.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
# CARGO_ENCODED_RUSTFLAGS would win over RUSTFLAGS.
unset CARGO_ENCODED_RUSTFLAGS
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --release --locked --target "$target" -p hardening-operator >&2
echo "${CARGO_TARGET_DIR:-$PWD/target}/$target/release/hardening-operator"
