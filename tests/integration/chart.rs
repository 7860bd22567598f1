//! The Helm chart `charts/hardening-operator`, checked with a helm built from the Go module
//! proxy (`tests/controlplane/build-helm.sh`): lint; what it renders (Pod Security
//! `restricted`, requests and limits, two replicas with leader election, RBAC without
//! wildcards or Secrets, the CRD of `crds/`); that the API server accepts it and that
//! PodSecurity admits its Pods; and that its RBAC is sufficient and minimal: the operator
//! runs with a token of the chart's ServiceAccount, and the API server's audit log shows
//! which writes it made.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hardening_operator::config::{LeaderElection, RunConfig};
use hardening_operator::core::api::HardeningProfile;
use hardening_operator::core::render::ManagedKind;
use hardening_operator::fixtures;
use hardening_operator::live::api_resource;
use hardening_tests::clients::{token_config, token_for};
use hardening_tests::helm::{
    chart_dir, crd_files, documents, helm, helm_path, named, of_kind, one, render, strings,
    with_helm_home, without_chart_metadata,
};
use hardening_tests::objects::labels_of;
use hardening_tests::profiles::condition;
use hardening_tests::{TestNamespace, cluster, eventually, repo_root, unique_name, wait_until};
use k8s_openapi::api::core::v1::{Namespace, Pod, ResourceQuota};
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{Scope, pinned_kind};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::operator_env::{SHARD_LABEL, install_crd};

const FIELD_MANAGER: &str = "hardening-tests-chart";

/// (API group, resource, verb) for every permission the chart's ClusterRole grants: exactly
/// what `operator/src/controller/` does (see the comments in `templates/rbac.yaml`).
const CLUSTER_ROLE: &[(&str, &str, &[&str])] = &[
    ("", "namespaces", &["list", "watch", "patch"]),
    ("", "pods", &["list", "watch"]),
    ("policy", "poddisruptionbudgets", &["list", "watch"]),
    ("rbac.authorization.k8s.io", "roles", &["list", "watch"]),
    (
        "rbac.authorization.k8s.io",
        "rolebindings",
        &["list", "watch"],
    ),
    (
        "",
        "resourcequotas",
        &["list", "watch", "create", "patch", "delete"],
    ),
    (
        "",
        "limitranges",
        &["list", "watch", "create", "patch", "delete"],
    ),
    (
        "networking.k8s.io",
        "networkpolicies",
        &["list", "watch", "create", "patch", "delete"],
    ),
    (
        "admissionregistration.k8s.io",
        "validatingadmissionpolicies",
        &["list", "watch", "create", "patch", "delete"],
    ),
    (
        "admissionregistration.k8s.io",
        "validatingadmissionpolicybindings",
        &["list", "watch", "create", "patch", "delete"],
    ),
    (
        "admissionregistration.k8s.io",
        "mutatingadmissionpolicies",
        &["list", "watch", "create", "patch", "delete"],
    ),
    (
        "admissionregistration.k8s.io",
        "mutatingadmissionpolicybindings",
        &["list", "watch", "create", "patch", "delete"],
    ),
    (
        "rbac.authorization.k8s.io",
        "clusterroles",
        &["list", "watch"],
    ),
    (
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        &["list", "watch"],
    ),
    (
        "hardening.dev",
        "hardeningprofiles",
        &["list", "watch", "get", "patch"],
    ),
    ("hardening.dev", "hardeningprofiles/status", &["patch"]),
    ("hardening.dev", "hardeningexceptions", &["list", "watch"]),
    ("hardening.dev", "hardeningexceptions/status", &["patch"]),
    ("events.k8s.io", "events", &["create", "patch"]),
    (
        "aquasecurity.github.io",
        "vulnerabilityreports",
        &["list", "watch"],
    ),
    (
        "policy.networking.k8s.io",
        "clusternetworkpolicies",
        &["list", "watch", "create", "patch", "delete"],
    ),
    (
        "openreports.io",
        "reports",
        &["list", "watch", "create", "patch", "delete"],
    ),
    (
        "openreports.io",
        "clusterreports",
        &["list", "watch", "create", "patch", "delete"],
    ),
    (
        "wgpolicyk8s.io",
        "policyreports",
        &["list", "watch", "create", "patch", "delete"],
    ),
    (
        "wgpolicyk8s.io",
        "clusterpolicyreports",
        &["list", "watch", "create", "patch", "delete"],
    ),
];

/// The Role in the release namespace (leader election; get and patch only of the Lease
/// `hardening-operator`).
const LEADER_ROLE: &[(&str, &str, &[&str])] =
    &[("coordination.k8s.io", "leases", &["get", "create", "patch"])];

/// Writes Kubernetes grants every authenticated user (the default ClusterRole
/// `system:basic-user`): the operator asks who it is once it leads (a SelfSubjectReview), to
/// trust only itself with what it generated.
const GRANTED_TO_EVERYONE: &[(&str, &str, &str)] =
    &[("authentication.k8s.io", "selfsubjectreviews", "create")];

