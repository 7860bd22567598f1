//! A profile manifest checked as the API server checks it against the CRD's structural
//! schema before any CEL rule: unknown fields (as `kubectl apply` sends them, with strict
//! field validation), JSON types, required fields, enums, lengths, sizes, ranges, set and
//! map lists without duplicates, and the pattern rules the CRD carries
//! (`self.matches(r'...')`, [`crate::core::crd::PATTERN_MESSAGES`]). The schema is the CRD
//! itself, generated from the Rust types, so this check cannot drift from what the API
//! server enforces. The CRD's other CEL rules are [`super::validate`]'s to repeat, in Rust,
//! on the typed profile: [`check_manifest`] runs both, in the API server's order (CEL only
//! once the schema passes). The operator runs [`super::validate`] on every stored profile;
//! `render` and `diff` run [`check_manifest`] on files, so they refuse what `kubectl apply`
//! refuses.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::resource_names::is_dns_subdomain;
use super::validation::{label_key_problem, label_value_problem};
use super::{HardeningProfile, ValidationError, validate};
use crate::core::fieldpath::{child, index, key};
use crate::core::plural::count;

/// The CRD's schema of a HardeningProfile, finished as the API server gets it.
fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let crd = serde_json::to_value(crate::core::crd::crd()).expect("a CRD serializes");
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
    })
}

/// The CRD's schema of a HardeningException, finished as the API server gets it.
fn exception_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let crd =
            serde_json::to_value(crate::core::crd::exception_crd()).expect("a CRD serializes");
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
    })
}

/// The compiled pattern rules of the schema, by their CEL text.
fn pattern_rule(rule: &str) -> Option<&'static regex::Regex> {
    static RULES: OnceLock<Vec<(String, regex::Regex)>> = OnceLock::new();
    let rules = RULES.get_or_init(|| {
        crate::core::crd::PATTERN_MESSAGES
            .iter()
            .map(|(pattern, _)| {
                (
                    format!("self.matches(r'{pattern}')"),
                    regex::Regex::new(pattern).expect("the schema's patterns compile"),
                )
            })
            .collect()
    });
    rules
        .iter()
        .find(|(text, _)| text == rule)
        .map(|(_, re)| re)
}

/// A profile manifest (as JSON: the whole object, `apiVersion` to `spec`) checked as the API
/// server checks it on `kubectl apply`: the structural schema first, and only when that
/// passes the typed profile with [`validate`]. Every problem, in field order; the profile
/// when there is none. `status` is left out, as the API server drops it on create.
pub fn check_manifest(manifest: &Value) -> Result<HardeningProfile, Vec<ValidationError>> {
    check_typed(schema(), manifest, "a HardeningProfile", validate)
}

/// A HardeningException manifest checked as [`check_manifest`] checks a profile: the CRD's
/// structural schema, then [`super::validate_exception`] (the CRD's rules, label selectors,
/// dates). Whether its expiry lies in the future and within the operator's bound is judged
/// at a given time (`core::exceptions::judge`).
pub fn check_exception_manifest(
    manifest: &Value,
) -> Result<super::HardeningException, Vec<ValidationError>> {
    check_typed(
        exception_schema(),
        manifest,
        "a HardeningException",
        super::validate_exception,
    )
}

