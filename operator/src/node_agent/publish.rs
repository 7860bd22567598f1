//! The per-node ConfigMap `hardening-node-<node>` in the agent's namespace: its name, and
//! publishing a pass's [`NodeReport`] into it by server-side apply under the agent's own
//! field manager.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};

use super::report::NodeReport;
use crate::core::labels::MANAGED_BY_LABEL;

/// Field manager of the per-node ConfigMap.
pub const FIELD_MANAGER: &str = "hardening-node-agent";

/// The per-node ConfigMap's name.
pub fn config_map_name(node: &str) -> String {
    format!("hardening-node-{node}")
}

/// Applies `report`'s data to `node`'s ConfigMap in `namespace`.
pub(super) async fn publish(
    client: &Client,
    namespace: &str,
    node: &str,
    report: &NodeReport,
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
        "data": report.config_map_data(),
    });
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(body),
    )
    .await
    .map(|_| ())
}
