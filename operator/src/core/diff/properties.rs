//! Property: for a random generated object and a random edit at any depth, the diff reports
//! drift exactly when the edit changed the object, server defaults aside, and names the
//! manager that made the change. The oracle is the edit itself (what it did), not a second
//! implementation of the comparison.
//!
//! The live object is the desired one with `managedFields` as the API server keeps them:
//! the operator's manager owns every field it applied; an editor (an `Update` manager) owns
//! what it changed or added, a whole list when it changed an element of one (lists are
//! atomic); a removed field is owned by nobody; a server default is owned by nobody.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;
use crate::test_support::fields_of;

const OWN: &str = "hardening-operator";
const EDITOR: &str = "kubectl-edit";

/// Keys of generated maps; a small alphabet so that edits hit existing keys too.
const KEYS: [&str; 6] = ["a", "b", "c", "hard", "limits.cpu", "ports"];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("x")),
        Just(json!("10")),
        Just(json!("1Gi")),
        Just(json!("500m")),
        Just(json!("TCP")),
        (1i64..70000).prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
    ]
}

/// A non-empty value: scalars, maps and lists of them, up to three levels deep.
fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::btree_map(prop::sample::select(&KEYS[..]), inner.clone(), 1..4)
                .prop_map(|m| Value::Object(
                    m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
                )),
            prop::collection::vec(inner, 1..3).prop_map(Value::Array),
        ]
    })
}

fn spec() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(prop::sample::select(&KEYS[..]), value(), 1..4)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

/// A path to a node of `value`, below the root: map keys, and list indexes as `#i`.
fn paths(value: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                prefix.push(k.clone());
                out.push(prefix.clone());
                paths(v, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                prefix.push(format!("#{i}"));
                out.push(prefix.clone());
                paths(v, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn node_mut<'a>(value: &'a mut Value, path: &[String]) -> &'a mut Value {
    path.iter()
        .fold(value, |node, step| match step.strip_prefix('#') {
            Some(i) => &mut node[i.parse::<usize>().unwrap()],
            None => &mut node[step.as_str()],
        })
}

/// The map path of a node: up to (and including) the first list on it, since a list is
/// owned as a whole.
fn owned_path(path: &[String]) -> Vec<String> {
    match path.iter().position(|s| s.starts_with('#')) {
        Some(list) => path[..list].to_vec(),
        None => path.to_vec(),
    }
}

fn fields_for(path: &[String]) -> Value {
    path.iter()
        .rev()
        .fold(json!({}), |inner, key| json!({ format!("f:{key}"): inner }))
}

/// Removes `path` from a `fieldsV1` set (nobody owns a removed field).
fn disown(fields: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = fields;
    for key in parents {
        match node.get_mut(format!("f:{key}")) {
            Some(child) => node = child,
            None => return,
        }
    }
    if let Some(map) = node.as_object_mut() {
        map.remove(&format!("f:{last}"));
    }
}

fn entry(manager: &str, operation: &str, time: &str, fields: Value) -> Value {
    json!({ "manager": manager, "operation": operation, "apiVersion": "v1",
            "time": time, "fieldsType": "FieldsV1", "fieldsV1": fields })
}

/// What an edit did to the object, as far as the operator is concerned.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Effect {
    /// The content changed: drift, by `EDITOR` unless the field was removed.
    Changed { removed: bool },
    /// Nothing the operator rendered changed (an equal value, or a server default).
    Unchanged,
}

#[derive(Clone, Debug)]
enum Edit {
    Change(usize, Value),
    Remove(usize),
    AddOwned(usize, String, Value),
    AddDefault(usize, String, Value),
    Equivalent(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), scalar()).prop_map(|(i, v)| Edit::Change(i, v)),
        any::<usize>().prop_map(Edit::Remove),
        (any::<usize>(), "[d-g]{1,3}", scalar()).prop_map(|(i, k, v)| Edit::AddOwned(i, k, v)),
        (any::<usize>(), "[d-g]{1,3}", scalar()).prop_map(|(i, k, v)| Edit::AddDefault(i, k, v)),
        any::<usize>().prop_map(Edit::Equivalent),
    ]
}

