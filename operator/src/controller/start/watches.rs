//! Step 1: every watch starts filling its cache at once (also on a standby replica): the
//! HardeningProfiles, the Namespaces (a re-list asks for the namespaces that changed while
//! the watch was down), every object of each generated kind (indexed by namespace, see
//! `index`), and where configured or served the pods, VulnerabilityReports, node states,
//! ClusterNetworkPolicies, admission objects, HardeningExceptions, PodDisruptionBudgets and
//! RBAC objects. Each watch asks for the reconciles its changes call for.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{FutureExt, Stream, StreamExt, TryStreamExt};
use kube::runtime::reflector::{self, ObjectRef, ReflectHandle, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use super::super::caches::Caches;
use super::super::managed::{self, watch_backoff};
use super::super::state::NamespaceWrites;
use super::super::trim::CachedNamespace;
use super::super::{
    access, budgets, cluster_network_policies, exceptions, guardrails, nodes, pods, vulnerabilities,
};
use crate::config::RunConfig;
use crate::core::api::HardeningProfile;
use crate::core::render::ManagedKind;

/// The caches, the futures that fill them, and the requests the watches send.
pub struct Watches {
    pub caches: Caches,
    /// The watches: they run until they end or the controllers have shut down.
    pub drivers: Vec<BoxFuture<'static, ()>>,
    /// Every request for a namespace reconcile, from every watch, by namespace name.
    pub namespace_requests: UnboundedReceiver<String>,
    /// The profile watch's events, for the profile controller.
    pub profile_events: ReflectHandle<HardeningProfile>,
    /// Requests for a profile's status (by profile name), from the watches and (through
    /// the context) from the reconcilers.
    pub status: (UnboundedSender<String>, UnboundedReceiver<String>),
    /// Requests for an exception's judgement (by name); the sender only where the cluster
    /// serves HardeningExceptions.
    pub exceptions: (Option<UnboundedSender<String>>, UnboundedReceiver<String>),
    /// Whether the API server serves MutatingAdmissionPolicy.
    pub mutating_policies: bool,
}

/// Starts every watch.
pub async fn start(client: &Client, config: &RunConfig) -> Watches {
    let client = client.clone();
    // Every request for a namespace reconcile, from every watch, by namespace name.
    let (namespace_tx, namespace_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut drivers = Vec::new();

    let profile_api: Api<HardeningProfile> = Api::all(client.clone());
    let mut profile_watch = watcher::Config::default();
    if let Some(selector) = &config.profile_selector {
        profile_watch = profile_watch.labels(selector);
    }
    let (profiles, profile_writer) = reflector::store_shared(managed::SUBSCRIBER_BUFFER);
    let profile_events = profile_writer
        .subscribe()
        .expect("a shared writer has subscribers");
    let profile_self = profile_writer
        .subscribe()
        .expect("a shared writer has subscribers");
    drivers.push(managed::drive(
        "HardeningProfile",
        watcher(profile_api, profile_watch)
            .backoff(watch_backoff())
            .reflect_shared(profile_writer),
    ));

    let namespace_writer = reflector::store::Writer::<CachedNamespace>::default();
    let namespaces = namespace_writer.as_reader();
    let namespace_writes = Arc::new(NamespaceWrites::new(namespaces.clone(), {
        let tx = namespace_tx.clone();
        move |name| {
            let _ = tx.send(name);
        }
    }));
    let mut relist = Relist {
        own_writes: namespace_writes.clone(),
        ..Relist::default()
    };
    let (reader, tx) = (namespaces.clone(), namespace_tx.clone());
    drivers.push(managed::drive(
        "Namespace",
        // Decoded as the cache keeps them (`trim::CachedNamespace`): the full Namespace is
        // never built.
        watcher(
            Api::<CachedNamespace>::all(client.clone()),
            watcher::Config::default(),
        )
        .backoff(watch_backoff())
        // Before the store takes the event: a re-list is compared with what it held.
        .map_ok(move |event| {
            for name in relist.changed(&event, &reader) {
                let _ = tx.send(name);
            }
            event
        })
        .reflect(namespace_writer)
        .inspect_ok({
            let writes = namespace_writes.clone();
            move |event| {
                if let watcher::Event::Apply(ns) | watcher::Event::Delete(ns) = event {
                    writes.settled(ns);
                }
            }
        }),
    ));

    // A change of a profile's spec (or its deletion) can change what any namespace gets;
    // its status writes change nothing there.
    drivers
        .push(profile_triggers(profile_events, namespaces.clone(), namespace_tx.clone()).boxed());

    let mut indexes = Vec::new();
    for kind in ManagedKind::ALL {
        let tx = namespace_tx.clone();
        let (index, driver) = managed::index(&client, kind, move |namespace| {
            let _ = tx.send(namespace);
        });
        drivers.push(driver);
        indexes.push(index);
    }
    let pods = config.pod_report.then(|| {
        let (cache, driver) = pods::cache(&client, config.excluded(), namespace_tx.clone());
        drivers.push(driver);
        cache
    });

    // The Trivy Operator's VulnerabilityReports, when the cluster serves them.
    let vulnerabilities = if vulnerabilities::detect(&client).await {
        let (cache, driver) =
            vulnerabilities::cache(&client, config.excluded(), namespace_tx.clone());
        drivers.push(driver);
        Some(cache)
    } else {
        None
    };

    let (status_tx, status_rx) = tokio::sync::mpsc::unbounded_channel();
    // ClusterNetworkPolicies, where the cluster serves them.
    let cluster_policies = if cluster_network_policies::detect(&client).await {
        let (cache, driver) = cluster_network_policies::cache(&client, status_tx.clone());
        drivers.push(driver);
        Some(cache)
    } else {
        None
    };
    // The node states the node agents publish, for the profiles' node baselines.
    let node_states = config.node_agent_namespace().map(|namespace| {
        let (states, driver) =
            nodes::cache(&client, &namespace, profiles.clone(), status_tx.clone());
        drivers.push(driver);
        states
    });
    // A change of a generated admission policy or binding asks for its profile's reconcile.
    let mutating_policies = guardrails::mutating_policies_served(&client).await;
    let admission_kinds: Vec<&'static str> = crate::core::guardrails::KINDS
        .into_iter()
        .filter(|kind| {
            mutating_policies
                || ![
                    crate::core::guardrails::MUTATING_POLICY_KIND,
                    crate::core::guardrails::MUTATING_BINDING_KIND,
                ]
                .contains(kind)
        })
        .collect();
    let (guardrail_caches, guardrail_drivers) =
        guardrails::caches(&client, status_tx.clone(), &admission_kinds);
    // HardeningExceptions, where the cluster serves them.
    let (exception_tx, exception_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let (exception_store, exception_requests) = if exceptions::detect(&client).await {
        let (store, driver) = exceptions::cache(&client, status_tx.clone(), exception_tx.clone());
        drivers.push(driver);
        (Some(store), Some(exception_tx))
    } else {
        drop(exception_tx);
        (None, None)
    };
    // PodDisruptionBudgets, for highAvailability's report on running pods.
    let (budgets, budgets_driver) = budgets::cache(&client, namespace_tx.clone());
    drivers.push(budgets_driver);
    // Who can reach containers past admission (nodes/proxy), for profiles with denyExec.
    let (access, access_drivers) = access::caches(&client, profiles.clone(), status_tx.clone());
    drivers.extend(access_drivers);
    drivers.extend(guardrail_drivers);
    Watches {
        caches: Caches {
            profiles,
            namespaces,
            namespace_writes,
            managed: indexes,
            pods,
            vulnerabilities,
            node_states,
            cluster_policies,
            guardrails: Some(guardrail_caches),
            exceptions: exception_store,
            access,
            budgets,
        },
        drivers,
        namespace_requests: namespace_rx,
        profile_events: profile_self,
        status: (status_tx, status_rx),
        exceptions: (exception_requests, exception_rx),
        mutating_policies,
    }
}

/// The namespaces to reconcile for a watch event of the namespace watch: the namespace an
/// event is about, and after a re-list every namespace that changed (or vanished) while the
/// watch was down. The first listing asks for nothing: the controller starts with a full pass.
#[derive(Default)]
struct Relist {
    synced: bool,
    seen: Option<HashSet<String>>,
    /// The echo of the operator's own write asks for nothing (nor, until the write's answer,
    /// an event while the write is in flight).
    own_writes: Arc<NamespaceWrites>,
}

impl Relist {
    fn changed(
        &mut self,
        event: &watcher::Event<CachedNamespace>,
        store: &Store<CachedNamespace>,
    ) -> Vec<String> {
        match event {
            watcher::Event::Apply(ns) if self.own_writes.asks_nothing(ns) => Vec::new(),
            watcher::Event::Apply(ns) | watcher::Event::Delete(ns) => vec![ns.name_any()],
            watcher::Event::Init => {
                self.seen = Some(HashSet::new());
                Vec::new()
            }
            watcher::Event::InitApply(ns) => {
                let name = ns.name_any();
                if let Some(seen) = self.seen.as_mut() {
                    seen.insert(name.clone());
                }
                let before = store.get(&ObjectRef::new(&name));
                if self.synced && before.and_then(|b| b.resource_version()) != ns.resource_version()
                {
                    vec![name]
                } else {
                    Vec::new()
                }
            }
            watcher::Event::InitDone => {
                self.own_writes.clear();
                let seen = self.seen.take().unwrap_or_default();
                let gone = if self.synced {
                    store
                        .state()
                        .iter()
                        .map(|ns| ns.name_any())
                        .filter(|name| !seen.contains(name))
                        .collect()
                } else {
                    Vec::new()
                };
                self.synced = true;
                gone
            }
        }
    }
}

/// Asks for every namespace's reconcile when a profile's spec, identity, deletion state or
/// exceptions in force change: not for its other status or finalizer writes, which change
/// nothing a namespace gets.
async fn profile_triggers(
    events: impl Stream<Item = Arc<HardeningProfile>>,
    namespaces: Store<CachedNamespace>,
    trigger: UnboundedSender<String>,
) {
    let mut seen: HashMap<String, (Option<String>, Option<i64>, bool, u64)> = HashMap::new();
    events
        .for_each(|profile| {
            // The exceptions in force are part of what namespaces get (Pod Security labels)
            // and of how they are judged.
            let identity = (
                profile.uid(),
                profile.metadata.generation,
                profile.metadata.deletion_timestamp.is_some(),
                crate::core::exceptions::digest(crate::core::exceptions::active_of(&profile)),
            );
            if seen.insert(profile.name_any(), identity.clone()) != Some(identity) {
                for ns in namespaces.state() {
                    let _ = trigger.send(ns.name_any());
                }
            }
            futures::future::ready(())
        })
        .await;
}
