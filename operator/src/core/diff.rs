//! How a live object differs from its desired form, and who changed it.
//!
//! Everything the operator generates is compared, in both directions: every field of the
//! desired object outside `metadata` (changed or removed), and every field the live object
//! holds beyond it that another field manager owns in `managedFields` (added: a label in the
//! empty `podSelector` of a default-deny policy, a quota scope). A field beyond desired that
//! nobody owns is an API server default and no drift. Lists are compared whole against the
//! canonical form of desired ([`crate::core::canonical`]), so an element that gained a field (an
//! `endPort` on an allowed port) is a changed list. Of the metadata, the label and annotation
//! keys desired sets and its ownerReferences are compared.
//!
//! Quantities compare by value, rounded up to milli precision as the API server stores them
//! (`0.1m` is stored as `1m`, `1000m` equals `1`).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use serde_json::Value;

use crate::core::fieldpath::push_key;
use crate::core::quantity::ParsedQuantity;

/// `field` of the drift reported when the live object does not exist at all.
pub const MISSING_OBJECT_FIELD: &str = "(object)";

/// What kind of difference a [`Drift`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Change {
    /// The object does not exist.
    MissingObject,
    /// The field holds another value (a list: any of its elements differs).
    Changed,
    /// A field desired sets is missing.
    Removed,
    /// A field desired does not set, owned by another field manager. Server-side apply
    /// does not remove it; the operator removes it afterwards.
    Added,
    /// A field the operator's own manager owns that desired no longer sets; the next apply
    /// removes it.
    Stale,
    /// An object the operator generated that the profile no longer renders.
    Unwanted,
}

/// One difference between desired and live state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drift {
    /// Where, for humans: `spec.hard["limits.cpu"]`, `metadata.labels["app"]`, `spec.ingress`.
    pub field: String,
    /// The same path as map keys, for matching against `managedFields`; empty for a missing object.
    pub path: Vec<String>,
    /// The desired value (strings as they are, anything else as compact JSON).
    pub expected: Option<String>,
    /// The live value; `None` when the field or object is missing.
    pub actual: Option<String>,
    /// The field manager that owns the live value, when known (see [`attribute`]).
    pub manager: Option<String>,
    pub change: Change,
}

impl Drift {
    pub fn at(
        path: &[String],
        change: Change,
        expected: Option<String>,
        actual: Option<String>,
    ) -> Self {
        let mut field = String::new();
        for key in path {
            push_key(&mut field, key);
        }
        Self {
            field,
            path: path.to_vec(),
            expected,
            actual,
            manager: None,
            change,
        }
    }

    fn missing_object() -> Self {
        Self {
            field: MISSING_OBJECT_FIELD.to_owned(),
            path: Vec::new(),
            expected: Some("object exists".to_owned()),
            actual: None,
            manager: None,
            change: Change::MissingObject,
        }
    }

    /// How a human would say what happened: `spec.hard.pods changed by kubectl-edit`,
    /// `spec.scopes added by helm`, `the object was deleted`.
    pub fn describe(&self) -> String {
        let by = |verb: &str| match &self.manager {
            Some(manager) => format!("{} {verb} by {manager}", self.field),
            None => format!("{} {verb}", self.field),
        };
        match self.change {
            // The API server records no field manager for deletions and removals.
            Change::MissingObject => "the object was deleted".to_owned(),
            Change::Removed => format!("{} removed", self.field),
            Change::Changed => by("changed"),
            Change::Added => by("added"),
            Change::Stale => format!("{} no longer in the profile", self.field),
            Change::Unwanted => "no longer in the profile".to_owned(),
        }
    }
}

/// Differences between `desired` (in canonical form) and `live` (`None`: the object does
/// not exist), attributed to field managers other than `own_manager` from the live object's
/// own `metadata.managedFields`.
pub fn diff_object(desired: &Value, live: Option<&Value>, own_manager: &str) -> Vec<Drift> {
    let Some(live) = live else {
        return vec![Drift::missing_object()];
    };
    let managed_fields = managed_fields_of(live);
    let owners = Owners::new(&managed_fields, own_manager);
    let mut drifts = Vec::new();
    for field in ["labels", "annotations"] {
        let Some(Value::Object(wanted)) = desired.pointer(&format!("/metadata/{field}")) else {
            continue;
        };
        let present = live.pointer(&format!("/metadata/{field}"));
        for (key, value) in wanted {
            let path = ["metadata".to_owned(), field.to_owned(), key.clone()];
            let actual = present.and_then(|map| map.get(key));
            if !same(Some(value), actual, Semantics::Literal) {
                let change = if absent(actual) {
                    Change::Removed
                } else {
                    Change::Changed
                };
                drifts.push(Drift::at(
                    &path,
                    change,
                    Some(display(value)),
                    actual.map(display),
                ));
            }
        }
    }
    owner_references(&mut drifts, desired, live);
    let top_level = |value: &Value| -> BTreeSet<String> {
        value
            .as_object()
            .into_iter()
            .flatten()
            .map(|(key, _)| key.clone())
            .filter(|key| !matches!(key.as_str(), "apiVersion" | "kind" | "metadata" | "status"))
            .collect()
    };
    let mut compared = Comparison {
        drifts: &mut drifts,
        owners: &owners,
    };
    for key in top_level(desired).union(&top_level(live)) {
        compared.compare(
            &mut vec![key.clone()],
            desired.get(key),
            live.get(key),
            Semantics::Quantities,
        );
    }
    attribute(drifts, &managed_fields, own_manager)
}

