//! The profile's status, computed without I/O from the per-namespace outcomes the
//! namespace reconciler records. The controller writes it only when it differs from the
//! live status (conditions keep their `lastTransitionTime` while their status holds).

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::{
    DriftEntry, HardeningProfile, HardeningProfileStatus, MAX_LISTED_DRIFT, MAX_LISTED_NAMESPACES,
    Mode, NamespaceState, NamespaceStatus,
};
use crate::workloads::UnconfinedPods;

pub const READY: &str = "Ready";
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";
pub const DRIFTED: &str = "Drifted";
pub const CONFLICTING: &str = "Conflicting";
/// Present when the profile declares seccomp/AppArmor profiles: whether every pod in the
/// namespaces it governs uses them. Informational: `Ready` does not depend on it.
pub const PODS_CONFINED: &str = "PodsConfined";

/// What the last reconcile of one namespace found, from the governing profile's view.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NamespaceOutcome {
    /// Every profile that selects the namespace with the generation seen, winner first.
    pub candidates: Vec<(String, i64)>,
    /// State under the winner (the first candidate).
    pub state: Option<NamespaceState>,
    pub message: Option<String>,
    pub drift: Vec<DriftEntry>,
    /// Pods not using the winner's seccomp/AppArmor profiles; `None` when it declares
    /// neither or pods are not watched.
    pub unconfined: Option<UnconfinedPods>,
}

impl NamespaceOutcome {
    pub fn winner(&self) -> Option<&str> {
        self.candidates.first().map(|(name, _)| name.as_str())
    }

    /// How this namespace looks from `profile` at `generation`.
    fn view(&self, profile: &str, generation: i64) -> View<'_> {
        let Some(pos) = self.candidates.iter().position(|(name, _)| name == profile) else {
            return View::pending();
        };
        if self.candidates[pos].1 < generation {
            return View::pending();
        }
        if pos > 0 {
            let winner = self.winner().unwrap_or_default();
            return View {
                state: NamespaceState::Conflict,
                message: Some(format!(
                    "governed by profile {winner}, which takes precedence"
                )),
                ..View::pending()
            };
        }
        View {
            state: self.state.unwrap_or(NamespaceState::Pending),
            message: self.message.clone(),
            drift: &self.drift,
            unconfined: self.unconfined.as_ref(),
        }
    }
}

/// One namespace as one profile sees it.
struct View<'a> {
    state: NamespaceState,
    message: Option<String>,
    drift: &'a [DriftEntry],
    unconfined: Option<&'a UnconfinedPods>,
}

impl View<'_> {
    fn pending() -> Self {
        Self {
            state: NamespaceState::Pending,
            message: None,
            drift: &[],
            unconfined: None,
        }
    }
}

/// Everything the status depends on besides the outcomes.
pub struct StatusInput<'a> {
    pub profile: &'a HardeningProfile,
    /// Namespaces the profile selects now (from the namespace cache).
    pub selected: &'a BTreeSet<String>,
    pub repairs_total: u64,
    /// The operator's own validation failure, if any.
    pub invalid: Option<String>,
    /// Whether the operator watches pods (and so can count unconfined ones).
    pub pods_watched: bool,
    pub now: Time,
}

