//! The node baseline (host hardening; BSI APP.4.4.A4, SYS.1.6.A17): what the node agent
//! publishes of each node (its kubelet's configuration and `status.nodeInfo`, in the node's
//! ConfigMap under the keys below) and how a node compares with a profile's
//! `spec.nodeBaseline`. Pure: the agent reads the file and the Node, the operator the
//! ConfigMaps.

use std::collections::BTreeMap;

use crate::core::api::{NodeBaseline, NodeBaselineStatus, NodeShortfall};

/// Nodes listed in the status; the rest are counted.
pub const MAX_LISTED_NODES: usize = 5;

/// ConfigMap keys of the node's state.
pub mod keys {
    /// Where the kubelet settings were read (`file /var/lib/kubelet/config.yaml`), or why
    /// not (`unreadable: ...`).
    pub const KUBELET_CONFIG: &str = "kubelet.config";
    pub const SECCOMP_DEFAULT: &str = "kubelet.seccompDefault";
    pub const POD_PIDS_LIMIT: &str = "kubelet.podPidsLimit";
    pub const ANONYMOUS_AUTH: &str = "kubelet.anonymousAuth";
    pub const READ_ONLY_PORT: &str = "kubelet.readOnlyPort";
    pub const KERNEL_VERSION: &str = "node.kernelVersion";
    pub const CONTAINER_RUNTIME_VERSION: &str = "node.containerRuntimeVersion";
    pub const KUBELET_VERSION: &str = "node.kubeletVersion";
    /// Whether the node can run pods with `hostUsers: false`: `supported`, or
    /// `unsupported: <why>` ([`super::user_namespaces`]).
    pub const USER_NAMESPACES: &str = "node.userNamespaces";
}

/// The lowest kernel with idmap mounts on tmpfs, which user namespaces need (service account
/// tokens, Secrets and ConfigMaps are on tmpfs).
pub const USER_NAMESPACES_MIN_KERNEL: &str = "6.3";

/// What a node needs to run pods with `hostUsers: false`, as the rejection and the preview of
/// `guardrails.requireUserNamespaces` say it.
pub const USER_NAMESPACES_NODE_NEEDS: &str =
    "containerd 2.0+ or CRI-O 1.25+ with runc 1.2+ or crun 1.9+, and Linux 6.3+";

/// Whether a node can run pods with `hostUsers: false`, from its `status`: its container
/// runtime's default handler says it supports user namespaces (`status.runtimeHandlers`, which
/// the kubelet fills from the runtime: a runtime that reports no handlers, such as containerd
/// before 2.0, makes the kubelet refuse such pods) and its kernel is at least
/// [`USER_NAMESPACES_MIN_KERNEL`]. `supported`, or `unsupported: ` and every reason.
pub fn user_namespaces(status: &k8s_openapi::api::core::v1::NodeStatus) -> String {
    let mut missing = Vec::new();
    let handlers = status.runtime_handlers.as_deref().unwrap_or_default();
    let runtime = status
        .node_info
        .as_ref()
        .map(|i| i.container_runtime_version.as_str())
        .unwrap_or("unknown");
    match handlers.iter().find(|h| h.name.as_deref().unwrap_or_default().is_empty()) {
        None if handlers.is_empty() => missing.push(format!(
            "the container runtime ({runtime}) reports no runtime handlers, so none supports user namespaces (containerd 2.0+ or CRI-O 1.25+ needed)"
        )),
        None => missing.push(format!(
            "the container runtime ({runtime}) reports no default runtime handler"
        )),
        Some(h)
            if h.features
                .as_ref()
                .and_then(|f| f.user_namespaces)
                .unwrap_or(false) => {}
        Some(_) => missing.push(format!(
            "the container runtime ({runtime}) says its default handler does not support user namespaces (needs runc 1.2+ or crun 1.9+ under containerd 2.0+ or CRI-O 1.25+)"
        )),
    }
    match status.node_info.as_ref().map(|i| i.kernel_version.as_str()) {
        Some(kernel) if at_least(kernel, USER_NAMESPACES_MIN_KERNEL) => {}
        Some(kernel) => missing.push(format!(
            "kernel {kernel} is older than {USER_NAMESPACES_MIN_KERNEL} (no idmap mounts on tmpfs)"
        )),
        None => missing.push("kernel version unknown".to_owned()),
    }
    if missing.is_empty() {
        "supported".to_owned()
    } else {
        format!("unsupported: {}", missing.join("; "))
    }
}

/// The kubelet settings the baseline judges, with the kubelet's own defaults for a
/// configuration file (`kubelet.config.k8s.io/v1beta1`: no seccomp default, no pids limit
/// (-1), anonymous requests refused, no read-only port).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeletSettings {
    pub seccomp_default: bool,
    pub pod_pids_limit: i64,
    pub anonymous_auth: bool,
    pub read_only_port: i64,
}

