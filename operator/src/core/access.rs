//! Who can reach containers past admission: the kubelet's API through the `nodes/proxy`
//! subresource runs commands in any container of a node (its `exec`, `run`, `attach`
//! endpoints) without any admission plugin judging the request, so a subject allowed `get`
//! or `create` on `nodes/proxy` gets around `denyExec` and every other rule. Read from the
//! cluster's ClusterRoles and ClusterRoleBindings (a RoleBinding cannot grant a
//! cluster-scoped resource). The group `system:masters` is left out: it can do anything,
//! admission aside, and is the cluster administrators' own.

use std::collections::BTreeSet;

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule};

/// The verbs that open the kubelet's API through the API server's proxy (`get` alone does:
/// the exec endpoint upgrades a GET to a stream).
const VERBS: [&str; 3] = ["get", "create", "*"];

fn grants_node_proxy(rule: &PolicyRule) -> bool {
    let group = rule
        .api_groups
        .iter()
        .flatten()
        .any(|g| g.is_empty() || g == "*");
    let resource = rule
        .resources
        .iter()
        .flatten()
        .any(|r| r == "nodes/proxy" || r == "nodes/*" || r == "*" || r == "*/proxy");
    let verb = rule.verbs.iter().any(|v| VERBS.contains(&v.as_str()));
    // Rules limited to named nodes still open those nodes.
    group && resource && verb
}

/// Every subject a ClusterRoleBinding gives `nodes/proxy` through its ClusterRole, as
/// `User alice`, `Group ops`, `ServiceAccount ns/name`, sorted; `system:masters` left out.
pub fn node_proxy_subjects<'a>(
    roles: impl IntoIterator<Item = &'a ClusterRole>,
    bindings: impl IntoIterator<Item = &'a ClusterRoleBinding>,
) -> Vec<String> {
    let granting: BTreeSet<&str> = roles
        .into_iter()
        .filter(|role| role.rules.iter().flatten().any(grants_node_proxy))
        .filter_map(|role| role.metadata.name.as_deref())
        .collect();
    let mut subjects = BTreeSet::new();
    for binding in bindings {
        if binding.role_ref.kind != "ClusterRole"
            || !granting.contains(binding.role_ref.name.as_str())
        {
            continue;
        }
        for subject in binding.subjects.iter().flatten() {
            if subject.kind == "Group" && subject.name == "system:masters" {
                continue;
            }
            subjects.insert(match subject.kind.as_str() {
                "ServiceAccount" => format!(
                    "ServiceAccount {}/{}",
                    subject.namespace.as_deref().unwrap_or_default(),
                    subject.name
                ),
                kind => format!("{kind} {}", subject.name),
            });
        }
    }
    subjects.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn role(name: &str, rules: serde_json::Value) -> ClusterRole {
        serde_json::from_value(json!({"metadata": {"name": name}, "rules": rules})).unwrap()
    }

    fn binding(role: &str, subjects: serde_json::Value) -> ClusterRoleBinding {
        serde_json::from_value(json!({
            "metadata": {"name": format!("{role}-binding")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": subjects
        }))
        .unwrap()
    }

    #[test]
    fn subjects_bound_to_node_proxy_are_found_whatever_the_rule_looks_like() {
        let roles = [
            role(
                "kubelet-api",
                json!([{"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]}]),
            ),
            role(
                "everything",
                json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
            ),
            role(
                "node-sub",
                json!([{"apiGroups": [""], "resources": ["nodes/*"], "verbs": ["create"]}]),
            ),
            role(
                "nodes-only",
                json!([{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]}]),
            ),
            role(
                "proxy-list",
                json!([{"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["list"]}]),
            ),
        ];
        let bindings = [
            binding("kubelet-api", json!([{"kind": "User", "name": "alice"}])),
            binding(
                "everything",
                json!([{"kind": "Group", "name": "system:masters"},
                                          {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"}]),
            ),
            binding("node-sub", json!([{"kind": "Group", "name": "ops"}])),
            binding("nodes-only", json!([{"kind": "User", "name": "bob"}])),
            binding("proxy-list", json!([{"kind": "User", "name": "carol"}])),
        ];
        assert_eq!(
            node_proxy_subjects(&roles, &bindings),
            ["Group ops", "ServiceAccount tools/ci", "User alice"]
        );
    }
}
