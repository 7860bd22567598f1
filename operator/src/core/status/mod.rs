//! The profile's status, computed without I/O from the per-namespace outcomes the
//! namespace reconciler records. The controller writes it only when it differs from the
//! live status (conditions keep their `lastTransitionTime` while their status holds).
//!
//! `Ready` is True only when every namespace the profile governs holds exactly what it
//! declares: a namespace it cannot bring there (an object in the way, a write that does not
//! take, a refused request) makes it False with that cause as the reason. Being outranked by
//! another profile is reported (`Conflicting`), not a failure. What tenants do in governed
//! namespaces (pods not using the seccomp/AppArmor profiles, NetworkPolicies opening what the
//! profile denies) is reported in conditions of its own and lowers the verdicts of the
//! requirements it undermines (`status.compliance`, from [`crate::core::compliance`]), but
//! is not the operator's to repair and does not change `Ready`.

//!
//! One module a job: `outcome` what the reconciler records of a namespace and how each
//! profile sees it, `namespaces` the listed namespaces and the counts, `conditions` one
//! function a condition (with `Ready` the roll-up).

mod conditions;
mod namespaces;
mod outcome;

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::core::api::{
    ExceptionsStatus, GuardrailsStatus, HardeningProfile, HardeningProfileStatus, Mode,
    NamespaceState, RolloutStatus,
};
use crate::core::compliance::ProfileFacts;

pub use conditions::{
    CLUSTER_NETWORK_POLICIES, CONFLICTING, ConditionStatus, DRIFTED, EXCEPTIONS_IN_FORCE,
    GUARDRAILS_ENFORCED, IMAGES_PATCHED, Judged, NETWORK_ISOLATED, NODES_MEET_BASELINE,
    PODS_CONFINED, READY, READY_TO_ENFORCE, RECONCILING, STALLED, STILL_ENFORCED,
};
pub use outcome::{Kept, NamespaceOutcome};

/// Everything the status depends on besides the outcomes.
pub struct StatusInput<'a> {
    pub profile: &'a HardeningProfile,
    /// Namespaces the profile selects now (from the namespace cache).
    pub selected: &'a BTreeSet<String>,
    pub repairs_total: u64,
    /// The newest rollout, when the operator rolled out anything of this profile.
    pub rollout: Option<RolloutStatus>,
    /// The operator's own validation failure, if any.
    pub invalid: Option<String>,
    /// Whether the operator watches pods (and so can count unconfined ones).
    pub pods_watched: bool,
    /// The state of the generated admission policy and binding (profiles with guardrails).
    pub guardrails: Option<GuardrailsStatus>,
    /// With `guardrails.denyExec`: the subjects that reach containers past admission through
    /// the kubelet's API (`nodes/proxy`, `core::access`); `None` when not checked.
    pub node_proxy: Option<Vec<String>>,
    /// With credential guardrails: who may read Secrets in the governed namespaces.
    pub secret_readers: Option<crate::core::api::SecretReaders>,
    /// Whether the cluster has the Trivy Operator's VulnerabilityReports (then each
    /// outcome says what they find).
    pub images_scanned: bool,
    /// What the node agents published: node name and ConfigMap data (`None`: the
    /// operator does not read them).
    pub nodes: Option<&'a [(String, std::collections::BTreeMap<String, String>)]>,
    /// With `networkPolicy.clusterNetworkPolicy`: the `ClusterNetworkPolicies` condition's
    /// status, reason and message.
    pub cluster_network_policies: Option<(&'static str, &'static str, String)>,
    /// The profile's HardeningExceptions judged now (`core::exceptions`); `None` when the
    /// cluster does not serve them.
    pub exceptions: Option<ExceptionsStatus>,
    pub now: Time,
}

/// The status `input.profile` should have, given the outcome of each selected namespace.
pub fn desired_status<'a>(
    input: &StatusInput<'_>,
    outcome_of: impl Fn(&str) -> Option<&'a NamespaceOutcome>,
) -> HardeningProfileStatus {
    desired_status_kept(input, |ns| outcome_of(ns).map(|o| (o, None)))
}

/// [`desired_status`], with the compliance findings of each namespace kept beside its
/// outcome ([`Kept`]): a namespace whose outcome, profile generation, profile facts and
/// exceptions in force are those it was judged with is not judged again. The same status
/// as [`desired_status`].
pub fn desired_status_kept<'a>(
    input: &StatusInput<'_>,
    outcome_of: impl Fn(&str) -> Option<(&'a NamespaceOutcome, Option<&'a Kept>)>,
) -> HardeningProfileStatus {
    let profile = input.profile;
    let generation = profile.metadata.generation.unwrap_or(0);
    let facts = profile_facts(input);
    let namespaces::Namespaces {
        entries,
        unlisted,
        counts: mut c,
        compliance,
    } = namespaces::judge(input, &facts, outcome_of);

    c.selected = input.selected.len() as u32;
    let required = crate::core::api::workload_security_context(profile);
    c.confinement_reported = required.is_some() && input.pods_watched;
    c.isolation_reported = profile
        .spec
        .network_policy
        .as_ref()
        .is_some_and(|rules| !rules.isolated_directions().is_empty());
    c.pods_judged = crate::core::preview::applies(profile);
    let nodes = node_baseline(input);
    let conditions =
        conditions::conditions(input, &c, &entries, nodes.as_ref(), profile.status.as_ref());

    HardeningProfileStatus {
        observed_generation: Some(generation),
        conditions,
        selected_namespaces: c.selected,
        in_sync_namespaces: c.in_sync,
        drifted_namespaces: c.drifted,
        conflicting_namespaces: c.conflicting,
        failed_namespaces: c.failed,
        repairs_total: input.repairs_total,
        namespaces: entries,
        unlisted_namespaces: unlisted,
        compliance,
        workload_security_context: required,
        unconfined_pods: c.confinement_reported.then_some(c.unconfined_pods),
        widening_policies: c.isolation_reported.then_some(c.widening_policies),
        rollout: input.rollout.clone(),
        would_reject_pods: c.pods_judged.then_some(c.would_reject_pods),
        guardrails: input.guardrails.clone(),
        node_proxy: input
            .node_proxy
            .as_deref()
            .map(crate::core::api::NodeProxySubjects::of),
        secret_readers: input.secret_readers.clone(),
        vulnerable_workloads: input.images_scanned.then_some(c.vulnerable),
        node_baseline: nodes,
        exceptions: input.exceptions.clone(),
    }
}

/// The nodes against the profile's `nodeBaseline`, when it has one.
fn node_baseline(input: &StatusInput<'_>) -> Option<crate::core::api::NodeBaselineStatus> {
    let baseline = input.profile.spec.effective_node_baseline()?;
    let nodes = input.nodes.unwrap_or_default();
    Some(crate::core::nodes::assess(
        &baseline,
        nodes.iter().map(|(name, data)| (name.as_str(), data)),
    ))
}

/// What holds for the profile as a whole that its verdicts depend on.
pub fn profile_facts(input: &StatusInput<'_>) -> ProfileFacts {
    ProfileFacts {
        pods_watched: input.pods_watched,
        guardrails_enforced: guardrails_enforced(input),
        images_scanned: input.images_scanned,
    }
}

/// Enforce mode, and the policy and binding as rendered.
fn guardrails_enforced(input: &StatusInput<'_>) -> bool {
    input.profile.spec.mode == Mode::Enforce
        && input
            .guardrails
            .as_ref()
            .is_some_and(|g| g.state == NamespaceState::InSync)
}

/// True when writing `desired` would change what the API server holds.
pub fn needs_update(
    live: Option<&HardeningProfileStatus>,
    desired: &HardeningProfileStatus,
) -> bool {
    live != Some(desired)
}

