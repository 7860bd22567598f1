//! The pure core of the hardening operator: the `HardeningProfile` API, rendering a profile
//! into the objects it wants in a namespace, and diffing those against the live cluster.
//! Nothing here talks to an API server.

pub mod api;
pub mod apparmor;
pub mod canonical;
pub mod cli;
pub mod client;
pub mod config;
pub mod controller;
pub mod crd;
pub mod diff;
pub mod error;
pub mod fieldpath;
#[cfg(any(test, feature = "test-fixtures"))]
pub mod fixtures;
pub mod guardrails;
pub mod isolation;
pub mod labels;
pub mod leader;
pub mod learn;
pub mod metrics;
pub mod node_agent;
pub mod ownership;
pub mod plan;
pub mod plural;
pub mod policy_report;
pub mod preview;
pub mod quantity;
pub mod rejection;
pub mod render;
pub mod report;
pub mod run;
pub mod seccomp;
pub mod server;
pub mod status;
#[cfg(test)]
mod test_support;
pub mod workloads;
