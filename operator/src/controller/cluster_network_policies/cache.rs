//! What the operator knows of the ClusterNetworkPolicies it writes, from one watch (the
//! operator's label, digests only): a change someone else made asks for the profile's
//! reconcile.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use futures::future::BoxFuture;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tokio::sync::mpsc::UnboundedSender;
use tracing::{info, warn};

use crate::core::cluster_network_policy::{GROUP, KIND, PLURAL, VERSION};
use crate::core::labels::{MANAGED_BY_LABEL, MANAGED_BY_VALUE, PROFILE_LABEL};

/// What the operator knows of the ClusterNetworkPolicies it writes: by name, the spec digest
/// the watch saw (`None` while listing) and the one it last applied.
#[derive(Default)]
pub struct ClusterPolicies {
    seen: Mutex<BTreeMap<String, u64>>,
    applied: Mutex<HashMap<String, u64>>,
}

impl ClusterPolicies {
    /// The watch saw `name` with the spec digest `seen` (`None`: deleted); whether that
    /// differs from what the operator last applied (someone else changed or deleted it).
    fn saw(&self, name: &str, seen: Option<u64>) -> bool {
        {
            let mut map = self.seen.lock().expect("cluster policies lock");
            match seen {
                Some(d) => map.insert(name.to_owned(), d),
                None => map.remove(name),
            };
        }
        let ours = self
            .applied
            .lock()
            .expect("cluster policies lock")
            .get(name)
            .copied();
        ours.is_some() && ours != seen
    }

    /// The operator is about to apply `spec` to `name` (remembered as its own write);
    /// whether the watch saw it so already (then nothing needs writing).
    pub fn applying(&self, name: &str, spec: &serde_json::Value) -> bool {
        let want = digest(spec);
        let seen = self
            .seen
            .lock()
            .expect("cluster policies lock")
            .get(name)
            .copied();
        self.applied
            .lock()
            .expect("cluster policies lock")
            .insert(name.to_owned(), want);
        seen == Some(want)
    }

    /// Whether the watch saw `name`.
    pub fn exists(&self, name: &str) -> bool {
        self.seen
            .lock()
            .expect("cluster policies lock")
            .contains_key(name)
    }

    /// The operator is about to delete `name`: no write of its own to tell apart any more.
    pub fn deleting(&self, name: &str) {
        self.applied
            .lock()
            .expect("cluster policies lock")
            .remove(name);
    }
}

pub fn resource() -> ApiResource {
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
        .backoff(super::super::managed::watch_backoff())
        .inspect(move |event| {
            let Ok(event) = event else { return };
            let (object, deleted) = match event {
                watcher::Event::Apply(o) | watcher::Event::InitApply(o) => (o, false),
                watcher::Event::Delete(o) => (o, true),
                _ => return,
            };
            let seen = (!deleted).then(|| digest(&object.data["spec"]));
            if filled.saw(&object.name_any(), seen)
                && let Some(profile) = object.labels().get(PROFILE_LABEL)
            {
                let _ = status.send(profile.clone());
            }
        });
    (cache, super::super::managed::drive(KIND, events))
}
