//! What a profile's Enforce mode left in a namespace that still acts after a switch to Audit
//! mode. Audit mode writes nothing into namespaces, and removes nothing either: taking the
//! Pod Security labels and NetworkPolicies away at the moment of a switch would open the
//! namespaces at once. So it reports, per namespace, what is still enforced there: the Pod
//! Security `enforce` label the operator set, and the objects it generated for the profile.

use kube::ResourceExt;
use kube::api::DynamicObject;

use crate::core::labels::{FIELD_MANAGER, PROFILE_LABEL, pod_security};
use crate::core::ownership::NamespaceView;
use crate::core::plan::applied_by_operator;

/// What of `profile`'s Enforce mode still acts in `namespace` (`objects`: its objects of the
/// generated kinds), one short line each: `Pod Security enforce restricted:latest`,
/// `NetworkPolicy hardening-default-deny`.
pub fn left_enforcing(
    profile: &str,
    namespace: &impl NamespaceView,
    objects: &[(&'static str, &DynamicObject)],
) -> Vec<String> {
    let mut found = Vec::new();
    let owned = namespace.owned_paths(FIELD_MANAGER);
    let ours = |key: &str| {
        owned.contains(&vec![
            "metadata".to_owned(),
            "labels".to_owned(),
            key.to_owned(),
        ])
    };
    let labels = namespace.labels();
    if let Some(level) = labels.get(pod_security::ENFORCE)
        && ours(pod_security::ENFORCE)
    {
        let version = labels
            .get(pod_security::ENFORCE_VERSION)
            .map_or("latest", String::as_str);
        found.push(format!("Pod Security enforce {level}:{version}"));
    }
    let mut generated: Vec<String> = objects
        .iter()
        .filter(|(_, object)| {
            applied_by_operator(object)
                && object.labels().get(PROFILE_LABEL).map(String::as_str) == Some(profile)
        })
        .map(|(kind, object)| format!("{kind} {}", object.name_any()))
        .collect();
    generated.sort();
    found.extend(generated);
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Namespace;
    use serde_json::json;

    fn namespace(managed_by_operator: bool) -> Namespace {
        let manager = if managed_by_operator {
            FIELD_MANAGER
        } else {
            "kubectl"
        };
        serde_json::from_value(json!({
            "metadata": {
                "name": "shop",
                "labels": {
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                },
                "managedFields": [{
                    "manager": manager, "operation": "Apply", "apiVersion": "v1",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:metadata": {"f:labels": {
                        "f:pod-security.kubernetes.io/enforce": {},
                        "f:pod-security.kubernetes.io/enforce-version": {}}}}
                }]
            }
        }))
        .unwrap()
    }

    fn object(kind: &str, name: &str, profile: &str, manager: &str) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": kind,
            "metadata": {"name": name, "namespace": "shop", "labels": {PROFILE_LABEL: profile},
                         "managedFields": [{"manager": manager, "operation": "Apply"}]}
        }))
        .unwrap()
    }

    #[test]
    fn what_the_operator_set_for_the_profile_is_still_enforced() {
        let deny = object(
            "NetworkPolicy",
            "hardening-default-deny",
            "p",
            FIELD_MANAGER,
        );
        let quota = object("ResourceQuota", "hardening-quota", "p", FIELD_MANAGER);
        let other_profile = object("LimitRange", "hardening-limits", "q", FIELD_MANAGER);
        let tenant = object("NetworkPolicy", "allow-web", "p", "kubectl");
        let objects = [
            ("ResourceQuota", &quota),
            ("NetworkPolicy", &deny),
            ("LimitRange", &other_profile),
            ("NetworkPolicy", &tenant),
        ];
        assert_eq!(
            left_enforcing("p", &namespace(true), &objects),
            [
                "Pod Security enforce restricted:latest",
                "NetworkPolicy hardening-default-deny",
                "ResourceQuota hardening-quota"
            ]
        );
        // A label someone else set is theirs, not what Enforce mode left.
        assert!(left_enforcing("p", &namespace(false), &[]).is_empty());
    }
}
