//! The per-node ConfigMap `hardening-node-<node>` in the agent's namespace: its name, and
//! publishing a pass's `NodeReport` into it by server-side apply under the agent's own
//! field manager.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};

use crate::core::labels::MANAGED_BY_LABEL;

/// Field manager of the per-node ConfigMap.
pub const FIELD_MANAGER: &str = "hardening-node-agent";

/// The per-node ConfigMap's name.
pub fn config_map_name(node: &str) -> String {
    format!("hardening-node-{node}")
}

/// Applies `data` (a pass's [`NodeReport`] and the node's state) to `node`'s ConfigMap in
/// `namespace`.
pub(super) async fn publish(
    client: &Client,
    namespace: &str,
    node: &str,
    data: &std::collections::BTreeMap<String, String>,
) -> kube::Result<()> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let name = config_map_name(node);
    let body = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "labels": {MANAGED_BY_LABEL: FIELD_MANAGER},
        },
        "data": data,
    });
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(body),
    )
    .await
    .map(|_| ())
}

/// The node's state for the node baseline: its kubelet's settings from `config` (the
/// KubeletConfiguration file) and its `status.nodeInfo` (kernel, container runtime and
/// kubelet versions; needs `get` on the node).
pub(super) async fn node_state(
    client: &Client,
    node: &str,
    config: &std::path::Path,
) -> std::collections::BTreeMap<String, String> {
    use crate::core::nodes::keys;
    let mut data = node_state_file(config);
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    match nodes.get(node).await {
        Ok(object) => {
            if let Some(status) = &object.status {
                data.insert(
                    keys::USER_NAMESPACES.to_owned(),
                    crate::core::nodes::user_namespaces(status),
                );
            }
            if let Some(info) = object.status.and_then(|s| s.node_info) {
                data.insert(keys::KERNEL_VERSION.to_owned(), info.kernel_version);
                data.insert(
                    keys::CONTAINER_RUNTIME_VERSION.to_owned(),
                    info.container_runtime_version,
                );
                data.insert(keys::KUBELET_VERSION.to_owned(), info.kubelet_version);
            }
        }
        Err(e) => tracing::warn!("cannot read node {node}: {e}"),
    }
    data
}

/// The kubelet's settings from its configuration file, as ConfigMap entries (`kubelet.*`).
pub(super) fn node_state_file(
    config: &std::path::Path,
) -> std::collections::BTreeMap<String, String> {
    use crate::core::nodes::{KubeletSettings, keys};
    let mut data = std::collections::BTreeMap::new();
    match std::fs::read_to_string(config)
        .map_err(|e| e.to_string())
        .and_then(|text| KubeletSettings::from_config(&text))
    {
        Ok(settings) => {
            data.extend(settings.data());
            data.insert(
                keys::KUBELET_CONFIG.to_owned(),
                format!("file {}", config.display()),
            );
        }
        Err(e) => {
            data.insert(
                keys::KUBELET_CONFIG.to_owned(),
                format!("unreadable: {}: {e}", config.display()),
            );
        }
    }
    data
}
