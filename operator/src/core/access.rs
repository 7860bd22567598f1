//! Who may read Secrets (`status.secretReaders`, profiles with credential guardrails: BSI
//! SYS.1.6 (2023) A8, APP.4.4 (2023) A9): the subjects a ClusterRoleBinding gives `get`,
//! `list` or `watch` on Secrets everywhere, and per namespace those its RoleBindings give it.
//!
//! Who can reach containers past admission: the kubelet's API through the `nodes/proxy`
//! subresource runs commands in any container of a node (its `exec`, `run`, `attach`
//! endpoints) without any admission plugin judging the request, so a subject allowed `get`
//! or `create` on `nodes/proxy` gets around `denyExec` and every other rule. Read from the
//! cluster's ClusterRoles and ClusterRoleBindings (a RoleBinding cannot grant a
//! cluster-scoped resource). The group `system:masters` is left out: it can do anything,
//! admission aside, and is the cluster administrators' own.

use std::collections::BTreeSet;

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, Subject,
};

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
    cluster_subjects(roles, bindings, grants_node_proxy)
}

/// The subjects ClusterRoleBindings bind to a ClusterRole with a rule that `grants`,
/// sorted; `system:masters` left out.
fn cluster_subjects<'a>(
    roles: impl IntoIterator<Item = &'a ClusterRole>,
    bindings: impl IntoIterator<Item = &'a ClusterRoleBinding>,
    grants: fn(&PolicyRule) -> bool,
) -> Vec<String> {
    let granting: BTreeSet<&str> = roles
        .into_iter()
        .filter(|role| role.rules.iter().flatten().any(grants))
        .filter_map(|role| role.metadata.name.as_deref())
        .collect();
    let mut subjects = BTreeSet::new();
    for binding in bindings {
        if binding.role_ref.kind != "ClusterRole"
            || !granting.contains(binding.role_ref.name.as_str())
        {
            continue;
        }
        for s in binding.subjects.iter().flatten() {
            if !(s.kind == "Group" && s.name == "system:masters") {
                subjects.insert(subject(s, None));
            }
        }
    }
    subjects.into_iter().collect()
}

/// `Kind name` of a binding's subject, as the status lists it (`ServiceAccount ns/name`;
/// a RoleBinding's service account without a namespace is in the binding's).
fn subject(subject: &Subject, binding_namespace: Option<&str>) -> String {
    match subject.kind.as_str() {
        "ServiceAccount" => format!(
            "ServiceAccount {}/{}",
            subject
                .namespace
                .as_deref()
                .filter(|n| !n.is_empty())
                .or(binding_namespace)
                .unwrap_or_default(),
            subject.name
        ),
        kind => format!("{kind} {}", subject.name),
    }
}

/// The verbs that read a Secret's content: `get`, and `list` and `watch`, which return every
/// Secret whole.
const READ_VERBS: [&str; 4] = ["get", "list", "watch", "*"];

/// Whether `rule` lets read Secrets (some of them, with `resourceNames`).
fn grants_secret_read(rule: &PolicyRule) -> bool {
    let group = rule
        .api_groups
        .iter()
        .flatten()
        .any(|g| g.is_empty() || g == "*");
    let resource = rule
        .resources
        .iter()
        .flatten()
        .any(|r| r == "secrets" || r == "*");
    let verb = rule.verbs.iter().any(|v| READ_VERBS.contains(&v.as_str()));
    group && resource && verb
}

/// Who may read Secrets in every namespace: the subjects a ClusterRoleBinding binds to a
/// ClusterRole that allows it, sorted; `system:masters` left out (as for `nodes/proxy`).
pub fn cluster_secret_readers<'a>(
    roles: impl IntoIterator<Item = &'a ClusterRole>,
    bindings: impl IntoIterator<Item = &'a ClusterRoleBinding>,
) -> Vec<String> {
    cluster_subjects(roles, bindings, grants_secret_read)
}

/// Who may read Secrets in one namespace through its RoleBindings (to a Role of the namespace
/// or a ClusterRole that allows it), sorted. `roles` are the namespace's Roles,
/// `cluster_roles` every ClusterRole, `bindings` the namespace's RoleBindings.
pub fn namespace_secret_readers<'a>(
    roles: impl IntoIterator<Item = &'a Role>,
    cluster_roles: impl IntoIterator<Item = &'a ClusterRole>,
    bindings: impl IntoIterator<Item = &'a RoleBinding>,
) -> Vec<String> {
    let roles: BTreeSet<&str> = roles
        .into_iter()
        .filter(|role| role.rules.iter().flatten().any(grants_secret_read))
        .filter_map(|role| role.metadata.name.as_deref())
        .collect();
    let cluster_roles: BTreeSet<&str> = cluster_roles
        .into_iter()
        .filter(|role| role.rules.iter().flatten().any(grants_secret_read))
        .filter_map(|role| role.metadata.name.as_deref())
        .collect();
    let mut subjects = BTreeSet::new();
    for binding in bindings {
        let name = binding.role_ref.name.as_str();
        let granting = match binding.role_ref.kind.as_str() {
            "Role" => roles.contains(name),
            "ClusterRole" => cluster_roles.contains(name),
            _ => false,
        };
        if !granting {
            continue;
        }
        for s in binding.subjects.iter().flatten() {
            if !(s.kind == "Group" && s.name == "system:masters") {
                subjects.insert(subject(s, binding.metadata.namespace.as_deref()));
            }
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

    #[test]
    fn secret_readers_through_cluster_and_namespace_bindings() {
        let cluster_roles = [
            role(
                "secret-reader",
                json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]),
            ),
            role(
                "everything",
                json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
            ),
            role(
                "secret-writer",
                json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "delete"]}]),
            ),
            role(
                "configmaps",
                json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]),
            ),
        ];
        let cluster_bindings = [
            binding(
                "secret-reader",
                json!([{"kind": "User", "name": "auditor"}]),
            ),
            binding(
                "everything",
                json!([{"kind": "Group", "name": "system:masters"}]),
            ),
            binding("secret-writer", json!([{"kind": "User", "name": "writer"}])),
        ];
        assert_eq!(
            cluster_secret_readers(&cluster_roles, &cluster_bindings),
            ["User auditor"]
        );
        let roles: Vec<Role> = vec![
            serde_json::from_value(json!({"metadata": {"name": "db", "namespace": "shop"},
                "rules": [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["db"], "verbs": ["get"]}]}))
            .unwrap(),
            serde_json::from_value(json!({"metadata": {"name": "pods", "namespace": "shop"},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}))
            .unwrap(),
        ];
        let role_binding =
            |name: &str, kind: &str, role: &str, subjects: serde_json::Value| -> RoleBinding {
                serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "shop"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
                "subjects": subjects,
            }))
            .unwrap()
            };
        let bindings = [
            role_binding(
                "app-db",
                "Role",
                "db",
                json!([{"kind": "ServiceAccount", "name": "app"}]),
            ),
            role_binding(
                "viewer",
                "Role",
                "pods",
                json!([{"kind": "User", "name": "viewer"}]),
            ),
            role_binding(
                "admin",
                "ClusterRole",
                "everything",
                json!([{"kind": "Group", "name": "shop-admins"}]),
            ),
            role_binding(
                "writer",
                "ClusterRole",
                "secret-writer",
                json!([{"kind": "User", "name": "ci"}]),
            ),
        ];
        assert_eq!(
            namespace_secret_readers(&roles, &cluster_roles, &bindings),
            ["Group shop-admins", "ServiceAccount shop/app"]
        );
    }
}
