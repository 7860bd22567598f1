//! The floor: the least a client can do to roll a profile out. It server-side applies
//! exactly what the operator's pure functions produce: the profile's admission policies
//! and bindings (and its cluster report), then for every namespace each object `render`
//! produces, the Namespace body with the Pod Security labels and the profile annotation,
//! and with the full profile the namespace's policy report; as the operator's field
//! manager, with a given number of namespaces in flight. No reads, no status, no watches.

use futures::{StreamExt, TryStreamExt, stream};
use hardening_operator::core::api::{HardeningProfile, Mode};
use hardening_operator::core::labels::FIELD_MANAGER;
use hardening_operator::core::render::render;
use hardening_operator::live::api_resource;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::{Api, Client};

use crate::workload::{self, Extra, ProfileKind};

/// Applies everything; the first error stops it.
pub async fn apply(
    client: &Client,
    profile: &HardeningProfile,
    kind: ProfileKind,
    user: &str,
    namespaces: &[String],
    concurrency: usize,
) -> Result<(), String> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for object in workload::cluster_objects(profile, kind, user) {
        apply_extra(client, &object, &params).await?;
    }
    stream::iter(namespaces)
        .map(|namespace| apply_namespace(client, profile, kind, namespace, &params))
        .buffer_unordered(concurrency)
        .try_collect::<()>()
        .await
}

/// One namespace's writes, one after another (as one reconcile would).
async fn apply_namespace(
    client: &Client,
    profile: &HardeningProfile,
    kind: ProfileKind,
    namespace: &str,
    params: &PatchParams,
) -> Result<(), String> {
    let desired = render(profile, namespace).map_err(|e| format!("render {namespace}: {e}"))?;
    for object in &desired.objects {
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), namespace, &api_resource(object.kind()));
        api.patch(object.name(), params, &Patch::Apply(object.to_json()))
            .await
            .map_err(|e| format!("applying {namespace}/{}: {e}", object.name()))?;
    }
    Api::<Namespace>::all(client.clone())
        .patch(
            namespace,
            params,
            &Patch::Apply(desired.namespace_body(namespace, Mode::Enforce)),
        )
        .await
        .map_err(|e| format!("applying namespace {namespace}: {e}"))?;
    if kind.reports() {
        let report = Extra {
            resource: workload::report_resource(true),
            namespace: Some(namespace.to_owned()),
            body: workload::namespace_report(
                profile,
                namespace,
                &workload::pods(profile, namespace),
            ),
        };
        apply_extra(client, &report, params).await?;
    }
    Ok(())
}

async fn apply_extra(client: &Client, object: &Extra, params: &PatchParams) -> Result<(), String> {
    let api: Api<DynamicObject> = match &object.namespace {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, &object.resource),
        None => Api::all_with(client.clone(), &object.resource),
    };
    api.patch(object.name(), params, &Patch::Apply(&object.body))
        .await
        .map(|_| ())
        .map_err(|e| format!("applying {} {}: {e}", object.resource.kind, object.name()))
}