/// Differences in the namespace labels and annotations a profile sets. `governed` are the
/// label keys the profile decides as a whole (the Pod Security labels, when it declares
/// `podSecurity`): one of them that desired does not set is drift too, unless the operator
/// owns it (then it is stale and the next apply removes it).
pub fn diff_namespace(
    desired_labels: &BTreeMap<String, String>,
    desired_annotations: &BTreeMap<String, String>,
    governed: &[&str],
    live: &Namespace,
    own_manager: &str,
) -> Vec<Drift> {
    let mut drifts = Vec::new();
    let fields = [
        ("labels", desired_labels, &live.metadata.labels),
        (
            "annotations",
            desired_annotations,
            &live.metadata.annotations,
        ),
    ];
    for (field, wanted, present) in fields {
        for (key, value) in wanted {
            let actual = present.as_ref().and_then(|map| map.get(key));
            if actual != Some(value) {
                let path = ["metadata".to_owned(), field.to_owned(), key.clone()];
                let change = if actual.is_none() {
                    Change::Removed
                } else {
                    Change::Changed
                };
                drifts.push(Drift::at(
                    &path,
                    change,
                    Some(value.clone()),
                    actual.cloned(),
                ));
            }
        }
    }
    let managed_fields = live.metadata.managed_fields.clone().unwrap_or_default();
    let ours = crate::core::ownership::owned_paths(&managed_fields, own_manager);
    for (key, value) in live.metadata.labels.iter().flatten() {
        let path = ["metadata".to_owned(), "labels".to_owned(), key.clone()];
        if governed.contains(&key.as_str())
            && !desired_labels.contains_key(key)
            && !ours.contains(path.as_slice())
        {
            drifts.push(Drift::at(&path, Change::Added, None, Some(value.clone())));
        }
    }
    attribute(drifts, &managed_fields, own_manager)
}

/// The `managedFields` entries of a live object given as JSON.
pub fn managed_fields_of(live: &Value) -> Vec<ManagedFieldsEntry> {
    live.pointer("/metadata/managedFields")
        .and_then(|entries| serde_json::from_value(entries.clone()).ok())
        .unwrap_or_default()
}

/// Every ownerReference desired sets must be on the live object, unchanged (garbage
/// collection of the profile's objects depends on it).
fn owner_references(drifts: &mut Vec<Drift>, desired: &Value, live: &Value) {
    let Some(Value::Array(wanted)) = desired.pointer("/metadata/ownerReferences") else {
        return;
    };
    let present = live
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array);
    let kept = wanted.iter().all(|reference| {
        present.is_some_and(|refs| {
            refs.iter()
                .any(|live| same(Some(reference), Some(live), Semantics::Literal))
        })
    });
    if !kept {
        let path = ["metadata".to_owned(), "ownerReferences".to_owned()];
        let live_value = live.pointer("/metadata/ownerReferences");
        let change = if absent(live_value) {
            Change::Removed
        } else {
            Change::Changed
        };
        drifts.push(Drift::at(
            &path,
            change,
            Some(display(&Value::Array(wanted.clone()))),
            live_value.map(display),
        ));
    }
}

/// Fills in [`Drift::manager`]: the field manager other than `own_manager` that owns the
/// drifted field (or a map or list containing it) in `managed_fields`. When several do,
/// the one that wrote last; `None` when nobody does (e.g. the field was removed).
pub fn attribute(
    mut drifts: Vec<Drift>,
    managed_fields: &[ManagedFieldsEntry],
    own_manager: &str,
) -> Vec<Drift> {
    let owners = Owners::new(managed_fields, own_manager);
    for drift in &mut drifts {
        if drift.path.is_empty() || drift.manager.is_some() {
            continue;
        }
        drift.manager = owners.latest_owner(&drift.path);
    }
    drifts
}

/// The `managedFields` entries of other managers that can explain a spec or metadata value.
struct Owners<'a> {
    others: Vec<&'a ManagedFieldsEntry>,
}

impl<'a> Owners<'a> {
    fn new(managed_fields: &'a [ManagedFieldsEntry], own_manager: &str) -> Self {
        let others = managed_fields
            .iter()
            .filter(|entry| entry.manager.as_deref().is_some_and(|m| m != own_manager))
            // Status writers never own what we compare.
            .filter(|entry| entry.subresource.as_deref().unwrap_or_default().is_empty())
            .collect();
        Self { others }
    }

    fn latest_owner(&self, path: &[String]) -> Option<String> {
        self.others
            .iter()
            .rev()
            .filter(|entry| {
                entry
                    .fields_v1
                    .as_ref()
                    .is_some_and(|fields| owns(&fields.0, path))
            })
            .max_by_key(|entry| entry.time.clone())
            .and_then(|entry| entry.manager.clone())
    }
}