fn check_typed<T: serde::de::DeserializeOwned>(
    schema: &Value,
    manifest: &Value,
    what: &str,
    validate: fn(&T) -> Result<(), Vec<ValidationError>>,
) -> Result<T, Vec<ValidationError>> {
    let mut manifest = manifest.clone();
    let mut errors = Errors::default();
    if let Some(object) = manifest.as_object_mut() {
        object.remove("status");
        check_metadata(object.get("metadata"), &mut errors);
        let mut rest: Map<String, Value> = object.clone();
        rest.remove("metadata");
        let mut rest = Value::Object(rest);
        check(schema, &mut rest, "", &mut errors, Place::Root);
        if let Value::Object(rest) = rest {
            for (k, v) in rest {
                object.insert(k, v);
            }
        }
    } else {
        errors.push(
            "",
            format!("must be a mapping, not {}", describe(&manifest)),
        );
    }
    // Like the API server, the rules run on whatever the schema let through, so one pass
    // reports both; a field the schema already blames is not blamed twice.
    let typed = serde_json::from_value::<T>(manifest);
    let mut problems = errors.0;
    match typed {
        Ok(object) => {
            if let Err(rule_errors) = validate(&object) {
                let blamed: Vec<String> = problems.iter().map(|e| e.field.clone()).collect();
                problems.extend(
                    rule_errors
                        .into_iter()
                        .filter(|e| !blamed.iter().any(|b| overlaps(b, &e.field))),
                );
            }
            if problems.is_empty() {
                return Ok(object);
            }
        }
        Err(e) if problems.is_empty() => problems.push(ValidationError {
            field: "spec".to_owned(),
            message: format!("cannot be read as {what}: {e}"),
        }),
        Err(_) => {}
    }
    Err(problems)
}

#[derive(Default)]
struct Errors(Vec<ValidationError>);

impl Errors {
    fn push(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(ValidationError {
            field: field.to_owned(),
            message: message.into(),
        });
    }
}

/// Whether one field path lies within the other (or they are the same).
fn overlaps(a: &str, b: &str) -> bool {
    let within = |outer: &str, inner: &str| {
        inner
            .strip_prefix(outer)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
    };
    within(a, b) || within(b, a)
}

/// Where a schema node sits: the root object (whose `metadata` is checked apart) or below.
#[derive(Clone, Copy, PartialEq)]
enum Place {
    Root,
    Below,
}

/// The fields of ObjectMeta a manifest may carry.
const METADATA_FIELDS: [&str; 15] = [
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// The API server's checks of `metadata` that concern a manifest: known fields, a name that
/// is a DNS subdomain, labels and annotations that are valid keys and values.
fn check_metadata(metadata: Option<&Value>, errors: &mut Errors) {
    let Some(metadata) = metadata else {
        errors.push("metadata.name", "is required");
        return;
    };
    let Some(metadata) = metadata.as_object() else {
        errors.push(
            "metadata",
            format!("must be a mapping, not {}", describe(metadata)),
        );
        return;
    };
    for field in metadata.keys() {
        if !METADATA_FIELDS.contains(&field.as_str()) {
            errors.push(
                &child("metadata", field),
                unknown(field, "metadata", &METADATA_FIELDS),
            );
        }
    }
    match metadata.get("name") {
        None | Some(Value::Null) => errors.push("metadata.name", "is required"),
        Some(Value::String(name)) if !is_dns_subdomain(name) => errors.push(
            "metadata.name",
            format!(
                "{name:?} is not a valid name: lower case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters"
            ),
        ),
        Some(Value::String(_)) => {}
        Some(other) => errors.push(
            "metadata.name",
            format!("must be text, not {}", describe(other)),
        ),
    }
    for (field, values) in [("labels", true), ("annotations", false)] {
        let path = child("metadata", field);
        match metadata.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                for (k, v) in map {
                    let here = key(&path, k);
                    if let Some(problem) = label_key_problem(k) {
                        errors.push(&here, problem);
                    }
                    match v {
                        Value::String(text) if values => {
                            if let Some(problem) = label_value_problem(text) {
                                errors.push(
                                    &here,
                                    format!("invalid label value {text:?}: {problem}"),
                                );
                            }
                        }
                        Value::String(_) => {}
                        other => errors.push(
                            &here,
                            format!("must be text (quote it), not {}", describe(other)),
                        ),
                    }
                }
            }
            Some(other) => {
                errors.push(&path, format!("must be a mapping, not {}", describe(other)))
            }
        }
    }
}