/// The [`ProfileFacts`] a profile's written status shows (for the policy reports, which are
/// built beside the status): guardrails enforced as its `GuardrailsEnforced` condition says.
pub fn profile_facts_of(profile: &HardeningProfile, pods_watched: bool) -> ProfileFacts {
    ProfileFacts {
        pods_watched,
        guardrails_enforced: profile.spec.mode == Mode::Enforce
            && profile.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == GUARDRAILS_ENFORCED && c.status == "True")
            }),
        images_scanned: profile
            .status
            .as_ref()
            .is_some_and(|s| s.vulnerable_workloads.is_some()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::api::{DriftEntry, MAX_LISTED_DRIFT, MAX_LISTED_NAMESPACES, Verdict};
    use crate::core::isolation::Widening;
    use crate::core::preview::NamespacePreview;
    use crate::core::vulnerabilities::VulnerableImages;
    use crate::core::workloads::UnconfinedPods;
    use crate::fixtures::profile;
    use k8s_openapi::jiff::Timestamp;
    use std::collections::HashMap;

    /// What every profile of these tests declares.
    const RESTRICTED: &str = "podSecurity: {enforce: {level: restricted}}";

    fn at(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).unwrap())
    }

    fn outcome(candidates: &[(&str, i64)], state: NamespaceState) -> NamespaceOutcome {
        NamespaceOutcome {
            candidates: candidates
                .iter()
                .map(|(n, g)| (n.to_string(), *g))
                .collect(),
            state: Some(state),
            message: None,
            drift: Vec::new(),
            unconfined: None,
            ..Default::default()
        }
    }

    /// A profile declaring a seccomp and an AppArmor profile for its workloads.
    fn confining(name: &str) -> HardeningProfile {
        profile(name)
            .generation(1)
            .spec_yaml(RESTRICTED)
            .spec_yaml("{seccomp: {}, apparmor: {}}")
            .build()
    }

    fn unconfined(count: u32, reason: &str) -> std::sync::Arc<UnconfinedPods> {
        std::sync::Arc::new(UnconfinedPods {
            count,
            listed: (0..count.min(crate::core::workloads::MAX_LISTED_PODS as u32))
                .map(|i| crate::core::api::UnconfinedPod {
                    name: format!("pod-{i}"),
                    reason: reason.to_owned(),
                })
                .collect(),
        })
    }

    fn selected(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn status_of(
        p: &HardeningProfile,
        sel: &BTreeSet<String>,
        outcomes: &HashMap<String, NamespaceOutcome>,
        now: Time,
    ) -> HardeningProfileStatus {
        let input = StatusInput {
            repairs_total: 3,
            ..input_of(p, sel, now)
        };
        desired_status(&input, |ns| outcomes.get(ns))
    }

    proptest::proptest! {
        /// However many namespaces are to be listed, in whatever order of names and states,
        /// the status lists the most urgent MAX_LISTED_NAMESPACES (by severity, then name)
        /// and counts the others: as sorting all of them and cutting.
        #[test]
        fn the_listed_namespaces_are_the_most_urgent_however_many(
            namespaces in proptest::collection::btree_map(0u16..500, 0u8..4, 0..150)
        ) {
            let p = profile("p").generation(1).spec_yaml(RESTRICTED).build();
            let state = |s: u8| match s {
                0 => NamespaceState::Failed,
                1 => NamespaceState::Drifted,
                2 => NamespaceState::Pending,
                _ => NamespaceState::InSync,
            };
            let name = |n: u16| format!("ns-{:03}", (n * 7) % 500);
            let outcomes: HashMap<String, NamespaceOutcome> = namespaces
                .iter()
                .filter(|(_, s)| state(**s) != NamespaceState::Pending)
                .map(|(n, s)| (name(*n), outcome(&[("p", 1)], state(*s))))
                .collect();
            let sel: BTreeSet<String> = namespaces.keys().map(|n| name(*n)).collect();
            let status = status_of(&p, &sel, &outcomes, at(100));
            let mut all: Vec<(u8, String, NamespaceState)> = namespaces
                .iter()
                .map(|(n, s)| (namespaces::severity(state(*s)), name(*n), state(*s)))
                .filter(|(_, _, s)| *s != NamespaceState::InSync)
                .collect();
            all.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
            let listed: Vec<(String, NamespaceState)> = status
                .namespaces
                .iter()
                .map(|n| (n.name.clone(), n.state))
                .collect();
            let expected: Vec<(String, NamespaceState)> = all
                .iter()
                .take(MAX_LISTED_NAMESPACES)
                .map(|(_, n, s)| (n.clone(), *s))
                .collect();
            proptest::prop_assert_eq!(listed, expected);
            proptest::prop_assert_eq!(
                status.unlisted_namespaces as usize,
                all.len().saturating_sub(MAX_LISTED_NAMESPACES)
            );
        }
    }

    /// The input of `p` over `sel` at `now`: pods watched, nothing else known.
    fn input_of<'a>(
        p: &'a HardeningProfile,
        sel: &'a BTreeSet<String>,
        now: Time,
    ) -> StatusInput<'a> {
        StatusInput {
            profile: p,
            selected: sel,
            repairs_total: 0,
            rollout: None,
            invalid: None,
            pods_watched: true,
            guardrails: None,
            node_proxy: None,
            secret_readers: None,
            images_scanned: false,
            nodes: None,
            cluster_network_policies: None,
            exceptions: None,
            now,
        }
    }

    /// The policy and binding applied as rendered, denying.
    fn guardrails_in_sync() -> GuardrailsStatus {
        GuardrailsStatus {
            policy: "hardening.dev-strict".into(),
            validation_actions: vec!["Deny".into()],
            state: NamespaceState::InSync,
            message: None,
            drift: Vec::new(),
        }
    }

    fn summary(status: &HardeningProfileStatus) -> Vec<(String, String, String)> {
        status
            .conditions
            .iter()
            .map(|c| (c.type_.clone(), c.status.clone(), c.reason.clone()))
            .collect()
    }

    fn triple(t: &str, s: &str, r: &str) -> (String, String, String) {
        (t.into(), s.into(), r.into())
    }

    #[test]
    fn images_with_fixable_vulnerabilities_are_listed_and_withdraw_the_image_requirements() {
        let p = profile("strict")
            .generation(2)
            .spec_yaml(
                "  guardrails: {allowedRegistries: [registry.example], requireImageTag: true}\n",
            )
            .build();
        let mut shop = outcome(&[("strict", 2)], NamespaceState::InSync);
        shop.vulnerable = Some(VulnerableImages {
            count: 2,
            listed: vec!["ReplicaSet/web-1 container app (registry.example/web:1): 1 CRITICAL vulnerability with a fix".into()],
        });
        let mut clean = outcome(&[("strict", 2)], NamespaceState::InSync);
        clean.vulnerable = Some(VulnerableImages::default());
        let outcomes = HashMap::from([("shop".to_string(), shop), ("clean".to_string(), clean)]);
        let sel = selected(&["shop", "clean"]);
        let input = |scanned: bool| StatusInput {
            guardrails: Some(guardrails_in_sync()),
            images_scanned: scanned,
            ..input_of(&p, &sel, at(100))
        };
        let status = desired_status(&input(true), |ns| outcomes.get(ns));
        assert_eq!(status.vulnerable_workloads, Some(2));
        let images = status
            .conditions
            .iter()
            .find(|c| c.type_ == IMAGES_PATCHED)
            .unwrap();
        assert_eq!(
            (images.status.as_str(), images.reason.as_str()),
            ("False", "FixableVulnerabilities")
        );
        assert_eq!(
            images.message,
            "2 workload containers in 1 namespace run images with CRITICAL or HIGH vulnerabilities that have a fix; first: shop/ReplicaSet/web-1 container app (registry.example/web:1): 1 CRITICAL vulnerability with a fix"
        );
        assert_eq!(status.namespaces.len(), 1);
        assert_eq!(status.namespaces[0].vulnerable_workloads, 2);
        // SYS.1.6 (2023) A6: not met while such images run.
        let a6 = |status: &HardeningProfileStatus| {
            status
                .compliance
                .iter()
                .find(|c| c.id == "SYS.1.6.A6")
                .map(|c| (c.verdict, c.reason.clone()))
                .unwrap()
        };
        let (verdict, reason) = a6(&status);
        assert_eq!(verdict, crate::core::api::Verdict::NotMet, "{reason}");
        assert!(reason.contains("CRITICAL or HIGH"), "{reason}");
        // Not scanned: no condition, no count, nothing withdrawn for it.
        let outcomes: HashMap<String, NamespaceOutcome> = outcomes
            .into_iter()
            .map(|(k, mut o)| {
                o.vulnerable = None;
                (k, o)
            })
            .collect();
        let status = desired_status(&input(false), |ns| outcomes.get(ns));
        assert_eq!(status.vulnerable_workloads, None);
        assert!(!status.conditions.iter().any(|c| c.type_ == IMAGES_PATCHED));
        let (verdict, reason) = a6(&status);
        assert_eq!(verdict, crate::core::api::Verdict::Partial, "{reason}");
        assert!(
            reason.contains("vulnerability status is not known"),
            "{reason}"
        );
    }

    /// Issue 24: the status lists the exceptions in force (which the admission policy
    /// reads) with a condition naming the first to expire and saying that an expired one
    /// applies while the operator is down; namespaces judged with other exceptions than
    /// those are not judged yet.
    #[test]
    fn exceptions_in_force_are_listed_and_namespaces_judged_with_others_are_pending() {
        let p = profile("strict")
            .generation(2)
            .spec_yaml(RESTRICTED)
            .build();
        let e = |name: &str, expires: &str| {
            crate::core::exceptions::active_entry(
                &crate::fixtures::exception(name, "strict", "a", expires)
                    .spec(serde_json::json!({ "rules": ["denyExec"] }))
                    .build(),
            )
        };
        let exceptions = ExceptionsStatus {
            active: vec![
                e("late", "2027-01-01T00:00:00Z"),
                e("soon", "2026-06-01T00:00:00Z"),
            ],
            expiring_soon: 1,
            expired: 1,
            not_applied: 0,
            inactive: vec!["old: expired at 2026-01-01T00:00:00Z".into()],
        };
        let digest = crate::core::exceptions::digest(&exceptions.active);
        let mut judged_with_them = outcome(&[("strict", 2)], NamespaceState::InSync);
        judged_with_them.exceptions_digest = digest;
        let judged_before = outcome(&[("strict", 2)], NamespaceState::InSync);
        let outcomes = HashMap::from([
            ("a".to_string(), judged_with_them),
            ("b".to_string(), judged_before),
        ]);
        let sel = selected(&["a", "b"]);
        let input = StatusInput {
            exceptions: Some(exceptions.clone()),
            ..input_of(&p, &sel, at(100))
        };
        let status = desired_status(&input, |ns| outcomes.get(ns));
        assert_eq!(status.exceptions.as_ref(), Some(&exceptions));
        let condition = status
            .conditions
            .iter()
            .find(|c| c.type_ == EXCEPTIONS_IN_FORCE)
            .unwrap();
        assert_eq!(
            (condition.status.as_str(), condition.reason.as_str()),
            ("True", "ExpiringSoon")
        );
        assert!(
            condition.message.contains("2 exceptions in force (1 expiring within a week); first to expire: soon at 2026-06-01T00:00:00Z")
                && condition.message.contains("1 exception expired")
                && condition.message.contains("while the operator is not running, an expired exception keeps applying"),
            "{}",
            condition.message
        );
        // b was judged before these exceptions: pending until judged again.
        assert_eq!(
            (status.in_sync_namespaces, status.selected_namespaces),
            (1, 2)
        );
        let b = status.namespaces.iter().find(|n| n.name == "b").unwrap();
        assert_eq!(b.state, NamespaceState::Pending);
        assert!(
            b.message
                .as_deref()
                .unwrap_or_default()
                .contains("exceptions")
        );
        // None in force: False, and no list.
        let none = ExceptionsStatus {
            expired: 2,
            ..ExceptionsStatus::default()
        };
        let input = StatusInput {
            exceptions: Some(none),
            ..input
        };
        let outcomes = HashMap::from([(
            "a".to_string(),
            outcome(&[("strict", 2)], NamespaceState::InSync),
        )]);
        let status = desired_status(&input, |ns| outcomes.get(ns));
        let condition = status
            .conditions
            .iter()
            .find(|c| c.type_ == EXCEPTIONS_IN_FORCE)
            .unwrap();
        assert_eq!(
            (condition.status.as_str(), condition.reason.as_str()),
            ("False", "NoneInForce")
        );
    }

    #[test]
    fn all_governed_namespaces_in_sync_is_ready() {
        let p = profile("strict")
            .generation(2)
            .spec_yaml(RESTRICTED)
            .build();
        let outcomes = HashMap::from([
            (
                "a".to_string(),
                outcome(&[("strict", 2)], NamespaceState::InSync),
            ),
            (
                "b".to_string(),
                outcome(&[("strict", 2)], NamespaceState::InSync),
            ),
        ]);
        let status = status_of(&p, &selected(&["a", "b"]), &outcomes, at(100));
        assert_eq!(
            summary(&status),
            vec![
                triple("Ready", "True", "InSync"),
                triple("Drifted", "False", "NoDrift"),
                triple("Conflicting", "False", "NoConflict")
            ]
        );
        assert_eq!(status.conditions[0].message, "2 namespaces in sync");
        assert!(
            status
                .conditions
                .iter()
                .all(|c| c.observed_generation == Some(2) && c.last_transition_time == at(100))
        );
        assert_eq!(
            (
                status.selected_namespaces,
                status.in_sync_namespaces,
                status.repairs_total
            ),
            (2, 2, 3)
        );
        assert_eq!(status.observed_generation, Some(2));
        assert!(status.namespaces.is_empty());
    }

    #[test]
    fn namespaces_not_reconciled_at_this_generation_are_pending() {
        let p = profile("strict")
            .generation(3)
            .spec_yaml(RESTRICTED)
            .build();
        let outcomes = HashMap::from([(
            "a".to_string(),
            outcome(&[("strict", 2)], NamespaceState::InSync),
        )]);
        let status = status_of(&p, &selected(&["a", "b"]), &outcomes, at(100));
        assert_eq!(
            summary(&status),
            vec![
                triple("Ready", "False", "Reconciling"),
                triple("Reconciling", "True", "Reconciling"),
                triple("Drifted", "False", "NoDrift"),
                triple("Conflicting", "False", "NoConflict"),
            ]
        );
        assert_eq!(
            status.conditions[0].message,
            "2 of 2 selected namespaces not reconciled yet"
        );
        let listed: Vec<_> = status
            .namespaces
            .iter()
            .map(|n| (n.name.as_str(), n.state))
            .collect();
        assert_eq!(
            listed,
            vec![
                ("a", NamespaceState::Pending),
                ("b", NamespaceState::Pending)
            ]
        );
    }

    #[test]
    fn a_losing_profile_reports_the_conflict_and_stays_ready() {
        let p = profile("low").generation(1).spec_yaml(RESTRICTED).build();
        let outcomes = HashMap::from([
            (
                "a".to_string(),
                outcome(&[("high", 1), ("low", 1)], NamespaceState::InSync),
            ),
            (
                "b".to_string(),
                outcome(&[("low", 1)], NamespaceState::InSync),
            ),
        ]);
        let status = status_of(&p, &selected(&["a", "b"]), &outcomes, at(100));
        assert_eq!(summary(&status)[0], triple("Ready", "True", "InSync"));
        assert_eq!(
            summary(&status)[2],
            triple("Conflicting", "True", "NamespaceConflict")
        );
        assert_eq!(
            (status.in_sync_namespaces, status.conflicting_namespaces),
            (1, 1)
        );
        assert_eq!(status.namespaces.len(), 1);
        assert_eq!(status.namespaces[0].state, NamespaceState::Conflict);
        assert_eq!(
            status.namespaces[0].message.as_deref(),
            Some("governed by profile high, which takes precedence")
        );
    }

    #[test]
    fn audit_mode_is_ready_with_drift_and_lists_it_most_urgent_first() {
        let p = profile("audit")
            .generation(1)
            .spec_yaml(RESTRICTED)
            .spec_yaml("mode: Audit")
            .build();
        let mut drifted = outcome(&[("audit", 1)], NamespaceState::Drifted);
        drifted.drift = vec![DriftEntry {
            kind: "ResourceQuota".into(),
            name: "hardening-quota".into(),
            field: "spec.hard.pods".into(),
            expected: Some("10".into()),
            actual: Some("99".into()),
            manager: Some("kubectl-edit".into()),
        }];
        let mut failed = outcome(&[("audit", 1)], NamespaceState::Failed);
        failed.message = Some("ApiError: boom".into());
        let outcomes = HashMap::from([
            ("a-drifted".to_string(), drifted.clone()),
            ("b-failed".to_string(), failed),
            (
                "c".to_string(),
                outcome(&[("audit", 1)], NamespaceState::InSync),
            ),
        ]);
        let status = status_of(
            &p,
            &selected(&["a-drifted", "b-failed", "c"]),
            &outcomes,
            at(100),
        );
        assert_eq!(
            summary(&status)[0],
            triple("Ready", "False", "ReconcileFailed")
        );
        assert_eq!(
            status.conditions[0].message,
            "1 namespace cannot be brought to the profile; first: b-failed: ApiError: boom"
        );
        let order: Vec<_> = status.namespaces.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(order, vec!["b-failed", "a-drifted"]);
        assert_eq!(status.namespaces[1].drift, drifted.drift);

        // Without the failure, Audit mode is Ready and only reports.
        let outcomes = HashMap::from([("a-drifted".to_string(), drifted)]);
        let status = status_of(&p, &selected(&["a-drifted"]), &outcomes, at(100));
        assert_eq!(summary(&status)[0], triple("Ready", "True", "Audited"));
        assert_eq!(
            summary(&status)[1],
            triple("Drifted", "True", "DriftDetected")
        );
    }

    /// After a switch to Audit mode, the status says what Enforce mode left that still acts,
    /// and where (issue 21, item 5).
    #[test]
    fn audit_mode_says_what_enforce_mode_left_in_place() {
        let p = profile("audit")
            .generation(2)
            .spec_yaml(RESTRICTED)
            .spec_yaml("mode: Audit")
            .build();
        let mut left = outcome(&[("audit", 2)], NamespaceState::InSync);
        left.enforced = vec![
            "Pod Security enforce restricted:latest".into(),
            "NetworkPolicy hardening-default-deny".into(),
        ];
        let clean = outcome(&[("audit", 2)], NamespaceState::Drifted);
        let outcomes = HashMap::from([("a".to_string(), left), ("b".to_string(), clean)]);
        let status = status_of(&p, &selected(&["a", "b"]), &outcomes, at(100));
        let still = status
            .conditions
            .iter()
            .find(|c| c.type_ == STILL_ENFORCED)
            .unwrap();
        assert_eq!(
            (still.status.as_str(), still.reason.as_str()),
            ("True", "LeftByEnforceMode")
        );
        assert_eq!(
            still.message,
            "1 namespace still enforces what Enforce mode left (Audit mode neither repairs nor removes it); first: a: Pod Security enforce restricted:latest, NetworkPolicy hardening-default-deny"
        );
        let a = status.namespaces.iter().find(|n| n.name == "a").unwrap();
        assert_eq!(a.enforced.len(), 2);
        // Nothing left: said so; Enforce mode has no such condition.
        let outcomes = HashMap::from([(
            "b".to_string(),
            outcome(&[("audit", 2)], NamespaceState::Drifted),
        )]);
        let status = status_of(&p, &selected(&["b"]), &outcomes, at(100));
        assert!(
            status
                .conditions
                .iter()
                .any(|c| c.type_ == STILL_ENFORCED && c.status == "False")
        );
        let enforcing = profile("e").generation(1).spec_yaml(RESTRICTED).build();
        let status = status_of(&enforcing, &selected(&[]), &HashMap::new(), at(100));
        assert!(!status.conditions.iter().any(|c| c.type_ == STILL_ENFORCED));
    }

    #[test]
    fn invalid_spec_stalls() {
        let p = profile("bad").generation(1).spec_yaml(RESTRICTED).build();
        let sel = selected(&["a"]);
        let input = StatusInput {
            invalid: Some(
                "spec.namespaceSelector.matchExpressions[0]: values must not be empty".into(),
            ),
            ..input_of(&p, &sel, at(100))
        };
        let status = desired_status(&input, |_| None);
        assert_eq!(
            summary(&status)[..2],
            [
                triple("Ready", "False", "InvalidSpec"),
                triple("Stalled", "True", "InvalidSpec")
            ]
        );
        assert_eq!(
            status.conditions[1].message,
            "spec.namespaceSelector.matchExpressions[0]: values must not be empty"
        );
    }

    #[test]
    fn an_unchanged_state_needs_no_update_and_keeps_transition_times() {
        let mut p = profile("strict")
            .generation(1)
            .spec_yaml(RESTRICTED)
            .build();
        let sel = selected(&["a"]);
        let outcomes = HashMap::from([(
            "a".to_string(),
            outcome(&[("strict", 1)], NamespaceState::InSync),
        )]);
        let first = status_of(&p, &sel, &outcomes, at(100));
        assert!(needs_update(None, &first));
        p.status = Some(first.clone());
        // Later, same state: identical status, so no patch is sent.
        let again = status_of(&p, &sel, &outcomes, at(500));
        assert_eq!(again, first);
        assert!(!needs_update(p.status.as_ref(), &again));
        // A real change moves only the changed condition's transition time.
        let outcomes = HashMap::from([(
            "a".to_string(),
            outcome(&[("other", 1), ("strict", 1)], NamespaceState::InSync),
        )]);
        let changed = status_of(&p, &sel, &outcomes, at(900));
        assert!(needs_update(p.status.as_ref(), &changed));
        let times: Vec<_> = changed
            .conditions
            .iter()
            .map(|c| (c.type_.as_str(), c.last_transition_time.clone()))
            .collect();
        assert_eq!(
            times,
            vec![
                ("Ready", at(100)),
                ("Drifted", at(100)),
                ("Conflicting", at(900))
            ]
        );
    }

    #[test]
    fn status_stays_small_with_ten_thousand_drifted_namespaces() {
        let mut p = confining("audit");
        p.spec.mode = Mode::Audit;
        let entry = DriftEntry {
            kind: "NetworkPolicy".into(),
            name: "hardening-allow-same-namespace".into(),
            field: "x".repeat(256),
            expected: Some("e".repeat(256)),
            actual: Some("a".repeat(256)),
            manager: Some("m".repeat(128)),
        };
        // Every requirement judged, with the longest texts: drift of every generated kind,
        // running pods breaking every check, tenant rules opening everything.
        p.spec.guardrails = Some(crate::core::api::Guardrails {
            allowed_registries: vec!["registry.example".into()],
            require_read_only_root_filesystem: true,
            ..Default::default()
        });
        let mut drifted = outcome(&[("audit", 1)], NamespaceState::Drifted);
        drifted.drift = ["NetworkPolicy", "LimitRange", "Namespace"]
            .iter()
            .flat_map(|kind| {
                let mut e = entry.clone();
                e.kind = (*kind).into();
                vec![e; 14]
            })
            .collect();
        drifted.unconfined = Some(unconfined(5_000, &"r".repeat(256)));
        drifted.widening = Some(vec![
            Widening {
                policy: "p".repeat(253),
                direction: crate::core::api::PolicyType::Ingress,
                opens: "o".repeat(256),
            };
            10
        ]);
        drifted.preview = Some(std::sync::Arc::new(NamespacePreview {
            accepted: Vec::new(),
            level: Some("restricted:latest".into()),
            pod_security: crate::core::preview::PodSecurityPreview {
                findings: vec![
                    crate::core::preview::PodSecurityFinding {
                        pod: "q".repeat(253).into(),
                        other_pods: 7,
                        reason: "privileged, host namespaces, hostPath volumes, hostPort, allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, runAsUser=0, seccompProfile, restricted volume types, procMount, forbidden sysctls".into(),
                    };
                    50
                ],
                incomplete: None,
            },
            guardrails: vec![
                crate::core::preview::GuardrailFinding {
                    pod: "g".repeat(253).into(),
                    rule: "allowedRegistries",
                    reason: "i".repeat(256).into(),
                };
                50
            ],
        }));
        let names: Vec<String> = (0..10_000)
            .map(|i| format!("namespace-with-a-long-name-{i:05}"))
            .collect();
        let outcomes: HashMap<String, NamespaceOutcome> =
            names.iter().map(|n| (n.clone(), drifted.clone())).collect();
        let sel: BTreeSet<String> = names.iter().cloned().collect();
        let status = status_of(&p, &sel, &outcomes, at(100));
        assert_eq!(status.namespaces.len(), MAX_LISTED_NAMESPACES);
        assert_eq!(
            status.unlisted_namespaces,
            10_000 - MAX_LISTED_NAMESPACES as u32
        );
        assert!(
            status
                .namespaces
                .iter()
                .all(|n| n.drift.len() == MAX_LISTED_DRIFT
                    && n.pods.len() == crate::core::workloads::MAX_LISTED_PODS)
        );
        assert_eq!(status.unconfined_pods, Some(50_000_000));
        let bytes = serde_json::to_vec(&status).unwrap().len();
        let compliance = serde_json::to_vec(&status.compliance).unwrap().len();
        assert_eq!(status.compliance.len(), 47);
        assert!(
            status
                .compliance
                .iter()
                .filter(|e| e.namespaces.is_some())
                .all(|e| e.verdict == crate::core::api::Verdict::NotMet)
        );
        // Worst case (every text at its cap) stays far below etcd's 1.5 MiB object limit.
        assert!(bytes < 384 * 1024, "status is {bytes} bytes");
        eprintln!(
            "worst-case status with 10,000 drifted namespaces: {bytes} bytes, of which compliance {compliance}"
        );

        // And with the most exceptions in force, every field at its cap, covering every
        // namespace (so that every requirement lists its most deviations).
        let long = |c: char, n: usize| c.to_string().repeat(n);
        let active: Vec<crate::core::api::ActiveException> = (0
            ..crate::core::api::MAX_ACTIVE_EXCEPTIONS)
            .map(|i| crate::core::api::ActiveException {
                name: format!("{i:02}{}", long('e', 251)),
                rules: crate::core::api::GUARDRAIL_RULES
                    .iter()
                    .map(|(r, _)| r.to_string())
                    .collect(),
                pod_security_level: Some(crate::core::api::PodSecurityLevel::Baseline),
                namespaces: (0..64)
                    .map(|n| format!("{n:02}{}", long('n', 61)))
                    .collect(),
                namespace_selector: Some(
                    serde_json::from_value(
                        serde_json::json!({ "matchLabels": { long('k', 63): long('v', 63) } }),
                    )
                    .unwrap(),
                ),
                pod_selector: Some(
                    serde_json::from_value(
                        serde_json::json!({ "matchLabels": { long('k', 63): long('v', 63) } }),
                    )
                    .unwrap(),
                ),
                containers: (0..16)
                    .map(|n| format!("{n:02}{}", long('c', 61)))
                    .collect(),
                expires: "2026-12-31T23:59:59.123456789+01:00".into(),
                owner: long('o', 256),
                reason: long('r', 256),
            })
            .collect();
        let exceptions = ExceptionsStatus {
            active: active.clone(),
            expiring_soon: 32,
            expired: 1_000,
            not_applied: 1_000,
            inactive: vec![long('i', 512); 10],
        };
        // 1,000 namespaces suffice: what is listed does not grow with their number.
        let mut covered = drifted.clone();
        covered.exceptions = active.iter().map(|e| e.name.clone()).collect();
        covered.exceptions_digest = crate::core::exceptions::digest(&active);
        let names = &names[..1_000];
        let sel: BTreeSet<String> = names.iter().cloned().collect();
        let outcomes: HashMap<String, NamespaceOutcome> =
            names.iter().map(|n| (n.clone(), covered.clone())).collect();
        let input = StatusInput {
            repairs_total: 3,
            exceptions: Some(exceptions),
            ..input_of(&p, &sel, at(100))
        };
        let status = desired_status(&input, |ns| outcomes.get(ns));
        let weakened: Vec<&str> = status
            .compliance
            .iter()
            .filter(|e| !e.accepted_deviations.is_empty())
            .map(|e| e.id.as_str())
            .collect();
        // Every requirement one of the rules or the lowered level weakens (18 since the pod
        // rules of issue 22).
        let every_rule: Vec<String> = crate::core::api::GUARDRAIL_RULES
            .iter()
            .map(|(r, _)| r.to_string())
            .collect();
        assert_eq!(
            weakened,
            crate::core::compliance::exception_weakens(
                &every_rule,
                Some(crate::core::api::PodSecurityLevel::Baseline)
            ),
        );
        assert_eq!(weakened.len(), 18, "{weakened:?}");
        assert!(
            status
                .compliance
                .iter()
                .filter(|e| !e.accepted_deviations.is_empty())
                .all(
                    |e| e.accepted_deviations.len() == crate::core::compliance::MAX_DEVIATIONS
                        && e.accepted_deviations[0].namespaces == 1_000
                )
        );
        let with_exceptions = serde_json::to_vec(&status).unwrap().len();
        let listed = serde_json::to_vec(&status.exceptions).unwrap().len();
        let compliance = serde_json::to_vec(&status.compliance).unwrap().len();
        assert!(
            with_exceptions < 1024 * 1024,
            "status is {with_exceptions} bytes"
        );
        eprintln!(
            "with 32 exceptions at their caps: {with_exceptions} bytes, of which status.exceptions {listed}, compliance {compliance}"
        );
    }

    #[test]
    fn unconfined_pods_are_counted_listed_and_reported_without_touching_ready() {
        let p = confining("strict");
        let mut a = outcome(&[("strict", 1)], NamespaceState::InSync);
        a.unconfined = Some(unconfined(7, "container app: seccompProfile not set"));
        let mut b = outcome(&[("strict", 1)], NamespaceState::InSync);
        b.unconfined = Some(UnconfinedPods::default().into());
        let mut c = outcome(&[("strict", 1)], NamespaceState::InSync);
        c.unconfined = Some(unconfined(1, "container x: appArmorProfile not set"));
        // Another profile governs d: its pods are not this profile's to count.
        let mut d = outcome(&[("other", 1), ("strict", 1)], NamespaceState::InSync);
        d.unconfined = Some(unconfined(3, "y"));
        let outcomes = HashMap::from([
            ("a".to_string(), a),
            ("b".to_string(), b),
            ("c".to_string(), c),
            ("d".to_string(), d),
        ]);
        let status = status_of(&p, &selected(&["a", "b", "c", "d"]), &outcomes, at(100));
        assert_eq!(
            summary(&status),
            vec![
                triple("Ready", "True", "InSync"),
                triple("Drifted", "False", "NoDrift"),
                triple("Conflicting", "True", "NamespaceConflict"),
                triple("PodsConfined", "False", "UnconfinedPods"),
            ]
        );
        assert_eq!(
            status.conditions[3].message,
            "8 pods in 2 namespaces do not use the profile's workloadSecurityContext; \
             first: a/pod-0: container app: seccompProfile not set"
        );
        assert_eq!(status.unconfined_pods, Some(8));
        let listed: Vec<_> = status
            .namespaces
            .iter()
            .map(|n| (n.name.as_str(), n.state, n.unconfined_pods, n.pods.len()))
            .collect();
        assert_eq!(
            listed,
            vec![
                ("d", NamespaceState::Conflict, 0, 0),
                ("a", NamespaceState::InSync, 7, 5),
                ("c", NamespaceState::InSync, 1, 1),
            ]
        );
        assert_eq!(
            serde_json::to_value(&status.namespaces[2]).unwrap(),
            serde_json::json!({"name": "c", "state": "InSync", "unconfinedPods": 1,
                "pods": [{"name": "pod-0", "reason": "container x: appArmorProfile not set"}]})
        );

        // Every pod confined.
        let outcomes = HashMap::from([("b".to_string(), outcomes["b"].clone())]);
        let status = status_of(&p, &selected(&["b"]), &outcomes, at(100));
        assert_eq!(
            summary(&status)[3],
            triple("PodsConfined", "True", "AllPodsConfined")
        );
        assert_eq!(status.unconfined_pods, Some(0));
        assert!(status.namespaces.is_empty());
    }

    #[test]
    fn without_confinement_profiles_or_a_pod_watch_nothing_is_reported() {
        let mut with_pods = outcome(&[("strict", 1)], NamespaceState::InSync);
        with_pods.unconfined = Some(unconfined(2, "r"));
        let outcomes = HashMap::from([("a".to_string(), with_pods)]);
        let sel = selected(&["a"]);
        let plain = profile("strict")
            .generation(1)
            .spec_yaml(RESTRICTED)
            .build();
        let status = status_of(&plain, &sel, &outcomes, at(100));
        assert_eq!(status.unconfined_pods, None);
        assert!(status.conditions.iter().all(|c| c.type_ != PODS_CONFINED));

        let p = confining("strict");
        let input = StatusInput {
            pods_watched: false,
            ..input_of(&p, &sel, at(100))
        };
        let status = desired_status(&input, |ns| outcomes.get(ns));
        assert_eq!(status.unconfined_pods, None);
        assert!(status.conditions.iter().all(|c| c.type_ != PODS_CONFINED));
    }

    #[test]
    fn a_governed_namespace_that_cannot_be_brought_to_the_profile_makes_it_not_ready() {
        let p = profile("strict")
            .generation(1)
            .spec_yaml(RESTRICTED)
            .build();
        let blocked = NamespaceOutcome {
            reason: Some("ForeignObject"),
            permanent: true,
            message: Some("NetworkPolicy hardening-default-deny exists".into()),
            ..outcome(&[("strict", 1)], NamespaceState::Failed)
        };
        let outcomes = HashMap::from([
            ("a".to_string(), blocked),
            (
                "b".to_string(),
                outcome(&[("strict", 1)], NamespaceState::InSync),
            ),
            // Outranked elsewhere: reported, not a failure of this profile.
            (
                "c".to_string(),
                outcome(&[("other", 1), ("strict", 1)], NamespaceState::InSync),
            ),
        ]);
        let status = status_of(&p, &selected(&["a", "b", "c"]), &outcomes, at(100));
        assert_eq!(
            summary(&status),
            vec![
                triple("Ready", "False", "ForeignObject"),
                triple("Stalled", "True", "ForeignObject"),
                triple("Drifted", "False", "NoDrift"),
                triple("Conflicting", "True", "NamespaceConflict"),
            ]
        );
        assert_eq!(
            status.conditions[0].message,
            "1 namespace cannot be brought to the profile; first: a: NetworkPolicy hardening-default-deny exists"
        );
        assert_eq!(
            status.namespaces[0].reason.as_deref(),
            Some("ForeignObject")
        );
        assert_eq!(
            (status.failed_namespaces, status.conflicting_namespaces),
            (1, 1)
        );

        // Without the foreign object, being outranked alone leaves the profile Ready.
        let outcomes = HashMap::from([
            (
                "b".to_string(),
                outcome(&[("strict", 1)], NamespaceState::InSync),
            ),
            (
                "c".to_string(),
                outcome(&[("other", 1), ("strict", 1)], NamespaceState::InSync),
            ),
        ]);
        let status = status_of(&p, &selected(&["b", "c"]), &outcomes, at(100));
        assert_eq!(summary(&status)[0], triple("Ready", "True", "InSync"));
    }

    #[test]
    fn failures_with_several_causes_are_a_failed_reconcile_and_transient_ones_do_not_stall() {
        let p = profile("strict")
            .generation(1)
            .spec_yaml(RESTRICTED)
            .build();
        let failed = |reason: &'static str, permanent: bool| NamespaceOutcome {
            reason: Some(reason),
            permanent,
            ..outcome(&[("strict", 1)], NamespaceState::Failed)
        };
        let outcomes = HashMap::from([
            ("a".to_string(), failed("Forbidden", false)),
            ("b".to_string(), failed("ApiError", false)),
        ]);
        let status = status_of(&p, &selected(&["a", "b"]), &outcomes, at(100));
        assert_eq!(
            summary(&status)[0],
            triple("Ready", "False", "ReconcileFailed")
        );
        assert!(status.conditions.iter().all(|c| c.type_ != STALLED));
    }

    #[test]
    fn widening_tenant_policies_are_reported_and_withdraw_a9() {
        let mut p = profile("strict")
            .generation(1)
            .spec_yaml(RESTRICTED)
            .build();
        p.spec.network_policy = Some(serde_json::from_value(serde_json::json!({})).unwrap());
        let widened = NamespaceOutcome {
            widening: Some(vec![Widening {
                policy: "allow-all".into(),
                direction: crate::core::api::PolicyType::Ingress,
                opens: "from anywhere on all ports, to all pods".into(),
            }]),
            ..outcome(&[("strict", 1)], NamespaceState::InSync)
        };
        let outcomes = HashMap::from([("a".to_string(), widened)]);
        let status = status_of(&p, &selected(&["a"]), &outcomes, at(100));
        assert_eq!(summary(&status)[0], triple("Ready", "True", "InSync"));
        assert_eq!(
            summary(&status).last().unwrap(),
            &triple("NetworkIsolated", "False", "WideningPolicies")
        );
        assert_eq!(status.widening_policies, Some(1));
        assert_eq!(status.namespaces[0].policies[0].name, "allow-all");
        assert_eq!(verdict_of(&status, "SYS.1.6.A5").0, Verdict::NotMet);
        assert!(verdict_of(&status, "SYS.1.6.A5").1.contains("allow-all"));

        let clean = HashMap::from([(
            "a".to_string(),
            NamespaceOutcome {
                widening: Some(Vec::new()),
                ..outcome(&[("strict", 1)], NamespaceState::InSync)
            },
        )]);
        let status = status_of(&p, &selected(&["a"]), &clean, at(100));
        assert!(!verdict_of(&status, "SYS.1.6.A5").1.contains("allow-all"));
        assert_eq!(
            summary(&status).last().unwrap(),
            &triple("NetworkIsolated", "True", "NoWideningPolicies")
        );
        assert!(status.namespaces.is_empty());
    }

    #[test]
    fn guardrail_requirements_count_only_while_the_api_server_enforces_them() {
        let mut p = profile("strict")
            .generation(1)
            .spec_yaml(RESTRICTED)
            .build();
        p.spec.guardrails = Some(crate::core::api::Guardrails {
            allowed_registries: vec!["registry.example.com".into()],
            require_image_tag: true,
            deny_exec: true,
            ..Default::default()
        });
        let outcomes = HashMap::from([(
            "a".to_string(),
            outcome(&[("strict", 1)], NamespaceState::InSync),
        )]);
        let guardrails = |state| GuardrailsStatus {
            policy: "hardening.dev-strict".into(),
            validation_actions: vec!["Deny".into()],
            state,
            message: Some("apply failed".into()),
            drift: Vec::new(),
        };
        let status_with = |p: &HardeningProfile, g: Option<GuardrailsStatus>| {
            let sel = selected(&["a"]);
            let input = StatusInput {
                guardrails: g,
                ..input_of(p, &sel, at(100))
            };
            desired_status(&input, |ns| outcomes.get(ns))
        };
        // SYS.1.6.A6 (images from trusted sources) rests on allowedRegistries alone.
        let claimed = |s: &HardeningProfileStatus| {
            usize::from(verdict_of(s, "SYS.1.6.A6").0 != Verdict::NotMet)
        };
        let enforced = status_with(&p, Some(guardrails(NamespaceState::InSync)));
        assert_eq!(claimed(&enforced), 1, "{:?}", enforced.compliance);
        assert_eq!(
            summary(&enforced).last().unwrap(),
            &triple(GUARDRAILS_ENFORCED, "True", "Enforced")
        );
        for state in [
            NamespaceState::Pending,
            NamespaceState::Drifted,
            NamespaceState::Failed,
        ] {
            let status = status_with(&p, Some(guardrails(state)));
            assert_eq!(claimed(&status), 0, "{state:?}: {:?}", status.compliance);
            assert_eq!(condition_status(&status, GUARDRAILS_ENFORCED), "False");
        }
        let failed = status_with(&p, Some(guardrails(NamespaceState::Failed)));
        assert_eq!(
            summary(&failed)[0],
            triple(READY, "False", "GuardrailsFailed")
        );
        // No report (yet): nothing claimed.
        assert_eq!(claimed(&status_with(&p, None)), 0);
        let mut audit = p.clone();
        audit.spec.mode = Mode::Audit;
        let audited = status_with(&audit, Some(guardrails(NamespaceState::InSync)));
        assert_eq!(claimed(&audited), 0);
        assert_eq!(
            summary(&audited).last().unwrap(),
            &triple(GUARDRAILS_ENFORCED, "False", "AuditOnly")
        );
    }

    fn verdict_of(status: &HardeningProfileStatus, id: &str) -> (Verdict, String) {
        let e = status.compliance.iter().find(|e| e.id == id).unwrap();
        (e.verdict, e.reason.clone())
    }

    fn condition_status(status: &HardeningProfileStatus, type_: &str) -> String {
        status
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .map(|c| c.status.clone())
            .unwrap_or_default()
    }

    #[test]
    fn a21_holds_only_while_every_pod_is_confined_and_that_can_be_checked() {
        let p = profile("strict")
            .generation(1)
            .spec_yaml(RESTRICTED)
            .spec_yaml("{networkPolicy: {}, seccomp: {baseline: Strict}, apparmor: {denyWrite: [/etc/**]}}")
            .build();
        let with = |count| {
            HashMap::from([(
                "a".to_string(),
                NamespaceOutcome {
                    unconfined: Some(unconfined(count, "not set")),
                    widening: Some(Vec::new()),
                    preview: Some(NamespacePreview::default().into()),
                    ..outcome(&[("strict", 1)], NamespaceState::InSync)
                },
            )])
        };
        let a21 = |s: &HardeningProfileStatus| verdict_of(s, "SYS.1.6.A21");
        // Every pod confined, but nothing keeps a new one from starting without the
        // profiles (no guardrails.requireProfiles): Partial.
        let reported = a21(&status_of(&p, &selected(&["a"]), &with(0), at(100)));
        assert_eq!(reported.0, Verdict::Partial);
        assert!(reported.1.contains("requireProfiles"), "{}", reported.1);
        // With the rule enforced by the API server: Met.
        let mut required = p.clone();
        required.spec.guardrails = Some(crate::core::api::Guardrails {
            require_profiles: true,
            ..Default::default()
        });
        let outcomes = with(0);
        let sel_a = selected(&["a"]);
        let enforced = StatusInput {
            guardrails: Some(guardrails_in_sync()),
            ..input_of(&required, &sel_a, at(100))
        };
        assert_eq!(
            a21(&desired_status(&enforced, |ns| outcomes.get(ns))).0,
            Verdict::Met
        );
        assert_eq!(
            a21(&status_of(&p, &selected(&["a"]), &with(2), at(100))).0,
            Verdict::NotMet
        );
        let outcomes = with(0);
        let sel_a = selected(&["a"]);
        let input = StatusInput {
            pods_watched: false,
            ..input_of(&p, &sel_a, at(100))
        };
        let unwatched = a21(&desired_status(&input, |ns| outcomes.get(ns)));
        assert_eq!(unwatched.0, Verdict::Partial);
        assert!(
            unwatched.1.contains("--pod-report=false"),
            "{}",
            unwatched.1
        );
    }

    #[test]
    fn the_rollout_is_reported_as_given_and_counts_are_worded_in_the_singular() {
        let p = profile("strict")
            .generation(3)
            .spec_yaml(RESTRICTED)
            .build();
        let outcomes = HashMap::from([(
            "a".to_string(),
            outcome(&[("strict", 3)], NamespaceState::InSync),
        )]);
        let rollout = RolloutStatus {
            generation: 3,
            updated_namespaces: 1,
        };
        let sel_a = selected(&["a"]);
        let input = StatusInput {
            rollout: Some(rollout.clone()),
            ..input_of(&p, &sel_a, at(100))
        };
        let status = desired_status(&input, |ns| outcomes.get(ns));
        assert_eq!(status.rollout, Some(rollout));
        assert_eq!(status.conditions[0].message, "1 namespace in sync");
    }

    /// One namespace's outcome of kind `kind` (`variant` varies names and reasons) under
    /// profile `p` at `generation`, judged with the exceptions of digest `digest`.
    fn varied(i: usize, kind: u8, variant: u8, generation: i64, digest: u64) -> NamespaceOutcome {
        use crate::core::preview::{GuardrailFinding, PodSecurityFinding, PodSecurityPreview};
        let base = NamespaceOutcome {
            exceptions_digest: digest,
            unconfined: Some(std::sync::Arc::new(UnconfinedPods::default())),
            widening: Some(Vec::new()),
            preview: Some(std::sync::Arc::new(NamespacePreview::default())),
            ..outcome(&[("p", generation)], NamespaceState::InSync)
        };
        // Pods named per namespace, as a Deployment's: reasons differ between namespaces.
        let pod = format!("app-{i}-{variant}");
        let reason =
            ["privileged", "runAsNonRoot != true", "host namespaces"][variant as usize % 3];
        match kind {
            0 => base,
            1 => NamespaceOutcome {
                preview: Some(std::sync::Arc::new(NamespacePreview {
                    level: Some("restricted:latest".into()),
                    pod_security: PodSecurityPreview {
                        findings: vec![PodSecurityFinding {
                            pod: pod.as_str().into(),
                            other_pods: u32::from(variant),
                            reason: reason.into(),
                        }],
                        incomplete: None,
                    },
                    ..NamespacePreview::default()
                })),
                ..base
            },
            2 => NamespaceOutcome {
                state: Some(NamespaceState::Drifted),
                drift: vec![DriftEntry {
                    kind: "NetworkPolicy".into(),
                    name: "hardening-default-deny".into(),
                    field: format!("spec.policyTypes[{variant}]"),
                    expected: None,
                    actual: None,
                    manager: None,
                }],
                ..base
            },
            3 => NamespaceOutcome {
                state: Some(NamespaceState::Failed),
                reason: Some("Conflict"),
                message: Some(format!("object in the way ({variant})")),
                ..base
            },
            // Recorded at an older generation: pending.
            4 => NamespaceOutcome {
                candidates: vec![("p".into(), generation - 1)],
                ..base
            },
            // Another profile governs it.
            5 => NamespaceOutcome {
                candidates: vec![("other".into(), 1), ("p".into(), generation)],
                ..base
            },
            6 => NamespaceOutcome {
                preview: Some(std::sync::Arc::new(NamespacePreview {
                    guardrails: vec![GuardrailFinding {
                        pod: pod.as_str().into(),
                        rule: "allowedRegistries",
                        reason: reason.into(),
                    }],
                    ..NamespacePreview::default()
                })),
                ..base
            },
            7 => NamespaceOutcome {
                unconfined: Some(unconfined(u32::from(variant) + 1, reason)),
                ..base
            },
            // Judged with other exceptions than those in force now: pending.
            8 => NamespaceOutcome {
                exceptions_digest: digest ^ 1,
                ..base
            },
            // Covered by an exception in force.
            9 => NamespaceOutcome {
                exceptions: vec!["late".into()],
                ..varied(i, 1, variant, generation, digest)
            },
            // Pods not checked.
            10 => NamespaceOutcome {
                preview: None,
                unconfined: None,
                state: Some(if variant == 0 {
                    NamespaceState::Pending
                } else {
                    NamespaceState::InSync
                }),
                ..base
            },
            _ => NamespaceOutcome {
                state: Some(NamespaceState::Pending),
                ..base
            },
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// However outcomes change (recorded anew, removed, namespaces selected or not), the
        /// profile changing its generation, the pod watch, the guardrails or the exceptions
        /// in force in between: the status computed with each namespace's findings kept
        /// beside its outcome is exactly the status computed from scratch, at every step.
        #[test]
        fn the_status_with_kept_findings_is_the_status_judged_from_scratch(
            first in proptest::collection::vec((0u8..12, 0u8..3), 1..8),
            steps in proptest::collection::vec(
                (0u8..6, 0usize..10, 0u8..12, 0u8..3),
                1..40,
            ),
        ) {
            let guarded = "guardrails: {allowedRegistries: [registry.example], requireImageTag: true}";
            let build = |generation: i64, guardrails: bool| {
                let p = profile("p")
                    .generation(generation)
                    .spec_yaml(RESTRICTED)
                    .spec_yaml("{seccomp: {}, apparmor: {}}");
                if guardrails { p.spec_yaml(guarded).build() } else { p.build() }
            };
            let e = |name: &str| {
                crate::core::exceptions::active_entry(
                    &crate::fixtures::exception(name, "p", "ns-1", "2027-01-01T00:00:00Z")
                        .spec(serde_json::json!({ "rules": ["allowedRegistries"] }))
                        .build(),
                )
            };
            let in_force = |on: bool| ExceptionsStatus {
                active: if on { vec![e("late")] } else { Vec::new() },
                ..ExceptionsStatus::default()
            };
            let (mut generation, mut guardrails, mut pods_watched, mut excepted) = (3i64, false, true, true);
            // Mostly governed namespaces with something found, most of them alike (so that
            // a verdict's reason is either the same everywhere or not).
            let common = |kind: u8| [1, 1, 1, 6, 7, 2, 0, 3, 4, 5, 9, 10][kind as usize];
            let digest = crate::core::exceptions::digest(&in_force(excepted).active);
            let mut outcomes: HashMap<String, (NamespaceOutcome, Kept)> = first
                .iter()
                .enumerate()
                .map(|(i, (kind, variant))| {
                    let outcome = varied(i, common(*kind), *variant, generation, digest);
                    (format!("ns-{i}"), (outcome, Kept::default()))
                })
                .collect();
            let mut sel: BTreeSet<String> = outcomes.keys().cloned().collect();
            for (op, i, kind, variant) in steps {
                let ns = format!("ns-{i}");
                let digest = crate::core::exceptions::digest(&in_force(excepted).active);
                match op {
                    0 => {
                        outcomes.insert(ns, (varied(i, kind, variant, generation, digest), Kept::default()));
                    }
                    1 => {
                        outcomes.insert(ns, (varied(i, common(kind), variant, generation, digest), Kept::default()));
                    }
                    2 => {
                        outcomes.remove(&ns);
                    }
                    3 => {
                        if !sel.remove(&ns) {
                            sel.insert(ns);
                        }
                    }
                    _ => match variant {
                        0 => generation += 1,
                        1 => guardrails = !guardrails,
                        _ if kind % 2 == 0 => pods_watched = !pods_watched,
                        _ => excepted = !excepted,
                    },
                }
                let p = build(generation, guardrails);
                let input = StatusInput {
                    pods_watched,
                    exceptions: Some(in_force(excepted)),
                    guardrails: guardrails.then(guardrails_in_sync),
                    ..input_of(&p, &sel, at(100))
                };
                let kept = desired_status_kept(&input, |ns| outcomes.get(ns).map(|(o, k)| (o, Some(k))));
                let scratch = desired_status(&input, |ns| outcomes.get(ns).map(|(o, _)| o));
                proptest::prop_assert_eq!(&kept, &scratch);
            }
        }
    }

    /// The findings of a governed namespace with something found are kept beside its
    /// outcome by the first computation, and read (not judged again) by the next.
    #[test]
    fn findings_are_kept_beside_the_outcome_and_read_again() {
        let p = profile("p")
            .generation(3)
            .spec_yaml(RESTRICTED)
            .spec_yaml("{seccomp: {}, apparmor: {}}")
            .build();
        let sel: BTreeSet<String> = (0..3).map(|i| format!("ns-{i}")).collect();
        let outcomes: HashMap<String, (NamespaceOutcome, Kept)> = (0..3)
            .map(|i| (format!("ns-{i}"), (varied(i, 1, 1, 3, 0), Kept::default())))
            .collect();
        let input = input_of(&p, &sel, at(100));
        let first = desired_status_kept(&input, |ns| outcomes.get(ns).map(|(o, k)| (o, Some(k))));
        assert!(outcomes.values().all(|(_, k)| k.borrow().is_some()));
        let second = desired_status_kept(&input, |ns| outcomes.get(ns).map(|(o, k)| (o, Some(k))));
        assert_eq!(first, second);
        assert_eq!(
            first,
            desired_status(&input, |ns| outcomes.get(ns).map(|(o, _)| o))
        );
        // Three reasons naming three pods: a verdict they break names the first namespace,
        // with its reason (judged again from its outcome: the kept findings have none).
        assert!(
            first
                .compliance
                .iter()
                .any(|e| e.reason.starts_with("ns-0: ") && e.reason.contains("app-0-1")),
            "{:?}",
            first.compliance
        );
    }
}
