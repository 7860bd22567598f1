//! What the watch caches keep of each object: only what a reconcile reads. The caches hold
//! every namespace and every object of the generated kinds in the cluster, so whatever a
//! reconcile never reads costs memory in proportion to the cluster and buys nothing.

use std::borrow::Cow;
use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    FieldsV1, ManagedFieldsEntry, ObjectMeta, Time,
};
use kube::api::DynamicObject;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::core::labels::FIELD_MANAGER;
use crate::core::ownership::NamespaceView;

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

/// A namespace as the watch cache holds it: what [`namespace`] keeps, with the kept
/// `managedFields` entries in a compact form instead of `fieldsV1` trees of JSON maps (one
/// map allocation per level of each entry: most of a trimmed namespace's bytes).
/// Deserialized straight from the API server's JSON: its spec and status are skipped, never
/// built. `metadata.managedFields` is always empty; [`NamespaceView::managed_entries`]
/// gives the kept entries back as [`namespace`] keeps them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CachedNamespace {
    pub metadata: ObjectMeta,
    #[serde(skip)]
    managed: Box<[Claims]>,
}

/// One kept `managedFields` entry: who, how, when, and which label and annotation keys.
#[derive(Clone, Debug, PartialEq)]
struct Claims {
    manager: Option<Box<str>>,
    operation: Option<Box<str>>,
    time: Option<Time>,
    subresource: Option<Box<str>>,
    /// The keys under `f:metadata`'s `f:labels` and `f:annotations` as written (`f:team`);
    /// `None`: the entry had no `fieldsV1`.
    fields: Option<[Box<[Box<str>]>; 2]>,
}

/// The two sets of a namespace's `fieldsV1` that [`namespace`] keeps, in [`Claims`] order.
const CLAIMED_SETS: [&str; 2] = ["f:labels", "f:annotations"];

impl Claims {
    /// `entry` as [`namespace`] left it (only `f:metadata`'s label and annotation sets).
    fn of(entry: ManagedFieldsEntry) -> Self {
        let boxed = |s: Option<String>| s.map(String::into_boxed_str);
        let fields = entry.fields_v1.map(|FieldsV1(fields)| {
            CLAIMED_SETS.map(|set| {
                fields
                    .get("f:metadata")
                    .and_then(|metadata| metadata.get(set))
                    .and_then(Value::as_object)
                    .map(|keys| keys.keys().map(|k| k.as_str().into()).collect())
                    .unwrap_or_default()
            })
        });
        Self {
            manager: boxed(entry.manager),
            operation: boxed(entry.operation),
            time: entry.time,
            subresource: boxed(entry.subresource),
            fields,
        }
    }

    /// The entry back as [`namespace`] keeps it, but for its `apiVersion` and `fieldsType`
    /// (no judgement reads them). Label and annotation keys own leaves (`{}`): their values
    /// are strings.
    fn entry(&self) -> ManagedFieldsEntry {
        let owned = |s: &Option<Box<str>>| s.as_deref().map(str::to_owned);
        let fields_v1 = self.fields.as_ref().map(|sets| {
            let mut metadata = serde_json::Map::new();
            for (set, keys) in CLAIMED_SETS.iter().zip(sets) {
                if !keys.is_empty() {
                    let keys = keys
                        .iter()
                        .map(|key| (key.to_string(), Value::Object(serde_json::Map::new())));
                    metadata.insert((*set).to_owned(), Value::Object(keys.collect()));
                }
            }
            FieldsV1(serde_json::json!({ "f:metadata": metadata }))
        });
        ManagedFieldsEntry {
            manager: owned(&self.manager),
            operation: owned(&self.operation),
            time: self.time.clone(),
            subresource: owned(&self.subresource),
            fields_v1,
            ..ManagedFieldsEntry::default()
        }
    }
}