/// Applies `edit` to `live` (a copy of desired) and its managed fields; `None` when the
/// edit does not apply to this object (e.g. no map to add a key to).
fn apply(
    edit: &Edit,
    live: &mut Value,
    own_fields: &mut Value,
    editor_fields: &mut Vec<Vec<String>>,
) -> Option<Effect> {
    let mut all = Vec::new();
    paths(&live["spec"], &mut vec!["spec".to_owned()], &mut all);
    let pick = |i: usize, candidates: &[Vec<String>]| -> Option<Vec<String>> {
        (!candidates.is_empty()).then(|| candidates[i % candidates.len()].clone())
    };
    match edit {
        Edit::Change(i, new) => {
            let path = pick(*i, &all)?;
            let node = node_mut(live, &path);
            if same(Some(node), Some(new), Semantics::Quantities) {
                return Some(Effect::Unchanged);
            }
            *node = new.clone();
            editor_fields.push(owned_path(&path));
            Some(Effect::Changed { removed: false })
        }
        Edit::Remove(i) => {
            // A map key outside lists (inside a list, removing is changing the list).
            let keys: Vec<Vec<String>> = all
                .iter()
                .filter(|p| !p.iter().any(|s| s.starts_with('#')))
                .cloned()
                .collect();
            let path = pick(*i, &keys)?;
            let (last, parents) = path.split_last()?;
            node_mut(live, parents).as_object_mut()?.remove(last);
            disown(own_fields, &path);
            Some(Effect::Changed { removed: true })
        }
        Edit::AddOwned(i, key, new) | Edit::AddDefault(i, key, new) => {
            // An editor may add a field anywhere, also to a map inside a list (an endPort on
            // a port); a server default outside lists (inside them, `canonical` models them).
            let in_list = |p: &Vec<String>| p.iter().any(|s| s.starts_with('#'));
            let maps: Vec<Vec<String>> = std::iter::once(vec!["spec".to_owned()])
                .chain(all.iter().cloned())
                .filter(|p| matches!(edit, Edit::AddOwned(..)) || !in_list(p))
                .filter(|p| node_mut(&mut live.clone(), p).is_object())
                .collect();
            let parent = pick(*i, &maps)?;
            let map: &mut Map<String, Value> = node_mut(live, &parent).as_object_mut()?;
            if map.contains_key(key) {
                return None;
            }
            map.insert(key.clone(), new.clone());
            let mut path = parent;
            path.push(key.clone());
            if matches!(edit, Edit::AddOwned(..)) {
                editor_fields.push(owned_path(&path));
                Some(Effect::Changed { removed: false })
            } else {
                Some(Effect::Unchanged)
            }
        }
        Edit::Equivalent(i) => {
            // A quantity written another way (the API server's canonical form).
            let quantities: Vec<Vec<String>> = all
                .iter()
                .filter(|p| {
                    let node = node_mut(&mut live.clone(), p).clone();
                    node == json!("1Gi") || node == json!("500m") || node == json!("10")
                })
                .cloned()
                .collect();
            let path = pick(*i, &quantities)?;
            let node = node_mut(live, &path);
            *node = match node.as_str() {
                Some("1Gi") => json!("1024Mi"),
                Some("500m") => json!("0.5"),
                _ => json!("1e1"),
            };
            Some(Effect::Unchanged)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn drift_is_reported_exactly_when_an_edit_changed_the_object(spec in spec(), edit in edit()) {
        let desired = json!({ "apiVersion": "v1", "kind": "Thing", "metadata": { "name": "t" }, "spec": spec });
        let mut live = desired.clone();
        let mut own_fields = fields_of(&json!({ "spec": desired["spec"] }));
        let mut editor_paths = Vec::new();
        let Some(effect) = apply(&edit, &mut live, &mut own_fields, &mut editor_paths) else {
            return Ok(());
        };
        let editor_fields = editor_paths.iter().fold(json!({}), |mut acc, p| {
            merge(&mut acc, fields_for(p));
            acc
        });
        live["metadata"]["managedFields"] = json!([
            entry(OWN, "Apply", "2026-01-01T00:00:00Z", own_fields),
            entry(EDITOR, "Update", "2026-01-01T00:01:00Z", editor_fields),
        ]);
        let drifts = diff_object(&desired, Some(&live), OWN);
        match effect {
            Effect::Unchanged => prop_assert!(drifts.is_empty(), "{edit:?} changed nothing, yet {drifts:#?}"),
            Effect::Changed { removed } => {
                prop_assert!(!drifts.is_empty(), "{edit:?} changed {live:#} but no drift");
                for drift in &drifts {
                    let expected = if removed { None } else { Some(EDITOR) };
                    prop_assert_eq!(drift.manager.as_deref(), expected, "{:?}", drift);
                }
            }
        }
    }
}

fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (k, v) in patch {
                merge(base.entry(k).or_insert(json!({})), v);
            }
        }
        (slot, value) => *slot = value,
    }
}

proptest! {
    /// `managed_fields_of` reads the entries in place as `serde_json::from_value` of a copy
    /// reads them, entries of the wrong shape included (then none).
    #[test]
    fn managed_fields_are_read_in_place_as_from_a_copy(
        entries in prop::collection::vec(
            (
                prop::sample::select(&[OWN, EDITOR][..]),
                prop::sample::select(&["Apply", "Update"][..]),
                prop::option::of(value()),
                any::<bool>(),
            ),
            0..4,
        ),
    ) {
        let entries: Vec<Value> = entries
            .into_iter()
            .map(|(manager, operation, fields, number)| {
                let mut entry = json!({ "manager": manager, "operation": operation });
                if let Some(fields) = fields {
                    entry["fieldsV1"] = fields;
                }
                if number {
                    // Not a string: the entry, and so the list, does not deserialize.
                    entry["time"] = json!(1);
                }
                entry
            })
            .collect();
        let live = json!({ "metadata": { "managedFields": entries } });
        let copied: Vec<ManagedFieldsEntry> =
            serde_json::from_value(live["metadata"]["managedFields"].clone()).unwrap_or_default();
        prop_assert_eq!(managed_fields_of(&live), copied);
    }
}
