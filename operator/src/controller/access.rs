//! The caches behind `status.nodeProxy` and `status.secretReaders`: every ClusterRole and
//! ClusterRoleBinding (few in a cluster), and every Role and RoleBinding indexed by namespace
//! (a namespace's are read without looking at the others'), watched, their managed fields
//! and annotations dropped; a change asks for the status of every profile with `denyExec` or
//! a credential guardrail, which reads who can reach containers past admission or read
//! Secrets (`crate::core::access`).

use futures::StreamExt;
use futures::future::BoxFuture;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;

use super::managed::{drive, watch_backoff};
use crate::core::api::HardeningProfile;

pub struct AccessCaches {
    roles: Store<ClusterRole>,
    bindings: Store<ClusterRoleBinding>,
    namespaced_roles: Arc<Namespaced<Role>>,
    namespaced_bindings: Arc<Namespaced<RoleBinding>>,
}

/// Objects of one namespaced kind by namespace and name, fed by a watch.
struct Namespaced<K> {
    objects: Mutex<HashMap<String, BTreeMap<String, K>>>,
    relist: Mutex<Option<HashMap<String, BTreeMap<String, K>>>>,
    synced: watch::Sender<bool>,
}

impl<K: Resource + Clone> Namespaced<K> {
    fn new() -> Self {
        Self {
            objects: Mutex::default(),
            relist: Mutex::default(),
            synced: watch::Sender::new(false),
        }
    }

    /// Applies one watch event; whether anything changed.
    fn apply(&self, event: &watcher::Event<K>) -> bool {
        let key = |o: &K| (o.namespace().unwrap_or_default(), o.name_any());
        match event {
            watcher::Event::Apply(o) => {
                let (ns, name) = key(o);
                let mut objects = self.objects.lock().expect("rbac index lock");
                objects.entry(ns).or_default().insert(name, o.clone());
                true
            }
            watcher::Event::Delete(o) => {
                let (ns, name) = key(o);
                let mut objects = self.objects.lock().expect("rbac index lock");
                if let Some(names) = objects.get_mut(&ns) {
                    names.remove(&name);
                    if names.is_empty() {
                        objects.remove(&ns);
                    }
                }
                true
            }
            watcher::Event::Init => {
                *self.relist.lock().expect("rbac index lock") = Some(HashMap::new());
                false
            }
            watcher::Event::InitApply(o) => {
                let (ns, name) = key(o);
                if let Some(relist) = self.relist.lock().expect("rbac index lock").as_mut() {
                    relist.entry(ns).or_default().insert(name, o.clone());
                }
                false
            }
            watcher::Event::InitDone => {
                let fresh = self
                    .relist
                    .lock()
                    .expect("rbac index lock")
                    .take()
                    .unwrap_or_default();
                *self.objects.lock().expect("rbac index lock") = fresh;
                self.synced
                    .send_if_modified(|s| !std::mem::replace(s, true));
                true
            }
        }
    }

    fn in_namespace(&self, namespace: &str) -> Vec<K> {
        self.objects
            .lock()
            .expect("rbac index lock")
            .get(namespace)
            .map(|names| names.values().cloned().collect())
            .unwrap_or_default()
    }

    async fn wait_until_synced(&self) {
        let mut synced = self.synced.subscribe();
        let _ = synced.wait_for(|s| *s).await;
    }
}

/// Drops what the checks never read (managed fields, annotations such as
/// `kubectl.kubernetes.io/last-applied-configuration`), to keep the caches small.
fn slim<K: Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    meta.annotations = None;
}

impl AccessCaches {
    pub async fn wait_until_ready(&self) {
        let _ = self.roles.wait_until_ready().await;
        let _ = self.bindings.wait_until_ready().await;
        self.namespaced_roles.wait_until_synced().await;
        self.namespaced_bindings.wait_until_synced().await;
    }