impl KubeletSettings {
    /// The settings of a KubeletConfiguration file's text.
    pub fn from_config(text: &str) -> Result<Self, String> {
        let value: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(text).map_err(|e| format!("not YAML: {e}"))?;
        let kind = value
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or_default();
        if kind != "KubeletConfiguration" {
            return Err(format!("kind is {kind:?}, not KubeletConfiguration"));
        }
        let int =
            |key: &str, default: i64| value.get(key).and_then(|v| v.as_i64()).unwrap_or(default);
        Ok(Self {
            seccomp_default: value
                .get("seccompDefault")
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
            pod_pids_limit: int("podPidsLimit", -1).max(-1),
            anonymous_auth: value
                .get("authentication")
                .and_then(|a| a.get("anonymous"))
                .and_then(|a| a.get("enabled"))
                .and_then(|e| e.as_bool())
                .unwrap_or(false),
            read_only_port: int("readOnlyPort", 0),
        })
    }

    /// The ConfigMap entries of these settings.
    pub fn data(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                keys::SECCOMP_DEFAULT.to_owned(),
                self.seccomp_default.to_string(),
            ),
            (
                keys::POD_PIDS_LIMIT.to_owned(),
                self.pod_pids_limit.to_string(),
            ),
            (
                keys::ANONYMOUS_AUTH.to_owned(),
                self.anonymous_auth.to_string(),
            ),
            (
                keys::READ_ONLY_PORT.to_owned(),
                self.read_only_port.to_string(),
            ),
        ])
    }
}

