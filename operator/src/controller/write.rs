//! The one write path of an object the operator owns, for each scope it writes: a
//! generated object in a namespace ([`NamespacedObject`]), a namespace's labels and
//! annotations ([`NamespaceMetadata`]), a cluster-scoped admission object
//! ([`ClusterObject`]). [`write`] is the path, in this order:
//!
//! 1. refuse a write that did not take last time while the object still differs exactly as
//!    it did right after it ([`UnconvergedWrites`]), so the operator never loops;
//! 2. server-side apply;
//! 3. compare what the API server stored with what was applied;
//! 4. strip the fields other managers added (which server-side apply leaves in place), with
//!    a patch guarded by the resource version, and compare again;
//! 5. record the object as stored where reconciles read it before its watch event arrives;
//! 6. forget a past failure, or remember this one and report it (`NotConverging`).
//!
//! Each scope says how it applies, compares, strips and records ([`Object`]); the order and
//! the memory of failed writes are here only.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::core::ClusterResourceScope;
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::warn;

use super::index::{KindIndex, PendingWrite, Written, to_value};
use super::managed;
use super::state::{Backoffs, NamespaceWrites, PendingNamespaceWrite};
use crate::core::canonical::canonical;
use crate::core::diff::{Change, Drift, diff_namespace, diff_object};
use crate::core::labels::FIELD_MANAGER;
use crate::core::render::{Desired, ManagedKind};
use crate::error::{Difference, Error};

/// `(namespace, kind, name)` of a written object (namespace empty: cluster-scoped).
pub type ObjectKey = (String, &'static str, String);

/// How one scope of object is written: the steps of [`write`] that differ by scope.
pub trait Object {
    /// The object as the API server answers a write.
    type Stored: kube::Resource;

    /// Server-side applies `body` under the operator's field manager.
    async fn apply(&mut self, body: &Value) -> Result<Self::Stored, Error>;

    /// What still differs in `stored` from what was applied.
    fn compare(&self, stored: &Self::Stored) -> Vec<Drift>;

    /// Removes `fields` (added by other managers) with a patch that only succeeds on
    /// `resource_version`.
    async fn strip(
        &self,
        resource_version: &str,
        fields: &[Vec<String>],
    ) -> Result<Self::Stored, Error>;

    /// Keeps what was stored for the reconciles that read before its watch event arrives.
    fn record(&mut self, stored: Self::Stored);
}

/// Writes `body` to `object` (`key` names it; `drifts`: how it differs now, as the plan saw
/// it). `NotConverging` when it still differs after the write, or when the same write did
/// not take on the same state before.
pub async fn write<O: Object>(
    object: &mut O,
    unconverged: &UnconvergedWrites,
    key: ObjectKey,
    body: &Value,
    drifts: &[Drift],
) -> Result<(), Error> {
    unconverged.refuse(&key, body, drifts)?;
    let mut stored = object.apply(body).await?;
    let mut remaining = object.compare(&stored);
    let added = foreign_additions(&remaining);
    if !added.is_empty() && added.len() == remaining.len() {
        let version = stored.resource_version().unwrap_or_default();
        stored = object.strip(&version, &added).await?;
        remaining = object.compare(&stored);
    }
    object.record(stored);
    unconverged.settle(key, body, remaining)
}

/// Paths of the drifts that are fields another manager added.
fn foreign_additions(drifts: &[Drift]) -> Vec<Vec<String>> {
    drifts
        .iter()
        .filter(|d| d.change == Change::Added)
        .map(|d| d.path.clone())
        .collect()
}

/// What a list of drifts says about the object, without who did it.
fn differences(drifts: &[Drift]) -> Vec<(String, Option<String>, Option<String>)> {
    drifts
        .iter()
        .map(|d| (d.field.clone(), d.expected.clone(), d.actual.clone()))
        .collect()
}

/// An object the operator wrote that did not take: what it applied and what still
/// differed right after. As long as both still hold (status writes of other controllers
/// aside), writing again would change nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Unconverged {
    /// The applied body.
    body: Value,
    /// `(field, expected, actual)` of every difference left after the write.
    remaining: Vec<(String, Option<String>, Option<String>)>,
    /// The first of them, as reported.
    first: Difference,
}

impl Unconverged {
    fn error(&self, (namespace, kind, name): &ObjectKey) -> Error {
        Error::NotConverging {
            kind,
            object: if *kind == "Namespace" || namespace.is_empty() {
                name.clone()
            } else {
                format!("{namespace}/{name}")
            },
            difference: Box::new(self.first.clone()),
        }
    }
}

/// The writes that did not take, by object, so that they are not repeated on the same
/// state.
#[derive(Default)]
pub struct UnconvergedWrites(
    Mutex<HashMap<ObjectKey, Unconverged>>,
    /// Writes in a namespace tried again because a profile was being deleted, in a row.
    Backoffs,
);