impl From<Namespace> for CachedNamespace {
    fn from(ns: Namespace) -> Self {
        let mut metadata = namespace(ns).metadata;
        let managed = metadata
            .managed_fields
            .take()
            .into_iter()
            .flatten()
            .map(Claims::of)
            .collect();
        Self { metadata, managed }
    }
}

impl<'de> Deserialize<'de> for CachedNamespace {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// Only the metadata: serde skips the spec and status without building them.
        #[derive(Deserialize)]
        struct Metadata {
            #[serde(default)]
            metadata: ObjectMeta,
        }
        let Metadata { metadata } = Metadata::deserialize(deserializer)?;
        Ok(Namespace {
            metadata,
            ..Namespace::default()
        }
        .into())
    }
}

impl kube::Resource for CachedNamespace {
    type DynamicType = ();
    type Scope = k8s_openapi::ClusterResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        <Namespace as k8s_openapi::Resource>::KIND.into()
    }
    fn group(_: &()) -> Cow<'_, str> {
        <Namespace as k8s_openapi::Resource>::GROUP.into()
    }
    fn version(_: &()) -> Cow<'_, str> {
        <Namespace as k8s_openapi::Resource>::VERSION.into()
    }
    fn api_version(_: &()) -> Cow<'_, str> {
        <Namespace as k8s_openapi::Resource>::API_VERSION.into()
    }
    fn plural(_: &()) -> Cow<'_, str> {
        <Namespace as k8s_openapi::Resource>::URL_PATH_SEGMENT.into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl NamespaceView for CachedNamespace {
    fn managed_entries(&self) -> Cow<'_, [ManagedFieldsEntry]> {
        Cow::Owned(self.managed.iter().map(Claims::entry).collect())
    }

    /// What `owned_paths` finds in [`Claims::entry`]'s trees, read from the claims: a key
    /// `f:<k>` owns `metadata.<set>.<k>`, a list item key (`k:`, `v:`, `i:`) or a set
    /// without such keys owns the set itself, an entry with neither set `metadata`.
    fn owned_paths(&self, manager: &str) -> BTreeSet<Vec<String>> {
        let mut paths = BTreeSet::new();
        let path = |steps: &[&str]| steps.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        for claims in &self.managed {
            if claims.manager.as_deref() != Some(manager)
                || claims.operation.as_deref() != Some("Apply")
            {
                continue;
            }
            let Some(sets) = &claims.fields else {
                continue;
            };
            let mut any_set = false;
            for (set, keys) in CLAIMED_SETS.iter().zip(sets) {
                if keys.is_empty() {
                    continue;
                }
                any_set = true;
                let set = set.strip_prefix("f:").unwrap_or(set);
                let mut has_children = false;
                for key in keys {
                    if let Some(field) = key.strip_prefix("f:") {
                        has_children = true;
                        paths.insert(path(&["metadata", set, field]));
                    } else if key.starts_with("k:")
                        || key.starts_with("v:")
                        || key.starts_with("i:")
                    {
                        has_children = true;
                        paths.insert(path(&["metadata", set]));
                    }
                }
                if !has_children {
                    paths.insert(path(&["metadata", set]));
                }
            }
            if !any_set {
                paths.insert(path(&["metadata"]));
            }
        }
        paths
    }
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

    /// `entries` without what [`CachedNamespace`] does not keep (no judgement reads it).
    pub(super) fn judged(mut entries: Vec<ManagedFieldsEntry>) -> Vec<ManagedFieldsEntry> {
        for entry in &mut entries {
            entry.api_version = None;
            entry.fields_type = None;
        }
        entries
    }

    #[test]
    fn the_cache_keeps_what_the_trimmed_namespace_keeps_in_compact_form() {
        let full = ns(json!([
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
                    "f:metadata": { "f:labels": { "f:team": {}, "f:pod-security.kubernetes.io/enforce": {} } },
                    "f:spec": { "f:finalizers": {} },
                })
            ),
            { "manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
              "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1",
              "fieldsV1": { "f:metadata": { "f:annotations": { "f:hardening.dev/rendered": {} } } } },
            { "manager": FIELD_MANAGER, "operation": "Update" },
            entry("labeller", json!({ "f:metadata": { "f:labels": { "f:team": {} } } })),
        ]));
        let trimmed = namespace(full.clone());
        let cached = CachedNamespace::from(full.clone());
        // What the metadata keeps is the trimmed namespace's, but for managedFields, which
        // only `managed_entries` gives (the same entries).
        let mut metadata = trimmed.metadata.clone();
        let entries = metadata.managed_fields.take().unwrap();
        assert_eq!(cached.metadata, metadata);
        assert!(kube::ResourceExt::managed_fields(&cached).is_empty());
        assert_eq!(cached.managed_entries().len(), 4);
        assert_eq!(cached.managed_entries().into_owned(), judged(entries));
        // Straight from the API server's JSON: the same, the spec and status never built.
        let from_json: CachedNamespace =
            serde_json::from_value(serde_json::to_value(&full).unwrap()).unwrap();
        assert_eq!(from_json, cached);
        // As the judgements read it: labels, annotations, identity.
        let json = serde_json::to_value(&cached).unwrap();
        assert_eq!(json["metadata"]["labels"]["team"], "a");
        assert_eq!(json["metadata"].get("managedFields"), None);
        assert_eq!(json.get("spec"), None);
        assert_eq!(
            kube::api::ApiResource::erase::<CachedNamespace>(&()),
            kube::api::ApiResource::erase::<Namespace>(&())
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

/// Property: over generated namespaces with generated `managedFields`, every judgement the
/// reconciler makes on the cache's compact copy equals the one on the trimmed `Namespace`
/// (the form the cache held before): the entries given back, the owned paths, the
/// namespace's drift and its attribution, the plan, what Enforce mode left behind.
#[cfg(test)]
mod properties {
    use std::collections::BTreeMap;

    use kube::ResourceExt;
    use proptest::prelude::*;
    use serde_json::{Map, json};

    use super::tests::judged;
    use super::*;
    use crate::core::api::Mode;
    use crate::core::diff::diff_namespace;
    use crate::core::ownership::owned_paths;
    use crate::core::plan::{Step, plan};
    use crate::core::render::render_with;

    const LABELS: [&str; 6] = [
        "team",
        "kubernetes.io/metadata.name",
        "pod-security.kubernetes.io/enforce",
        "pod-security.kubernetes.io/warn",
        "pod-security.kubernetes.io/audit-version",
        "hardening.dev/profile",
    ];
    const ANNOTATIONS: [&str; 4] = [
        "owner",
        "hardening.dev/profile",
        "hardening.dev/rendered",
        LAST_APPLIED,
    ];
    const VALUES: [&str; 4] = ["restricted", "baseline", "p", "latest"];
    const MANAGERS: [&str; 3] = [FIELD_MANAGER, "kubectl", "labeller"];

    fn map_of(keys: &'static [&'static str]) -> impl Strategy<Value = BTreeMap<String, String>> {
        prop::collection::btree_map(
            prop::sample::select(keys).prop_map(str::to_owned),
            prop::sample::select(&VALUES[..]).prop_map(str::to_owned),
            0..keys.len(),
        )
    }

    /// Keys of a `fieldsV1` set that are not fields: the set itself, list items.
    const OTHER_KEYS: [&str; 3] = [".", "k:{\"name\":\"a\"}", "v:\"a\""];

    /// A `fieldsV1` set of keys (`{}` leaves), and at times a key that is not a field, or
    /// none.
    fn set_of(keys: &'static [&'static str]) -> impl Strategy<Value = Option<Value>> {
        prop::option::of(
            (
                prop::sample::subsequence(keys, 0..=keys.len()),
                prop::option::weighted(0.3, prop::sample::select(&OTHER_KEYS[..])),
            )
                .prop_map(|(keys, other)| {
                    Value::Object(
                        keys.into_iter()
                            .map(|k| (format!("f:{k}"), json!({})))
                            .chain(other.map(|k| (k.to_owned(), json!({}))))
                            .collect(),
                    )
                }),
        )
    }

    fn fields() -> impl Strategy<Value = Option<Value>> {
        prop::option::of(
            (
                set_of(&LABELS),
                set_of(&ANNOTATIONS),
                any::<bool>(),
                any::<bool>(),
            )
                .prop_map(|(labels, annotations, metadata, spec)| {
                    let mut meta = Map::new();
                    meta.extend(labels.map(|l| ("f:labels".to_owned(), l)));
                    meta.extend(annotations.map(|a| ("f:annotations".to_owned(), a)));
                    meta.insert("f:uid".to_owned(), json!({}));
                    let mut root = Map::new();
                    if metadata {
                        root.insert("f:metadata".to_owned(), Value::Object(meta));
                    }
                    if spec {
                        root.insert("f:spec".to_owned(), json!({ "f:finalizers": {} }));
                    }
                    Value::Object(root)
                }),
        )
    }

    fn managed_entry() -> impl Strategy<Value = Value> {
        (
            prop::sample::select(&MANAGERS[..]),
            prop::sample::select(&["Apply", "Update"][..]),
            prop::option::of(prop::sample::select(&["", "status"][..])),
            prop::option::of(prop::sample::select(
                &["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"][..],
            )),
            fields(),
        )
            .prop_map(|(manager, operation, subresource, time, fields)| {
                let mut entry = json!({
                    "manager": manager, "operation": operation, "apiVersion": "v1",
                    "fieldsType": "FieldsV1",
                });
                if let Some(subresource) = subresource {
                    entry["subresource"] = json!(subresource);
                }
                if let Some(time) = time {
                    entry["time"] = json!(time);
                }
                if let Some(fields) = fields {
                    entry["fieldsV1"] = fields;
                }
                entry
            })
    }

    fn generated_namespace() -> impl Strategy<Value = Namespace> {
        (
            map_of(&LABELS),
            map_of(&ANNOTATIONS),
            prop::collection::vec(managed_entry(), 0..5),
            any::<bool>(),
        )
            .prop_map(|(labels, annotations, entries, terminating)| {
                let mut value = json!({
                    "metadata": {
                        "name": "team-a", "uid": "u-1", "resourceVersion": "7",
                        "labels": labels, "annotations": annotations, "managedFields": entries,
                    },
                    "spec": { "finalizers": ["kubernetes"] },
                    "status": { "phase": "Active" },
                });
                if terminating {
                    value["metadata"]["deletionTimestamp"] = json!("2026-01-03T00:00:00Z");
                }
                serde_json::from_value(value).unwrap()
            })
    }

    fn summary(
        steps: &[Step<'_>],
    ) -> Vec<(
        String,
        String,
        crate::core::plan::Action,
        Vec<crate::core::diff::Drift>,
    )> {
        steps
            .iter()
            .map(|s| {
                (
                    s.kind.to_owned(),
                    s.name.clone(),
                    s.action,
                    s.drifts.clone(),
                )
            })
            .collect()
    }

    /// Keys of a `fieldsV1` label or annotation set, fields or not.
    const SET_KEYS: [&str; 6] = [
        "f:pod-security.kubernetes.io/enforce",
        "f:hardening.dev/profile",
        "f:team",
        ".",
        "k:{\"name\":\"a\"}",
        "i:0",
    ];

    /// A `managedFields` entry whose `fieldsV1` (if any) holds at most a label set and an
    /// annotation set of up to three [`SET_KEYS`] each, empty sets and sets without a field
    /// among them.
    fn claiming_entry() -> impl Strategy<Value = Value> {
        let set = || prop::option::of(prop::sample::subsequence(&SET_KEYS[..], 0..=3));
        (
            prop::sample::select(&MANAGERS[..]),
            prop::sample::select(&["Apply", "Update"][..]),
            prop::option::weighted(0.9, (set(), set())),
        )
            .prop_map(|(manager, operation, sets)| {
                let mut entry = json!({ "manager": manager, "operation": operation });
                if let Some((labels, annotations)) = sets {
                    let mut metadata = Map::new();
                    for (set, keys) in [("f:labels", labels), ("f:annotations", annotations)] {
                        if let Some(keys) = keys {
                            let keys = keys.into_iter().map(|k| (k.to_owned(), json!({})));
                            metadata.insert(set.to_owned(), Value::Object(keys.collect()));
                        }
                    }
                    entry["fieldsV1"] = json!({ "f:metadata": metadata });
                }
                entry
            })
    }

    proptest! {
        /// The owned paths read from the compact claims are `owned_paths` of the entries
        /// they stand for, and of the trimmed namespace's.
        #[test]
        fn owned_paths_read_from_the_claims_equal_those_of_the_entries(
            entries in prop::collection::vec(claiming_entry(), 0..4),
        ) {
            let full: Namespace = serde_json::from_value(json!({
                "metadata": { "name": "team-a", "managedFields": entries },
            }))
            .unwrap();
            let trimmed = namespace(full.clone());
            let cached = CachedNamespace::from(full);
            for manager in MANAGERS {
                let expected = owned_paths(trimmed.managed_fields(), manager);
                prop_assert_eq!(&NamespaceView::owned_paths(&cached, manager), &expected);
                prop_assert_eq!(&owned_paths(&cached.managed_entries(), manager), &expected);
            }
        }

        #[test]
        fn judgements_on_the_cache_equal_those_on_the_trimmed_namespace(
            full in generated_namespace(),
            desired_labels in map_of(&LABELS[2..5]),
            desired_annotations in map_of(&ANNOTATIONS[1..3]),
            governed in prop::sample::subsequence(&LABELS[2..5], 0..=3),
            enforce in any::<bool>(),
        ) {
            let trimmed = namespace(full.clone());
            let cached: CachedNamespace =
                serde_json::from_value(serde_json::to_value(&full).unwrap()).unwrap();
            prop_assert_eq!(&cached, &CachedNamespace::from(full));
            prop_assert_eq!(
                cached.managed_entries().into_owned(),
                judged(trimmed.managed_fields().to_vec())
            );
            for manager in MANAGERS {
                prop_assert_eq!(
                    owned_paths(&cached.managed_entries(), manager),
                    owned_paths(trimmed.managed_fields(), manager)
                );
                // Read from the compact claims, without building their entries.
                prop_assert_eq!(
                    NamespaceView::owned_paths(&cached, manager),
                    owned_paths(trimmed.managed_fields(), manager)
                );
                prop_assert_eq!(
                    NamespaceView::owned_paths(&trimmed, manager),
                    owned_paths(trimmed.managed_fields(), manager)
                );
            }
            prop_assert_eq!(
                diff_namespace(&desired_labels, &desired_annotations, &governed, &cached, FIELD_MANAGER),
                diff_namespace(&desired_labels, &desired_annotations, &governed, &trimmed, FIELD_MANAGER)
            );
            prop_assert_eq!(
                crate::core::enforced::left_enforcing("p", &cached, &[]),
                crate::core::enforced::left_enforcing("p", &trimmed, &[])
            );
            let mode = if enforce { Mode::Enforce } else { Mode::Audit };
            let profile = crate::fixtures::profile("p")
                .uid("1b2c3d4e-0000-4000-8000-000000000001")
                .spec_yaml("mode: Enforce\npodSecurity: {enforce: {level: restricted}, warn: {level: baseline}}")
                .build();
            let desired = render_with(&profile, "team-a", &[]).unwrap();
            prop_assert_eq!(
                summary(&plan(&cached, &desired, mode, &[]).unwrap()),
                summary(&plan(&trimmed, &desired, mode, &[]).unwrap())
            );
        }
    }
}
