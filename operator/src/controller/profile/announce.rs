//! Step 6: one `RolledOut` Event per rollout this process took part in, once every
//! namespace has it.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};

use super::super::context::Context;
use super::Baselines;
use crate::core::api::{HardeningProfile, HardeningProfileStatus, RolloutStatus};
use crate::core::plural::count;

/// Announces the rollout of the profile's generation when `status` says it is complete
/// and `since_start` (the namespaces this process updated for it) is not empty.
pub async fn rollout(
    profile: &HardeningProfile,
    ctx: &Context,
    baselines: &Baselines,
    status: &HardeningProfileStatus,
    since_start: Option<RolloutStatus>,
) {
    let uid = profile.uid().unwrap_or_default();
    let generation = profile.metadata.generation.unwrap_or(0);
    let reconciled = !status
        .conditions
        .iter()
        .any(|c| c.type_ == crate::core::status::RECONCILING);
    let (true, Some(rollout)) = (reconciled, since_start) else {
        return;
    };
    if !baselines.first_announcement(uid, generation) {
        return;
    }
    let total = status.rollout.as_ref().map_or(0, |r| r.updated_namespaces);
    let note = format!(
        "rolled out generation {generation}: {} updated ({} by this operator instance)",
        count(total, "namespace"),
        rollout.updated_namespaces
    );
    // The profile as of this rollout: Events with equal references are folded into one
    // series keeping the first note, and each rollout has its own.
    let this_rollout = ObjectReference {
        resource_version: profile.resource_version(),
        ..profile.object_ref(&())
    };
    ctx.events
        .publish(
            profile,
            EventType::Normal,
            "RolledOut",
            "Rollout",
            &note,
            Some(this_rollout),
        )
        .await;
}
