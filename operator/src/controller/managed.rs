//! Watch caches and writes for the generated kinds, driven by `ManagedKind::ALL`: a new
//! kind needs no edit here, only its `ApiResource`.

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{FutureExt, Stream, StreamExt};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::core::v1::{LimitRange, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;

use crate::error::Error;
use crate::labels::{FIELD_MANAGER, MANAGED_BY_LABEL, MANAGED_BY_VALUE};
use crate::render::ManagedKind;

pub fn api_resource(kind: ManagedKind) -> ApiResource {
    match kind {
        ManagedKind::NetworkPolicy => ApiResource::erase::<NetworkPolicy>(&()),
        ManagedKind::ResourceQuota => ApiResource::erase::<ResourceQuota>(&()),
        ManagedKind::LimitRange => ApiResource::erase::<LimitRange>(&()),
    }
}

/// The cache of one generated kind: only objects labelled as managed by the operator.
pub struct ManagedCache {
    pub kind: ManagedKind,
    pub resource: ApiResource,
    pub store: Store<DynamicObject>,
}

/// Label selector of everything the operator generates.
pub fn managed_selector() -> String {
    format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}")
}

/// A cache for `kind` and the future that fills it. The future runs on its own (the cache
/// fills even while every reconcile slot is busy) and sends the namespace of every touched
/// object to `trigger`, so a change of a generated object reconciles its namespace.
pub fn cache(
    client: &Client,
    kind: ManagedKind,
    trigger: UnboundedSender<ObjectRef<Namespace>>,
) -> (ManagedCache, BoxFuture<'static, ()>) {
    let resource = api_resource(kind);
    let writer = reflector::store::Writer::new(resource.clone());
    let store = writer.as_reader();
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    let config = watcher::Config::default().labels(&managed_selector());
    let events = watcher(api, config)
        .default_backoff()
        .reflect(writer)
        .inspect(move |event| {
            if let Ok(event) = event {
                // Init events carry no change worth a reconcile; the initial pass covers them.
                if let watcher::Event::Apply(o) | watcher::Event::Delete(o) = event
                    && let Some(ns) = o.namespace()
                {
                    let _ = trigger.send(ObjectRef::new(&ns));
                }
            }
        });
    (
        ManagedCache {
            kind,
            resource,
            store,
        },
        drive(kind.kind(), events),
    )
}

/// Events a subscriber may lag behind before the reflector waits for it.
pub const SUBSCRIBER_BUFFER: usize = 1024;

/// Polls a reflector stream to its end, logging watch errors (the watcher retries them
/// with backoff; they are never silently dropped).
pub fn drive<K>(
    kind: &'static str,
    stream: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
) -> BoxFuture<'static, ()>
where
    K: Send + 'static,
{
    stream
        .for_each(move |event| async move {
            if let Err(e) = event {
                tracing::warn!(kind, error = %e, "watch failed; retrying with backoff");
            }
        })
        .boxed()
}

impl ManagedCache {
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<DynamicObject>> {
        let key = ObjectRef::new_with(name, self.resource.clone()).within(namespace);
        self.store.get(&key)
    }

    pub fn in_namespace(&self, namespace: &str) -> Vec<Arc<DynamicObject>> {
        self.store
            .state()
            .into_iter()
            .filter(|o| o.namespace().as_deref() == Some(namespace))
            .collect()
    }

    fn api(&self, client: &Client, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(client.clone(), namespace, &self.resource)
    }

    /// Reads an object the cache does not hold: one that lost the managed-by label, or a
    /// foreign object that happens to carry a generated name.
    pub async fn fetch(
        &self,
        client: &Client,
        namespace: &str,
        name: &str,
    ) -> Result<Option<DynamicObject>, Error> {
        self.api(client, namespace)
            .get_opt(name)
            .await
            .map_err(Error::api(
                "get",
                self.kind.kind(),
                format!("{namespace}/{name}"),
            ))
    }

    /// Server-side apply under the operator's field manager. `force` takes back fields
    /// another manager changed on an object the operator owns: that is the repair.
    pub async fn apply(
        &self,
        client: &Client,
        namespace: &str,
        name: &str,
        body: &Value,
    ) -> Result<(), Error> {
        self.api(client, namespace)
            .patch(
                name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(body),
            )
            .await
            .map(|_| ())
            .map_err(Error::api(
                "apply",
                self.kind.kind(),
                format!("{namespace}/{name}"),
            ))
    }

    /// Deletes an object; "not found" counts as done.
    pub async fn delete(&self, client: &Client, namespace: &str, name: &str) -> Result<(), Error> {
        match self
            .api(client, namespace)
            .delete(name, &DeleteParams::background())
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(Error::api(
                "delete",
                self.kind.kind(),
                format!("{namespace}/{name}"),
            )(e)),
        }
    }

    /// Removes the ownerReference to `profile_uid`, so that deleting the profile does not
    /// garbage-collect an object the profile's `Orphan` policy keeps.
    pub async fn disown(
        &self,
        client: &Client,
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
        self.api(client, &namespace)
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(|_| ())
            .map_err(Error::api(
                "disown",
                self.kind.kind(),
                format!("{namespace}/{name}"),
            ))
    }
}