impl UnconvergedWrites {
    /// Refuses to write `body` again when the last write of the same body did not take and
    /// the object still differs exactly as it did right after that write (nobody changed
    /// what the operator compares since).
    fn refuse(&self, key: &ObjectKey, body: &Value, drifts: &[Drift]) -> Result<(), Error> {
        match self.lock().get(key) {
            Some(last) if last.body == *body && last.remaining == differences(drifts) => {
                Err(last.error(key))
            }
            _ => Ok(()),
        }
    }

    /// After a write: forgets a past failure, or records this one and reports it.
    fn settle(&self, key: ObjectKey, body: &Value, remaining: Vec<Drift>) -> Result<(), Error> {
        let mut unconverged = self.lock();
        let left = differences(&remaining);
        let Some(first) = remaining.into_iter().next() else {
            unconverged.remove(&key);
            return Ok(());
        };
        warn!(namespace = %key.0, kind = key.1, name = %key.2, field = %first.field, "write did not take; not repeating it");
        let entry = Unconverged {
            body: body.clone(),
            remaining: left,
            first: Difference {
                field: first.field,
                expected: first.expected.unwrap_or_else(|| "(absent)".to_owned()),
                actual: first.actual.unwrap_or_else(|| "(absent)".to_owned()),
            },
        };
        let error = entry.error(&key);
        unconverged.insert(key, entry);
        Err(error)
    }

    /// How long to wait before trying the writes in `namespace` again that did not take
    /// while a profile was being deleted: 1 s, doubling with each such try in a row (a
    /// profile whose deletion never ends does not make a loop of writes).
    pub fn retry_while_deleting(&self, namespace: &str) -> std::time::Duration {
        self.1.fail(namespace).delay
    }

    /// The writes in `namespace` took (no profile being deleted): the next retry starts at
    /// 1 s again.
    pub fn end_retries(&self, namespace: &str) {
        self.1.clear(namespace);
    }

    /// Forgets the writes in `namespace` (it is gone or no longer governed).
    pub fn forget_namespace(&self, namespace: &str) {
        self.lock().retain(|(ns, _, _), _| ns != namespace);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectKey, Unconverged>> {
        self.0.lock().expect("unconverged lock")
    }
}

/// A generated object in a namespace, recorded in its kind's index.
pub struct NamespacedObject<'a> {
    client: &'a Client,
    index: &'a KindIndex,
    namespace: &'a str,
    name: &'a str,
    /// The body as the API server stores it (`canonical`), to compare with.
    compared: Value,
    /// The write in flight (its object's events held until it is recorded).
    pending: Option<PendingWrite<'a>>,
}

impl<'a> NamespacedObject<'a> {
    pub fn new(
        client: &'a Client,
        index: &'a KindIndex,
        namespace: &'a str,
        name: &'a str,
        body: &Value,
    ) -> Self {
        Self {
            client,
            index,
            namespace,
            name,
            compared: canonical(body),
            pending: None,
        }
    }

    fn kind(&self) -> ManagedKind {
        self.index.kind
    }
}

impl Object for NamespacedObject<'_> {
    type Stored = DynamicObject;

    /// Forced where the index holds the object, else without force (see `managed::create`).
    async fn apply(&mut self, body: &Value) -> Result<DynamicObject, Error> {
        self.pending = Some(self.index.begin_write(self.namespace, self.name));
        let (kind, namespace, name) = (self.kind(), self.namespace, self.name);
        if self.index.get(namespace, name).is_some() {
            managed::apply(self.client, kind, namespace, name, body).await
        } else {
            managed::create(self.client, kind, namespace, name, body).await
        }
    }

    fn compare(&self, stored: &DynamicObject) -> Vec<Drift> {
        to_value(stored)
            .map(|json| diff_object(&self.compared, Some(&json), FIELD_MANAGER))
            .unwrap_or_default()
    }

    async fn strip(&self, version: &str, fields: &[Vec<String>]) -> Result<DynamicObject, Error> {
        let (kind, namespace, name) = (self.kind(), self.namespace, self.name);
        managed::remove_fields(self.client, kind, namespace, name, version, fields).await
    }

    fn record(&mut self, stored: DynamicObject) {
        self.pending
            .take()
            .expect("recorded after it was applied")
            .finish(Written::Stored(Box::new(stored)));
    }
}

/// A namespace's labels and annotations: only the Pod Security labels the profile governs
/// are compared; the stored namespace stands in for the cached one until its watch event.
pub struct NamespaceMetadata<'a> {
    client: &'a Client,
    writes: &'a NamespaceWrites,
    /// The write in flight (the namespace's events held until it is recorded).
    pending: Option<PendingNamespaceWrite<'a>>,
    name: &'a str,
    desired: &'a Desired,
    annotations: BTreeMap<String, String>,
}

impl<'a> NamespaceMetadata<'a> {
    pub fn new(
        client: &'a Client,
        writes: &'a NamespaceWrites,
        name: &'a str,
        desired: &'a Desired,
        body: &Value,
    ) -> Self {
        Self {
            client,
            writes,
            pending: None,
            name,
            desired,
            annotations: body
                .pointer("/metadata/annotations")
                .and_then(|a| serde_json::from_value(a.clone()).ok())
                .unwrap_or_default(),
        }
    }
}

