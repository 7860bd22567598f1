//! The pod watch behind `status.unconfinedPods` and the preview: it decodes only what
//! confinement and the admission rules judge ([`PodView`]), skips finished pods and excluded
//! namespaces, keeps per namespace the container profiles and the judged spec of each pod
//! ([`PodIndex`]) and asks for a namespace's reconcile when what is judged of its pods
//! changes (not on every pod status update).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use futures::future::BoxFuture;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;

use crate::core::api::WorkloadSecurityContext;
use crate::core::workloads::{
    ACTIVE_PODS_FIELD_SELECTOR, JudgedPod, PodIndex, PodView, UnconfinedPods, assess,
};

pub struct PodCache {
    index: Mutex<PodIndex>,
    synced: watch::Sender<bool>,
}

impl PodCache {
    /// Waits until the first complete listing of pods is indexed.
    pub async fn wait_until_synced(&self) {
        let mut synced = self.synced.subscribe();
        // The sender lives as long as `self`.
        let _ = synced.wait_for(|s| *s).await;
    }

    /// Name and digest of what is judged of each active pod of `namespace`, in name order.
    pub fn digests(&self, namespace: &str) -> Vec<(String, u64)> {
        let index = self.index.lock().expect("pod index lock");
        index
            .entries(namespace)
            .map(|(name, entry)| (name.to_owned(), entry.judged.digest))
            .collect()
    }

    /// What is judged of one active pod.
    pub fn judged(&self, namespace: &str, pod: &str) -> Option<JudgedPod> {
        let index = self.index.lock().expect("pod index lock");
        index
            .entries(namespace)
            .find(|(name, _)| *name == pod)
            .map(|(_, entry)| entry.judged.clone())
    }

    /// The active pods of `namespace` labelled highly available, as judged.
    pub fn highly_available(&self, namespace: &str) -> Vec<k8s_openapi::api::core::v1::Pod> {
        let index = self.index.lock().expect("pod index lock");
        index
            .entries(namespace)
            .filter(|(_, entry)| entry.highly_available)
            .map(|(_, entry)| entry.judged.pod())
            .collect()
    }

    /// The pods of `namespace` that do not run under `required`.
    pub fn assess(&self, namespace: &str, required: &WorkloadSecurityContext) -> UnconfinedPods {
        let index = self.index.lock().expect("pod index lock");
        assess(index.in_namespace(namespace), required)
    }
}

/// The pod cache and the future that fills it; `trigger` receives every namespace whose
/// pods' profiles changed.
pub fn cache(
    client: &Client,
    excluded: BTreeSet<String>,
    trigger: UnboundedSender<String>,
) -> (Arc<PodCache>, BoxFuture<'static, ()>) {
    let cache = Arc::new(PodCache {
        index: Mutex::new(PodIndex::default()),
        synced: watch::Sender::new(false),
    });
    let config = watcher::Config::default().fields(ACTIVE_PODS_FIELD_SELECTOR);
    let filled = cache.clone();
    let events = watcher(Api::<PodView>::all(client.clone()), config)
        .backoff(super::managed::watch_backoff())
        .inspect(move |event| {
            let Ok(event) = event else { return };
            if let watcher::Event::Apply(pod)
            | watcher::Event::Delete(pod)
            | watcher::Event::InitApply(pod) = event
                && pod.namespace().is_none_or(|ns| excluded.contains(&ns))
            {
                return;
            }
            let (changed, synced) = {
                let mut index = filled.index.lock().expect("pod index lock");
                (index.apply(event), index.is_synced())
            };
            if synced {
                filled
                    .synced
                    .send_if_modified(|s| !std::mem::replace(s, true));
            }
            for namespace in changed {
                let _ = trigger.send(namespace);
            }
        });
    let driver = super::managed::drive("Pod", events);
    (cache, driver)
}
