//! Integration tests against a real API server (see `tests/harness`). One test binary, so
//! the local control plane starts once; every test works in namespaces of its own. The
//! `node_*` tests run real pods on the node the harness starts on first use.

mod argocd;
mod chart;
mod chart_crds;
mod chart_monitoring;
mod chart_release;
mod cli;
mod cluster_network_policies;
mod compliance;
mod demo;
mod dry_run;
mod examples;
mod exceptions;
mod fingerprint;
mod gate;
mod gitops;
mod guardrails;
mod hardening;
mod image;
mod leader;
mod messages;
mod metrics;
mod node_agent;
mod node_baseline;
mod node_chart;
mod node_confinement;
mod node_network;
mod node_pod_rules;
mod node_teardown;
mod node_workloads;
mod operator_env;
mod overload;
mod pod_rules;
mod pod_security;
mod policy_reports;
mod preview;
mod repairs;
mod report;
mod smoke;
mod teardown;
mod truth;
mod validation_oracle;
mod vulnerabilities;
mod workloads;
