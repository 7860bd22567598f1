//! Watches and writes of the generated kinds, driven by `ManagedKind::ALL`: a new kind needs
//! no edit here, only its `ApiResource`.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, Stream, StreamExt};
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams};
use kube::runtime::utils::{Backoff, ResetTimerBackoff};
use kube::runtime::watcher::ExponentialBackoff;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::Value;

use super::index::KindIndex;
use crate::core::labels::FIELD_MANAGER;
use crate::core::render::ManagedKind;
use crate::error::Error;
use crate::live::api_resource;

/// Backoff of every watch after an error: short, so that after the API server comes back
/// (every watch then fails, and re-lists) the caches are current again within about two
/// seconds. kube's default backoff grows to 30 s, which left drift unrepaired for up to a
/// minute after an API server restart.
pub fn watch_backoff() -> impl Backoff {
    let exponential: ExponentialBackoff = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(2))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .into();
    ResetTimerBackoff::new(exponential, Duration::from_secs(30))
}

/// An index of every object of `kind` and the future that fills it from one watch. The
/// future runs on its own (the index fills even while every reconcile slot is busy) and
/// sends every namespace whose objects changed to `trigger`.
pub fn index(
    client: &Client,
    kind: ManagedKind,
    trigger: impl Fn(String) + Send + Sync + 'static,
) -> (Arc<KindIndex>, BoxFuture<'static, ()>) {
    let index = Arc::new(KindIndex::new(kind, trigger));
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &api_resource(kind));
    let filled = index.clone();
    let events = watcher(api, watcher::Config::default())
        .backoff(watch_backoff())
        .map(move |event| event.map(|event| filled.take(event)));
    (index, drive(kind.kind(), events))
}

/// Events a subscriber may lag behind before the reflector waits for it.
pub const SUBSCRIBER_BUFFER: usize = 1024;

/// Polls a watch stream to its end, logging watch errors (the watcher retries them
/// with backoff; they are never silently dropped).
pub fn drive<T>(
    kind: &'static str,
    stream: impl Stream<Item = Result<T, watcher::Error>> + Send + 'static,
) -> BoxFuture<'static, ()>
where
    T: Send + 'static,
{
    stream
        .for_each(move |event| async move {
            if let Err(e) = event {
                tracing::warn!(kind, error = %e, "watch failed; retrying with backoff");
            }
        })
        .boxed()
}

fn api(client: &Client, kind: ManagedKind, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, &api_resource(kind))
}

/// Server-side apply under the operator's field manager, forced: takes back fields another
/// manager changed on an object the operator owns. Returns the object as stored.
pub async fn apply(
    client: &Client,
    kind: ManagedKind,
    namespace: &str,
    name: &str,
    body: &Value,
) -> Result<DynamicObject, Error> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    server_side_apply(client, kind, namespace, name, body, &params).await
}

/// Server-side applies an object the index does not hold, without force: if it exists
/// after all (created meanwhile, its watch event not here yet) with fields another manager
/// owns, the API server refuses (409) instead of the operator taking it over, and the
/// object is reported as foreign.
pub async fn create(
    client: &Client,
    kind: ManagedKind,
    namespace: &str,
    name: &str,
    body: &Value,
) -> Result<DynamicObject, Error> {
    let params = PatchParams::apply(FIELD_MANAGER);
    match server_side_apply(client, kind, namespace, name, body, &params).await {
        Err(Error::Api {
            source: kube::Error::Api(status),
            ..
        }) if status.code == 409 => Err(Error::ForeignObject {
            namespace: namespace.to_owned(),
            objects: format!("{} {name} exists", kind.kind()),
        }),
        result => result,
    }
}

async fn server_side_apply(
    client: &Client,
    kind: ManagedKind,
    namespace: &str,
    name: &str,
    body: &Value,
    params: &PatchParams,
) -> Result<DynamicObject, Error> {
    api(client, kind, namespace)
        .patch(name, params, &Patch::Apply(body))
        .await
        .map_err(api_error("apply", kind, namespace, name))
}

/// The error of a request that failed to `verb` the managed object `namespace/name`.
fn api_error(
    verb: &'static str,
    kind: ManagedKind,
    namespace: &str,
    name: &str,
) -> impl FnOnce(kube::Error) -> Error {
    Error::api(verb, kind.kind(), format!("{namespace}/{name}"))
}

