#!/usr/bin/env bash
# The benchmark (issue 11): the operator against the floor of a minimal server-side-apply
# client, each on a fresh local control plane; figures from the API server's audit log.
# Not part of tests/run.sh: it prints figures and asserts nothing about them.
#
#   tests/bench.sh [--namespaces N] [--repetitions R] [--idle-seconds S] [--operator BIN]
#                  [--drifts D] [--drift-timeout-seconds T] [--only floor|operator] ...
#   tests/bench.sh --help
#
# Builds the Kubernetes binaries (tests/controlplane/build.sh, cached per machine) and the
# release binaries of the operator and the benchmark first. With the defaults (1,000
# namespaces, 3 repetitions, 300 s idle, 100 drifts) a run takes about 45 minutes on 2
# cores, most of it the operator's idle periods and its convergence.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "tests/bench.sh: cargo is missing: install Rust 1.89 or newer" >&2; exit 1; }
HARDENING_K8S_BIN_DIR=$(tests/controlplane/build.sh | tail -n 1)
export HARDENING_K8S_BIN_DIR
echo "tests/bench.sh: building the release binaries (hardening-operator, hardening-bench)" >&2
cargo build --release --locked --bin hardening-operator --bin hardening-bench >&2
exec "${CARGO_TARGET_DIR:-target}/release/hardening-bench" "$@"
