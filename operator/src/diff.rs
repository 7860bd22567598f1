//! How a live object differs from its desired form, and who changed it.
//!
//! Only what the desired object sets is compared: other fields belong to other managers
//! or to the API server (defaults, status, `managedFields`). Metadata is compared for
//! the label and annotation keys desired sets, nothing else.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use serde_json::Value;

use crate::fieldpath::push_key;
use crate::quantity::ParsedQuantity;

/// `field` of the drift reported when the live object does not exist at all.
pub const MISSING_OBJECT_FIELD: &str = "(object)";

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
}

impl Drift {
    fn at(path: &[String], expected: Option<String>, actual: Option<String>) -> Self {
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
        }
    }

    fn missing_object() -> Self {
        Self {
            field: MISSING_OBJECT_FIELD.to_owned(),
            path: Vec::new(),
            expected: Some("object exists".to_owned()),
            actual: None,
            manager: None,
        }
    }
}

/// Differences between `desired` and `live` (`None`: the object does not exist).
pub fn diff(desired: &Value, live: Option<&Value>) -> Vec<Drift> {
    let Some(live) = live else {
        return vec![Drift::missing_object()];
    };
    let mut drifts = Vec::new();
    for field in ["labels", "annotations"] {
        let Some(Value::Object(wanted)) = desired.pointer(&format!("/metadata/{field}")) else {
            continue;
        };
        let present = live.pointer(&format!("/metadata/{field}"));
        for (key, value) in wanted {
            let path = ["metadata".to_owned(), field.to_owned(), key.clone()];
            let actual = present.and_then(|map| map.get(key));
            compare(&mut drifts, &path, value, actual, Semantics::Literal);
        }
    }
    for (key, value) in desired.as_object().into_iter().flatten() {
        if matches!(key.as_str(), "apiVersion" | "kind" | "metadata" | "status") {
            continue;
        }
        compare(
            &mut drifts,
            std::slice::from_ref(key),
            value,
            live.get(key),
            Semantics::Quantities,
        );
    }
    drifts
}

/// Differences in the namespace labels and annotations a profile sets.
pub fn diff_namespace(
    desired_labels: &BTreeMap<String, String>,
    desired_annotations: &BTreeMap<String, String>,
    live: &Namespace,
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
                drifts.push(Drift::at(&path, Some(value.clone()), actual.cloned()));
            }
        }
    }
    drifts
}

/// [`diff`], then [`attribute`] with the live object's own `metadata.managedFields`.
pub fn diff_attributed(desired: &Value, live: Option<&Value>, own_manager: &str) -> Vec<Drift> {
    let drifts = diff(desired, live);
    let managed_fields: Vec<ManagedFieldsEntry> = live
        .and_then(|live| live.pointer("/metadata/managedFields"))
        .and_then(|entries| serde_json::from_value(entries.clone()).ok())
        .unwrap_or_default();
    attribute(drifts, &managed_fields, own_manager)
}

/// Fills in [`Drift::manager`]: the field manager other than `own_manager` that owns the
/// drifted field (or a map or list containing it) in `managed_fields`. When several do,
/// the one that wrote last; `None` when nobody does (e.g. the field was removed).
pub fn attribute(
    mut drifts: Vec<Drift>,
    managed_fields: &[ManagedFieldsEntry],
    own_manager: &str,
) -> Vec<Drift> {
    let others: Vec<&ManagedFieldsEntry> = managed_fields
        .iter()
        .filter(|entry| entry.manager.as_deref().is_some_and(|m| m != own_manager))
        // Status writers never own what we compare.
        .filter(|entry| entry.subresource.as_deref().unwrap_or_default().is_empty())
        .collect();
    for drift in &mut drifts {
        if drift.path.is_empty() {
            continue;
        }
        drift.manager = others
            .iter()
            .rev()
            .filter(|entry| {
                entry
                    .fields_v1
                    .as_ref()
                    .is_some_and(|fields| owns(&fields.0, &drift.path))
            })
            .max_by_key(|entry| entry.time.clone())
            .and_then(|entry| entry.manager.clone());
    }
    drifts
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
    /// Strings that both parse as quantities compare by value (`1000m` equals `1`).
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

fn compare(
    drifts: &mut Vec<Drift>,
    path: &[String],
    desired: &Value,
    live: Option<&Value>,
    semantics: Semantics,
) {
    let live = live.filter(|value| !value.is_null());
    match desired {
        Value::Null => {}
        Value::Object(wanted) => match live {
            None | Some(Value::Object(_)) => {
                for (key, value) in wanted {
                    let mut child = path.to_vec();
                    child.push(key.clone());
                    let live = live.and_then(|map| map.get(key));
                    compare(drifts, &child, value, live, semantics.inside(key));
                }
            }
            Some(other) => drifts.push(Drift::at(
                path,
                Some(display(desired)),
                Some(display(other)),
            )),
        },
        // Lists compare as a whole: their elements have no stable identity to report by.
        Value::Array(wanted) => {
            let same = match live {
                None => wanted.is_empty(),
                Some(Value::Array(present)) => {
                    present.len() == wanted.len()
                        && wanted
                            .iter()
                            .zip(present)
                            .all(|(want, have)| matches(want, Some(have), semantics))
                }
                Some(_) => false,
            };
            if !same {
                drifts.push(Drift::at(path, Some(display(desired)), live.map(display)));
            }
        }
        scalar => {
            if !live.is_some_and(|have| scalar_matches(scalar, have, semantics)) {
                drifts.push(Drift::at(path, Some(display(scalar)), live.map(display)));
            }
        }
    }
}

fn matches(desired: &Value, live: Option<&Value>, semantics: Semantics) -> bool {
    let mut drifts = Vec::new();
    compare(&mut drifts, &[], desired, live, semantics);
    drifts.is_empty()
}

fn scalar_matches(desired: &Value, live: &Value, semantics: Semantics) -> bool {
    if desired == live {
        return true;
    }
    match semantics {
        Semantics::Literal => false,
        Semantics::Quantities => match (as_quantity(desired), as_quantity(live)) {
            (Some(want), Some(have)) => want == have,
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
mod tests;
