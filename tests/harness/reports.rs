//! Policy reports on the API server: the real published report CRDs
//! (`tests/controlplane/fetch-report-crds.sh`: OpenReports, wgpolicyk8s.io) installed and
//! served, and the reports the operator wrote, read back with their results by rule.

use std::path::PathBuf;

use hardening_operator::core::policy_report::{REPORT_NAME, ReportApi, cluster_report_name};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Api, Client};
use serde_json::Value;

use crate::eventually;

/// The directory `fetch-report-crds.sh` prints (fetching once per machine);
/// `HARDENING_REPORT_CRDS` names it and skips the script.
pub fn crd_dir() -> PathBuf {
    crate::cached_by_script(
        "controlplane/fetch-report-crds.sh",
        "HARDENING_REPORT_CRDS",
        "fetching the report CRDs",
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Installs the report CRD `file` (of [`crd_dir`]) and waits until it is established and
/// its versions are served (discovery may lag behind Established).
pub async fn install(client: &Client, file: &str) {
    let crd: CustomResourceDefinition =
        serde_yaml_ng::from_str(&std::fs::read_to_string(crd_dir().join(file)).unwrap()).unwrap();
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = crd.metadata.name.clone().unwrap();
    api.patch(
        &name,
        &PatchParams::apply("hardening-tests").force(),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap_or_else(|e| panic!("installing {file}: {e}"));
    eventually(&format!("{name} established"), || async {
        let crd = api.get(&name).await.map_err(|e| e.to_string())?;
        crd.status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
            .then_some(())
            .ok_or_else(|| "not established".to_owned())
    })
    .await;
    // The operator detects the APIs through discovery, which may lag behind Established.
    let plural = crd.spec.names.plural.clone();
    for version in crd.spec.versions.iter().filter(|v| v.served) {
        let group_version = format!("{}/{}", crd.spec.group, version.name);
        eventually(&format!("{group_version} {plural} discovered"), || async {
            client
                .list_api_group_resources(&group_version)
                .await
                .map_err(|e| e.to_string())?
                .resources
                .iter()
                .any(|r| r.name == plural)
                .then_some(())
                .ok_or_else(|| "not served yet".to_owned())
        })
        .await;
    }
}

/// The namespace report the operator wrote in `namespace` for `api`, as JSON.
pub async fn report_of(client: &Client, api: ReportApi, namespace: &str) -> Option<Value> {
    let (kind, plural) = api.kind();
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(api.group(), api.version(), kind),
        plural,
    );
    Api::<DynamicObject>::namespaced_with(client.clone(), namespace, &resource)
        .get_opt(REPORT_NAME)
        .await
        .ok()
        .flatten()
        .map(|r| serde_json::to_value(r).unwrap())
}

/// The cluster report of `profile` the operator wrote for `api`, as JSON.
pub async fn cluster_report_of(client: &Client, api: ReportApi, profile: &str) -> Option<Value> {
    let (kind, plural) = api.cluster_kind();
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(api.group(), api.version(), kind),
        plural,
    );
    Api::<DynamicObject>::all_with(client.clone(), &resource)
        .get_opt(&cluster_report_name(profile))
        .await
        .ok()
        .flatten()
        .map(|r| serde_json::to_value(r).unwrap())
}

/// Waits until the cluster report of `profile` has `wanted` for `rule`; the report.
pub async fn wait_for_cluster_result(
    client: &Client,
    api: ReportApi,
    profile: &str,
    rule: &str,
    wanted: &str,
) -> Value {
    eventually(
        &format!("{rule} {wanted} in the cluster report of {profile}"),
        || async {
            let report = cluster_report_of(client, api, profile)
                .await
                .ok_or("no report")?;
            match result_of(&report, rule) {
                Some(r) if r == wanted => Ok(report),
                other => Err(format!("{rule}: {other:?}")),
            }
        },
    )
    .await
}

/// The result (`pass`, `warn`, ...) of `rule` in `report`.
pub fn result_of(report: &Value, rule: &str) -> Option<String> {
    report["results"]
        .as_array()?
        .iter()
        .find(|r| r["rule"] == rule)?["result"]
        .as_str()
        .map(str::to_owned)
}

/// Waits until the report in `namespace` has `wanted` for `rule`; the report.
pub async fn wait_for_result(
    client: &Client,
    api: ReportApi,
    namespace: &str,
    rule: &str,
    wanted: &str,
) -> Value {
    eventually(
        &format!("{rule} {wanted} in the report of {namespace}"),
        || async {
            let report = report_of(client, api, namespace).await.ok_or("no report")?;
            match result_of(&report, rule) {
                Some(r) if r == wanted => Ok(report),
                other => Err(format!("{rule}: {other:?}")),
            }
        },
    )
    .await
}
