//! Reading the cluster's objects in tests: a namespace, its labels, the Events about a
//! profile.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::events::v1::Event;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::{Api, Client};

/// The cluster-wide API of an `admissionregistration.k8s.io/v1` kind
/// (`ValidatingAdmissionPolicy`, `ValidatingAdmissionPolicyBinding`, ...), untyped.
pub fn admission_api(client: &Client, kind: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("admissionregistration.k8s.io", "v1", kind);
    Api::all_with(client.clone(), &ApiResource::from_gvk(&gvk))
}

/// The namespace `name` (it must exist).
pub async fn namespace(client: &Client, name: &str) -> Namespace {
    Api::<Namespace>::all(client.clone())
        .get(name)
        .await
        .unwrap()
}

pub fn labels_of(ns: &Namespace) -> BTreeMap<String, String> {
    ns.metadata.labels.clone().unwrap_or_default()
}

/// Events the operator recorded about a (cluster-scoped) profile.
pub async fn events_for(client: &Client, profile: &str) -> Vec<Event> {
    Api::<Event>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(profile))
        .collect()
}
