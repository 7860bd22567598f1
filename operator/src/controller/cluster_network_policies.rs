//! Writes a profile's ClusterNetworkPolicies (`crate::core::cluster_network_policy`) where the
//! cluster serves `policy.networking.k8s.io/v1alpha2` (found once at start-up) and the profile
//! asks for them: server-side applied when what is rendered differs from what the watch last
//! saw, deleted when no longer rendered. The watch (the operator's label, digests only) asks
//! for the profile's reconcile when someone else changes or deletes one, so it is written
//! again.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use futures::future::BoxFuture;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tokio::sync::mpsc::UnboundedSender;
use tracing::{info, warn};

use super::context::Context;
use crate::core::api::HardeningProfile;
use crate::core::cluster_network_policy::{GROUP, KIND, PLURAL, VERSION, names, render, wanted};
use crate::core::labels::{FIELD_MANAGER, MANAGED_BY_LABEL, MANAGED_BY_VALUE, PROFILE_LABEL};

/// What the operator knows of the ClusterNetworkPolicies it writes: by name, the spec digest
/// the watch saw (`None` while listing) and the one it last applied.
#[derive(Default)]
pub struct ClusterPolicies {
    seen: Mutex<BTreeMap<String, u64>>,
    applied: Mutex<HashMap<String, u64>>,
}

fn resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, VERSION, KIND), PLURAL)
}

fn digest(spec: &serde_json::Value) -> u64 {
    let mut hasher = DefaultHasher::new();
    spec.to_string().hash(&mut hasher);
    hasher.finish()
}

/// Whether the cluster serves ClusterNetworkPolicies (v1alpha2).
pub async fn detect(client: &Client) -> bool {
    let api_version = format!("{GROUP}/{VERSION}");
    match client.list_api_group_resources(&api_version).await {
        Ok(list) if list.resources.iter().any(|r| r.name == PLURAL) => {
            info!(api = %api_version, "ClusterNetworkPolicies: served");
            true
        }
        Ok(_) | Err(kube::Error::Api(_)) => {
            info!(api = %api_version, "ClusterNetworkPolicies: not served");
            false
        }
        Err(e) => {
            warn!(error = %e, "ClusterNetworkPolicies: could not discover {api_version}");
            false
        }
    }
}

/// The cache and the watch filling it; a change someone else made asks for the profile's
/// reconcile (`status`).
pub fn cache(
    client: &Client,
    status: UnboundedSender<String>,
) -> (Arc<ClusterPolicies>, BoxFuture<'static, ()>) {
    let cache = Arc::new(ClusterPolicies::default());
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource());
    let config =
        watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"));
    let filled = cache.clone();
    let events = watcher(api, config)
        .backoff(super::managed::watch_backoff())
        .inspect(move |event| {
            let Ok(event) = event else { return };
            let (object, deleted) = match event {
                watcher::Event::Apply(o) | watcher::Event::InitApply(o) => (o, false),
                watcher::Event::Delete(o) => (o, true),
                _ => return,
            };
            let name = object.name_any();
            let seen = (!deleted).then(|| digest(&object.data["spec"]));
            {
                let mut map = filled.seen.lock().expect("cluster policies lock");
                match seen {
                    Some(d) => map.insert(name.clone(), d),
                    None => map.remove(&name),
                };
            }
            let ours = filled
                .applied
                .lock()
                .expect("cluster policies lock")
                .get(&name)
                .copied();
            if ours.is_some()
                && ours != seen
                && let Some(profile) = object.labels().get(PROFILE_LABEL)
            {
                let _ = status.send(profile.clone());
            }
        });
    (cache, super::managed::drive(KIND, events))
}

/// Brings `profile`'s ClusterNetworkPolicies to what it renders; the condition's status,
/// reason and message (`None`: the profile does not ask for them).
pub async fn reconcile(
    profile: &HardeningProfile,
    ctx: &Context,
) -> Option<(&'static str, &'static str, String)> {
    let asked = wanted(profile);
    let Some(cache) = &ctx.cluster_policies else {
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
        let want = digest(&object["spec"]);
        let seen = cache
            .seen
            .lock()
            .expect("cluster policies lock")
            .get(&object_name)
            .copied();
        if seen == Some(want) {
            cache
                .applied
                .lock()
                .expect("cluster policies lock")
                .insert(object_name.clone(), want);
            written.push(object_name);
            continue;
        }
        cache
            .applied
            .lock()
            .expect("cluster policies lock")
            .insert(object_name.clone(), want);
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
        let exists = cache
            .seen
            .lock()
            .expect("cluster policies lock")
            .contains_key(&object_name);
        if !rendered && exists {
            cache
                .applied
                .lock()
                .expect("cluster policies lock")
                .remove(&object_name);
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
