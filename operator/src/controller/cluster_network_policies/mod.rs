//! Writes a profile's ClusterNetworkPolicies (`crate::core::cluster_network_policy`) where the
//! cluster serves `policy.networking.k8s.io/v1alpha2` (found once at start-up) and the profile
//! asks for them: server-side applied when what is rendered differs from what the watch last
//! saw, deleted when no longer rendered. The watch ([`cache`]) asks for the profile's
//! reconcile when someone else changes or deletes one, so it is written again.

use kube::ResourceExt;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};

use crate::core::api::HardeningProfile;
use crate::core::cluster_network_policy::{names, render, wanted};
use crate::core::labels::FIELD_MANAGER;

pub mod cache;

use cache::resource;
pub use cache::{cache, detect};

use super::context::Context;

/// Brings `profile`'s ClusterNetworkPolicies to what it renders; the condition's status,
/// reason and message (`None`: the profile does not ask for them).
pub async fn reconcile(
    profile: &HardeningProfile,
    ctx: &Context,
) -> Option<(&'static str, &'static str, String)> {
    let asked = wanted(profile);
    let Some(cache) = &ctx.caches.cluster_policies else {
        return asked.then(|| {
            (
                "False",
                "NotServed",
                "the cluster does not serve policy.networking.k8s.io/v1alpha2 ClusterNetworkPolicies: only the namespaced NetworkPolicies apply".to_owned(),
            )
        });
    };
    let name = profile.name_any();
    let protected = crate::core::protected::effective(
        &ctx.config.protected_networks,
        profile
            .spec
            .network_policy
            .as_ref()
            .map(|n| n.protected_networks.as_slice())
            .unwrap_or_default(),
    );
    let desired = render(
        profile,
        &super::guardrails::not_governed(ctx, profile),
        &protected,
    );
    let api: Api<DynamicObject> = Api::all_with(ctx.client.clone(), &resource());
    let mut failed = None;
    let mut written = Vec::new();
    for object in &desired {
        let object_name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        // As the watch saw it already: nothing to write.
        if cache.applying(&object_name, &object["spec"]) {
            written.push(object_name);
            continue;
        }
        match api
            .patch(
                &object_name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(object),
            )
            .await
        {
            Ok(_) => written.push(object_name),
            Err(e) => failed = Some(format!("apply ClusterNetworkPolicy {object_name}: {e}")),
        }
    }
    for object_name in names(&name) {
        let rendered = desired
            .iter()
            .any(|o| o["metadata"]["name"] == object_name.as_str());
        if !rendered && cache.exists(&object_name) {
            cache.deleting(&object_name);
            match api.delete(&object_name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => failed = Some(format!("delete ClusterNetworkPolicy {object_name}: {e}")),
            }
        }
    }
    if !asked {
        return None;
    }
    Some(match failed {
        Some(message) => ("False", "Failed", message),
        None => (
            "True",
            "Applied",
            format!("ClusterNetworkPolicies {} as rendered", written.join(", ")),
        ),
    })
}
