//! Reconciles one namespace, in the steps this directory holds, in this order:
//!
//! 1. [`select`]: the profiles that select the namespace and the one that governs it
//!    (priority, then name); with none, [`release`] undoes what the operator set up there;
//! 2. [`validate`]: the governing profile as `api::validate` accepts it;
//! 3. render (`crate::core::render`, pure): the objects and labels the profile wants there;
//! 4. [`observe`]: the namespace's objects from the watch caches, what tenants do, and in
//!    Audit mode what enforcing would reject;
//! 5. plan (`crate::core::plan`, pure, shared with `hardening-operator diff`): what differs and
//!    what to do about it;
//! 6. [`apply`]: write (Enforce) or only report (Audit);
//! 7. [`outcome`]: recorded for the profiles' status and emitted as metrics and Events, in
//!    one place.
//!
//! Reads come from the watch caches; nothing is written when nothing differs.

mod apply;
mod observe;
mod outcome;
mod release;
mod select;
mod validate;

use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::controller::Action;

use super::context::Context;
use super::trim::CachedNamespace;
use crate::core::api::HardeningProfile;
use crate::core::plan;
use crate::core::render::render_with;
use crate::core::status::NamespaceOutcome;
use crate::error::Error;
use outcome::{Effects, Governed};

pub async fn reconcile(ns: Arc<CachedNamespace>, ctx: Arc<Context>) -> Result<Action, Error> {
    // Read now (the controller looked it up when it queued this reconcile), and as the
    // operator last wrote it if the cache has not caught up yet.
    let ns = ctx
        .caches
        .namespace_writes
        .view(&ctx.caches.namespaces, &ns.name_any())
        .unwrap_or(ns);
    let name = ns.name_any();
    if ns.metadata.deletion_timestamp.is_some() {
        // Everything in it goes away with it; nothing to enforce or report.
        outcome::forget(&ctx, &name);
        return Ok(Action::await_change());
    }
    let profiles = ctx.caches.profiles.state();
    let candidates = select::candidates(&ctx, &ns, &profiles);
    let Some(winner) = candidates.first().copied() else {
        release::release(&ns, &profiles, &ctx).await?;
        outcome::forget(&ctx, &name);
        return Ok(Action::requeue(ctx.config.resync_period));
    };

    // What was written counts and is announced even when a later write failed.
    let mut effects = Effects::default();
    let (found, error) = match govern(&ns, winner, &ctx, &mut effects).await {
        Ok(found) => (found, None),
        Err(e) => (Governed::failed(&e), Some(e)),
    };
    // What tenants do here, reported and never changed.
    let (unconfined, widening) = observe::tenants(&ctx, &name, winner);
    let preview = observe::preview(&ctx, &ns, winner).await;
    let enforced = observe::left_enforcing(&ctx, &ns, winner);
    // The winner's exceptions in force here, as its status lists them now.
    let active = crate::core::exceptions::active_of(winner);
    let no_labels = std::collections::BTreeMap::new();
    let exceptions = crate::core::exceptions::covering(
        active,
        &name,
        ns.metadata.labels.as_ref().unwrap_or(&no_labels),
    )
    .into_iter()
    .map(|e| e.name)
    .collect();
    let outcome = NamespaceOutcome {
        exceptions_digest: crate::core::exceptions::digest(active),
        exceptions,
        preview: preview.map(crate::core::shared::share),
        enforced,
        candidates: candidates
            .iter()
            .map(|p| (p.name_any(), p.metadata.generation.unwrap_or(0)))
            .collect(),
        state: Some(found.state),
        reason: found.reason,
        permanent: found.permanent,
        message: found.message,
        drift: found.drift,
        unconfined: unconfined.map(crate::core::shared::share),
        widening,
        vulnerable: ctx.caches.vulnerabilities.as_ref().map(|v| v.assess(&name)),
    };
    outcome::emit(&ctx, &name, &candidates, effects, outcome, error.as_ref()).await;
    // A profile being deleted that selects this namespace: its admission policies may still
    // act here for a moment.
    let deleting = profiles.iter().any(|p| {
        p.metadata.deletion_timestamp.is_some()
            && crate::core::api::selects(&p.spec, &name, ns.labels())
    });
    match error {
        // A profile being deleted may keep its namespace-mutating admission policy in force
        // for a moment (the API server's caches take in the policy's deletion, or the
        // profile's deletionTimestamp, a little later) and change what the operator wrote:
        // that write could take once it is gone, and nothing else would ask for it again.
        // Tried again after the namespace's own backoff, not held as unconverged.
        Some(Error::NotConverging { .. }) if deleting => {
            ctx.state.unconverged.forget_namespace(&name);
            Ok(Action::requeue(
                ctx.state.unconverged.retry_while_deleting(&name),
            ))
        }
        // Waits for a change of the profile, the namespace or an object in it.
        Some(e) if e.is_permanent() => Ok(Action::await_change()),
        // The controller's error policy backs off per namespace.
        Some(e) => Err(e),
        None => {
            if !deleting {
                ctx.state.unconverged.end_retries(&name);
            }
            Ok(Action::requeue(ctx.config.resync_period))
        }
    }
}

/// Steps 2 to 6 for the governing `profile`.
async fn govern(
    ns: &CachedNamespace,
    profile: &HardeningProfile,
    ctx: &Context,
    effects: &mut Effects,
) -> Result<Governed, Error> {
    let namespace = ns.name_any();
    let profile = validate::validate(profile)?;
    let desired =
        render_with(&profile, &namespace, &ctx.config.protected_networks).map_err(|e| {
            Error::Render {
                profile: profile.name_any(),
                namespace: namespace.clone(),
                message: e.to_string(),
            }
        })?;
    let live = observe::live_objects(ctx, &namespace);
    let steps = plan::plan(ns, &desired, profile.spec.mode, &live)?;
    apply::apply(ctx, ns, &profile, &desired, &steps, effects).await
}
