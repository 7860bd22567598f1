//! Events (events.k8s.io) on HardeningProfiles: how every controller publishes them, and
//! how a repair's note names what changed.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use tracing::warn;

use super::context::Context;
use crate::core::api::HardeningProfile;
use crate::core::diff::Drift;

/// Publishes an Event on `profile`, `related` naming what it is about. An Event is
/// informational: its loss is logged, never fatal.
pub async fn publish(
    ctx: &Context,
    profile: &HardeningProfile,
    type_: EventType,
    reason: &str,
    action: &str,
    note: &str,
    related: Option<ObjectReference>,
) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note.chars().take(1024).collect()),
        action: action.into(),
        secondary: related,
    };
    if let Err(e) = ctx.recorder.publish(&event, &profile.object_ref(&())).await {
        warn!(profile = %profile.name_any(), reason, error = %e, "could not publish event");
    }
}

/// Publishes an Event on the object `reference` (a profile, or a HardeningException whose
/// profile does not exist), `related` naming what it is about.
pub async fn publish_on(
    ctx: &Context,
    reference: &ObjectReference,
    type_: EventType,
    reason: &str,
    action: &str,
    note: &str,
    related: Option<ObjectReference>,
) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note.chars().take(1024).collect()),
        action: action.into(),
        secondary: related,
    };
    if let Err(e) = ctx.recorder.publish(&event, reference).await {
        warn!(object = ?reference.name, reason, error = %e, "could not publish event");
    }
}

/// The first five changed fields of an object and who changed each (`spec.hard.pods
/// changed by kubectl-edit, ... and 2 more`), as a `Repaired` Event's note names them.
pub fn changed_fields(drifts: &[Drift]) -> String {
    let fields: Vec<String> = drifts.iter().take(5).map(Drift::describe).collect();
    let more = drifts.len().saturating_sub(5);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!("{}{more}", fields.join(", "))
}
