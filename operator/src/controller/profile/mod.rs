//! Reconciles one HardeningProfile: its finalizer, its cluster-scoped objects, and its
//! status as the aggregate of the namespace outcomes. Namespace writes all happen in the
//! namespace reconciler; this one writes only the profile and its cluster-scoped objects,
//! and only when something changed. The steps this directory holds, in this order:
//!
//! 1. [`finalizer`]: a new profile gets the cleanup finalizer; a deleting one loses it once
//!    its namespaces and admission objects are cleaned up (nothing else happens then);
//! 2. [`validate`]: the operator's checks, then the API server's verdict on the generation;
//! 3. [`cluster`]: the admission policy and bindings and the ClusterNetworkPolicies, unless
//!    the generation is invalid;
//! 4. [`exceptions`]: the HardeningExceptions in force now, and when that changes next;
//! 5. [`status`]: the status computed (pure, `crate::core::status`) and written when it
//!    changed, at most once per status interval;
//! 6. [`announce`]: the `RolledOut` Event once every namespace has the generation.
//!
//! [`Baselines`] keeps what the reconciles remember between them (counts as first seen,
//! rollouts announced, the last status write).

mod announce;
mod baselines;
mod cluster;
mod exceptions;
mod finalizer;
mod status;
mod validate;

pub use baselines::Baselines;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action;

use super::context::Context;
use crate::core::api::HardeningProfile;
use crate::error::Error;

pub async fn reconcile(
    profile: Arc<HardeningProfile>,
    ctx: Arc<Context>,
    baselines: &Baselines,
) -> Result<Action, Error> {
    if let Some(action) = finalizer::finalize(&profile, &ctx).await? {
        return Ok(action);
    }
    let name = profile.name_any();
    let invalid = validate::invalid(&profile, &ctx);
    let (repairs_baseline, rollout_baseline) = baselines.counts(&profile);
    let cluster = cluster::reconcile(&profile, &ctx, invalid.is_none()).await;
    let now = Timestamp::now();
    let (exceptions, wake) = exceptions::judge(&profile, &ctx, now);
    if let Some(wait) = baselines.status_wait(&name) {
        // Within the status interval after a write, nothing could be written: the status
        // (every selected namespace judged, costly while a rollout of thousands of
        // namespaces asks for it all the time) is computed once the interval is over, from
        // what holds then. A transient guardrails failure backs off as below.
        return match cluster.guardrails_error {
            Some(e) if !e.is_permanent() => Err(e),
            _ => Ok(Action::requeue(wait)),
        };
    }
    let selected = ctx.selected_namespaces(&profile);
    let found = status::Found {
        selected,
        invalid,
        cluster,
        exceptions,
        now,
        repairs_baseline,
        rollout_baseline,
    };
    let (status, since_start) = status::desired(&profile, &ctx, &found);
    let guardrails_error = found.cluster.guardrails_error;
    ctx.metrics.profile_ready(
        &name,
        status
            .conditions
            .iter()
            .any(|c| c.type_ == crate::core::status::READY && c.status == "True"),
    );
    if let status::Write::Later(wait) = status::write(&profile, &ctx, baselines, &status).await? {
        // Written again once the interval is over, from what holds then. A transient
        // guardrails failure backs off instead and is written with its retry; a permanent
        // one would wait for a change that may never come (a foreign admission policy
        // stays), so the status would keep an outcome of before.
        return match guardrails_error {
            Some(e) if !e.is_permanent() => Err(e),
            _ => Ok(Action::requeue(wait)),
        };
    }
    announce::rollout(&profile, &ctx, baselines, &status, since_start).await;
    // A failed guardrails write backs off (the status already says so).
    match (guardrails_error, wake) {
        (Some(e), _) => Err(e),
        // A little after the moment, so that the judgement has changed by then.
        (None, Some(after)) => Ok(Action::requeue(after + Duration::from_millis(100))),
        (None, None) => Ok(Action::await_change()),
    }
}