/// Write permissions the RBAC test cannot see used, and why they are needed all the same.
/// The policy report writes need the report CRDs, which the shared control plane does not
/// have (they change what every operator detects at start-up); tests/integration/
/// policy_reports.rs exercises them on a control plane of its own.
const NEEDED_BUT_NOT_EXERCISED: &[(&str, &str, &str, &str)] = &[
    (
        "hardening.dev",
        "hardeningexceptions/status",
        "patch",
        "the status of HardeningExceptions (tests/integration/exceptions.rs)",
    ),
    (
        "policy.networking.k8s.io",
        "clusternetworkpolicies",
        "create",
        "ClusterNetworkPolicies (where served; tests/integration/cluster_network_policies.rs)",
    ),
    (
        "policy.networking.k8s.io",
        "clusternetworkpolicies",
        "patch",
        "ClusterNetworkPolicies (where served; tests/integration/cluster_network_policies.rs)",
    ),
    (
        "policy.networking.k8s.io",
        "clusternetworkpolicies",
        "delete",
        "ClusterNetworkPolicies (where served; tests/integration/cluster_network_policies.rs)",
    ),
    (
        "openreports.io",
        "reports",
        "create",
        "policy reports (OpenReports)",
    ),
    (
        "openreports.io",
        "reports",
        "patch",
        "policy reports (OpenReports)",
    ),
    (
        "openreports.io",
        "reports",
        "delete",
        "policy reports (OpenReports)",
    ),
    (
        "openreports.io",
        "clusterreports",
        "create",
        "cluster policy reports (OpenReports)",
    ),
    (
        "openreports.io",
        "clusterreports",
        "patch",
        "cluster policy reports (OpenReports)",
    ),
    (
        "openreports.io",
        "clusterreports",
        "delete",
        "cluster policy reports (OpenReports)",
    ),
    (
        "wgpolicyk8s.io",
        "policyreports",
        "create",
        "policy reports (wgpolicyk8s.io)",
    ),
    (
        "wgpolicyk8s.io",
        "policyreports",
        "patch",
        "policy reports (wgpolicyk8s.io)",
    ),
    (
        "wgpolicyk8s.io",
        "policyreports",
        "delete",
        "policy reports (wgpolicyk8s.io)",
    ),
    (
        "wgpolicyk8s.io",
        "clusterpolicyreports",
        "create",
        "cluster policy reports (wgpolicyk8s.io)",
    ),
    (
        "wgpolicyk8s.io",
        "clusterpolicyreports",
        "patch",
        "cluster policy reports (wgpolicyk8s.io)",
    ),
    (
        "wgpolicyk8s.io",
        "clusterpolicyreports",
        "delete",
        "cluster policy reports (wgpolicyk8s.io)",
    ),
];

const WRITE_VERBS: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];

type Grant = (String, String, String);

fn crd_file() -> PathBuf {
    repo_root().join(hardening_operator::core::crd::CRD_PATH)
}

/// Every (group, resource, verb) a Role's or ClusterRole's rules grant.
fn grants(role: &Value) -> BTreeSet<Grant> {
    let mut all = BTreeSet::new();
    for rule in role["rules"].as_array().into_iter().flatten() {
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    all.insert((group.clone(), resource.clone(), verb));
                }
            }
        }
    }
    all
}

fn expected(table: &[(&str, &str, &[&str])]) -> BTreeSet<Grant> {
    table
        .iter()
        .flat_map(|(group, resource, verbs)| {
            verbs
                .iter()
                .map(|verb| (group.to_string(), resource.to_string(), verb.to_string()))
        })
        .collect()
}

/// The Pod Security `restricted` fields, at pod or container level (container wins).
fn assert_restricted(what: &str, pod_spec: &Value, container: &Value) {
    let pod = &pod_spec["securityContext"];
    let ctr = &container["securityContext"];
    let either = |field: &str| {
        if ctr[field].is_null() {
            pod[field].clone()
        } else {
            ctr[field].clone()
        }
    };
    assert_eq!(either("runAsNonRoot"), json!(true), "{what}: runAsNonRoot");
    assert_eq!(either("runAsUser"), json!(65532), "{what}: runAsUser");
    assert_eq!(
        either("seccompProfile")["type"],
        "RuntimeDefault",
        "{what}: seccompProfile"
    );
    assert_eq!(
        ctr["readOnlyRootFilesystem"],
        json!(true),
        "{what}: readOnlyRootFilesystem"
    );
    assert_eq!(
        ctr["allowPrivilegeEscalation"],
        json!(false),
        "{what}: allowPrivilegeEscalation"
    );
    assert_eq!(
        ctr["capabilities"]["drop"],
        json!(["ALL"]),
        "{what}: capabilities"
    );
    assert!(
        ctr["capabilities"]["add"].is_null(),
        "{what}: adds capabilities"
    );
    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                container["resources"][kind][resource].is_string(),
                "{what}: resources.{kind}.{resource} is not set"
            );
        }
    }
}

