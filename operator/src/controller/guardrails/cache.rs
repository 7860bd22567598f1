//! The watch caches of the admission kinds (every ValidatingAdmissionPolicy and binding, and
//! the mutating ones where the API server serves them): a change of an object asks for the
//! reconcile of the profile it belongs to.

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use kube::api::{DynamicObject, GroupVersionKind};
use kube::core::ApiResource;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::sync::mpsc::UnboundedSender;
use tracing::warn;

use crate::core::guardrails::{POLICY_API_VERSION, profile_of_name};
use crate::core::labels::PROFILE_LABEL;

use super::super::managed::{drive, watch_backoff};

pub fn api_resource(kind: &str) -> ApiResource {
    let (group, version) = POLICY_API_VERSION.split_once('/').expect("a group/version");
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind))
}

/// The caches of the admission kinds (`kinds`: the validating ones, and the mutating ones
/// where the API server serves them), and the futures that fill them. A change of an object
/// asks for the reconcile of the profile it belongs to.
pub fn caches(
    client: &Client,
    trigger: UnboundedSender<String>,
    kinds: &[&'static str],
) -> (GuardrailCaches, Vec<BoxFuture<'static, ()>>) {
    let mut drivers = Vec::new();
    let mut stores = Vec::new();
    for &kind in kinds {
        let resource = api_resource(kind);
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        let writer = reflector::store::Writer::new(resource);
        stores.push((kind, writer.as_reader()));
        let trigger = trigger.clone();
        let events = watcher(api, watcher::Config::default())
            .backoff(watch_backoff())
            .reflect(writer)
            .inspect_ok(move |event| {
                if let watcher::Event::Apply(o) | watcher::Event::Delete(o) = event
                    && let Some(profile) = profile_of(o)
                {
                    let _ = trigger.send(profile);
                }
            });
        drivers.push(drive(kind, events.map(|e| e.map(|_| ()))));
    }
    (GuardrailCaches { stores }, drivers)
}

/// The profile an admission policy or binding concerns: the one its label names, or for an
/// object without the label (someone else's) the one whose generated name it holds, so that
/// its disappearance lets that profile's guardrails in at once.
fn profile_of(object: &DynamicObject) -> Option<String> {
    if let Some(profile) = object.labels().get(PROFILE_LABEL) {
        return Some(profile.clone());
    }
    // `hardening.dev-<profile>`, `...-warnings`, `...-gate` or `...-stamp` (a profile named
    // `x-warnings` is then mistaken for `x`, for someone else's object only).
    profile_of_name(&object.name_any()).map(str::to_owned)
}

#[derive(Clone)]
pub struct GuardrailCaches {
    stores: Vec<(&'static str, Store<DynamicObject>)>,
}

impl GuardrailCaches {
    pub async fn wait_until_ready(&self) {
        for (_, store) in &self.stores {
            let _ = store.wait_until_ready().await;
        }
    }

    /// The kinds watched (the mutating ones only where the API server serves them).
    pub fn kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.stores.iter().map(|(kind, _)| *kind)
    }

    pub fn get(&self, kind: &str, name: &str) -> Option<Arc<DynamicObject>> {
        let (_, store) = self.stores.iter().find(|(k, _)| *k == kind)?;
        store.get(&ObjectRef::new_with(name, api_resource(kind)))
    }
}

/// Whether the API server serves MutatingAdmissionPolicy (`admissionregistration.k8s.io/v1`,
/// Kubernetes 1.36), asked once at start-up (discovery, a read).
pub async fn mutating_policies_served(client: &Client) -> bool {
    match client.list_api_group_resources(POLICY_API_VERSION).await {
        Ok(list) => list
            .resources
            .iter()
            .any(|r| r.name == "mutatingadmissionpolicies"),
        Err(e) => {
            warn!(error = %e, "could not discover admissionregistration.k8s.io/v1");
            false
        }
    }
}
