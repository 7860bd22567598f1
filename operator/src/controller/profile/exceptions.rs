//! Step 4: the profile's HardeningExceptions in force now. The admission policy, the Pod
//! Security labels and the verdicts read them from the status written in step 5; the
//! reconcile comes back when the next one expires (or starts expiring within a week). An
//! exception whose status says otherwise is judged again by its controller (created before
//! this profile, or this profile changed since).

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use super::super::context::Context;
use crate::core::api::{ExceptionsStatus, HardeningProfile};

/// The exceptions for the status, and how long until their judgement changes (`None`:
/// the cluster serves no exceptions, or none of this profile's will change).
pub fn judge(
    profile: &HardeningProfile,
    ctx: &Context,
    now: Timestamp,
) -> (Option<ExceptionsStatus>, Option<Duration>) {
    let Some(store) = &ctx.caches.exceptions else {
        return (None, None);
    };
    let name = profile.name_any();
    let all = store.state();
    let judged = crate::core::exceptions::profile_exceptions(
        profile,
        all.iter().map(|e| e.as_ref()),
        now,
        ctx.config.max_exception_duration,
    );
    let wake = crate::core::exceptions::next_change(
        all.iter()
            .map(|e| e.as_ref())
            .filter(|e| e.spec.profile == name),
        now,
    );
    if let Some(requests) = &ctx.state.exceptions {
        for (exception, judgement) in &judged.judged {
            let stored = all
                .iter()
                .find(|e| e.name_any() == *exception)
                .and_then(|e| e.status.as_ref())
                .map(|s| (s.state, s.reason.as_deref()));
            if stored != Some((Some(judgement.state), Some(judgement.reason))) {
                requests.request(exception);
            }
        }
    }
    (judged.status, wake)
}