impl Object for NamespaceMetadata<'_> {
    type Stored = Namespace;

    async fn apply(&mut self, body: &Value) -> Result<Namespace, Error> {
        self.pending = Some(self.writes.begin(self.name));
        apply_namespace(self.client, self.name, body).await
    }

    fn compare(&self, stored: &Namespace) -> Vec<Drift> {
        diff_namespace(
            &self.desired.namespace_labels,
            &self.annotations,
            self.desired.governed_labels,
            stored,
            FIELD_MANAGER,
        )
    }

    async fn strip(&self, version: &str, fields: &[Vec<String>]) -> Result<Namespace, Error> {
        let patch = managed::removal_patch(version, fields);
        Api::<Namespace>::all(self.client.clone())
            .patch(
                self.name,
                &PatchParams {
                    field_manager: Some(FIELD_MANAGER.to_owned()),
                    ..PatchParams::default()
                },
                &Patch::Merge(&patch),
            )
            .await
            .map_err(Error::api(
                "remove foreign labels of",
                "Namespace",
                self.name,
            ))
    }

    fn record(&mut self, stored: Namespace) {
        match self.pending.take() {
            Some(pending) => pending.finish(stored),
            None => self.writes.record(stored),
        }
    }
}

/// Server-side applies `body` to the namespace `name` as the operator.
pub async fn apply_namespace(
    client: &Client,
    name: &str,
    body: &Value,
) -> Result<Namespace, Error> {
    Api::<Namespace>::all(client.clone())
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(body),
        )
        .await
        .map_err(Error::api("apply", "Namespace", name))
}

/// A cluster-scoped object (an admission policy or binding), read from a watch cache: no
/// record of its own.
pub struct ClusterObject<'a> {
    pub api: Api<DynamicObject>,
    pub kind: &'static str,
    pub name: &'a str,
    /// What is applied (compared with what is stored).
    pub body: &'a Value,
    /// How the live object differs (set-typed lists among them are reset first).
    pub drifts: &'a [Drift],
    /// The live object's resource version (`None`: not there).
    pub live_version: Option<String>,
}

impl Object for ClusterObject<'_> {
    type Stored = DynamicObject;

    /// Server-side apply merges a set-typed list (`validationActions`) with the values
    /// other managers own, which can make it invalid (`[Warn, Deny]`): such lists are first
    /// set whole by a merge patch, guarded by the resource version.
    async fn apply(&mut self, body: &Value) -> Result<DynamicObject, Error> {
        let (kind, name) = (self.kind, self.name);
        let lists: Vec<(&Drift, &Value)> = self
            .drifts
            .iter()
            .filter(|d| d.change == Change::Changed)
            .filter_map(|d| lookup(body, &d.path).map(|v| (d, v)))
            .filter(|(_, v)| v.is_array())
            .collect();
        if let (false, Some(version)) = (lists.is_empty(), &self.live_version) {
            let mut patch = serde_json::json!({ "metadata": { "resourceVersion": version } });
            for (drift, value) in &lists {
                set_path(&mut patch, &drift.path, (*value).clone());
            }
            self.api
                .patch(
                    name,
                    &PatchParams {
                        field_manager: Some(FIELD_MANAGER.to_owned()),
                        ..PatchParams::default()
                    },
                    &Patch::Merge(&patch),
                )
                .await
                .map_err(Error::api("reset lists of", kind, name))?;
        }
        self.api
            .patch(
                name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(body),
            )
            .await
            .map_err(Error::api("apply", kind, name))
    }

    fn compare(&self, stored: &DynamicObject) -> Vec<Drift> {
        to_value(stored)
            .map(|json| diff_object(self.body, Some(&json), FIELD_MANAGER))
            .unwrap_or_default()
    }

    async fn strip(&self, version: &str, fields: &[Vec<String>]) -> Result<DynamicObject, Error> {
        managed::remove_fields_with(&self.api, self.name, version, fields)
            .await
            .map_err(Error::api("remove foreign fields of", self.kind, self.name))
    }

    fn record(&mut self, _stored: DynamicObject) {}
}

fn lookup<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(value, |node, key| node.get(key))
}

fn set_path(patch: &mut Value, path: &[String], value: Value) {
    let mut node = patch;
    for key in path {
        node = &mut node[key.as_str()];
    }
    *node = value;
}

/// Server-side applies `status` as the status of the cluster-scoped `K` named `name` (a
/// HardeningProfile, a HardeningException: `kind`), under the operator's field manager.
pub async fn apply_status<K>(
    client: &Client,
    kind: &'static str,
    name: &str,
    status: &impl Serialize,
) -> Result<(), Error>
where
    K: Resource<DynamicType = (), Scope = ClusterResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let body = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    Api::<K>::all(client.clone())
        .patch_status(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map(|_| ())
        .map_err(Error::api("apply status", kind, name))
}
