//! State shared by the reconcilers: the API client, the watch caches and the outcome of
//! the last reconcile of every namespace.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Namespace;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use tokio::sync::mpsc::UnboundedSender;

use crate::api::HardeningProfile;
use crate::config::RunConfig;
use crate::metrics::Metrics;
use crate::render::ManagedKind;
use crate::status::NamespaceOutcome;

use super::managed::ManagedCache;
use super::pods::PodCache;

pub struct Context {
    pub client: Client,
    pub config: RunConfig,
    pub excluded: BTreeSet<String>,
    pub profiles: Store<HardeningProfile>,
    pub namespaces: Store<Namespace>,
    /// One label-filtered watch cache per generated kind.
    pub managed: Vec<ManagedCache>,
    /// Container profiles of active pods (`None` with `--pod-report=false`).
    pub pods: Option<Arc<PodCache>>,
    pub recorder: Recorder,
    /// Asks the profile controller to recompute a profile's status.
    pub status_trigger: UnboundedSender<ObjectRef<HardeningProfile>>,
    pub outcomes: Mutex<HashMap<String, NamespaceOutcome>>,
    /// Repairs per profile name since this process started.
    pub repairs: Mutex<HashMap<String, u64>>,
    /// Consecutive transient failures per object key, for per-object backoff.
    pub failures: Mutex<HashMap<String, u32>>,
    pub metrics: Arc<Metrics>,
    /// Objects (`Namespace/<name>`, `HardeningProfile/<name>`) with a reconcile request
    /// that has not started yet: `hardening_queue_depth`.
    pub pending: Mutex<HashSet<String>>,
}

impl Context {
    /// Waits until every watch cache holds a complete first listing.
    pub async fn caches_ready(&self) {
        // A dropped writer ends the process anyway; readiness errors are not actionable here.
        let _ = self.profiles.wait_until_ready().await;
        let _ = self.namespaces.wait_until_ready().await;
        for cache in &self.managed {
            let _ = cache.store.wait_until_ready().await;
        }
        if let Some(pods) = &self.pods {
            pods.wait_until_synced().await;
        }
    }

    pub fn cache(&self, kind: ManagedKind) -> &ManagedCache {
        self.managed
            .iter()
            .find(|c| c.kind == kind)
            .expect("a cache exists for every ManagedKind")
    }

    /// Records a namespace's outcome; when it changed, asks for a status update of every
    /// profile the old or new outcome mentions. Returns the previous outcome.
    pub fn record(
        &self,
        namespace: &str,
        outcome: Option<NamespaceOutcome>,
    ) -> Option<NamespaceOutcome> {
        let previous = {
            let mut outcomes = self.outcomes.lock().expect("outcomes lock");
            match &outcome {
                Some(o) => outcomes.insert(namespace.to_owned(), o.clone()),
                None => outcomes.remove(namespace),
            }
        };
        let governed = |o: &Option<NamespaceOutcome>| {
            i64::from(o.as_ref().is_some_and(|o| o.winner().is_some()))
        };
        self.metrics
            .add_managed_namespaces(governed(&outcome) - governed(&previous));
        let unconfined = |o: &Option<NamespaceOutcome>| {
            i64::from(
                o.as_ref()
                    .and_then(|o| o.unconfined.as_ref())
                    .map_or(0, |u| u.count),
            )
        };
        self.metrics
            .add_unconfined_pods(unconfined(&outcome) - unconfined(&previous));
        if previous != outcome {
            let affected: BTreeSet<&str> = previous
                .iter()
                .chain(outcome.iter())
                .flat_map(|o| o.candidates.iter().map(|(name, _)| name.as_str()))
                .collect();
            for profile in affected {
                let _ = self.status_trigger.send(ObjectRef::new(profile));
            }
        }
        previous
    }

    /// Counts repairs and asks for a status update (`repairsTotal` changed).
    pub fn add_repairs(&self, profile: &str, count: u64) {
        *self
            .repairs
            .lock()
            .expect("repairs lock")
            .entry(profile.to_owned())
            .or_default() += count;
        let _ = self.status_trigger.send(ObjectRef::new(profile));
    }

    pub fn repairs_since_start(&self, profile: &str) -> u64 {
        self.repairs
            .lock()
            .expect("repairs lock")
            .get(profile)
            .copied()
            .unwrap_or(0)
    }

    /// Counts a transient failure of `key` and returns how many happened in a row.
    pub fn note_failure(&self, key: &str) -> u32 {
        let mut failures = self.failures.lock().expect("failures lock");
        let n = failures.entry(key.to_owned()).or_default();
        *n += 1;
        *n
    }

    pub fn failure_count(&self, key: &str) -> u32 {
        self.failures
            .lock()
            .expect("failures lock")
            .get(key)
            .copied()
            .unwrap_or(0)
    }

    /// A reconcile of `key` was requested (a watch event, a profile change, a status
    /// trigger); it counts in `hardening_queue_depth` until it starts.
    pub fn requested(&self, key: String) {
        let mut pending = self.pending.lock().expect("pending lock");
        pending.insert(key);
        self.metrics.set_queue_depth(pending.len());
    }

    /// The reconcile of `key` started (or its object is gone).
    pub fn started(&self, key: &str) {
        let mut pending = self.pending.lock().expect("pending lock");
        if pending.remove(key) {
            self.metrics.set_queue_depth(pending.len());
        }
    }

    pub fn note_success(&self, key: &str) {
        self.failures.lock().expect("failures lock").remove(key);
    }

    /// Names of the namespaces that `profile` selects now, from the namespace cache.
    pub fn selected_namespaces(&self, profile: &HardeningProfile) -> BTreeSet<String> {
        self.namespaces
            .state()
            .iter()
            .filter(|ns| ns.metadata.deletion_timestamp.is_none())
            .map(|ns| (ns.name_any(), ns))
            .filter(|(name, ns)| {
                !self.excluded.contains(name)
                    && crate::api::selects(&profile.spec, name, ns.labels())
            })
            .map(|(name, _)| name)
            .collect()
    }
}