/// Checks `value` against `node`, removing what the API server prunes (a `null` where the
/// schema does not allow one) and turning whole floating-point numbers into integers, as
/// the API server reads them.
fn check(node: &Value, value: &mut Value, path: &str, errors: &mut Errors, place: Place) -> bool {
    let int_or_string = node["x-kubernetes-int-or-string"] == Value::Bool(true);
    if let Value::Number(n) = value
        && n.as_i64().is_none()
        && n.as_u64().is_none()
        && let Some(f) = n.as_f64()
        && f.fract() == 0.0
        && f.abs() < 9.0e15
    {
        *value = Value::from(f as i64);
    }
    let expected = node["type"].as_str();
    let type_ok = if int_or_string {
        value.is_string() || value.is_i64() || value.is_u64()
    } else {
        match expected {
            Some("object") => value.is_object(),
            Some("array") => value.is_array(),
            Some("string") => value.is_string(),
            Some("integer") => value.is_i64() || value.is_u64(),
            Some("number") => value.is_number(),
            Some("boolean") => value.is_boolean(),
            _ => true,
        }
    };
    if !type_ok {
        let wanted = if int_or_string {
            match value {
                Value::Number(n) => {
                    errors.push(
                        path,
                        format!("must be a whole number or text: write {n} in quotes, \"{n}\""),
                    );
                    return false;
                }
                _ => "a whole number or text, such as 10 or 500m".to_owned(),
            }
        } else {
            match expected {
                Some("object") => "a mapping".to_owned(),
                Some("array") => "a list".to_owned(),
                Some("string") => match value {
                    Value::Number(_) | Value::Bool(_) => {
                        errors.push(
                            path,
                            format!("must be text: write {value} in quotes, \"{value}\""),
                        );
                        return false;
                    }
                    _ => "text".to_owned(),
                },
                Some("integer") => "a whole number".to_owned(),
                Some("number") => "a number".to_owned(),
                Some("boolean") => "true or false".to_owned(),
                _ => "something else".to_owned(),
            }
        };
        errors.push(path, format!("must be {wanted}, not {}", describe(value)));
        return false;
    }
    if let Some(allowed) = node["enum"].as_array()
        && !allowed.contains(value)
    {
        let names: Vec<String> = allowed.iter().map(plain).collect();
        errors.push(
            path,
            format!(
                "must be one of {}, not {}",
                names.join(", "),
                describe(value)
            ),
        );
        return false;
    }
    match value {
        Value::String(text) => check_string(node, text, path, errors),
        Value::Number(_) => check_number(node, value, path, errors),
        Value::Array(items) => check_array(node, items, path, errors),
        Value::Object(map) => check_object(node, map, path, errors, place),
        _ => {}
    }
    true
}

fn check_string(node: &Value, text: &str, path: &str, errors: &mut Errors) {
    let chars = text.chars().count();
    if let Some(max) = node["maxLength"].as_u64()
        && chars as u64 > max
    {
        errors.push(
            path,
            format!(
                "must be at most {} long, not {chars}",
                count(max as usize, "character")
            ),
        );
    }
    if let Some(min) = node["minLength"].as_u64()
        && (chars as u64) < min
    {
        errors.push(
            path,
            format!("must be at least {} long", count(min as usize, "character")),
        );
    }
    for rule in node["x-kubernetes-validations"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(re) = rule["rule"].as_str().and_then(pattern_rule)
            && !re.is_match(text)
        {
            errors.push(
                path,
                format!(
                    "{text:?} {}",
                    rule["message"].as_str().unwrap_or("is not valid")
                ),
            );
        }
    }
}