/// Removes `paths` (fields another manager added, which server-side apply leaves in place)
/// with a merge patch that only succeeds on `resource_version`: a concurrent change fails it
/// (409) instead of being overwritten. Returns the object as stored.
pub async fn remove_fields(
    client: &Client,
    kind: ManagedKind,
    namespace: &str,
    name: &str,
    resource_version: &str,
    paths: &[Vec<String>],
) -> Result<DynamicObject, Error> {
    remove_fields_with(&api(client, kind, namespace), name, resource_version, paths)
        .await
        .map_err(api_error("remove foreign fields of", kind, namespace, name))
}

/// [`remove_fields`] through any API (the guardrails' objects are cluster-scoped); kube's
/// error as it is.
pub async fn remove_fields_with(
    api: &Api<DynamicObject>,
    name: &str,
    resource_version: &str,
    paths: &[Vec<String>],
) -> kube::Result<DynamicObject> {
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    let patch = removal_patch(resource_version, paths);
    api.patch(name, &params, &Patch::Merge(&patch)).await
}

/// A JSON merge patch setting each path to null (which deletes it), guarded by
/// `metadata.resourceVersion`.
pub fn removal_patch(resource_version: &str, paths: &[Vec<String>]) -> Value {
    let mut patch = serde_json::json!({ "metadata": { "resourceVersion": resource_version } });
    for path in paths {
        let Some((last, parents)) = path.split_last() else {
            continue;
        };
        let mut node = &mut patch;
        for key in parents {
            node = node
                .as_object_mut()
                .expect("patch nodes are objects")
                .entry(key.clone())
                .or_insert_with(|| Value::Object(Default::default()));
            if !node.is_object() {
                *node = Value::Object(Default::default());
            }
        }
        node.as_object_mut()
            .expect("patch nodes are objects")
            .insert(last.clone(), Value::Null);
    }
    patch
}

/// Deletes an object; "not found" counts as done. With `uid`, only the object of that uid:
/// another one of the name (someone re-created it) is left alone. Whether this call deleted
/// it (`false`: it was gone, or is another object now).
pub async fn delete(
    client: &Client,
    kind: ManagedKind,
    namespace: &str,
    name: &str,
    uid: Option<&str>,
) -> Result<bool, Error> {
    let mut params = DeleteParams::background();
    if let Some(uid) = uid {
        params = params.preconditions(kube::api::Preconditions {
            uid: Some(uid.to_owned()),
            resource_version: None,
        });
    }
    match api(client, kind, namespace).delete(name, &params).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 || (uid.is_some() && s.code == 409) => Ok(false),
        Err(e) => Err(api_error("delete", kind, namespace, name)(e)),
    }
}

/// Removes the ownerReference to `profile_uid`, so that deleting the profile does not
/// garbage-collect an object the profile's `Orphan` policy keeps.
pub async fn disown(
    client: &Client,
    kind: ManagedKind,
    object: &DynamicObject,
    profile_uid: &str,
) -> Result<(), Error> {
    let namespace = object.namespace().unwrap_or_default();
    let name = object.name_any();
    let remaining: Vec<_> = object
        .owner_references()
        .iter()
        .filter(|r| r.uid != profile_uid)
        .cloned()
        .collect();
    let patch = serde_json::json!({ "metadata": {
        "ownerReferences": remaining,
        // Guards against racing with a concurrent change of the references.
        "resourceVersion": object.resource_version(),
    }});
    api(client, kind, &namespace)
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
        .map_err(api_error("disown", kind, &namespace, &name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_removal_patch_nulls_each_path_under_a_resource_version() {
        let paths = vec![
            vec!["spec".to_owned(), "scopes".to_owned()],
            vec!["spec".to_owned(), "hard".to_owned(), "secrets".to_owned()],
            vec![
                "metadata".to_owned(),
                "labels".to_owned(),
                "pod-security.kubernetes.io/warn".to_owned(),
            ],
        ];
        assert_eq!(
            removal_patch("42", &paths),
            json!({
                "metadata": {"resourceVersion": "42", "labels": {"pod-security.kubernetes.io/warn": null}},
                "spec": {"scopes": null, "hard": {"secrets": null}}
            })
        );
    }
}