/// The status `input.profile` should have, given the outcome of each selected namespace.
pub fn desired_status<'a>(
    input: &StatusInput<'_>,
    outcome_of: impl Fn(&str) -> Option<&'a NamespaceOutcome>,
) -> HardeningProfileStatus {
    let profile = input.profile;
    let name = profile.metadata.name.as_deref().unwrap_or_default();
    let generation = profile.metadata.generation.unwrap_or(0);

    let mut entries: Vec<NamespaceStatus> = Vec::new();
    let (mut in_sync, mut drifted, mut conflicting, mut failed, mut pending) =
        (0u32, 0u32, 0u32, 0u32, 0u32);
    let (mut unconfined_pods, mut unconfined_namespaces) = (0u32, 0u32);
    for ns in input.selected {
        let view = match outcome_of(ns) {
            Some(outcome) => outcome.view(name, generation),
            None => View::pending(),
        };
        let state = view.state;
        let unconfined = view.unconfined.filter(|u| u.count > 0);
        if let Some(u) = unconfined {
            unconfined_pods += u.count;
            unconfined_namespaces += 1;
        }
        match state {
            NamespaceState::InSync => in_sync += 1,
            NamespaceState::Drifted => drifted += 1,
            NamespaceState::Conflict => conflicting += 1,
            NamespaceState::Failed => failed += 1,
            NamespaceState::Pending => pending += 1,
        }
        if state != NamespaceState::InSync || unconfined.is_some() {
            entries.push(NamespaceStatus {
                name: ns.clone(),
                state,
                message: view.message,
                drift: view.drift.iter().take(MAX_LISTED_DRIFT).cloned().collect(),
                unconfined_pods: unconfined.map_or(0, |u| u.count),
                pods: unconfined.map(|u| u.listed.clone()).unwrap_or_default(),
            });
        }
    }
    // Most urgent first (namespaces only listed for their pods last), then by name: a
    // stable order, so an unchanged state patches nothing.
    entries.sort_by(|a, b| {
        severity(a.state)
            .cmp(&severity(b.state))
            .then_with(|| a.name.cmp(&b.name))
    });
    let unlisted = entries.len().saturating_sub(MAX_LISTED_NAMESPACES) as u32;
    entries.truncate(MAX_LISTED_NAMESPACES);

    let selected = input.selected.len() as u32;
    let required = crate::api::workload_security_context(profile);
    let confinement = (required.is_some() && input.pods_watched).then_some(Unconfined {
        pods: unconfined_pods,
        namespaces: unconfined_namespaces,
    });
    let counts = Counts {
        selected,
        in_sync,
        drifted,
        conflicting,
        failed,
        pending,
        unconfined: confinement,
    };
    let conditions = conditions(input, &counts, &entries, profile.status.as_ref());

    HardeningProfileStatus {
        observed_generation: Some(generation),
        conditions,
        selected_namespaces: selected,
        in_sync_namespaces: in_sync,
        drifted_namespaces: drifted,
        conflicting_namespaces: conflicting,
        failed_namespaces: failed,
        repairs_total: input.repairs_total,
        namespaces: entries,
        unlisted_namespaces: unlisted,
        compliance: crate::api::covered_requirements(&profile.spec)
            .into_iter()
            .map(String::from)
            .collect(),
        workload_security_context: required,
        unconfined_pods: confinement.map(|u| u.pods),
    }
}

struct Counts {
    selected: u32,
    in_sync: u32,
    drifted: u32,
    conflicting: u32,
    failed: u32,
    pending: u32,
    /// Set when the profile declares seccomp/AppArmor profiles and pods are watched.
    unconfined: Option<Unconfined>,
}

#[derive(Clone, Copy)]
struct Unconfined {
    pods: u32,
    namespaces: u32,
}

fn severity(state: NamespaceState) -> u8 {
    match state {
        NamespaceState::Failed => 0,
        NamespaceState::Drifted => 1,
        NamespaceState::Conflict => 2,
        NamespaceState::Pending => 3,
        NamespaceState::InSync => 4,
    }
}

