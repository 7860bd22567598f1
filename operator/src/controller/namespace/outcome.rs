//! Step 7: the outcome of a reconcile, in one place: recorded for the profiles' status (and
//! the policy reports), and emitted as metrics and Events: repairs (someone else's change
//! undone), rollouts (a new rendering written), drift first seen in Audit mode, conflicts
//! and foreign objects newly found, permanent failures.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::ResourceExt;
use kube::runtime::events::EventType;
use tracing::info;

use super::super::context::Context;
use super::super::events::changed_fields;
use crate::core::api::{DriftEntry, HardeningProfile, NamespaceState};
use crate::core::plan::{Step, Target};
use crate::core::status::NamespaceOutcome;
use crate::error::Error;
use crate::metrics::ControllerKind;

/// What governing a namespace found, from the winner's view.
pub struct Governed {
    pub state: NamespaceState,
    pub reason: Option<&'static str>,
    pub permanent: bool,
    pub message: Option<String>,
    pub drift: Vec<DriftEntry>,
}

impl Governed {
    pub fn failed(error: &Error) -> Self {
        Self {
            state: NamespaceState::Failed,
            reason: Some(error.reason()),
            permanent: error.is_permanent(),
            message: Some(error.to_string()),
            drift: Vec::new(),
        }
    }
}

/// A repaired object: its kind (for the metrics), and the note and related object of its
/// `Repaired` Event.
pub struct Repair {
    kind: &'static str,
    note: String,
    related: ObjectReference,
}

impl Repair {
    pub fn of(namespace: &str, change: &Step<'_>) -> Self {
        Self {
            kind: change.kind,
            note: repair_note(namespace, change),
            related: reference(change, namespace),
        }
    }
}

/// What a reconcile wrote, or found first in Audit mode.
#[derive(Default)]
pub struct Effects {
    /// Objects repaired: each an undone change of someone else.
    pub repaired: Vec<Repair>,
    /// Kinds of the objects a new rendering (set-up or new generation) was written to.
    pub rolled_out: Vec<&'static str>,
    /// Audit mode: the drifted objects (kind, name).
    pub audited: Vec<(&'static str, String)>,
}

/// Records `outcome` for `namespace` under `winner` (the first of `candidates`) and emits
/// what `effects` and `error` say, as metrics and Events.
pub async fn emit(
    ctx: &Context,
    namespace: &str,
    candidates: &[&HardeningProfile],
    effects: Effects,
    outcome: NamespaceOutcome,
    error: Option<&Error>,
) {
    let winner = candidates[0];
    let profile = winner.name_any();
    // Repairs: counted per object in `repairsTotal` and the metrics, one `Repaired` Event
    // per object naming each changed field and who changed it.
    if !effects.repaired.is_empty() {
        for repair in &effects.repaired {
            ctx.metrics.drift_detected(repair.kind);
            ctx.metrics.drift_repaired(repair.kind);
        }
        ctx.state
            .counts
            .add_repairs(&profile, effects.repaired.len() as u64);
        for repair in &effects.repaired {
            ctx.events
                .repaired(winner, &repair.note, repair.related.clone())
                .await;
        }
        info!(%namespace, %profile, repaired = effects.repaired.len(), "repaired drift");
    }
    if !effects.rolled_out.is_empty() {
        for kind in &effects.rolled_out {
            ctx.metrics.rolled_out(kind);
        }
        ctx.state
            .counts
            .rolled_out(&profile, winner.metadata.generation.unwrap_or(0));
    }
    let previous = ctx.state.outcomes.record(namespace, Some(outcome.clone()));
    // `hardening_drifts_detected_total` in Audit mode: a drift when it first shows up (it
    // is found again on every reconcile until someone fixes it).
    let known: BTreeSet<(String, String)> = previous
        .as_ref()
        .map(|o| {
            o.drift
                .iter()
                .map(|d| (d.kind.clone(), d.name.clone()))
                .collect()
        })
        .unwrap_or_default();
    for (kind, name) in &effects.audited {
        if !known.contains(&((*kind).to_owned(), name.clone())) {
            ctx.metrics.drift_detected(kind);
        }
    }
    announce_conflicts(ctx, namespace, previous.as_ref(), &outcome, candidates).await;
    if let Some(e) = error.filter(|e| e.is_permanent()) {
        ctx.metrics
            .reconcile_failed(ControllerKind::Namespace, e.reason());
    }
}

/// The namespace is gone, being deleted, or no profile selects it: nothing to report.
pub fn forget(ctx: &Context, namespace: &str) {
    ctx.state.outcomes.record(namespace, None);
    ctx.forget_unconverged(namespace);
}

/// `repaired ResourceQuota ns/hardening-quota: spec.hard.pods changed by kubectl-edit`.
fn repair_note(namespace: &str, change: &Step) -> String {
    format!(
        "repaired {} {namespace}/{}: {}",
        change.kind,
        change.name,
        changed_fields(&change.drifts)
    )
}

/// The changed object and its changed fields, as the Event's `related` object: Events with
/// equal (regarding, related, reason) are folded into one series that keeps the first note,
/// so each object and set of fields gets a series of its own.
fn reference(change: &Step, namespace: &str) -> ObjectReference {
    let (api_version, object_namespace) = match &change.target {
        Target::Namespace(_) => ("v1", None),
        Target::Object(object) => (object.kind().api_version(), Some(namespace.to_owned())),
        Target::Unwanted(kind, _) => (kind.api_version(), Some(namespace.to_owned())),
    };
    let fields: Vec<&str> = change.drifts.iter().map(|d| d.field.as_str()).collect();
    ObjectReference {
        api_version: Some(api_version.to_owned()),
        kind: Some(change.kind.to_owned()),
        name: Some(change.name.clone()),
        namespace: object_namespace,
        field_path: Some(fields.join(",")).filter(|f| !f.is_empty()),
        ..Default::default()
    }
}

/// Events on the profiles involved when a namespace newly becomes a conflict, or newly
/// holds a foreign object.
async fn announce_conflicts(
    ctx: &Context,
    namespace: &str,
    previous: Option<&NamespaceOutcome>,
    outcome: &NamespaceOutcome,
    candidates: &[&HardeningProfile],
) {
    let was = |profile: &str| {
        previous.is_some_and(|p| p.candidates.iter().skip(1).any(|(n, _)| n == profile))
    };
    let winner = outcome.winner().unwrap_or_default();
    for loser in candidates.iter().skip(1) {
        if !was(&loser.name_any()) {
            let note = format!(
                "namespace {namespace} is governed by profile {winner}, which takes precedence"
            );
            ctx.events
                .publish(
                    loser,
                    EventType::Warning,
                    "NamespaceConflict",
                    "Select",
                    &note,
                    Some(namespace_ref(namespace)),
                )
                .await;
        }
    }
    let foreign = |o: &NamespaceOutcome| o.reason == Some("ForeignObject");
    let foreign_before = previous.is_some_and(|p| foreign(p) && p.winner() == outcome.winner());
    if foreign(outcome)
        && !foreign_before
        && let Some(profile) = candidates.first()
    {
        let note = outcome.message.as_deref().unwrap_or_default();
        ctx.events
            .publish(
                profile,
                EventType::Warning,
                "ForeignObject",
                "Apply",
                note,
                Some(namespace_ref(namespace)),
            )
            .await;
    }
}

fn namespace_ref(namespace: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Namespace".into()),
        name: Some(namespace.into()),
        ..Default::default()
    }
}