fn check_number(node: &Value, value: &Value, path: &str, errors: &mut Errors) {
    let Some(n) = value.as_f64() else { return };
    let (min, max) = (node["minimum"].as_f64(), node["maximum"].as_f64());
    let number = |f: f64| format!("{}", f as i64);
    let out_of_range = min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m);
    if out_of_range {
        let bounds = match (min, max) {
            (Some(lo), Some(hi)) => format!("between {} and {}", number(lo), number(hi)),
            (Some(lo), None) => format!("at least {}", number(lo)),
            (None, Some(hi)) => format!("at most {}", number(hi)),
            (None, None) => unreachable!(),
        };
        errors.push(path, format!("must be {bounds}, not {value}"));
        return;
    }
    // What the operator's integer types hold (the API server itself does not check formats).
    let range = match node["format"].as_str() {
        Some("int32") => Some((i32::MIN as f64, i32::MAX as f64)),
        Some("int64") => Some((i64::MIN as f64, i64::MAX as f64)),
        _ => None,
    };
    if let Some((lo, hi)) = range
        && (n < lo || n > hi)
    {
        errors.push(
            path,
            format!(
                "must be a whole number between {} and {}, not {value}",
                number(lo),
                number(hi)
            ),
        );
    }
}

fn check_array(node: &Value, items: &mut Vec<Value>, path: &str, errors: &mut Errors) {
    let len = items.len();
    if let Some(max) = node["maxItems"].as_u64()
        && len as u64 > max
    {
        errors.push(
            path,
            format!(
                "must hold at most {}, not {len}",
                count(max as usize, "entry")
            ),
        );
    }
    if let Some(min) = node["minItems"].as_u64()
        && (len as u64) < min
    {
        errors.push(
            path,
            format!("must hold at least {}", count(min as usize, "entry")),
        );
    }
    let item_schema = &node["items"];
    let mut keep = Vec::with_capacity(len);
    for (i, item) in items.iter_mut().enumerate() {
        if item.is_null() && item_schema["nullable"] != Value::Bool(true) {
            errors.push(&index(path, i), "must not be empty (null)");
            keep.push(false);
            continue;
        }
        keep.push(check(
            item_schema,
            item,
            &index(path, i),
            errors,
            Place::Below,
        ));
    }
    match node["x-kubernetes-list-type"].as_str() {
        Some("set") => {
            for i in 0..len {
                if let Some(first) = (0..i).find(|&j| items[j] == items[i]) {
                    errors.push(
                        &index(path, i),
                        format!(
                            "{} is listed twice (first at {})",
                            plain(&items[i]),
                            index(path, first)
                        ),
                    );
                }
            }
        }
        Some("map") => {
            let keys: Vec<&str> = node["x-kubernetes-list-map-keys"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let key_of =
                |item: &Value| -> Vec<Value> { keys.iter().map(|k| item[*k].clone()).collect() };
            for i in 0..len {
                if let Some(first) = (0..i).find(|&j| key_of(&items[j]) == key_of(&items[i])) {
                    let described: Vec<String> = keys
                        .iter()
                        .map(|k| format!("{k} {}", plain(&items[i][*k])))
                        .collect();
                    errors.push(
                        &index(path, i),
                        format!(
                            "{} is listed twice (first at {})",
                            described.join(", "),
                            index(path, first)
                        ),
                    );
                }
            }
        }
        _ => {}
    }
    let mut keep = keep.into_iter();
    items.retain(|_| keep.next().unwrap_or(true));
}

fn check_object(
    node: &Value,
    map: &mut Map<String, Value>,
    path: &str,
    errors: &mut Errors,
    place: Place,
) {
    let properties = node["properties"].as_object();
    let additional = node.get("additionalProperties").filter(|a| a.is_object());
    // A null where the schema has no `nullable` is pruned, and the field then defaulted.
    let schema_of =
        |field: &str| -> Option<&Value> { properties.and_then(|p| p.get(field)).or(additional) };
    map.retain(|field, value| {
        !(value.is_null() && schema_of(field).is_some_and(|s| s["nullable"] != Value::Bool(true)))
    });
    let len = map.len();
    if let Some(max) = node["maxProperties"].as_u64()
        && len as u64 > max
    {
        errors.push(
            path,
            format!(
                "must hold at most {}, not {len}",
                count(max as usize, "entry")
            ),
        );
    }
    if let Some(min) = node["minProperties"].as_u64()
        && (len as u64) < min
    {
        errors.push(
            path,
            format!("must hold at least {}", count(min as usize, "entry")),
        );
    }
    for required in node["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !map.contains_key(required) {
            errors.push(&child(path, required), "is required");
        }
    }
    let known: Vec<&str> = properties
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let preserve = node["x-kubernetes-preserve-unknown-fields"] == Value::Bool(true);
    let mut ill_typed = Vec::new();
    for (field, value) in map.iter_mut() {
        if place == Place::Root && ["metadata", "apiVersion", "kind"].contains(&field.as_str()) {
            continue;
        }
        let keep = match properties.and_then(|p| p.get(field)) {
            Some(schema) => check(schema, value, &child(path, field), errors, Place::Below),
            None => match additional {
                Some(schema) => check(schema, value, &key(path, field), errors, Place::Below),
                None if preserve => true,
                None => {
                    let parent = if path.is_empty() {
                        "the manifest"
                    } else {
                        path
                    };
                    errors.push(&child(path, field), unknown(field, parent, &known));
                    false
                }
            },
        };
        if !keep {
            ill_typed.push(field.clone());
        }
    }
    // The typed copy, on which the rules run, goes on without what cannot be read.
    for field in ill_typed {
        map.remove(&field);
    }
}

