//! The hardening operator and its command-line tools.
//!
//! - [`core`]: the pure core. The `HardeningProfile` API and its validation, rendering a
//!   profile into the objects it wants in a namespace, diffing and planning against what is
//!   there, the status, the reports, seccomp and AppArmor profiles. It performs no I/O:
//!   no API client, no files, no clock, no processes.
//! - [`controller`]: the controllers: watches and caches, the shared state, the one write
//!   path, the namespace and profile reconcilers as their steps, the guardrails and
//!   policy-report writers.
//! - [`run`] (`hardening-operator run`): the client ([`client`]), the listener
//!   ([`server`], [`metrics`]), leader election ([`leader`]) and the controllers together,
//!   configured by [`config`].
//! - [`cli`]: the other commands (`render`, `diff`, `report`, `learn`, `crd`).
//! - [`live`]: what the controller and the commands read of the live cluster the same way
//!   (the API resource of each generated kind, a namespace's pods judged by a profile).
//! - [`node_agent`] (`hardening-operator node-agent`): installs the seccomp and AppArmor
//!   profiles on a node.
//! - [`error`]: the typed errors with their stable reasons.
//! - `fixtures` (tests only; for the integration tests with the `test-fixtures` feature):
//!   the one way tests build a HardeningProfile, and the check that a message is in words.

pub mod cli;
pub mod client;
pub mod config;
pub mod controller;
pub mod core;
pub mod error;
#[cfg(any(test, feature = "test-fixtures"))]
pub mod fixtures;
pub mod leader;
pub mod live;
pub mod metrics;
pub mod node_agent;
pub mod run;
pub mod server;
#[cfg(test)]
mod test_support;
