//! The node states the node agents publish (one ConfigMap `hardening-node-<node>` per node,
//! labelled `app.kubernetes.io/managed-by: hardening-node-agent`, in `--node-agent-namespace`),
//! for the profiles' `nodeBaseline`: kept by node, only the keys the baseline reads, and a
//! change asks for the status of every profile with a node baseline.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::reflector::Store;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;

use crate::core::api::HardeningProfile;
use crate::core::labels::MANAGED_BY_LABEL;
use crate::core::nodes::keys;

const PREFIX: &str = "hardening-node-";

#[derive(Default)]
struct Index {
    nodes: BTreeMap<String, BTreeMap<String, String>>,
    listing: Option<BTreeMap<String, BTreeMap<String, String>>>,
}

pub struct NodeStates {
    index: Mutex<Index>,
    synced: watch::Sender<bool>,
}

impl NodeStates {
    pub async fn wait_until_synced(&self) {
        let mut synced = self.synced.subscribe();
        let _ = synced.wait_for(|s| *s).await;
    }

    /// Node name and published data of every node, by name.
    pub fn snapshot(&self) -> Vec<(String, BTreeMap<String, String>)> {
        let index = self.index.lock().expect("node states lock");
        index
            .nodes
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// The data the baseline reads.
fn kept(map: &ConfigMap) -> BTreeMap<String, String> {
    const KEYS: [&str; 9] = [
        keys::USER_NAMESPACES,
        keys::KUBELET_CONFIG,
        keys::SECCOMP_DEFAULT,
        keys::POD_PIDS_LIMIT,
        keys::ANONYMOUS_AUTH,
        keys::READ_ONLY_PORT,
        keys::KERNEL_VERSION,
        keys::CONTAINER_RUNTIME_VERSION,
        keys::KUBELET_VERSION,
    ];
    map.data
        .iter()
        .flatten()
        .filter(|(k, _)| KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The node states in `namespace` and the future that fills them; a change sends every
/// profile with a node baseline to `status`.
pub fn cache(
    client: &Client,
    namespace: &str,
    profiles: Store<HardeningProfile>,
    status: UnboundedSender<String>,
) -> (Arc<NodeStates>, BoxFuture<'static, ()>) {
    let states = Arc::new(NodeStates {
        index: Mutex::new(Index::default()),
        synced: watch::Sender::new(false),
    });
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let config = watcher::Config::default().labels(&format!(
        "{MANAGED_BY_LABEL}={}",
        crate::node_agent::FIELD_MANAGER
    ));
    let filled = states.clone();
    let events = watcher(api, config)
        .backoff(super::managed::watch_backoff())
        .inspect(move |event| {
            let Ok(event) = event else { return };
            let node = |map: &ConfigMap| map.name_any().strip_prefix(PREFIX).map(str::to_owned);
            let changed = {
                let mut index = filled.index.lock().expect("node states lock");
                match event {
                    watcher::Event::Init => {
                        index.listing = Some(BTreeMap::new());
                        false
                    }
                    watcher::Event::InitApply(map) => {
                        if let (Some(listing), Some(node)) = (index.listing.as_mut(), node(map)) {
                            listing.insert(node, kept(map));
                        }
                        false
                    }
                    watcher::Event::InitDone => {
                        let listed = index.listing.take().unwrap_or_default();
                        let changed = listed != index.nodes;
                        index.nodes = listed;
                        filled
                            .synced
                            .send_if_modified(|s| !std::mem::replace(s, true));
                        changed
                    }
                    watcher::Event::Apply(map) => match node(map) {
                        Some(node) => {
                            index.nodes.insert(node, kept(map)).as_ref() != Some(&kept(map))
                        }
                        None => false,
                    },
                    watcher::Event::Delete(map) => match node(map) {
                        Some(node) => index.nodes.remove(&node).is_some(),
                        None => false,
                    },
                }
            };
            if changed {
                for profile in profiles.state() {
                    if profile.spec.effective_node_baseline().is_some() {
                        let _ = status.send(profile.name_any());
                    }
                }
            }
        });
    (states, super::managed::drive("ConfigMap", events))
}
