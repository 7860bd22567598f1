#!/usr/bin/env bash
# The benchmark (issues 11 and 26): the operator against the floor of a minimal
# server-side-apply client swept over its concurrency, each on a fresh local control plane;
# then onboarding, drifts and the admission policies' cost. Figures from the API server's
# audit log. Not part of tests/run.sh: it prints figures and asserts nothing about them.
#
#   tests/bench.sh [--namespaces N] [--profile lean|full] [--repetitions R]
#                  [--floor-concurrency 8,16,32,64,128] [--idle-seconds S]
#                  [--onboard-rate PER_S] [--onboard-seconds S] [--drifts D]
#                  [--admission-pods P] [--operator BIN] [--only floor|operator] ...
#   tests/bench.sh --help
#
# Builds the Kubernetes binaries (tests/controlplane/build.sh, cached per machine), fetches
# the published report CRDs (the full profile installs OpenReports), and builds the operator
# and the benchmark first with the `dist` profile (the shipped binary's: fat LTO). With the
# defaults (lean, 1,000 namespaces, 3 repetitions, five floor runs each, 300 s idle, 60 s
# onboarding, 100 drifts, 1,000 admission pods) a run takes about an hour on 2 cores;
# docs/benchmark.md has the figures and the commands that made them.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "tests/bench.sh: cargo is missing: install Rust 1.89 or newer" >&2; exit 1; }
HARDENING_K8S_BIN_DIR=$(tests/controlplane/build.sh | tail -n 1)
export HARDENING_K8S_BIN_DIR
HARDENING_REPORT_CRDS=$(tests/controlplane/fetch-report-crds.sh | tail -n 1)
export HARDENING_REPORT_CRDS
# The `dist` profile, as the image and the release ship the operator (fat LTO: the first
# build takes about ten minutes more on 2 cores). The benchmark finds the operator beside it.
echo "tests/bench.sh: building the dist binaries (hardening-operator, hardening-bench)" >&2
cargo build --profile dist --locked --bin hardening-operator --bin hardening-bench >&2
exec "${CARGO_TARGET_DIR:-target}/dist/hardening-bench" "$@"