/// What falls short on a node whose ConfigMap holds `data`; empty when it meets `baseline`.
/// A value the agent could not read falls short (unknown is not met).
pub fn shortfalls(baseline: &NodeBaseline, data: &BTreeMap<String, String>) -> Vec<String> {
    let get = |key: &str| data.get(key).map(String::as_str);
    let unreadable = || {
        format!(
            "kubelet settings unknown ({})",
            get(keys::KUBELET_CONFIG).unwrap_or("not published")
        )
    };
    let mut missing = Vec::new();
    let mut setting =
        |key: &str, ok: &dyn Fn(&str) -> bool, what: &dyn Fn(&str) -> String| match get(key) {
            None => {
                let text = unreadable();
                if !missing.contains(&text) {
                    missing.push(text);
                }
            }
            Some(value) if !ok(value) => missing.push(what(value)),
            Some(_) => {}
        };
    if baseline.seccomp_default {
        setting(keys::SECCOMP_DEFAULT, &|v| v == "true", &|v| {
            format!("seccompDefault is {v}")
        });
    }
    if let Some(max) = baseline.max_pod_pids {
        setting(
            keys::POD_PIDS_LIMIT,
            &|v| v.parse::<i64>().is_ok_and(|n| n > 0 && n <= max),
            &|v| {
                let unlimited = if v.parse::<i64>().is_ok_and(|n| n <= 0) {
                    " (unlimited)"
                } else {
                    ""
                };
                format!("podPidsLimit is {v}{unlimited}, wants at most {max}")
            },
        );
    }
    if baseline.no_anonymous_auth {
        setting(keys::ANONYMOUS_AUTH, &|v| v == "false", &|_| {
            "anonymous requests to the kubelet are allowed".to_owned()
        });
    }
    if baseline.no_read_only_port {
        setting(keys::READ_ONLY_PORT, &|v| v == "0", &|v| {
            format!("the kubelet's read-only port {v} is open")
        });
    }
    if let Some(min) = &baseline.min_kernel_version {
        match get(keys::KERNEL_VERSION) {
            Some(kernel) if at_least(kernel, min) => {}
            Some(kernel) => missing.push(format!("kernel {kernel}, wants at least {min}")),
            None => missing.push("kernel version unknown".to_owned()),
        }
    }
    if baseline.user_namespaces {
        match get(keys::USER_NAMESPACES) {
            Some("supported") => {}
            Some(other) => missing.push(format!(
                "no user namespaces ({})",
                other.strip_prefix("unsupported: ").unwrap_or(other)
            )),
            None => missing.push("user namespace support unknown".to_owned()),
        }
    }
    if !baseline.container_runtimes.is_empty() {
        match get(keys::CONTAINER_RUNTIME_VERSION) {
            Some(runtime) => {
                let (name, version) = runtime.split_once("://").unwrap_or((runtime, ""));
                match baseline.container_runtimes.get(name) {
                    Some(min) if at_least(version, min) => {}
                    Some(min) => missing.push(format!(
                        "container runtime {runtime}, wants {name} {min} or newer"
                    )),
                    None => missing.push(format!(
                        "container runtime {runtime} is not one of {}",
                        baseline
                            .container_runtimes
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                }
            }
            None => missing.push("container runtime unknown".to_owned()),
        }
    }
    missing
}

/// Whether version `have` (its leading numbers: `6.1.0-28-amd64` is 6.1.0, `v1.7.2` 1.7.2)
/// is at least `want` (numbers separated by dots).
pub fn at_least(have: &str, want: &str) -> bool {
    let numbers = |text: &str| -> Vec<u64> {
        let text = text.trim().trim_start_matches('v');
        let end = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        text[..end]
            .split('.')
            .filter(|p| !p.is_empty())
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    let (have, want) = (numbers(have), numbers(want));
    if have.is_empty() {
        return false;
    }
    for i in 0..want.len().max(have.len()) {
        let (h, w) = (
            have.get(i).copied().unwrap_or(0),
            want.get(i).copied().unwrap_or(0),
        );
        if h != w {
            return h > w;
        }
    }
    true
}

/// The status of `baseline` over the nodes' published data (node name and ConfigMap data),
/// bounded whatever the number of nodes: counts, and the first failing nodes by name.
pub fn assess<'a>(
    baseline: &NodeBaseline,
    nodes: impl IntoIterator<Item = (&'a str, &'a BTreeMap<String, String>)>,
) -> NodeBaselineStatus {
    let mut status = NodeBaselineStatus::default();
    let mut failing: Vec<NodeShortfall> = Vec::new();
    for (node, data) in nodes {
        status.nodes += 1;
        let missing = shortfalls(baseline, data);
        if !missing.is_empty() {
            status.short += 1;
            failing.push(NodeShortfall {
                node: node.to_owned(),
                missing: missing.join("; ").chars().take(1024).collect(),
            });
        }
    }
    failing.sort_by(|a, b| a.node.cmp(&b.node));
    failing.truncate(MAX_LISTED_NODES);
    status.failing = failing;
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn baseline() -> NodeBaseline {
        NodeBaseline {
            seccomp_default: true,
            max_pod_pids: Some(4096),
            no_anonymous_auth: true,
            no_read_only_port: true,
            min_kernel_version: Some("5.15".into()),
            container_runtimes: BTreeMap::from([("containerd".into(), "1.7".into())]),
            user_namespaces: false,
        }
    }

    fn data(config: &str, kernel: &str, runtime: &str) -> BTreeMap<String, String> {
        let mut data = KubeletSettings::from_config(config).unwrap().data();
        data.insert(keys::KERNEL_VERSION.into(), kernel.into());
        data.insert(keys::CONTAINER_RUNTIME_VERSION.into(), runtime.into());
        data
    }

    #[test]
    fn a_kubelet_with_the_file_defaults_falls_short_of_seccomp_and_pids() {
        let defaults = data(
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n",
            "6.1.0-28-amd64",
            "containerd://1.7.13",
        );
        assert_eq!(
            shortfalls(&baseline(), &defaults),
            vec![
                "seccompDefault is false".to_owned(),
                "podPidsLimit is -1 (unlimited), wants at most 4096".to_owned()
            ]
        );
        let hardened = data(
            "kind: KubeletConfiguration\nseccompDefault: true\npodPidsLimit: 1024\nauthentication: {anonymous: {enabled: false}}\nreadOnlyPort: 0\n",
            "6.1.0-28-amd64",
            "containerd://1.7.13",
        );
        assert_eq!(shortfalls(&baseline(), &hardened), Vec::<String>::new());
        let open = data(
            "kind: KubeletConfiguration\nseccompDefault: true\npodPidsLimit: 1024\nauthentication: {anonymous: {enabled: true}}\nreadOnlyPort: 10255\n",
            "5.10.0-28-amd64",
            "containerd://1.6.20",
        );
        assert_eq!(
            shortfalls(&baseline(), &open),
            vec![
                "anonymous requests to the kubelet are allowed".to_owned(),
                "the kubelet's read-only port 10255 is open".to_owned(),
                "kernel 5.10.0-28-amd64, wants at least 5.15".to_owned(),
                "container runtime containerd://1.6.20, wants containerd 1.7 or newer".to_owned(),
            ]
        );
        let crio = data("kind: KubeletConfiguration\n", "6.1", "cri-o://1.30.0");
        assert!(
            shortfalls(&baseline(), &crio)
                .contains(&"container runtime cri-o://1.30.0 is not one of containerd".to_owned())
        );
        let unread = BTreeMap::from([(
            keys::KUBELET_CONFIG.to_owned(),
            "unreadable: no such file".to_owned(),
        )]);
        assert_eq!(
            shortfalls(
                &NodeBaseline {
                    seccomp_default: true,
                    max_pod_pids: Some(1),
                    ..Default::default()
                },
                &unread
            ),
            vec!["kubelet settings unknown (unreadable: no such file)".to_owned()]
        );
        assert!(KubeletSettings::from_config("kind: Pod\n").is_err());
    }

    fn status(
        handlers: serde_json::Value,
        kernel: &str,
        runtime: &str,
    ) -> k8s_openapi::api::core::v1::NodeStatus {
        serde_json::from_value(serde_json::json!({
            "runtimeHandlers": handlers,
            "nodeInfo": {
                "kernelVersion": kernel, "containerRuntimeVersion": runtime,
                "architecture": "amd64", "bootID": "", "kubeProxyVersion": "", "kubeletVersion": "v1.36.2",
                "machineID": "", "operatingSystem": "linux", "osImage": "", "systemUUID": "",
            },
        }))
        .unwrap()
    }

    #[test]
    fn user_namespaces_need_the_runtime_to_say_so_and_linux_6_3() {
        let supported = serde_json::json!([
            {"name": "", "features": {"recursiveReadOnlyMounts": true, "userNamespaces": true}},
            {"name": "runc", "features": {"userNamespaces": true}},
        ]);
        assert_eq!(
            user_namespaces(&status(
                supported.clone(),
                "6.8.0-45-generic",
                "containerd://2.0.2"
            )),
            "supported"
        );
        // containerd 1.6 (the test node's) reports no handlers at all.
        assert_eq!(
            user_namespaces(&status(
                serde_json::Value::Null,
                "6.18.44",
                "containerd://1.6.20"
            )),
            "unsupported: the container runtime (containerd://1.6.20) reports no runtime handlers, so none supports user namespaces (containerd 2.0+ or CRI-O 1.25+ needed)"
        );
        let without = serde_json::json!([{"name": "", "features": {"userNamespaces": false}}]);
        assert_eq!(
            user_namespaces(&status(without, "5.15.0", "containerd://1.7.2")),
            "unsupported: the container runtime (containerd://1.7.2) says its default handler does not support user namespaces (needs runc 1.2+ or crun 1.9+ under containerd 2.0+ or CRI-O 1.25+); kernel 5.15.0 is older than 6.3 (no idmap mounts on tmpfs)"
        );
        // What the baseline makes of it.
        let mut data = BTreeMap::new();
        data.insert(
            keys::USER_NAMESPACES.to_owned(),
            user_namespaces(&status(supported, "6.1.0", "cri-o://1.30.0")),
        );
        let wanted = NodeBaseline {
            user_namespaces: true,
            ..Default::default()
        };
        assert_eq!(
            shortfalls(&wanted, &data),
            vec![
                "no user namespaces (kernel 6.1.0 is older than 6.3 (no idmap mounts on tmpfs))"
                    .to_owned()
            ]
        );
        assert_eq!(
            shortfalls(&wanted, &BTreeMap::new()),
            vec!["user namespace support unknown".to_owned()]
        );
        // requireUserNamespaces adds it to whatever baseline the profile sets (or none).
        let spec = |yaml: &str| -> crate::core::api::HardeningProfileSpec {
            serde_yaml_ng::from_str(&format!("namespaceSelector: {{}}\n{yaml}")).unwrap()
        };
        assert_eq!(spec("").effective_node_baseline(), None);
        assert_eq!(
            spec("guardrails: {requireUserNamespaces: true}").effective_node_baseline(),
            Some(wanted)
        );
        let both =
            spec("guardrails: {requireUserNamespaces: true}\nnodeBaseline: {seccompDefault: true}")
                .effective_node_baseline()
                .unwrap();
        assert!(both.user_namespaces && both.seccomp_default);
    }

    #[test]
    fn versions_compare_number_by_number() {
        assert!(at_least("6.1.0-28-amd64", "5.15"));
        assert!(at_least("5.15", "5.15.0"));
        assert!(!at_least("5.10.209", "5.15"));
        assert!(at_least("v1.7.2", "1.7"));
        assert!(!at_least("1.6.20", "1.7"));
        assert!(!at_least("", "1"));
    }

    #[test]
    fn thousands_of_nodes_stay_a_bounded_status() {
        let short = data("kind: KubeletConfiguration\n", "6.1", "containerd://1.7.1");
        let names: Vec<String> = (0..5000).map(|i| format!("node-{i:05}")).collect();
        let status = assess(&baseline(), names.iter().map(|n| (n.as_str(), &short)));
        assert_eq!((status.nodes, status.short), (5000, 5000));
        assert_eq!(status.failing.len(), MAX_LISTED_NODES);
        assert_eq!(status.failing[0].node, "node-00000");
        let bytes = serde_json::to_vec(&status).unwrap().len();
        assert!(bytes < 2_000, "{bytes} bytes for 5,000 nodes");
    }
}
