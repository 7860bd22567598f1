//! How long the compliance verdicts take for N governed namespaces (what a status
//! computation adds): examples/bsi-strict.yaml judged over N namespaces, all in sync and
//! quiet, then all pending (not reconciled yet, as during a rollout), then all drifted with running pods breaking every check and tenant rules opening
//! the namespace; prints the time of each fold and the size of the result.
//!
//!   cargo run --release -p hardening-operator --example compliance_scaling [-- N...]

use std::time::Instant;

use hardening_operator::core::api::{DriftEntry, HardeningProfile, NamespaceState, PolicyType};
use hardening_operator::core::compliance::{NamespaceFacts, ProfileFacts, assess_profile};
use hardening_operator::core::isolation::Widening;
use hardening_operator::core::preview::{NamespacePreview, PodSecurityFinding, PodSecurityPreview};
use hardening_operator::core::workloads::UnconfinedPods;

fn main() {
    let counts: Vec<usize> = std::env::args()
        .skip(1)
        .map(|n| n.parse().expect("N must be a number"))
        .collect();
    let counts = if counts.is_empty() {
        vec![1_000, 10_000]
    } else {
        counts
    };
    let profile: HardeningProfile =
        serde_yaml_ng::from_str(include_str!("../../examples/bsi-strict.yaml")).expect("example");
    let facts = ProfileFacts {
        pods_watched: true,
        guardrails_enforced: true,
        images_scanned: false,
    };
    let quiet = NamespacePreview::default();
    let confined = UnconfinedPods::default();
    let drift: Vec<DriftEntry> = ["NetworkPolicy", "LimitRange", "Namespace"]
        .iter()
        .map(|kind| DriftEntry {
            kind: (*kind).into(),
            name: "hardening-default-deny".into(),
            field: "spec.policyTypes".into(),
            expected: None,
            actual: None,
            manager: Some("kubectl-edit".into()),
        })
        .collect();
    let breaking = NamespacePreview {
        accepted: Vec::new(),
        level: Some("restricted:latest".into()),
        pod_security: PodSecurityPreview {
            findings: vec![
                PodSecurityFinding {
                    pod: "web-0".into(),
                    other_pods: 3,
                    reason: "privileged, host namespaces, hostPath volumes, runAsNonRoot != true"
                        .into(),
                };
                50
            ],
            incomplete: None,
        },
        guardrails: Vec::new(),
    };
    let widening = [Widening {
        policy: "allow-all".into(),
        direction: PolicyType::Ingress,
        opens: "from anywhere on all ports, to all pods".into(),
    }];
    for count in counts {
        let names: Vec<String> = (0..count).map(|i| format!("team-{i:05}")).collect();
        for (what, state, drift, running, widening) in [
            ("in sync", NamespaceState::InSync, &[][..], &quiet, &[][..]),
            ("pending", NamespaceState::Pending, &[][..], &quiet, &[][..]),
            (
                "drifted, breaking",
                NamespaceState::Drifted,
                &drift[..],
                &breaking,
                &widening[..],
            ),
        ] {
            let started = Instant::now();
            let entries = assess_profile(
                &profile.spec,
                &facts,
                names.iter().map(|name| NamespaceFacts {
                    exceptions: Vec::new(),
                    name,
                    state,
                    message: None,
                    drift,
                    unconfined: Some(&confined),
                    widening: Some(widening),
                    running: Some(running),
                    vulnerable: None,
                }),
            );
            let elapsed = started.elapsed();
            let bytes = serde_json::to_vec(&entries).expect("json").len();
            println!(
                "{count} namespaces {what}: {:.1} ms ({:.2} µs per namespace), {bytes} bytes",
                elapsed.as_secs_f64() * 1000.0,
                elapsed.as_secs_f64() * 1e6 / count as f64
            );
        }
    }
}
