//! Step 1: the cleanup finalizer. A new profile gets it; a deleting one keeps it until no
//! namespace names the profile any more (the namespace reconciler undoes each, seeing the
//! profile deleting) and its admission objects are gone.

use std::time::Duration;

use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use serde_json::json;
use tracing::info;

use super::super::context::Context;
use super::super::trim::CachedNamespace;
use crate::core::api::HardeningProfile;
use crate::core::labels::{CLEANUP_FINALIZER, PROFILE_ANNOTATION};
use crate::error::Error;

/// How often a deleting profile checks whether its namespaces are cleaned up.
const CLEANUP_POLL: Duration = Duration::from_secs(1);

/// What the reconcile does next when the finalizer decides it (`None`: the profile holds
/// the finalizer and is not being deleted; the other steps follow).
pub async fn finalize(profile: &HardeningProfile, ctx: &Context) -> Result<Option<Action>, Error> {
    let name = profile.name_any();
    let held = profile.finalizers().iter().any(|f| f == CLEANUP_FINALIZER);
    if profile.metadata.deletion_timestamp.is_some() {
        ctx.metrics.profile_gone(&name);
        if !held {
            return Ok(Some(Action::await_change()));
        }
        // A namespace being deleted is not waited for: it goes with everything in it, and
        // the namespace controller may take minutes to empty it.
        let remaining = ctx
            .caches
            .namespaces
            .state()
            .iter()
            .filter(|ns| ns.metadata.deletion_timestamp.is_none())
            .filter(|ns| claims(ns, &name))
            .count();
        // The profile's admission policy and binding go in any case (see `guardrails`).
        super::super::guardrails::remove(profile, ctx).await?;
        if remaining > 0 || super::super::guardrails::remaining(profile, ctx) {
            return Ok(Some(Action::requeue(CLEANUP_POLL)));
        }
        let finalizers: Vec<String> = profile
            .finalizers()
            .iter()
            .filter(|f| *f != CLEANUP_FINALIZER)
            .cloned()
            .collect();
        set_finalizers(ctx, profile, &finalizers, "remove finalizer").await?;
        info!(profile = %name, "cleanup finished; finalizer removed");
        return Ok(Some(Action::await_change()));
    }
    if !held {
        let mut finalizers = profile.finalizers().to_vec();
        finalizers.push(CLEANUP_FINALIZER.to_owned());
        set_finalizers(ctx, profile, &finalizers, "add finalizer").await?;
        // The update comes back through the watch and reconciles again.
        return Ok(Some(Action::await_change()));
    }
    Ok(None)
}

/// Whether the namespace's annotation names `profile` as the one that set it up.
fn claims(ns: &CachedNamespace, profile: &str) -> bool {
    ns.annotations().get(PROFILE_ANNOTATION).map(String::as_str) == Some(profile)
}

/// Sets the profile's finalizers, guarded by its resource version.
async fn set_finalizers(
    ctx: &Context,
    profile: &HardeningProfile,
    finalizers: &[String],
    action: &'static str,
) -> Result<(), Error> {
    let name = profile.name_any();
    let patch = json!({ "metadata": {
        "finalizers": finalizers,
        "resourceVersion": profile.resource_version(),
    }});
    Api::<HardeningProfile>::all(ctx.client.clone())
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
        .map_err(Error::api(action, "HardeningProfile", &name))
}
