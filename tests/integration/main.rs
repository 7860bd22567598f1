//! Integration tests against a real API server (see `tests/harness`). One test binary, so
//! the local control plane starts once; every test works in namespaces of its own.

mod chart;
mod cli;
mod examples;
mod hardening;
mod image;
mod leader;
mod metrics;
mod node_agent;
mod operator_env;
mod smoke;
mod teardown;
mod validation_oracle;
mod workloads;