fn conditions(
    input: &StatusInput<'_>,
    c: &Counts,
    entries: &[NamespaceStatus],
    previous: Option<&HardeningProfileStatus>,
) -> Vec<Condition> {
    let generation = input.profile.metadata.generation;
    let audit = input.profile.spec.mode == Mode::Audit;
    let first = |state: NamespaceState| {
        entries
            .iter()
            .find(|e| e.state == state)
            .map(|e| match &e.message {
                Some(m) => format!("{}: {m}", e.name),
                None => e.name.clone(),
            })
            .unwrap_or_default()
    };

    let ready = if let Some(message) = &input.invalid {
        ("False", "InvalidSpec", message.clone())
    } else if c.pending > 0 {
        (
            "False",
            "Reconciling",
            format!(
                "{} of {} selected namespaces not reconciled yet",
                c.pending, c.selected
            ),
        )
    } else if c.failed > 0 {
        (
            "False",
            "ReconcileFailed",
            format!(
                "{} namespaces failed; first: {}",
                c.failed,
                first(NamespaceState::Failed)
            ),
        )
    } else if c.drifted > 0 && !audit {
        (
            "False",
            "Drifted",
            format!("{} namespaces drifted and are not repaired yet", c.drifted),
        )
    } else if audit {
        (
            "True",
            "Audited",
            format!(
                "{} namespaces audited, {} drifted (Audit mode changes nothing)",
                c.selected - c.conflicting,
                c.drifted
            ),
        )
    } else {
        (
            "True",
            "InSync",
            format!("{} namespaces in sync", c.in_sync),
        )
    };

    let mut out = vec![condition(READY, ready.0, ready.1, &ready.2)];
    // kstatus reads these two "abnormal-true" conditions; they are present only while true.
    if input.invalid.is_some() {
        out.push(condition(STALLED, "True", "InvalidSpec", &ready.2));
    } else if c.pending > 0 {
        out.push(condition(RECONCILING, "True", "Reconciling", &ready.2));
    }
    out.push(if c.drifted > 0 {
        condition(
            DRIFTED,
            "True",
            "DriftDetected",
            &format!(
                "{} namespaces drifted; first: {}",
                c.drifted,
                first(NamespaceState::Drifted)
            ),
        )
    } else {
        condition(
            DRIFTED,
            "False",
            "NoDrift",
            "no drift in the governed namespaces",
        )
    });
    out.push(if c.conflicting > 0 {
        condition(
            CONFLICTING,
            "True",
            "NamespaceConflict",
            &format!(
                "{} selected namespaces are governed by another profile; first: {}",
                c.conflicting,
                first(NamespaceState::Conflict)
            ),
        )
    } else {
        condition(
            CONFLICTING,
            "False",
            "NoConflict",
            "no other profile governs a selected namespace",
        )
    });

    if let Some(u) = c.unconfined {
        out.push(if u.pods > 0 {
            let first = entries
                .iter()
                .find_map(|e| e.pods.first().map(|p| format!("{}/{}: {}", e.name, p.name, p.reason)))
                .unwrap_or_default();
            condition(
                PODS_CONFINED,
                "False",
                "UnconfinedPods",
                &format!(
                    "{} pods in {} namespaces do not use the profile's workloadSecurityContext; first: {first}",
                    u.pods, u.namespaces
                ),
            )
        } else {
            condition(
                PODS_CONFINED,
                "True",
                "AllPodsConfined",
                "every pod in the governed namespaces uses the profile's workloadSecurityContext",
            )
        });
    }

    for cond in &mut out {
        cond.observed_generation = generation;
        let kept = previous
            .and_then(|p| p.conditions.iter().find(|old| old.type_ == cond.type_))
            .filter(|old| old.status == cond.status);
        cond.last_transition_time = match kept {
            Some(old) => old.last_transition_time.clone(),
            None => input.now.clone(),
        };
    }
    out
}

fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message: message.chars().take(1024).collect(),
        observed_generation: None,
        last_transition_time: Time(Default::default()),
    }
}