    /// Who may read Secrets in `namespaces` (those a profile governs): everywhere, and per
    /// namespace beyond those (the first [`MAX_LISTED_NAMESPACES`] with any, by name).
    pub fn secret_readers<'a>(
        &self,
        namespaces: impl IntoIterator<Item = &'a str>,
    ) -> crate::core::api::SecretReaders {
        let cluster_roles = self.roles.state();
        let cluster_bindings = self.bindings.state();
        let everywhere = crate::core::access::cluster_secret_readers(
            cluster_roles.iter().map(|r| r.as_ref()),
            cluster_bindings.iter().map(|b| b.as_ref()),
        );
        let mut namespaces: Vec<&str> = namespaces.into_iter().collect();
        namespaces.sort_unstable();
        let mut listed = Vec::new();
        let mut unlisted = 0;
        for namespace in namespaces {
            let bindings = self.namespaced_bindings.in_namespace(namespace);
            if bindings.is_empty() {
                continue;
            }
            let roles = self.namespaced_roles.in_namespace(namespace);
            let readers: Vec<String> = crate::core::access::namespace_secret_readers(
                &roles,
                cluster_roles.iter().map(|r| r.as_ref()),
                &bindings,
            )
            .into_iter()
            .filter(|s| !everywhere.contains(s))
            .collect();
            if readers.is_empty() {
                continue;
            }
            if listed.len() < crate::core::api::MAX_LISTED_NAMESPACES {
                let subjects = crate::core::api::NodeProxySubjects::of(&readers);
                listed.push(crate::core::api::NamespaceSecretReaders {
                    name: namespace.to_owned(),
                    count: subjects.count,
                    listed: subjects.listed,
                });
            } else {
                unlisted += 1;
            }
        }
        crate::core::api::SecretReaders {
            cluster_wide: crate::core::api::NodeProxySubjects::of(&everywhere),
            namespaces: listed,
            unlisted_namespaces: unlisted,
        }
    }

    /// Subjects a ClusterRoleBinding gives `nodes/proxy`, as `core::access` names them.
    pub fn node_proxy_subjects(&self) -> Vec<String> {
        let roles = self.roles.state();
        let bindings = self.bindings.state();
        crate::core::access::node_proxy_subjects(
            roles.iter().map(|r| r.as_ref()),
            bindings.iter().map(|b| b.as_ref()),
        )
    }
}

/// The caches and the futures filling them; a change asks `status` for every profile with
/// `denyExec` (from `profiles`).
pub fn caches(
    client: &Client,
    profiles: Store<HardeningProfile>,
    status: UnboundedSender<String>,
) -> (AccessCaches, Vec<BoxFuture<'static, ()>>) {
    let notify = move || {
        for profile in profiles.state() {
            if profile
                .spec
                .guardrails
                .as_ref()
                .is_some_and(|g| g.deny_exec || credential_rules(g))
            {
                let _ = status.send(profile.name_any());
            }
        }
    };
    let (roles, role_writer) = reflector::store();
    let (bindings, binding_writer) = reflector::store();
    let on_role = notify.clone();
    let on_cluster_binding = notify.clone();
    let role_events = watcher(Api::<ClusterRole>::all(client.clone()), Default::default())
        .backoff(watch_backoff())
        .reflect(role_writer)
        .inspect(move |event| {
            if matches!(
                event,
                Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_))
            ) {
                on_role();
            }
        });
    let binding_events = watcher(
        Api::<ClusterRoleBinding>::all(client.clone()),
        Default::default(),
    )
    .backoff(watch_backoff())
    .reflect(binding_writer)
    .inspect(move |event| {
        if matches!(
            event,
            Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_))
        ) {
            on_cluster_binding();
        }
    });
    let namespaced_roles = Arc::new(Namespaced::<Role>::new());
    let namespaced_bindings = Arc::new(Namespaced::<RoleBinding>::new());
    let (on_role, on_binding) = (notify.clone(), notify);
    let roles_index = namespaced_roles.clone();
    let namespaced_role_events = watcher(Api::<Role>::all(client.clone()), Default::default())
        .backoff(watch_backoff())
        .modify(slim)
        .inspect(move |event| {
            if let Ok(event) = event
                && roles_index.apply(event)
            {
                on_role();
            }
        });
    let bindings_index = namespaced_bindings.clone();
    let namespaced_binding_events =
        watcher(Api::<RoleBinding>::all(client.clone()), Default::default())
            .backoff(watch_backoff())
            .modify(slim)
            .inspect(move |event| {
                if let Ok(event) = event
                    && bindings_index.apply(event)
                {
                    on_binding();
                }
            });
    (
        AccessCaches {
            roles,
            bindings,
            namespaced_roles,
            namespaced_bindings,
        },
        vec![
            drive("ClusterRole", role_events.map(|e| e.map(|_| ()))),
            drive("ClusterRoleBinding", binding_events.map(|e| e.map(|_| ()))),
            drive("Role", namespaced_role_events.map(|e| e.map(|_| ()))),
            drive(
                "RoleBinding",
                namespaced_binding_events.map(|e| e.map(|_| ())),
            ),
        ],
    )
}

/// The guardrails that make `status.secretReaders` worth reading.
pub fn credential_rules(g: &crate::core::api::Guardrails) -> bool {
    g.deny_secret_env_literals || g.deny_service_account_token || g.deny_default_service_account
}
