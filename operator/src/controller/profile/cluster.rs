//! Step 3: the profile's cluster-scoped objects: its admission policy and bindings (see
//! `guardrails`) and its ClusterNetworkPolicies (see `cluster_network_policies`). An invalid
//! generation leaves them as they are until it is fixed.

use super::super::context::Context;
use crate::core::api::{GuardrailsStatus, HardeningProfile};
use crate::error::Error;

/// How the cluster-scoped objects stand.
pub struct Cluster {
    pub guardrails: Option<GuardrailsStatus>,
    /// A failed guardrails write: the status shows it, and the reconcile backs off.
    pub guardrails_error: Option<Error>,
    /// The ClusterNetworkPolicies condition's status, reason and message.
    pub cluster_policies: Option<(&'static str, &'static str, String)>,
}

pub async fn reconcile(profile: &HardeningProfile, ctx: &Context, valid: bool) -> Cluster {
    if !valid {
        return Cluster {
            guardrails: profile.status.as_ref().and_then(|s| s.guardrails.clone()),
            guardrails_error: None,
            cluster_policies: None,
        };
    }
    let (guardrails, guardrails_error) = super::super::guardrails::reconcile(profile, ctx).await;
    let cluster_policies = super::super::cluster_network_policies::reconcile(profile, ctx).await;
    Cluster {
        guardrails,
        guardrails_error,
        cluster_policies,
    }
}
