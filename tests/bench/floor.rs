//! The floor: the least a client can do to roll a profile out. It server-side applies
//! exactly what `hardening_operator::core::render::render` produces for every namespace (the
//! Namespace body with the Pod Security labels and the profile annotation, then each
//! object), as the operator's field manager, with as many namespaces in flight as the
//! operator reconciles at once. No reads, no status, no watches.

use futures::{StreamExt, TryStreamExt, stream};
use hardening_operator::core::api::{HardeningProfile, Mode};
use hardening_operator::core::labels::FIELD_MANAGER;
use hardening_operator::core::render::{ManagedKind, render};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use kube::{Api, Client};

/// Applies everything; the first error stops it.
pub async fn apply(
    client: &Client,
    profile: &HardeningProfile,
    namespaces: &[String],
    concurrency: usize,
) -> Result<(), String> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    stream::iter(namespaces)
        .map(|namespace| apply_namespace(client, profile, namespace, &params))
        .buffer_unordered(concurrency)
        .try_collect::<()>()
        .await
}

/// One namespace's writes, one after another (as one reconcile would).
async fn apply_namespace(
    client: &Client,
    profile: &HardeningProfile,
    namespace: &str,
    params: &PatchParams,
) -> Result<(), String> {
    let desired = render(profile, namespace).map_err(|e| format!("render {namespace}: {e}"))?;
    Api::<Namespace>::all(client.clone())
        .patch(
            namespace,
            params,
            &Patch::Apply(desired.namespace_body(namespace, Mode::Enforce)),
        )
        .await
        .map_err(|e| format!("applying namespace {namespace}: {e}"))?;
    for object in &desired.objects {
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), namespace, &api_resource(object.kind()));
        api.patch(object.name(), params, &Patch::Apply(object.to_json()))
            .await
            .map_err(|e| format!("applying {namespace}/{}: {e}", object.name()))?;
    }
    Ok(())
}

/// The API resource of a generated kind, for dynamic requests.
pub fn api_resource(kind: ManagedKind) -> ApiResource {
    let api_version = kind.api_version();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    ApiResource {
        group: group.to_owned(),
        version: version.to_owned(),
        api_version: api_version.to_owned(),
        kind: kind.kind().to_owned(),
        plural: kind.plural().to_owned(),
    }
}