/// Whether a `fieldsV1` set contains `path` (`f:<key>` per step) or a whole map or list
/// above it (an entry without children, as atomic fields are recorded).
fn owns(fields: &Value, path: &[String]) -> bool {
    let mut node = fields;
    for (depth, key) in path.iter().enumerate() {
        match node.get(format!("f:{key}")) {
            Some(child) => node = child,
            None => {
                return depth > 0 && node.as_object().is_none_or(|children| children.is_empty());
            }
        }
    }
    true
}

/// How strings compare.
#[derive(Clone, Copy)]
enum Semantics {
    /// Byte for byte (labels, annotations).
    Literal,
    /// Strings that both parse as quantities compare by value, as stored (`1000m` equals `1`).
    Quantities,
}

impl Semantics {
    /// The semantics below the map key `key`: label selectors hold label values, which are
    /// text even when they look like numbers (`"1"` and `"1.0"` select different objects).
    fn inside(self, key: &str) -> Self {
        match key {
            "matchLabels" | "matchExpressions" => Self::Literal,
            _ => self,
        }
    }
}

struct Comparison<'d, 'o> {
    drifts: &'d mut Vec<Drift>,
    owners: &'o Owners<'o>,
}

impl Comparison<'_, '_> {
    fn compare(
        &mut self,
        path: &mut Vec<String>,
        desired: Option<&Value>,
        live: Option<&Value>,
        semantics: Semantics,
    ) {
        match (present(desired), present(live)) {
            (None, None) => {}
            (None, Some(Value::Object(found))) => {
                // Each added field on its own: another manager may own some of them, and
                // removing one must not remove the map around it.
                for (key, value) in found {
                    path.push(key.clone());
                    self.compare(path, None, Some(value), semantics.inside(key));
                    path.pop();
                }
            }
            (None, Some(extra)) => {
                // Nobody else owns it: an API server default, not an edit.
                if self.owners.latest_owner(path).is_some() {
                    self.drifts
                        .push(Drift::at(path, Change::Added, None, Some(display(extra))));
                }
            }
            (Some(Value::Object(wanted)), None) => {
                for (key, value) in wanted {
                    path.push(key.clone());
                    self.compare(path, Some(value), None, semantics.inside(key));
                    path.pop();
                }
            }
            (Some(wanted), None) => {
                self.drifts.push(Drift::at(
                    path,
                    Change::Removed,
                    Some(display(wanted)),
                    None,
                ));
            }
            (Some(Value::Object(wanted)), Some(Value::Object(found))) => {
                let keys: BTreeSet<&String> = wanted.keys().chain(found.keys()).collect();
                for key in keys {
                    path.push(key.clone());
                    self.compare(path, wanted.get(key), found.get(key), semantics.inside(key));
                    path.pop();
                }
            }
            (Some(wanted), Some(found)) => {
                if !same(Some(wanted), Some(found), semantics) {
                    self.drifts.push(Drift::at(
                        path,
                        Change::Changed,
                        Some(display(wanted)),
                        Some(display(found)),
                    ));
                }
            }
        }
    }
}

/// `value`, unless it is missing, null or an empty map or list: the API server drops those
/// (omitempty), so they equal absent ones.
fn present(value: Option<&Value>) -> Option<&Value> {
    value.filter(|v| !absent(Some(v)))
}

fn absent(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        // `{"from": []}` is stored as `{}`.
        Some(Value::Object(map)) => map.values().all(|v| absent(Some(v))),
        Some(Value::Array(items)) => items.is_empty(),
        Some(_) => false,
    }
}

/// Deep equality, both ways: a map or list element with a field the other lacks differs.
fn same(desired: Option<&Value>, live: Option<&Value>, semantics: Semantics) -> bool {
    match (present(desired), present(live)) {
        (None, None) => true,
        (None, Some(_)) | (Some(_), None) => false,
        (Some(Value::Object(wanted)), Some(Value::Object(found))) => wanted
            .keys()
            .chain(found.keys())
            .all(|key| same(wanted.get(key), found.get(key), semantics.inside(key))),
        (Some(Value::Array(wanted)), Some(Value::Array(found))) => {
            wanted.len() == found.len()
                && wanted
                    .iter()
                    .zip(found)
                    .all(|(want, have)| same(Some(want), Some(have), semantics))
        }
        (Some(wanted), Some(found)) => scalar_matches(wanted, found, semantics),
    }
}

fn scalar_matches(desired: &Value, live: &Value, semantics: Semantics) -> bool {
    if desired == live {
        return true;
    }
    match semantics {
        Semantics::Literal => false,
        Semantics::Quantities => match (as_quantity(desired), as_quantity(live)) {
            (Some(want), Some(have)) => want.round_up_to_milli() == have.round_up_to_milli(),
            _ => false,
        },
    }
}

fn as_quantity(value: &Value) -> Option<ParsedQuantity> {
    match value {
        Value::String(text) => text.parse().ok(),
        Value::Number(number) => number.to_string().parse().ok(),
        _ => None,
    }
}

fn display(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
