//! Which namespaces a profile selects, and which profile governs a namespace several select.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kube::ResourceExt;

use super::{HardeningProfile, HardeningProfileSpec};

/// Whether `spec` applies to the namespace `name` with `labels`: the selector matches and the
/// namespace is not excluded. A malformed selector (see [`super::validate`]) selects nothing.
pub fn selects(spec: &HardeningProfileSpec, name: &str, labels: &BTreeMap<String, String>) -> bool {
    !spec
        .excluded_namespaces
        .iter()
        .any(|excluded| excluded == name)
        && selector_matches(&spec.namespace_selector, labels)
}

/// Label selector semantics of the API server: `matchLabels` and every `matchExpressions`
/// requirement must hold; `{}` matches everything.
pub(crate) fn selector_matches(
    selector: &LabelSelector,
    labels: &BTreeMap<String, String>,
) -> bool {
    let labels_match = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(key, value)| labels.get(key) == Some(value));
    labels_match
        && selector
            .match_expressions
            .iter()
            .flatten()
            .all(|requirement| requirement_matches(requirement, labels))
}

fn requirement_matches(
    requirement: &LabelSelectorRequirement,
    labels: &BTreeMap<String, String>,
) -> bool {
    let value = labels.get(&requirement.key);
    let values = requirement.values.as_deref().unwrap_or_default();
    match requirement.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        // Fail closed: an unknown operator must not widen what the profile touches.
        _ => false,
    }
}

/// Whether profile `a` takes precedence over `b` for a namespace both select: higher
/// `priority` first, then the alphabetically first name.
pub fn outranks(a: &HardeningProfile, b: &HardeningProfile) -> bool {
    precedence(a, b) == Ordering::Less
}

fn precedence(a: &HardeningProfile, b: &HardeningProfile) -> Ordering {
    b.spec
        .priority
        .cmp(&a.spec.priority)
        .then_with(|| a.name_any().cmp(&b.name_any()))
}

/// The profile that governs a namespace, among the profiles selecting it.
pub fn winner<'a>(
    candidates: impl IntoIterator<Item = &'a HardeningProfile>,
) -> Option<&'a HardeningProfile> {
    candidates.into_iter().min_by(|a, b| precedence(a, b))
}