#[test]
fn chart_lints_and_carries_the_crd_of_crds_dir() {
    let chart = chart_dir().display().to_string();
    for sets in [
        vec![],
        vec![
            "--set",
            "nodeAgent.enabled=true,serviceMonitor.enabled=true",
        ],
        vec![
            "--set",
            "nodeAgent.enabled=true,nodeAgent.apparmor=true",
            "--set",
            "nodeAgent.image.repository=example.org/agent,nodeAgent.image.tag=1.2.3",
        ],
    ] {
        let mut args = vec!["lint", "--strict", &chart];
        args.extend(sets);
        let out = helm(&args).unwrap_or_else(|e| panic!("helm {args:?} failed:\n{e}"));
        assert!(out.contains("0 chart(s) failed"), "{out}");
    }

    // The chart's CRD is the repository's crds/ (generated from the Rust types), not a
    // copy: files/crds is a symbolic link, which helm follows when it reads and when it
    // packages.
    let link =
        std::fs::read_link(chart_dir().join("files/crds")).expect("files/crds is a symbolic link");
    assert_eq!(link, Path::new("../../../crds"));
    let crd = std::fs::read_to_string(crd_file()).unwrap();

    // The chart deploys the operator of this workspace by default.
    let chart_yaml: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(chart_dir().join("Chart.yaml")).unwrap())
            .unwrap();
    assert_eq!(
        chart_yaml["appVersion"],
        env!("CARGO_PKG_VERSION"),
        "Chart.yaml appVersion"
    );

    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(unique_name("chart-package"));
    std::fs::create_dir_all(&out).unwrap();
    let dir = out.display().to_string();
    helm(&["package", &chart, "--destination", &dir]).unwrap();
    let version = chart_yaml["version"]
        .as_str()
        .expect("Chart.yaml has a version");
    let tgz = out.join(format!("hardening-operator-{version}.tgz"));
    let status = Command::new("tar")
        // -m: the files get the time of unpacking, whatever the package says.
        .arg("-xmzf")
        .arg(&tgz)
        .arg("-C")
        .arg(&out)
        .status()
        .expect("tar runs");
    assert!(status.success(), "unpacking {}", tgz.display());
    let packaged = out.join("hardening-operator/files/crds/hardening.dev_hardeningprofiles.yaml");
    let packaged_meta = std::fs::symlink_metadata(&packaged).expect("the package has the CRD");
    assert!(
        packaged_meta.is_file(),
        "the package holds the file, not a link"
    );
    assert_eq!(std::fs::read_to_string(&packaged).unwrap(), crd);
    let packaged = out.join("hardening-operator/files/crds/hardening.dev_hardeningexceptions.yaml");
    assert!(
        std::fs::symlink_metadata(&packaged).is_ok_and(|m| m.is_file()),
        "the package holds the exceptions' CRD file"
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn chart_renders_a_restricted_highly_available_operator_with_least_privilege() {
    let docs = render("hardening-operator", "hardening-system", &[]);

    // The CRDs are the files in crds/, with the release's labels and the keep annotation.
    assert_eq!(of_kind(&docs, "CustomResourceDefinition").len(), 2);
    for (name, file) in crd_files() {
        let crd: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        assert_eq!(
            without_chart_metadata(named(&docs, "CustomResourceDefinition", name)),
            crd
        );
    }

    let deployment = one(&docs, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(pod["containers"].as_array().unwrap().len(), 1);
    assert_restricted("operator", pod, container);
    assert_eq!(pod["serviceAccountName"], "hardening-operator");
    assert_eq!(
        container["image"],
        format!("hardening-operator:{}", env!("CARGO_PKG_VERSION"))
    );
    let args = strings(&container["args"]);
    assert_eq!(args[0], "run", "{args:?}");
    for flag in ["--leader-election", "--metrics-address=0.0.0.0:8080"] {
        assert!(args.iter().any(|a| a == flag), "{flag} missing: {args:?}");
    }
    for (name, field) in [
        ("POD_NAME", "metadata.name"),
        ("POD_NAMESPACE", "metadata.namespace"),
    ] {
        let env = container["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("env {name} missing"));
        assert_eq!(env["valueFrom"]["fieldRef"]["fieldPath"], field);
    }
    assert_eq!(container["ports"][0]["containerPort"], 8080);
    assert_eq!(container["ports"][0]["name"], "http-metrics");
    for (probe, path) in [("livenessProbe", "/livez"), ("readinessProbe", "/readyz")] {
        assert_eq!(container[probe]["httpGet"]["path"], path, "{probe}");
        assert_eq!(
            container[probe]["httpGet"]["port"], "http-metrics",
            "{probe}"
        );
    }
    let selector = &deployment["spec"]["selector"]["matchLabels"];
    let service = one(&docs, "Service");
    assert_eq!(&service["spec"]["selector"], selector);
    assert_eq!(service["spec"]["ports"][0]["port"], 8080);
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http-metrics");
    assert_eq!(
        &one(&docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        selector
    );
    assert!(
        of_kind(&docs, "DaemonSet").is_empty(),
        "node agent is off by default"
    );
    assert!(
        of_kind(&docs, "ServiceMonitor").is_empty(),
        "ServiceMonitor is off by default"
    );

    // RBAC: no wildcard anywhere, no Secrets, and exactly the expected permissions.
    for role in of_kind(&docs, "ClusterRole")
        .into_iter()
        .chain(of_kind(&docs, "Role"))
    {
        for rule in role["rules"].as_array().unwrap() {
            for field in ["apiGroups", "resources", "verbs", "resourceNames"] {
                assert!(
                    !strings(&rule[field]).iter().any(|s| s.contains('*')),
                    "wildcard in {field}: {rule}"
                );
            }
            assert!(
                !strings(&rule["resources"])
                    .iter()
                    .any(|r| r == "secrets" || r.starts_with("secrets/")),
                "access to Secrets: {rule}"
            );
            assert!(rule["nonResourceURLs"].is_null(), "{rule}");
        }
    }
    assert_eq!(grants(one(&docs, "ClusterRole")), expected(CLUSTER_ROLE));
    // Without the pod report, neither the flag's default nor the permission remains.
    let without_pods = render(
        "hardening-operator",
        "hardening-system",
        &["operator.podReport=false"],
    );
    let args = strings(
        &one(&without_pods, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"],
    );
    assert!(args.iter().any(|a| a == "--pod-report=false"), "{args:?}");
    let pod_grants: Vec<Grant> = expected(CLUSTER_ROLE)
        .into_iter()
        .filter(|(_, resource, _)| resource == "pods")
        .collect();
    assert_eq!(pod_grants.len(), 2);
    let remaining = grants(one(&without_pods, "ClusterRole"));
    assert!(
        pod_grants.iter().all(|g| !remaining.contains(g)),
        "{remaining:?}"
    );
    assert_eq!(
        remaining.len(),
        expected(CLUSTER_ROLE).len() - pod_grants.len()
    );
    // Every kind the operator generates (a new one too) is watched, applied and deleted.
    for kind in ManagedKind::ALL {
        let resource = api_resource(kind);
        for verb in ["list", "watch", "create", "patch", "delete"] {
            let grant = (
                resource.group.clone(),
                resource.plural.clone(),
                verb.to_owned(),
            );
            assert!(
                grants(one(&docs, "ClusterRole")).contains(&grant),
                "the ClusterRole lacks {grant:?} for the generated {kind:?}"
            );
        }
    }
    let role = one(&docs, "Role");
    assert_eq!(role["metadata"]["namespace"], "hardening-system");
    assert_eq!(grants(role), expected(LEADER_ROLE));
    // Reading and changing a Lease is limited to the operator's (creating cannot be).
    for rule in role["rules"].as_array().unwrap() {
        let names = strings(&rule["resourceNames"]);
        if strings(&rule["verbs"]).iter().any(|v| v != "create") {
            assert_eq!(names, [hardening_operator::config::LEASE_NAME], "{rule}");
        }
    }
    let account = one(&docs, "ServiceAccount");
    for binding in [one(&docs, "ClusterRoleBinding"), one(&docs, "RoleBinding")] {
        assert_eq!(
            binding["subjects"],
            json!([{
                "kind": "ServiceAccount",
                "name": account["metadata"]["name"],
                "namespace": "hardening-system",
            }])
        );
    }
    assert_eq!(
        one(&docs, "ClusterRoleBinding")["roleRef"]["name"],
        one(&docs, "ClusterRole")["metadata"]["name"]
    );
    assert_eq!(
        one(&docs, "RoleBinding")["roleRef"]["name"],
        role["metadata"]["name"]
    );

    // The optional parts.
    let docs = render(
        "hardening-operator",
        "hardening-system",
        &[
            "nodeAgent.enabled=true,serviceMonitor.enabled=true",
            "image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ],
    );
    let agent = one(&docs, "DaemonSet");
    let agent_pod = &agent["spec"]["template"]["spec"];
    // The agent writes root-owned host directories: root, but no capability, no privilege
    // escalation, a read-only root filesystem and RuntimeDefault seccomp; only the kubelet's
    // seccomp directory and the kubelet's configuration file (read only, for the node
    // baseline) mounted (AppArmor is opt-in).
    let agent_ctr = &agent_pod["containers"][0];
    assert_eq!(agent_pod["securityContext"]["runAsUser"], json!(0));
    assert_eq!(
        agent_pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(
        agent_ctr["securityContext"]["allowPrivilegeEscalation"],
        json!(false)
    );
    assert_eq!(
        agent_ctr["securityContext"]["readOnlyRootFilesystem"],
        json!(true)
    );
    assert_eq!(
        agent_ctr["securityContext"]["capabilities"],
        json!({"drop": ["ALL"]})
    );
    assert_eq!(
        agent_pod["volumes"],
        json!([{
            "name": "seccomp",
            "hostPath": {"path": "/var/lib/kubelet/seccomp", "type": "DirectoryOrCreate"},
        }, {
            "name": "kubelet-config",
            "hostPath": {"path": "/var/lib/kubelet/config.yaml", "type": "File"},
        }])
    );
    assert_eq!(
        agent_ctr["volumeMounts"][1],
        json!({"name": "kubelet-config", "mountPath": "/host/kubelet-config.yaml", "readOnly": true})
    );
    assert_eq!(
        strings(&agent_ctr["args"]),
        [
            "node-agent",
            "--kubelet-root=/host/kubelet",
            "--apparmor-dir=/etc/apparmor.d/hardening.dev",
            "--check-period=30s",
            "--metrics-address=0.0.0.0:8081",
            "--kubelet-config=/host/kubelet-config.yaml",
        ]
    );
    // The agent's own RBAC: read profiles, write ConfigMaps in its namespace; bound to
    // its ServiceAccount only.
    let agent_account = agent_pod["serviceAccountName"].as_str().unwrap();
    let agent_roles: Vec<&Value> = of_kind(&docs, "ClusterRole")
        .into_iter()
        .chain(of_kind(&docs, "Role"))
        .filter(|r| r["metadata"]["name"] == agent_account)
        .collect();
    assert_eq!(agent_roles.len(), 2, "the agent's ClusterRole and Role");
    assert_eq!(
        grants(agent_roles[0]),
        expected(&[
            ("hardening.dev", "hardeningprofiles", &["list", "watch"]),
            ("", "nodes", &["get"]),
        ])
    );
    assert_eq!(agent_roles[1]["metadata"]["namespace"], "hardening-system");
    assert_eq!(
        grants(agent_roles[1]),
        expected(&[("", "configmaps", &["create", "patch"])])
    );
    for binding in of_kind(&docs, "ClusterRoleBinding")
        .into_iter()
        .chain(of_kind(&docs, "RoleBinding"))
        .filter(|b| b["roleRef"]["name"] == agent_account)
    {
        assert_eq!(
            binding["subjects"],
            json!([{
                "kind": "ServiceAccount",
                "name": agent_account,
                "namespace": "hardening-system",
            }])
        );
    }
    // Loading AppArmor adds exactly CAP_MAC_ADMIN, securityfs and /etc/apparmor.d.
    let docs_aa = render(
        "hardening-operator",
        "hardening-system",
        &["nodeAgent.enabled=true,nodeAgent.apparmor=true"],
    );
    let pod_aa = &one(&docs_aa, "DaemonSet")["spec"]["template"]["spec"];
    assert_eq!(
        pod_aa["containers"][0]["securityContext"]["capabilities"],
        json!({"drop": ["ALL"], "add": ["MAC_ADMIN"]})
    );
    let host_paths: Vec<&str> = pod_aa["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["hostPath"]["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        host_paths,
        [
            "/var/lib/kubelet/seccomp",
            "/var/lib/kubelet/config.yaml",
            "/etc/apparmor.d",
            "/sys/kernel/security"
        ]
    );
    assert_ne!(
        agent_pod["serviceAccountName"], "hardening-operator",
        "the node agent must not run with the operator's permissions"
    );
    assert_eq!(
        one(&docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"],
        "hardening-operator@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    );
    let monitor = one(&docs, "ServiceMonitor");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "http-metrics");
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    let service_labels = &one(&docs, "Service")["metadata"]["labels"];
    for (key, value) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(&service_labels[key], value, "ServiceMonitor selects {key}");
    }

    // values.schema.json rejects unknown and malformed values; the templates reject
    // several replicas without leader election.
    let chart = chart_dir().display().to_string();
    for (set, message) in [
        ("replicas=3", "additional properties 'replicas' not allowed"),
        ("operator.concurrency=0", "/operator/concurrency"),
        ("operator.logFormat=xml", "/operator/logFormat"),
        ("resources.limits=null", "missing property 'limits'"),
        (
            "operator.leaderElection=false",
            "needs operator.leaderElection",
        ),
    ] {
        let err = helm(&["template", "x", &chart, "--set", set])
            .expect_err(&format!("--set {set} must be rejected"));
        assert!(err.contains(message), "--set {set}: {err}");
    }
    let single = render(
        "x",
        "default",
        &["replicaCount=1,operator.leaderElection=false"],
    );
    assert!(
        of_kind(&single, "Role").is_empty(),
        "no Lease Role without leader election"
    );
    assert!(of_kind(&single, "PodDisruptionBudget").is_empty());
    let args =
        strings(&one(&single, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]);
    assert!(!args.iter().any(|a| a == "--leader-election"), "{args:?}");
}

/// `nodeAgent.image` (for the Dockerfile's `node-agent-apparmor` image): when set, the
/// DaemonSet runs it; unset, the DaemonSet runs the Deployment's image.
#[test]
fn chart_node_agent_image_defaults_to_the_operators_and_can_be_set() {
    fn containers<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
        &one(docs, kind)["spec"]["template"]["spec"]["containers"][0]
    }

    let set = render(
        "hardening-operator",
        "hardening-system",
        &[
            "nodeAgent.enabled=true,nodeAgent.apparmor=true",
            "nodeAgent.image.repository=example.org/agent,nodeAgent.image.tag=1.2.3",
        ],
    );
    let agent = containers(&set, "DaemonSet");
    assert_eq!(agent["image"], "example.org/agent:1.2.3");
    // The pull policy follows image.pullPolicy unless nodeAgent.image.pullPolicy is set.
    assert_eq!(agent["imagePullPolicy"], "IfNotPresent");
    // The operator keeps its own image.
    assert_eq!(
        containers(&set, "Deployment")["image"],
        format!("hardening-operator:{}", env!("CARGO_PKG_VERSION"))
    );

    for sets in [
        vec!["nodeAgent.enabled=true"],
        vec![
            "nodeAgent.enabled=true",
            "image.repository=registry.example/op,image.tag=9.9.9,image.pullPolicy=Always",
        ],
        vec![
            "nodeAgent.enabled=true",
            "image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ],
    ] {
        let docs = render("hardening-operator", "hardening-system", &sets);
        let (agent, operator) = (
            containers(&docs, "DaemonSet"),
            containers(&docs, "Deployment"),
        );
        assert!(operator["image"].is_string(), "{sets:?}: {operator}");
        assert_eq!(agent["image"], operator["image"], "{sets:?}");
        assert_eq!(
            agent["imagePullPolicy"], operator["imagePullPolicy"],
            "{sets:?}"
        );
    }

    // A tag alone keeps image.repository; the pull policy can be set on its own.
    let tagged = render(
        "x",
        "default",
        &[
            "nodeAgent.enabled=true,image.repository=registry.example/op",
            "nodeAgent.image.tag=0.1.0-apparmor,nodeAgent.image.pullPolicy=Always",
        ],
    );
    let agent = containers(&tagged, "DaemonSet");
    assert_eq!(agent["image"], "registry.example/op:0.1.0-apparmor");
    assert_eq!(agent["imagePullPolicy"], "Always");
    assert_eq!(
        containers(&tagged, "Deployment")["imagePullPolicy"],
        "IfNotPresent"
    );

    // values.schema.json checks nodeAgent.image too.
    let chart = chart_dir().display().to_string();
    for (set, message) in [
        (
            "nodeAgent.image.digest=sha256:00",
            "additional properties 'digest' not allowed",
        ),
        (
            "nodeAgent.image.pullPolicy=Sometimes",
            "/nodeAgent/image/pullPolicy",
        ),
    ] {
        let err = helm(&["template", "x", &chart, "--set", set])
            .expect_err(&format!("--set {set} must be rejected"));
        assert!(err.contains(message), "--set {set}: {err}");
    }
}

/// `apiServer.host`/`port` (clusters whose Pods cannot use the `kubernetes` Service, like the
/// test node): both the operator and the node agent get `KUBERNETES_SERVICE_HOST` and
/// `_PORT`; unset, neither does (the kubelet's Service variables apply).
#[test]
fn chart_api_server_value_sets_both_pods_api_server_address() {
    fn env_of(docs: &[Value], kind: &str) -> Vec<(String, String)> {
        one(docs, kind)["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["name"].as_str().unwrap().starts_with("KUBERNETES_"))
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_owned(),
                    e["value"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
    let unset = render("x", "default", &["nodeAgent.enabled=true"]);
    for kind in ["Deployment", "DaemonSet"] {
        assert_eq!(env_of(&unset, kind), [], "{kind}");
    }
    let set = render(
        "x",
        "default",
        &["nodeAgent.enabled=true,apiServer.host=10.64.3.1,apiServer.port=6443"],
    );
    for kind in ["Deployment", "DaemonSet"] {
        assert_eq!(
            env_of(&set, kind),
            [
                ("KUBERNETES_SERVICE_HOST".to_owned(), "10.64.3.1".to_owned()),
                ("KUBERNETES_SERVICE_PORT".to_owned(), "6443".to_owned()),
            ],
            "{kind}"
        );
    }
    let chart = chart_dir().display().to_string();
    for (set, message) in [
        (
            "apiServer.host=a b",
            "apiServer.host must be a host name or an IP address",
        ),
        ("apiServer.port=0", "/apiServer/port"),
    ] {
        let err = helm(&["template", "x", &chart, "--set", set])
            .expect_err(&format!("--set {set} must be rejected"));
        assert!(err.contains(message), "--set {set}: {err}");
    }
}

/// Every value of `values.schema.json` (down to its leaves) has a default in `values.yaml`
/// and a row in the chart's README, and every row names a value.
#[test]
fn chart_readme_and_values_document_every_value() {
    fn leaves(schema: &Value, prefix: &str, out: &mut Vec<String>) {
        for (key, property) in schema["properties"].as_object().into_iter().flatten() {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            if property["properties"].is_object() {
                leaves(property, &path, out);
            } else {
                out.push(path);
            }
        }
    }
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(chart_dir().join("values.schema.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    let mut documented = Vec::new();
    leaves(&schema, "", &mut documented);
    let values: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(chart_dir().join("values.yaml")).unwrap())
            .unwrap();
    let readme = std::fs::read_to_string(chart_dir().join("README.md")).unwrap();
    let (_, table) = readme
        .split_once("## Values")
        .expect("the chart README has a Values section");
    let rows: BTreeSet<String> = table
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`'))
        .map(|(name, _)| name.to_owned())
        .collect();
    let mut covered = BTreeSet::new();
    for path in &documented {
        let default = path.split('.').fold(&values, |v, key| &v[key]);
        assert!(!default.is_null(), "values.yaml has no default for {path}");
        // A row may document an object as a whole (`resources`).
        let mut row = Some(path.as_str());
        while let Some(candidate) = row.filter(|r| !rows.contains(*r)) {
            row = candidate.rsplit_once('.').map(|(parent, _)| parent);
        }
        let row = row.unwrap_or_else(|| panic!("the chart README has no row for `{path}`"));
        covered.insert(row.to_owned());
    }
    let unknown: Vec<_> = rows.difference(&covered).collect();
    assert!(
        unknown.is_empty(),
        "README rows for unknown values: {unknown:?}"
    );
}

/// `config/rbac/rbac.yaml` is the chart's RBAC, rendered by `config/rbac/generate.sh`.
#[test]
fn config_rbac_is_the_charts_rbac() {
    let script = repo_root().join("config/rbac/generate.sh");
    let output = with_helm_home(&mut Command::new("bash"))
        .arg(&script)
        .env("HELM", helm_path())
        .output()
        .expect("running config/rbac/generate.sh");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let committed = std::fs::read_to_string(repo_root().join("config/rbac/rbac.yaml")).unwrap();
    assert!(
        String::from_utf8_lossy(&output.stdout) == committed,
        "config/rbac/rbac.yaml differs from the chart: run config/rbac/generate.sh --write"
    );
    let docs = documents(&committed);
    assert_eq!(grants(one(&docs, "ClusterRole")), expected(CLUSTER_ROLE));
}

/// Server-side applies every object; the API server's answer is the acceptance.
async fn apply_all(client: &Client, docs: &[&Value]) -> Vec<(Api<DynamicObject>, String)> {
    let mut applied = Vec::new();
    for doc in docs {
        let object: DynamicObject = serde_json::from_value((*doc).clone()).unwrap();
        let types = object.types.clone().expect("rendered objects have a type");
        let gvk = GroupVersionKind::try_from(&types).unwrap();
        let (resource, caps) = pinned_kind(client, &gvk)
            .await
            .unwrap_or_else(|e| panic!("discovering {gvk:?}: {e}"));
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Cluster => Api::all_with(client.clone(), &resource),
            Scope::Namespaced => Api::namespaced_with(
                client.clone(),
                &object
                    .namespace()
                    .expect("namespaced objects carry a namespace"),
                &resource,
            ),
        };
        let name = object.name_any();
        api.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&object),
        )
        .await
        .unwrap_or_else(|e| panic!("applying {} {name}: {e}", gvk.kind));
        applied.push((api, name));
    }
    applied
}

/// Deletes the cluster-scoped objects of a test (ClusterRole, ClusterRoleBinding) when
/// dropped, passing or failing; namespaced ones go with the test's namespace.
struct ClusterScoped(Vec<(&'static str, String)>);

impl ClusterScoped {
    fn of(docs: &[&Value]) -> Self {
        ClusterScoped(
            docs.iter()
                .filter_map(|d| {
                    let kind = match d["kind"].as_str()? {
                        "ClusterRole" => "ClusterRole",
                        "ClusterRoleBinding" => "ClusterRoleBinding",
                        _ => return None,
                    };
                    Some((kind, d["metadata"]["name"].as_str()?.to_owned()))
                })
                .collect(),
        )
    }
}

impl Drop for ClusterScoped {
    fn drop(&mut self) {
        let objects = std::mem::take(&mut self.0);
        let kubeconfig = cluster().kubeconfig().to_path_buf();
        hardening_tests::cleanup_in_drop(kubeconfig, move |client| async move {
            for (kind, name) in objects {
                let gvk = GroupVersionKind::gvk("rbac.authorization.k8s.io", "v1", kind);
                let Ok((resource, _)) = pinned_kind(&client, &gvk).await else {
                    return;
                };
                let _ = Api::<DynamicObject>::all_with(client.clone(), &resource)
                    .delete(&name, &DeleteParams::default())
                    .await;
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_installs_and_its_pods_pass_pod_security_restricted() {
    let client = cluster().client().await;
    let ns = TestNamespace::create(
        &client,
        "chart",
        &[
            ("pod-security.kubernetes.io/enforce", "restricted"),
            ("pod-security.kubernetes.io/enforce-version", "latest"),
        ],
    )
    .await;
    let release = unique_name("chart");
    let rendered = render(&release, ns.name(), &[]);
    let docs: Vec<&Value> = rendered.iter().collect();
    let _cleanup = ClusterScoped::of(&docs);
    let applied = apply_all(&client, &docs).await;
    let mut kinds = BTreeSet::new();
    for ((api, name), doc) in applied.iter().zip(&docs) {
        let live = api
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("{} {name} is not there: {e}", doc["kind"]));
        kinds.insert(live.types.map(|t| t.kind).unwrap_or_default());
    }
    assert_eq!(
        kinds,
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "CustomResourceDefinition",
            "Deployment",
            "PodDisruptionBudget",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount",
        ]
        .into_iter()
        .map(String::from)
        .collect()
    );

    // PodSecurity admission judges Pods, not Deployments: first a Pod made from the
    // Deployment's template (server-side dry run: admitted, not stored).
    let template = &one(&rendered, "Deployment")["spec"]["template"];
    let pod = |spec: Value| -> Pod {
        serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": format!("{release}-dry-run"),
                "namespace": ns.name(),
                "labels": template["metadata"]["labels"],
            },
            "spec": spec,
        }))
        .unwrap()
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns.name());
    let dry_run = PostParams {
        dry_run: true,
        ..Default::default()
    };
    pods.create(&dry_run, &pod(template["spec"].clone()))
        .await
        .unwrap_or_else(|e| panic!("PodSecurity restricted rejects the operator's Pod: {e}"));
    // The check is real: the same Pod allowed to escalate privileges is rejected.
    let mut weakened = template["spec"].clone();
    weakened["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = json!(true);
    match pods.create(&dry_run, &pod(weakened)).await {
        Err(kube::Error::Api(s)) if s.message.contains("violates PodSecurity") => {}
        other => panic!("a weakened Pod must violate PodSecurity restricted: {other:?}"),
    }
    // And the real Pods: the ReplicaSet controller creates them through the same
    // admission (they stay Pending for want of nodes).
    let selector = template["metadata"]["labels"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(",");
    eventually("the Deployment's 2 Pods to be admitted", || async {
        let count = pods
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| e.to_string())?
            .items
            .len();
        if count == 2 {
            Ok(())
        } else {
            Err(format!("{count} Pods"))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_rbac_is_sufficient_and_minimal() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    let admin = cluster().client().await;
    install_crd(&admin).await;
    let release_ns = TestNamespace::create(&admin, "chart-rbac", &[]).await;
    let release = unique_name("rbac");
    let docs = render(&release, release_ns.name(), &[]);
    let rbac: Vec<&Value> = docs
        .iter()
        .filter(|d| {
            [
                "ServiceAccount",
                "ClusterRole",
                "ClusterRoleBinding",
                "Role",
                "RoleBinding",
            ]
            .contains(&d["kind"].as_str().unwrap_or_default())
        })
        .collect();
    let _cleanup = ClusterScoped::of(&rbac);
    apply_all(&admin, &rbac).await;
    let account = one(&docs, "ServiceAccount")["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();

    // A client that is the chart's ServiceAccount, nothing more.
    let token = token_for(&admin, release_ns.name(), &account).await;
    let config = token_config(token).await;
    let operator_config = config;
    let username = format!("system:serviceaccount:{}:{account}", release_ns.name());

    // The operator, in-process as `hardening-operator run` runs it (leader election
    // included), with that identity and a shard of its own.
    let shard = unique_name("rbac-shard");
    let run_config = RunConfig {
        profile_selector: Some(format!("{SHARD_LABEL}={shard}")),
        operator_namespace: Some(release_ns.name().to_owned()),
        leader_election: LeaderElection::On,
        leader_election_identity: Some(format!("{release}-0")),
        metrics_address: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let operator = hardening_operator::run::start(operator_config, run_config, async {
        let _ = stopped.await;
    })
    .await
    .unwrap_or_else(|e| panic!("the operator did not start with the chart's RBAC: {e}"));

    // Sufficient: a profile hardens its namespace and reports Ready.
    let target = TestNamespace::create(&admin, "rbac-target", &[(SHARD_LABEL, &shard)]).await;
    let profiles: Api<HardeningProfile> = Api::all(admin.clone());
    let profile = fixtures::profile(&format!("{shard}-strict"))
        .label(SHARD_LABEL, &shard)
        .spec_yaml(fixtures::specs::RESTRICTED_DENY_ALL)
        .spec(json!({
            "namespaceSelector": { "matchLabels": { SHARD_LABEL: shard } },
            "limitRange": { "limits": [{
                "type": "Container",
                "default": { "cpu": "300m", "memory": "256Mi" },
                "defaultRequest": { "cpu": "100m", "memory": "128Mi" }
            }]},
            // Its ValidatingAdmissionPolicy and binding: created, applied, deleted.
            "guardrails": { "denyExec": true }
        }))
        .build();
    let name = profiles
        .create(&PostParams::default(), &profile)
        .await
        .unwrap()
        .name_any();
    let status =
        |what: &'static str,
         check: fn(&hardening_operator::core::api::HardeningProfileStatus) -> bool| {
            let profiles = profiles.clone();
            let name = name.clone();
            async move {
                eventually(what, || async {
                    let status = profiles
                        .get(&name)
                        .await
                        .map_err(|e| e.to_string())?
                        .status
                        .ok_or("no status yet")?;
                    if check(&status) {
                        Ok(())
                    } else {
                        Err(serde_json::to_string(&status).unwrap())
                    }
                })
                .await
            }
        };
    status("Ready=True, one namespace in sync", |s| {
        condition(s, "Ready") == Some(("True".into(), "InSync".into()))
            && s.selected_namespaces == 1
            && s.in_sync_namespaces == 1
    })
    .await;
    let target_ns = Api::<Namespace>::all(admin.clone())
        .get(target.name())
        .await
        .unwrap();
    assert_eq!(
        labels_of(&target_ns)
            .get("pod-security.kubernetes.io/enforce")
            .map(String::as_str),
        Some("restricted")
    );

    // A repair, twice: the Repaired event is created, then patched (an event series). Only
    // the break-glass group may change what the operator generated.
    let quotas: Api<ResourceQuota> = Api::namespaced(admin.clone(), target.name());
    // (The API server takes a new admission policy into account within a second or so.)
    eventually(
        "an administrator's edit of the generated quota denied",
        || async {
            match quotas
                .patch(
                    "hardening-quota",
                    &PatchParams::default(),
                    &Patch::Merge(json!({ "spec": { "hard": { "pods": "99" } } })),
                )
                .await
            {
                Err(e)
                    if e.to_string()
                        .contains("only hardening-operator may change or delete it") =>
                {
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    let breaking: Api<ResourceQuota> =
        Api::namespaced(hardening_tests::clients::break_glass().await, target.name());
    for round in 1..=2 {
        breaking
            .patch(
                "hardening-quota",
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": { "hard": { "pods": "99" } } })),
            )
            .await
            .unwrap();
        let quotas = quotas.clone();
        wait_until(&format!("repair {round} of hardening-quota"), || {
            let quotas = quotas.clone();
            async move {
                quotas
                    .get("hardening-quota")
                    .await
                    .ok()
                    .and_then(|q| q.spec?.hard?.get("pods").map(|p| p.0 == "10"))
                    == Some(true)
            }
        })
        .await;
    }

    // A foreign object with a generated name: read by name (get), reported, an event.
    let foreign = TestNamespace::create(&admin, "rbac-foreign", &[]).await;
    Api::<ResourceQuota>::namespaced(admin.clone(), foreign.name())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": { "name": "hardening-quota" },
                "spec": { "hard": { "pods": "5" } }
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    Api::<Namespace>::all(admin.clone())
        .patch(
            foreign.name(),
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "labels": { SHARD_LABEL: shard } } })),
        )
        .await
        .unwrap();
    status("the foreign object reported", |s| {
        s.selected_namespaces == 2 && s.in_sync_namespaces == 1 && s.failed_namespaces == 1
    })
    .await;

    // Cleanup (cleanupPolicy Delete): generated objects deleted, labels removed, finalizer
    // removed.
    profiles
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    wait_until(&format!("profile {name} deleted"), || {
        let profiles = profiles.clone();
        let name = name.clone();
        async move { profiles.get_opt(&name).await.ok().flatten().is_none() }
    })
    .await;
    assert!(quotas.get_opt("hardening-quota").await.unwrap().is_none());
    // A graceful stop releases the Lease (a patch).
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(20), operator.wait())
        .await
        .expect("the operator stops within 20 s")
        .unwrap_or_else(|e| panic!("the operator failed: {e}"));

    // Minimal: every write verb the roles grant was used (or is listed as needed but not
    // exercised here), and every write made was granted.
    let Some(audit_log) = cluster().audit_log() else {
        eprintln!("skipped the minimality check: it needs the local control plane's audit log");
        return;
    };
    let granted: BTreeSet<Grant> = grants(one(&docs, "ClusterRole"))
        .into_iter()
        .chain(grants(one(&docs, "Role")))
        .filter(|(_, _, verb)| WRITE_VERBS.contains(&verb.as_str()))
        .collect();
    let not_exercised: BTreeSet<Grant> = NEEDED_BUT_NOT_EXERCISED
        .iter()
        .map(|(g, r, v, _)| (g.to_string(), r.to_string(), v.to_string()))
        .collect();
    let used = eventually("every granted write in the audit log", || async {
        let writes = writes_by(audit_log, &username);
        let used: BTreeSet<Grant> = writes.iter().map(|w| w.grant.clone()).collect();
        let forbidden: Vec<_> = writes.iter().filter(|w| w.code == 403).collect();
        if !forbidden.is_empty() {
            panic!("the operator was refused writes: {forbidden:?}");
        }
        let missing: Vec<_> = granted
            .difference(&used)
            .filter(|g| !not_exercised.contains(*g))
            .collect();
        if missing.is_empty() {
            Ok(used)
        } else {
            Err(format!(
                "granted but never used (remove them, or list them in NEEDED_BUT_NOT_EXERCISED with a reason): {missing:?}; used: {used:?}"
            ))
        }
    })
    .await;
    let ungranted: Vec<_> = used
        .difference(&granted)
        .filter(|g| !GRANTED_TO_EVERYONE.contains(&(g.0.as_str(), g.1.as_str(), g.2.as_str())))
        .collect();
    assert!(
        ungranted.is_empty(),
        "writes outside the roles: {ungranted:?}"
    );
    eprintln!("operator writes (group, resource, verb): {used:?}");
}

#[derive(Debug)]
struct Write {
    grant: Grant,
    code: i64,
}

/// The write requests of `username` in the audit log, as the permission each needed. A
/// server-side apply that creates its object (answer 201) is authorized as `patch` and as
/// `create`.
fn writes_by(audit_log: &Path, username: &str) -> Vec<Write> {
    let text = std::fs::read_to_string(audit_log).unwrap_or_default();
    let mut writes = Vec::new();
    for event in text
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|e| e["stage"] == "ResponseComplete" && e["user"]["username"] == username)
    {
        let object = &event["objectRef"];
        let group = object["apiGroup"].as_str().unwrap_or_default().to_owned();
        let mut resource = object["resource"].as_str().unwrap_or_default().to_owned();
        if let Some(sub) = object["subresource"].as_str() {
            resource = format!("{resource}/{sub}");
        }
        let verb = event["verb"].as_str().unwrap_or_default().to_owned();
        let code = event["responseStatus"]["code"].as_i64().unwrap_or_default();
        if verb == "patch" && code == 201 {
            writes.push(Write {
                grant: (group.clone(), resource.clone(), "create".into()),
                code,
            });
        }
        writes.push(Write {
            grant: (group, resource, verb),
            code,
        });
    }
    writes
}
