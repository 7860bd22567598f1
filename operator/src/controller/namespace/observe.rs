//! Step 4: what is there, from the watch caches: the namespace's objects of the generated
//! kinds, what tenants do (pods not using the profile's seccomp/AppArmor profiles,
//! NetworkPolicies opening what it denies: reported, never changed), and in Audit mode
//! what enforcing would reject.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::ResourceExt;
use kube::api::DynamicObject;
use tracing::warn;

use super::super::context::Context;
use super::super::index::to_value;
use crate::core::api::{HardeningProfile, Mode, workload_security_context};
use crate::core::isolation::Widening;
use crate::core::plan::applied_by_operator;
use crate::core::render::ManagedKind;
use crate::core::workloads::UnconfinedPods;

/// The namespace's objects of the generated kinds, from the indexes.
pub fn live_objects(ctx: &Context, namespace: &str) -> Vec<(ManagedKind, Arc<DynamicObject>)> {
    ctx.managed
        .iter()
        .flat_map(|index| {
            index
                .in_namespace(namespace)
                .into_iter()
                .map(|object| (index.kind, object))
        })
        .collect()
}

/// The namespace's NetworkPolicies the operator did not generate.
fn tenant_policies(ctx: &Context, namespace: &str) -> Vec<NetworkPolicy> {
    ctx.index_of(ManagedKind::NetworkPolicy)
        .in_namespace(namespace)
        .iter()
        .filter(|policy| !applied_by_operator(policy))
        .filter_map(|policy| to_value(policy).and_then(|v| serde_json::from_value(v).ok()))
        .collect()
}

/// What tenants do in `namespace` under `profile`: unconfined pods (with the pod watch) and
/// widening NetworkPolicy rules (when the profile isolates a direction).
pub fn tenants(
    ctx: &Context,
    namespace: &str,
    profile: &HardeningProfile,
) -> (Option<UnconfinedPods>, Option<Vec<Widening>>) {
    let unconfined = ctx
        .pods
        .as_ref()
        .zip(workload_security_context(profile))
        .map(|(pods, required)| pods.assess(namespace, &required));
    let widening = profile
        .spec
        .network_policy
        .as_ref()
        .filter(|rules| !rules.isolated_directions().is_empty())
        .map(|rules| crate::core::isolation::widening(rules, &tenant_policies(ctx, namespace)));
    (unconfined, widening)
}

/// Audit mode: the existing pods enforcing `profile` would reject here, computed again only
/// when the profile's generation, the namespace's Pod Security labels or what is judged of
/// its active pods (a pod added or removed, an image, a container, an ephemeral container, a
/// security context changed) changed. The guardrails judge the pods from the pod cache;
/// Pod Security is asked by a server-side dry-run. A failure is logged and leaves the
/// namespace unpreviewed (the condition `ReadyToEnforce` says so); it is retried on the next
/// reconcile.
pub async fn preview(
    ctx: &Context,
    ns: &Namespace,
    profile: &HardeningProfile,
) -> Option<crate::core::preview::NamespacePreview> {
    if profile.spec.mode != Mode::Audit || !crate::core::preview::applies(profile) {
        return None;
    }
    let name = ns.name_any();
    let judged = ctx.pods.as_ref().map(|p| p.judged(&name));
    let key: super::super::context::PreviewKey = (
        profile.name_any(),
        profile.metadata.generation.unwrap_or(0),
        ns.labels()
            .iter()
            .filter(|(k, _)| crate::core::labels::pod_security::ALL.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        judged
            .iter()
            .flatten()
            .map(|(pod, judged)| (pod.clone(), judged.digest))
            .collect(),
    );
    if let Some((known, preview)) = ctx.previews.lock().expect("previews lock").get(&name)
        && *known == key
        && ctx.pods.is_some()
    {
        return Some(preview.clone());
    }
    let pods = judged.map(|pods| pods.iter().map(|(_, judged)| judged.pod()).collect());
    match super::super::preview::preview(&ctx.client, profile, ns, pods).await {
        Ok(preview) => {
            ctx.previews
                .lock()
                .expect("previews lock")
                .insert(name, (key, preview.clone()));
            Some(preview)
        }
        Err(e) => {
            warn!(namespace = %name, profile = %profile.name_any(), error = %e, "preview failed");
            None
        }
    }
}
