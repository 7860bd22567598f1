//! Which namespaces a profile selects, and which profile governs a namespace several select.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kube::ResourceExt;

use super::{HardeningProfile, HardeningProfileSpec};

/// Namespaces no profile may touch, whatever it selects.
pub const SYSTEM_NAMESPACES: [&str; 3] = ["kube-system", "kube-public", "kube-node-lease"];

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

/// Whether a profile applies to a namespace, and if not, why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    Selected,
    /// The namespace is being deleted; the operator leaves it be.
    Terminating,
    /// kube-system, kube-public or kube-node-lease.
    SystemNamespace,
    /// Listed in `--excluded-namespaces`.
    ExcludedByOperator,
    /// Listed in the profile's `spec.excludedNamespaces`.
    ExcludedByProfile,
    /// The profile's `spec.namespaceSelector` does not match the namespace's labels.
    NotMatching,
}

/// Whether `spec` applies to `namespace`, decided as the controller decides it (operator
/// exclusions first, then [`selects`]).
pub fn selection(
    spec: &HardeningProfileSpec,
    namespace: &Namespace,
    excluded: &BTreeSet<String>,
) -> Selection {
    let name = namespace.metadata.name.as_deref().unwrap_or_default();
    let no_labels = BTreeMap::new();
    let labels = namespace.metadata.labels.as_ref().unwrap_or(&no_labels);
    if namespace.metadata.deletion_timestamp.is_some() {
        Selection::Terminating
    } else if SYSTEM_NAMESPACES.contains(&name) {
        Selection::SystemNamespace
    } else if excluded.contains(name) {
        Selection::ExcludedByOperator
    } else if selects(spec, name, labels) {
        Selection::Selected
    } else if spec.excluded_namespaces.iter().any(|n| n == name) {
        Selection::ExcludedByProfile
    } else {
        Selection::NotMatching
    }
}

impl Selection {
    /// `namespace team-b: not selected: ...`; `None` when selected.
    pub fn note(self, namespace: &str) -> Option<String> {
        let why = match self {
            Self::Selected => return None,
            Self::Terminating => "it is being deleted",
            Self::SystemNamespace => {
                "a system namespace (kube-system, kube-public and kube-node-lease are never hardened)"
            }
            Self::ExcludedByOperator => "excluded by --excluded-namespaces",
            Self::ExcludedByProfile => "excluded by the profile (spec.excludedNamespaces)",
            Self::NotMatching => "its labels do not match the profile's spec.namespaceSelector",
        };
        Some(format!("namespace {namespace}: not selected: {why}"))
    }
}
