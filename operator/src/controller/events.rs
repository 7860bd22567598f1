//! Events (events.k8s.io) on HardeningProfiles: how every controller publishes them, and
//! how a repair's note names what changed.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Resource, ResourceExt};
use tracing::warn;

use crate::core::api::HardeningProfile;
use crate::core::diff::Drift;

/// Where Events go: the recorder under the operator's field manager (and this replica's
/// pod name).
pub struct Events(Recorder);

impl Events {
    pub fn new(recorder: Recorder) -> Self {
        Self(recorder)
    }

    /// Publishes an Event on `profile`, `related` naming what it is about. An Event is
    /// informational: its loss is logged, never fatal.
    pub async fn publish(
        &self,
        profile: &HardeningProfile,
        type_: EventType,
        reason: &str,
        action: &str,
        note: &str,
        related: Option<ObjectReference>,
    ) {
        let event = event(type_, reason, action, note, related);
        if let Err(e) = self.0.publish(&event, &profile.object_ref(&())).await {
            warn!(profile = %profile.name_any(), reason, error = %e, "could not publish event");
        }
    }

    /// A `Repaired` Event on `profile`: `related` names the repaired object (and its
    /// fields), so that each object and set of fields gets a series of its own.
    pub async fn repaired(&self, profile: &HardeningProfile, note: &str, related: ObjectReference) {
        let repair = (EventType::Normal, "Repaired", "Repair");
        self.publish(profile, repair.0, repair.1, repair.2, note, Some(related))
            .await;
    }

    /// Publishes an Event on the object `reference` (a HardeningException whose profile
    /// does not exist, or the profile), `related` naming what it is about.
    pub async fn publish_on(&self, reference: &ObjectReference, event: Event) {
        if let Err(e) = self.0.publish(&event, reference).await {
            warn!(object = ?reference.name, reason = %event.reason, error = %e, "could not publish event");
        }
    }
}

/// An Event, its note cut to the 1024 characters the API server takes.
pub fn event(
    type_: EventType,
    reason: &str,
    action: &str,
    note: &str,
    related: Option<ObjectReference>,
) -> Event {
    Event {
        type_,
        reason: reason.into(),
        note: Some(note.chars().take(1024).collect()),
        action: action.into(),
        secondary: related,
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
