//! The pure core: everything the operator and its commands decide, as functions of their
//! inputs. Nothing here performs I/O (no API client, no files, no clock, no processes):
//! the controllers and commands fetch, call these, and write what they return.
//!
//! - [`api`]: the `HardeningProfile` types (the CRD's schema and CEL rules), validation,
//!   namespace selection; [`crd`]: the CRD from the types.
//! - [`render`]: a profile and a namespace into the objects and labels it wants there,
//!   written by [`canonical`] as the API server stores them; [`seccomp`], [`apparmor`]: the
//!   profiles' files; [`guardrails`]: its ValidatingAdmissionPolicy and binding.
//! - [`diff`] (with [`fieldpath`], [`ownership`], [`quantity`]): live against desired, by
//!   field manager; [`plan`]: per object, what to do.
//! - Tenants, reported and never changed: [`workloads`] (pods not confined),
//!   [`isolation`] (NetworkPolicies opening what the profile denies), [`preview`] and
//!   [`rejection`] (what enforcing would reject), [`availability`] (highly available pods
//!   without a second replica or a disruption budget); [`pod_security`]: Pod Security
//!   Admission's checks, judging one pod as the API server does; [`enforced`]: what Enforce
//!   mode left that still acts after a switch to Audit.
//! - [`compliance`]: the catalogues (BSI SYS.1.6 and APP.4.4, edition 2023) and the one
//!   function judging each requirement per namespace and per profile.
//! - [`status`]: a profile's status from the namespaces' outcomes; [`compliance_report`]:
//!   the compliance report (Markdown, HTML, OSCAL); [`policy_report`]: the policy reports'
//!   content. All three take their verdicts from [`compliance`].
//! - [`review`]: a profile's change in words (guardrails, mode, precedence), for `diff`.
//! - [`write_limit`]: how many writes to keep in flight, from what the API server answers.
//! - [`labels`]: the labels, annotations and field manager the operator writes with;
//!   [`plural`]: counted nouns in the messages people read.
//! - [`shared`]: text held once however often the operator keeps it (findings, pod names,
//!   judged pods alike across namespaces): memory only, no decision.

pub mod access;
pub mod api;
pub mod apparmor;
pub mod availability;
pub mod canonical;
pub mod cluster_network_policy;
pub mod compliance;
pub mod compliance_report;
pub mod crd;
pub mod diff;
pub mod enforced;
pub mod exceptions;
pub mod fieldpath;
pub mod guardrails;
pub mod isolation;
pub mod labels;
pub mod nodes;
pub mod ownership;
pub mod pattern;
pub mod plan;
pub mod plural;
pub mod pod_security;
pub mod policy_report;
pub mod preview;
pub mod protected;
pub mod quantity;
pub mod rejection;
pub mod render;
pub mod resource_version;
pub mod review;
pub mod seccomp;
pub mod shared;
pub mod status;
pub mod vulnerabilities;
pub mod workloads;
pub mod write_limit;

#[cfg(test)]
mod purity {
    use std::path::Path;

    /// What would bring I/O (or the I/O half of the crate) into the core. (Watch events
    /// and object metadata are data: `kube::runtime::watcher::Event`, `kube::api::ObjectMeta`
    /// are allowed.)
    const FORBIDDEN: [&str; 21] = [
        "Client",
        "Api<",
        "kube::runtime::controller",
        "kube::runtime::reflector",
        "kube::runtime::events",
        "tokio",
        "async fn",
        "std::fs",
        "std::process",
        "std::net::Tcp",
        "std::net::Udp",
        "SystemTime::now",
        "Timestamp::now",
        "crate::controller",
        "crate::cli",
        "crate::config",
        "crate::node_agent",
        "crate::client",
        "crate::server",
        "crate::metrics",
        "crate::run",
    ];

    fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs")
                && path.file_name().is_some_and(|n| n != "tests.rs")
            {
                out.push(path);
            }
        }
    }

    #[test]
    fn the_core_performs_no_io() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
        let mut files = Vec::new();
        sources(&root, &mut files);
        assert!(files.len() > 20, "{files:?}");
        let mut found = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            // Unit tests may read their fixtures.
            let code = text.split("#[cfg(test)]").next().unwrap();
            for (number, line) in code.lines().enumerate() {
                let line = line.split("//").next().unwrap();
                for word in FORBIDDEN {
                    if line.contains(word) {
                        found.push(format!("{}:{}: {word}", file.display(), number + 1));
                    }
                }
            }
        }
        assert!(
            found.is_empty(),
            "I/O in the pure core:\n{}",
            found.join("\n")
        );
    }
}
