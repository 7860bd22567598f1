//! Step 4: what is there, from the watch caches: the namespace's objects of the generated
//! kinds, what tenants do (pods not using the profile's seccomp/AppArmor profiles,
//! NetworkPolicies opening what it denies: reported, never changed), and in Audit mode
//! what enforcing would reject.

use std::sync::Arc;

use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::ResourceExt;
use kube::api::DynamicObject;
use tracing::warn;

use super::super::context::Context;
use super::super::index::to_value;
use super::super::trim::CachedNamespace;
use crate::core::api::{HardeningProfile, workload_security_context};
use crate::core::isolation::Widening;
use crate::core::plan::applied_by_operator;
use crate::core::render::ManagedKind;
use crate::core::workloads::UnconfinedPods;

/// The namespace's objects of the generated kinds, from the indexes.
pub fn live_objects(ctx: &Context, namespace: &str) -> Vec<(ManagedKind, Arc<DynamicObject>)> {
    ctx.caches
        .managed
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
    ctx.caches
        .index_of(ManagedKind::NetworkPolicy)
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
        .caches
        .pods
        .as_ref()
        .zip(workload_security_context(profile))
        .map(|(pods, required)| pods.assess(namespace, &required));
    let widening = profile
        .spec
        .network_policy
        .as_ref()
        .filter(|rules| !rules.isolated_directions().is_empty())
        .map(|rules| {
            let protected = crate::core::protected::effective(
                &ctx.config.protected_networks,
                &rules.protected_networks,
            );
            crate::core::isolation::widening(rules, &protected, &tenant_policies(ctx, namespace))
        });
    (unconfined, widening)
}

/// The existing pods `profile`'s admission rules reject here, in either mode (in Audit mode
/// the preview before enforcing; in Enforce mode pods admitted before the rules were in
/// place). From the pod watch, each pod judged again only when what is judged of it or the
/// profile's generation changed; without a pod watch, listed on every reconcile. A failure
/// is logged and leaves the namespace unjudged (`None`, which the status reports as not
/// checked); it is retried on the next reconcile.
pub async fn preview(
    ctx: &Context,
    ns: &CachedNamespace,
    profile: &HardeningProfile,
) -> Option<crate::core::preview::NamespacePreview> {
    if !crate::core::preview::applies(profile) {
        return None;
    }
    let name = ns.name_any();
    let no_labels = std::collections::BTreeMap::new();
    let exceptions = crate::core::exceptions::covering(
        crate::core::exceptions::active_of(profile),
        &name,
        ns.metadata.labels.as_ref().unwrap_or(&no_labels),
    );
    match &ctx.caches.pods {
        Some(pods) => {
            let mut preview = ctx.state.verdicts.preview(
                &name,
                profile,
                &exceptions,
                pods.digests(&name),
                |pod| pods.judged(&name, pod),
            );
            if high_availability(profile) {
                let (findings, accepted) = crate::core::availability::judged(
                    &pods.highly_available(&name),
                    &ctx.caches.budgets.in_namespace(&name),
                    &exceptions,
                );
                preview.add_reported(findings);
                preview.add_accepted(accepted);
            }
            Some(preview)
        }
        None => match crate::live::list_and_judge(&ctx.client, profile, &name, &exceptions).await {
            Ok(preview) => Some(preview),
            Err(e) => {
                warn!(namespace = %name, profile = %profile.name_any(), error = %e, "judging the pods failed");
                None
            }
        },
    }
}

fn high_availability(profile: &HardeningProfile) -> bool {
    profile
        .spec
        .guardrails
        .as_ref()
        .is_some_and(|g| g.high_availability)
}

/// Audit mode: what the profile's Enforce mode left here that still acts (see
/// `core::enforced`); empty in Enforce mode.
pub fn left_enforcing(
    ctx: &Context,
    ns: &CachedNamespace,
    profile: &HardeningProfile,
) -> Vec<String> {
    if profile.spec.mode != crate::core::api::Mode::Audit {
        return Vec::new();
    }
    let live = live_objects(ctx, &ns.name_any());
    let objects: Vec<(&'static str, &DynamicObject)> = live
        .iter()
        .map(|(kind, object)| (kind.kind(), object.as_ref()))
        .collect();
    crate::core::enforced::left_enforcing(&profile.name_any(), ns, &objects)
}
