//! The profile's status, computed without I/O from the per-namespace outcomes the
//! namespace reconciler records. The controller writes it only when it differs from the
//! live status (conditions keep their `lastTransitionTime` while their status holds).

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::{
    DriftEntry, HardeningProfile, HardeningProfileStatus, MAX_LISTED_DRIFT, MAX_LISTED_NAMESPACES,
    Mode, NamespaceState, NamespaceStatus,
};

pub const READY: &str = "Ready";
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";
pub const DRIFTED: &str = "Drifted";
pub const CONFLICTING: &str = "Conflicting";

/// What the last reconcile of one namespace found, from the governing profile's view.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NamespaceOutcome {
    /// Every profile that selects the namespace with the generation seen, winner first.
    pub candidates: Vec<(String, i64)>,
    /// State under the winner (the first candidate).
    pub state: Option<NamespaceState>,
    pub message: Option<String>,
    pub drift: Vec<DriftEntry>,
}

impl NamespaceOutcome {
    pub fn winner(&self) -> Option<&str> {
        self.candidates.first().map(|(name, _)| name.as_str())
    }

    /// How this namespace looks from `profile` at `generation`.
    fn view(
        &self,
        profile: &str,
        generation: i64,
    ) -> (NamespaceState, Option<String>, &[DriftEntry]) {
        let Some(pos) = self.candidates.iter().position(|(name, _)| name == profile) else {
            return (NamespaceState::Pending, None, &[]);
        };
        if self.candidates[pos].1 < generation {
            return (NamespaceState::Pending, None, &[]);
        }
        if pos > 0 {
            let winner = self.winner().unwrap_or_default();
            let message = format!("governed by profile {winner}, which takes precedence");
            return (NamespaceState::Conflict, Some(message), &[]);
        }
        let state = self.state.unwrap_or(NamespaceState::Pending);
        (state, self.message.clone(), &self.drift)
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
    for ns in input.selected {
        let (state, message, drift) = match outcome_of(ns) {
            Some(outcome) => outcome.view(name, generation),
            None => (NamespaceState::Pending, None, &[][..]),
        };
        match state {
            NamespaceState::InSync => in_sync += 1,
            NamespaceState::Drifted => drifted += 1,
            NamespaceState::Conflict => conflicting += 1,
            NamespaceState::Failed => failed += 1,
            NamespaceState::Pending => pending += 1,
        }
        if state != NamespaceState::InSync {
            entries.push(NamespaceStatus {
                name: ns.clone(),
                state,
                message,
                drift: drift.iter().take(MAX_LISTED_DRIFT).cloned().collect(),
            });
        }
    }
    // Most urgent first, then by name: a stable order, so an unchanged state patches nothing.
    entries.sort_by(|a, b| {
        severity(a.state)
            .cmp(&severity(b.state))
            .then_with(|| a.name.cmp(&b.name))
    });
    let unlisted = entries.len().saturating_sub(MAX_LISTED_NAMESPACES) as u32;
    entries.truncate(MAX_LISTED_NAMESPACES);

    let selected = input.selected.len() as u32;
    let counts = Counts {
        selected,
        in_sync,
        drifted,
        conflicting,
        failed,
        pending,
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
    }
}

struct Counts {
    selected: u32,
    in_sync: u32,
    drifted: u32,
    conflicting: u32,
    failed: u32,
    pending: u32,
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
