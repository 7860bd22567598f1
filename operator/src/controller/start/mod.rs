//! Starting the operator ([`run_with`](super::run_with)), in the steps this directory
//! holds, in this order:
//!
//! 1. [`watches`]: every watch starts filling its cache at once, also on a standby replica;
//!    the caches, with the state the reconcilers share, make the context;
//! 2. [`standby`]: until every cache is complete and this replica leads;
//! 3. [`lead`]: since when this replica leads, and who the operator is (asked only then: a
//!    standby writes nothing, not even that);
//! 4. [`controllers`]: the namespace and profile controllers, the policy report writer and
//!    the exceptions' controller, until shutdown or until the lead is lost.

pub mod controllers;
pub mod standby;
pub mod watches;

use tracing::info;

use super::context::Context;
use super::guardrails;

/// Step 3: this replica leads from now on; asks who the operator is for the admission
/// rules (`mutating_policies`: whether the API server serves MutatingAdmissionPolicy).
pub async fn lead(ctx: &Context, mutating_policies: bool) {
    ctx.state.leadership.started();
    ctx.state.leadership.set_admission(
        guardrails::environment(
            &ctx.client,
            &ctx.config.break_glass_group,
            mutating_policies,
        )
        .await,
    );
    info!("reconciling");
}
