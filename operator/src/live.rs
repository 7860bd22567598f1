//! The live cluster read the same way by the controller and the commands (`diff`): the
//! API resource of each generated kind, and a namespace's running pods judged by a
//! profile (the preview, [`crate::core::preview`]).

use k8s_openapi::api::core::v1::{LimitRange, Pod, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::ListParams;
use kube::core::ApiResource;
use kube::{Api, Client, ResourceExt};

use crate::core::api::{ActiveException, HardeningProfile};
use crate::core::preview::{NamespacePreview, PodVerdict, active, judge, namespace_preview};
use crate::core::render::ManagedKind;
use crate::error::Error;

/// The API resource of a generated kind, for dynamic requests.
pub fn api_resource(kind: ManagedKind) -> ApiResource {
    match kind {
        ManagedKind::NetworkPolicy => ApiResource::erase::<NetworkPolicy>(&()),
        ManagedKind::ResourceQuota => ApiResource::erase::<ResourceQuota>(&()),
        ManagedKind::LimitRange => ApiResource::erase::<LimitRange>(&()),
    }
}

/// What `profile` rejects among the active pods of `namespace`, listed (one request), with
/// `exceptions` (those in force covering the namespace).
pub async fn list_and_judge(
    client: &Client,
    profile: &HardeningProfile,
    namespace: &str,
    exceptions: &[ActiveException],
) -> Result<NamespacePreview, Error> {
    let pods: Vec<Pod> = Api::<Pod>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .map_err(Error::api("list", "Pod", namespace))?
        .items
        .into_iter()
        .filter(active)
        .collect();
    let verdicts: Vec<(String, PodVerdict)> = pods
        .iter()
        .map(|pod| (pod.name_any(), judge(profile, pod, exceptions)))
        .collect();
    let mut preview = namespace_preview(
        profile,
        namespace,
        exceptions,
        verdicts.iter().map(|(name, v)| (name.as_str(), v)),
    );
    // highAvailability on running pods: their controllers' replicas and disruption budgets,
    // but where an exception in force suspends the rule for a pod.
    if profile
        .spec
        .guardrails
        .as_ref()
        .is_some_and(|g| g.high_availability)
    {
        let available: Vec<Pod> = pods
            .into_iter()
            .filter(|p| crate::core::availability::highly_available(p.labels()))
            .collect();
        if !available.is_empty() {
            let budgets = Api::<PodDisruptionBudget>::namespaced(client.clone(), namespace)
                .list(&ListParams::default())
                .await
                .map_err(Error::api("list", "PodDisruptionBudget", namespace))?
                .items;
            let (findings, accepted) =
                crate::core::availability::judged(&available, &budgets, exceptions);
            preview.add_reported(findings);
            preview.add_accepted(accepted);
        }
    }
    Ok(preview)
}