/// True when writing `desired` would change what the API server holds.
pub fn needs_update(
    live: Option<&HardeningProfileStatus>,
    desired: &HardeningProfileStatus,
) -> bool {
    live != Some(desired)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::HardeningProfileSpec;
    use k8s_openapi::jiff::Timestamp;
    use std::collections::HashMap;

    fn profile(name: &str, generation: i64, mode: &str) -> HardeningProfile {
        let mut p = HardeningProfile::new(
            name,
            serde_json::from_value::<HardeningProfileSpec>(serde_json::json!({
                "namespaceSelector": {}, "mode": mode,
                "podSecurity": { "enforce": { "level": "restricted" } }
            }))
            .unwrap(),
        );
        p.metadata.generation = Some(generation);
        p
    }

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
        }
    }

    /// A profile declaring a seccomp and an AppArmor profile for its workloads.
    fn confining(name: &str) -> HardeningProfile {
        let mut p = profile(name, 1, "Enforce");
        p.spec.seccomp = Some(serde_json::from_value(serde_json::json!({})).unwrap());
        p.spec.apparmor = Some(serde_json::from_value(serde_json::json!({})).unwrap());
        p
    }

    fn unconfined(count: u32, reason: &str) -> UnconfinedPods {
        UnconfinedPods {
            count,
            listed: (0..count.min(crate::workloads::MAX_LISTED_PODS as u32))
                .map(|i| crate::api::UnconfinedPod {
                    name: format!("pod-{i}"),
                    reason: reason.to_owned(),
                })
                .collect(),
        }
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
            profile: p,
            selected: sel,
            repairs_total: 3,
            invalid: None,
            pods_watched: true,
            now,
        };
        desired_status(&input, |ns| outcomes.get(ns))
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
    fn all_governed_namespaces_in_sync_is_ready() {
        let p = profile("strict", 2, "Enforce");
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
        let p = profile("strict", 3, "Enforce");
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
        let p = profile("low", 1, "Enforce");
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
        let p = profile("audit", 1, "Audit");
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
            "1 namespaces failed; first: b-failed: ApiError: boom"
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

    #[test]
    fn invalid_spec_stalls() {
        let p = profile("bad", 1, "Enforce");
        let sel = selected(&["a"]);
        let input = StatusInput {
            profile: &p,
            selected: &sel,
            repairs_total: 0,
            invalid: Some(
                "spec.namespaceSelector.matchExpressions[0]: values must not be empty".into(),
            ),
            pods_watched: true,
            now: at(100),
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
        let mut p = profile("strict", 1, "Enforce");
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
        let mut drifted = outcome(&[("audit", 1)], NamespaceState::Drifted);
        drifted.drift = vec![entry; 40];
        drifted.unconfined = Some(unconfined(5_000, &"r".repeat(256)));
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
                    && n.pods.len() == crate::workloads::MAX_LISTED_PODS)
        );
        assert_eq!(status.unconfined_pods, Some(50_000_000));
        let bytes = serde_json::to_vec(&status).unwrap().len();
        // Worst case (every text at its cap) stays far below etcd's 1.5 MiB object limit.
        assert!(bytes < 256 * 1024, "status is {bytes} bytes");
        eprintln!("worst-case status with 10,000 drifted namespaces: {bytes} bytes");
    }

    #[test]
    fn unconfined_pods_are_counted_listed_and_reported_without_touching_ready() {
        let p = confining("strict");
        let mut a = outcome(&[("strict", 1)], NamespaceState::InSync);
        a.unconfined = Some(unconfined(7, "container app: seccompProfile not set"));
        let mut b = outcome(&[("strict", 1)], NamespaceState::InSync);
        b.unconfined = Some(UnconfinedPods::default());
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
        let plain = profile("strict", 1, "Enforce");
        let status = status_of(&plain, &sel, &outcomes, at(100));
        assert_eq!(status.unconfined_pods, None);
        assert!(status.conditions.iter().all(|c| c.type_ != PODS_CONFINED));

        let p = confining("strict");
        let input = StatusInput {
            profile: &p,
            selected: &sel,
            repairs_total: 0,
            invalid: None,
            pods_watched: false,
            now: at(100),
        };
        let status = desired_status(&input, |ns| outcomes.get(ns));
        assert_eq!(status.unconfined_pods, None);
        assert!(status.conditions.iter().all(|c| c.type_ != PODS_CONFINED));
    }
}
