//! Which fields the operator's field manager owns on a live object (from `managedFields`),
//! and which of those the desired object no longer sets. Server-side apply removes such
//! fields on the next apply, so their presence means the object must be applied again:
//! a key dropped from `resourceQuota.hard` or a Pod Security mode removed from a profile.

use std::borrow::Cow;
use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use kube::ResourceExt;
use serde_json::Value;

/// A namespace as the judgements of its labels, annotations and their owners read it: the
/// full `Namespace` (the offline commands) or the watch cache's compact copy
/// (`controller::trim::CachedNamespace`), whose `metadata.managedFields` is empty and whose
/// entries only [`NamespaceView::managed_entries`] gives back.
pub trait NamespaceView: kube::Resource<DynamicType = ()> + serde::Serialize {
    /// The namespace's `managedFields` entries (for the cache's copy, what it kept of them).
    fn managed_entries(&self) -> Cow<'_, [ManagedFieldsEntry]>;

    /// [`owned_paths`] of [`NamespaceView::managed_entries`]: the leaves `manager` owns
    /// through `Apply` operations. The cache's copy answers from its compact entries
    /// without building their `fieldsV1` JSON (every reconcile asks).
    fn owned_paths(&self, manager: &str) -> BTreeSet<Vec<String>> {
        owned_paths(&self.managed_entries(), manager)
    }
}

impl NamespaceView for Namespace {
    fn managed_entries(&self) -> Cow<'_, [ManagedFieldsEntry]> {
        Cow::Borrowed(self.managed_fields())
    }
}

/// Dotted paths of the leaves `manager` owns through `Apply` operations. List items
/// (`k:`, `v:`, `i:`) end a path: lists are compared as a whole by the diff.
pub fn owned_paths(managed_fields: &[ManagedFieldsEntry], manager: &str) -> BTreeSet<Vec<String>> {
    let mut paths = BTreeSet::new();
    for entry in managed_fields {
        if entry.manager.as_deref() != Some(manager) || entry.operation.as_deref() != Some("Apply")
        {
            continue;
        }
        if let Some(fields) = &entry.fields_v1 {
            collect(&fields.0, &mut Vec::new(), &mut paths);
        }
    }
    paths
}

fn collect(node: &Value, prefix: &mut Vec<String>, out: &mut BTreeSet<Vec<String>>) {
    let Some(map) = node.as_object() else { return };
    let mut has_children = false;
    for (key, child) in map {
        if let Some(field) = key.strip_prefix("f:") {
            has_children = true;
            prefix.push(field.to_owned());
            collect(child, prefix, out);
            prefix.pop();
        } else if key.starts_with("k:") || key.starts_with("v:") || key.starts_with("i:") {
            // A list owned item by item: the list itself is the unit of comparison.
            has_children = true;
            out.insert(prefix.clone());
        }
    }
    if !has_children && !prefix.is_empty() {
        out.insert(prefix.clone());
    }
}

/// Owned paths (as keys) that `desired` does not set; status is ignored.
pub fn owned_but_not_desired(
    desired: &Value,
    managed_fields: &[ManagedFieldsEntry],
    manager: &str,
) -> Vec<Vec<String>> {
    not_desired(desired, owned_paths(managed_fields, manager))
}

/// Of `owned` (from [`owned_paths`]), the paths that `desired` does not set; status is
/// ignored.
pub fn not_desired(desired: &Value, owned: BTreeSet<Vec<String>>) -> Vec<Vec<String>> {
    owned
        .into_iter()
        .filter(|path| !path.is_empty() && path[0] != "status")
        .filter(|path| !desired_has(desired, path))
        .collect()
}

fn desired_has(desired: &Value, path: &[String]) -> bool {
    let mut node = desired;
    for segment in path {
        match node {
            Value::Object(map) => match map.get(segment) {
                Some(child) => node = child,
                None => return false,
            },
            // Inside a list: the list is compared as a whole elsewhere.
            Value::Array(_) => return true,
            _ => return false,
        }
    }
    true
}

/// `metadata.labels["a/b"]`: the path as Kubernetes messages print it.
pub fn render_path(path: &[String]) -> String {
    let mut out = String::new();
    for segment in path {
        crate::core::fieldpath::push_key(&mut out, segment);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(manager: &str, operation: &str, fields: Value) -> ManagedFieldsEntry {
        serde_json::from_value(json!({
            "manager": manager, "operation": operation,
            "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": fields
        }))
        .unwrap()
    }

    #[test]
    fn owned_paths_stop_at_list_items_and_skip_other_managers() {
        let fields = vec![
            entry(
                "hardening-operator",
                "Apply",
                json!({
                    "f:metadata": { "f:labels": { "f:app.kubernetes.io/managed-by": {} },
                                    "f:ownerReferences": { "k:{\"uid\":\"1\"}": {} } },
                    "f:spec": { "f:hard": { "f:pods": {}, "f:limits.cpu": {} } }
                }),
            ),
            entry(
                "kubectl-edit",
                "Update",
                json!({ "f:spec": { "f:hard": { "f:secrets": {} } } }),
            ),
        ];
        let paths: Vec<String> = owned_paths(&fields, "hardening-operator")
            .iter()
            .map(|p| render_path(p))
            .collect();
        assert_eq!(
            paths,
            vec![
                "metadata.labels[\"app.kubernetes.io/managed-by\"]",
                "metadata.ownerReferences",
                "spec.hard[\"limits.cpu\"]",
                "spec.hard.pods",
            ]
        );
    }

    #[test]
    fn reports_owned_fields_the_desired_object_dropped() {
        let fields = vec![entry(
            "hardening-operator",
            "Apply",
            json!({
                "f:metadata": { "f:labels": {
                    "f:pod-security.kubernetes.io/enforce": {},
                    "f:pod-security.kubernetes.io/warn": {} } },
                "f:spec": { "f:hard": { "f:pods": {}, "f:limits.cpu": {} },
                            "f:limits": {} }
            }),
        )];
        let desired = json!({
            "metadata": { "labels": { "pod-security.kubernetes.io/enforce": "restricted" } },
            "spec": { "hard": { "pods": "10" }, "limits": [ { "type": "Container" } ] }
        });
        let stale: Vec<String> = owned_but_not_desired(&desired, &fields, "hardening-operator")
            .iter()
            .map(|p| render_path(p))
            .collect();
        assert_eq!(
            stale,
            vec![
                "metadata.labels[\"pod-security.kubernetes.io/warn\"]",
                "spec.hard[\"limits.cpu\"]"
            ]
        );
    }

    #[test]
    fn nothing_to_report_when_desired_covers_everything_owned() {
        let fields = vec![entry(
            "hardening-operator",
            "Apply",
            json!({ "f:spec": { "f:hard": { "f:pods": {} } } }),
        )];
        let desired = json!({ "spec": { "hard": { "pods": "10", "services": "5" } } });
        assert!(owned_but_not_desired(&desired, &fields, "hardening-operator").is_empty());
    }
}
