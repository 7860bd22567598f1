//! What the watch caches keep of each object: only what a reconcile reads. The caches hold
//! every namespace and every object of the generated kinds in the cluster, so whatever a
//! reconcile never reads costs memory in proportion to the cluster and buys nothing.

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::FieldsV1;
use kube::api::DynamicObject;
use serde_json::Value;

use crate::core::labels::FIELD_MANAGER;

/// Annotations on namespaces that carry what the operator reads.
const OPERATOR_ANNOTATION_PREFIX: &str = "hardening.dev/";
/// Namespace labels the operator governs.
const POD_SECURITY_LABEL_PREFIX: &str = "pod-security.kubernetes.io/";
/// A copy of a client-side applied manifest: often the largest field of a namespace.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A generated kind's object without what the reconciler never reads: a quota's status
/// (rewritten by the quota controller on every use), the `managedFields` entries of
/// status writers, the time of the operator's own entries (only other managers' times
/// attribute a drift), the creation timestamp and the generation. What is left of a
/// profile's object is then the same text in every namespace but for its namespace, uid and
/// resource version (which the index keeps apart).
pub fn generated_object(mut object: DynamicObject) -> DynamicObject {
    if let Some(data) = object.data.as_object_mut() {
        data.remove("status");
    }
    let metadata = &mut object.metadata;
    metadata.creation_timestamp = None;
    metadata.generation = None;
    if let Some(entries) = metadata.managed_fields.as_mut() {
        entries.retain(|entry| entry.subresource.as_deref().unwrap_or_default().is_empty());
        for entry in entries {
            if entry.manager.as_deref() == Some(FIELD_MANAGER) {
                entry.time = None;
            }
        }
    }
    object
}

/// A Namespace as the namespace reconciler reads it: every label (selection), the
/// annotations but a client-side apply's copy of the manifest, no spec or status (its
/// finalizers and phase: a namespace being deleted has a deletion timestamp), and of
/// `managedFields`
/// only what can concern the operator: its own entry's labels and annotations (its stale
/// keys are removed from those) and other managers' claims on the Pod Security labels
/// and the operator's annotations (drift attribution). Other managers' entries that claim
/// none of these are dropped.
pub fn namespace(mut ns: Namespace) -> Namespace {
    ns.spec = None;
    ns.status = None;
    if let Some(annotations) = ns.metadata.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
    if let Some(entries) = ns.metadata.managed_fields.as_mut() {
        entries.retain_mut(|entry| {
            let own = entry.manager.as_deref() == Some(FIELD_MANAGER);
            let Some(FieldsV1(fields)) = entry.fields_v1.as_mut() else {
                return own;
            };
            let kept = metadata_claims(fields, own);
            let claims = !kept.is_empty();
            *fields = Value::Object(serde_json::Map::from_iter([(
                "f:metadata".to_owned(),
                Value::Object(kept),
            )]));
            own || claims
        });
    }
    ns
}

/// The `f:labels` and `f:annotations` of a `fieldsV1` tree's `f:metadata`; for another
/// manager only the keys that can concern the operator.
fn metadata_claims(fields: &mut Value, own: bool) -> serde_json::Map<String, Value> {
    let mut kept = serde_json::Map::new();
    let Some(metadata) = fields.get_mut("f:metadata").and_then(Value::as_object_mut) else {
        return kept;
    };
    for (set, prefix) in [
        ("f:labels", POD_SECURITY_LABEL_PREFIX),
        ("f:annotations", OPERATOR_ANNOTATION_PREFIX),
    ] {
        let Some(Value::Object(mut keys)) = metadata.remove(set) else {
            continue;
        };
        if !own {
            keys.retain(|key, _| {
                key.strip_prefix("f:")
                    .is_some_and(|key| key.starts_with(prefix))
            });
        }
        if !keys.is_empty() {
            kept.insert(set.to_owned(), Value::Object(keys));
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ownership::owned_paths;
    use serde_json::json;

    fn ns(managed_fields: Value) -> Namespace {
        serde_json::from_value(json!({
            "metadata": {
                "name": "team-a",
                "labels": { "team": "a", "pod-security.kubernetes.io/enforce": "baseline" },
                "annotations": { (LAST_APPLIED): "{\"kind\":\"Namespace\"}", "hardening.dev/profile": "strict" },
                "managedFields": managed_fields,
            },
            "spec": { "finalizers": ["kubernetes"] },
            "status": { "phase": "Active" },
        }))
        .unwrap()
    }

    fn entry(manager: &str, fields: Value) -> Value {
        json!({ "manager": manager, "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": fields })
    }

    #[test]
    fn namespaces_keep_what_the_reconciler_reads() {
        let trimmed = namespace(ns(json!([
            entry(
                FIELD_MANAGER,
                json!({ "f:metadata": {
                    "f:labels": { "f:pod-security.kubernetes.io/enforce": {}, "f:old-key": {} },
                    "f:annotations": { "f:hardening.dev/profile": {} },
                }})
            ),
            entry(
                "kubectl",
                json!({
                    "f:metadata": {
                        "f:labels": { "f:team": {}, "f:pod-security.kubernetes.io/enforce": {} },
                        "f:annotations": { "f:kubectl.kubernetes.io/last-applied-configuration": {} },
                    },
                    "f:spec": { "f:finalizers": {} },
                })
            ),
            entry(
                "labeller",
                json!({ "f:metadata": { "f:labels": { "f:team": {} } } })
            ),
        ])));
        assert_eq!(
            (trimmed.spec.as_ref(), trimmed.status.as_ref()),
            (None, None)
        );
        assert_eq!(trimmed.metadata.labels.as_ref().unwrap().len(), 2);
        assert_eq!(
            trimmed
                .metadata
                .annotations
                .as_ref()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["hardening.dev/profile"]
        );
        let entries = trimmed.metadata.managed_fields.clone().unwrap();
        let managers: Vec<_> = entries.iter().map(|e| e.manager.clone().unwrap()).collect();
        assert_eq!(managers, [FIELD_MANAGER, "kubectl"]);
        // The operator's own claims stay whole: a stale key must still be found to be removed.
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let own = owned_paths(&entries, FIELD_MANAGER);
        assert!(own.contains(&path(&["metadata", "labels", "old-key"])));
        assert!(own.contains(&path(&["metadata", "annotations", "hardening.dev/profile"])));
        let foreign = owned_paths(&entries, "kubectl");
        assert_eq!(
            foreign.into_iter().collect::<Vec<_>>(),
            [path(&[
                "metadata",
                "labels",
                "pod-security.kubernetes.io/enforce"
            ])]
        );
    }

    #[test]
    fn generated_objects_lose_status_and_status_writers() {
        let object: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": { "name": "q", "namespace": "a", "managedFields": [
                entry(FIELD_MANAGER, json!({ "f:spec": {} })),
                { "manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
                  "fieldsType": "FieldsV1", "fieldsV1": { "f:status": {} } },
            ]},
            "spec": { "hard": { "pods": "1" } },
            "status": { "used": { "pods": "0" } },
        }))
        .unwrap();
        let trimmed = generated_object(object);
        assert!(trimmed.data.get("status").is_none());
        assert_eq!(trimmed.metadata.managed_fields.unwrap().len(), 1);
    }
}