/// `unknown field: spec has no podSecurty (did you mean podSecurity?)`.
fn unknown(field: &str, parent: &str, known: &[&str]) -> String {
    let closest = known
        .iter()
        .map(|k| (distance(&field.to_lowercase(), &k.to_lowercase()), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min();
    match closest {
        Some((_, k)) => format!("unknown field: {parent} has no {field} (did you mean {k}?)"),
        None => {
            let fields: BTreeSet<&str> = known.iter().copied().collect();
            format!(
                "unknown field: {parent} has no {field}; its fields are {}",
                fields.into_iter().collect::<Vec<_>>().join(", ")
            )
        }
    }
}

/// Edit distance (insertions, deletions, substitutions, adjacent swaps).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// A value as written in YAML, for lists of allowed values: `Enforce`, `10`.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What a value is, for messages: `the text "high"`, `the number 1.5`, `a list`.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "empty (null)".to_owned(),
        Value::Bool(b) => format!("{b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the text {s:?}"),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "a mapping".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn manifest(spec: Value) -> Value {
        json!({
            "apiVersion": "hardening.dev/v1alpha1",
            "kind": "HardeningProfile",
            "metadata": { "name": "p" },
            "spec": spec,
        })
    }

    fn problems(spec: Value) -> Vec<String> {
        match check_manifest(&manifest(spec)) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_valid_profile_passes_and_parses() {
        let profile = check_manifest(&manifest(json!({
            "namespaceSelector": {},
            "podSecurity": { "enforce": { "level": "restricted" } },
            "resourceQuota": { "hard": { "pods": 10, "cpu": "2" } },
            "guardrails": { "allowedRegistries": ["registry.example.com/team"] },
        })))
        .unwrap();
        assert_eq!(profile.metadata.name.as_deref(), Some("p"));
    }

    #[test]
    fn misspelt_fields_are_named_with_the_likely_one() {
        assert_eq!(
            problems(json!({
                "namespaceSelector": {},
                "podSecurty": { "enforce": { "level": "restricted" } },
            })),
            vec![
                "spec.podSecurty: unknown field: spec has no podSecurty (did you mean podSecurity?)"
            ]
        );
        assert_eq!(
            problems(json!({ "namespaceSelector": {}, "networkPolicy": { "allowDNS": false } })),
            vec![
                "spec.networkPolicy.allowDNS: unknown field: spec.networkPolicy has no allowDNS (did you mean allowDns?)"
            ]
        );
        let far = problems(json!({ "namespaceSelector": {}, "zzz": 1 }));
        assert!(
            far[0].starts_with(
                "spec.zzz: unknown field: spec has no zzz; its fields are apparmor, cleanupPolicy, "
            ),
            "{far:?}"
        );
    }

    #[test]
    fn patterns_types_enums_and_ranges_are_said_in_words() {
        assert_eq!(
            problems(json!({
                "namespaceSelector": {},
                "mode": "Sometimes",
                "priority": "high",
                "guardrails": { "allowedRegistries": ["Registry.example.com/"] },
                "podSecurity": { "enforce": { "level": "restricted", "version": "v1.033" } },
                "resourceQuota": { "hard": { "cpu": 0.5 } },
            })),
            vec![
                format!("spec.guardrails.allowedRegistries[0]: \"Registry.example.com/\" {}", crate::core::crd::pattern_message(super::super::REGISTRY_PATTERN).unwrap()),
                "spec.mode: must be one of Enforce, Audit, not the text \"Sometimes\"".to_owned(),
                format!("spec.podSecurity.enforce.version: \"v1.033\" {}", crate::core::crd::pattern_message(super::super::POD_SECURITY_VERSION_PATTERN).unwrap()),
                "spec.priority: must be a whole number, not the text \"high\"".to_owned(),
                "spec.resourceQuota.hard[\"cpu\"]: must be a whole number or text: write 0.5 in quotes, \"0.5\"".to_owned(),
            ]
        );
        assert_eq!(
            problems(json!({ "namespaceSelector": {}, "priority": 5000 })),
            vec!["spec.priority: must be between -1000 and 1000, not 5000"]
        );
    }

    #[test]
    fn sets_and_required_fields_and_metadata() {
        assert_eq!(
            problems(json!({ "networkPolicy": { "defaultDeny": ["Ingress", "Ingress"] } })),
            vec![
                "spec.namespaceSelector: is required",
                "spec.networkPolicy.defaultDeny[1]: Ingress is listed twice (first at spec.networkPolicy.defaultDeny[0])",
            ]
        );
        let mut bad = manifest(json!({ "namespaceSelector": {} }));
        bad["metadata"] = json!({ "name": "Bad_Name", "labels": { "a b": "x" }, "lables": {} });
        let errors: Vec<String> = check_manifest(&bad)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[0].starts_with(
                "metadata.lables: unknown field: metadata has no lables (did you mean labels?)"
            ),
            "{errors:?}"
        );
        assert!(
            errors[1].starts_with("metadata.name: \"Bad_Name\" is not a valid name"),
            "{errors:?}"
        );
        assert!(
            errors[2].starts_with("metadata.labels[\"a b\"]: invalid label key"),
            "{errors:?}"
        );
    }

    #[test]
    fn nulls_are_pruned_where_the_api_server_prunes_them() {
        // `mode: null` is pruned and defaulted; a null selector is pruned, then missing.
        assert!(problems(json!({ "namespaceSelector": {}, "mode": null })).is_empty());
        assert_eq!(
            problems(json!({ "namespaceSelector": null })),
            vec!["spec.namespaceSelector: is required"]
        );
    }

    #[test]
    fn rules_are_checked_beside_the_schema_as_in_the_api_server() {
        // The rule (podSecurity needs a mode) is reported together with a schema error
        // elsewhere; the ill-typed field is left out of the typed copy the rules read.
        let errors =
            problems(json!({ "namespaceSelector": {}, "podSecurity": {}, "priority": "x" }));
        assert_eq!(
            errors,
            vec![
                "spec.priority: must be a whole number, not the text \"x\"",
                "spec.podSecurity: must set at least one of enforce, audit or warn",
            ]
        );
    }
}
