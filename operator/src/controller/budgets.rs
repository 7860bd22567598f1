//! The PodDisruptionBudgets behind `guardrails.highAvailability`'s report on running pods
//! (`crate::core::availability`): every budget of the cluster (few), watched; a change asks
//! for its namespace's reconcile.

use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::sync::mpsc::UnboundedSender;

use super::managed::{drive, watch_backoff};

pub struct Budgets {
    store: Store<PodDisruptionBudget>,
}

impl Budgets {
    pub async fn wait_until_ready(&self) {
        let _ = self.store.wait_until_ready().await;
    }

    /// The budgets of `namespace`.
    pub fn in_namespace(&self, namespace: &str) -> Vec<PodDisruptionBudget> {
        self.store
            .state()
            .iter()
            .filter(|b| b.namespace().as_deref() == Some(namespace))
            .map(|b| b.as_ref().clone())
            .collect()
    }
}

/// The cache and the future filling it; `trigger` receives the namespace of every budget
/// that changed.
pub fn cache(
    client: &Client,
    trigger: UnboundedSender<String>,
) -> (Budgets, BoxFuture<'static, ()>) {
    let (store, writer) = reflector::store();
    let events = watcher(
        Api::<PodDisruptionBudget>::all(client.clone()),
        watcher::Config::default(),
    )
    .backoff(watch_backoff())
    .reflect(writer)
    .inspect(move |event| {
        if let Ok(watcher::Event::Apply(b) | watcher::Event::Delete(b)) = event
            && let Some(namespace) = b.namespace()
        {
            let _ = trigger.send(namespace);
        }
    });
    (
        Budgets { store },
        drive("PodDisruptionBudget", events.map(|e| e.map(|_| ()))),
    )
}
