//! State shared by the reconcilers: the API client, the watch caches and indexes, and what
//! the reconciles found (per-namespace outcomes, repair and rollout counts, failures).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Namespace;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::Store;
use kube::{Client, ResourceExt};
use tokio::sync::mpsc::UnboundedSender;

use crate::config::RunConfig;
use crate::core::api::{HardeningProfile, RolloutStatus};
use crate::core::render::ManagedKind;
use crate::core::status::NamespaceOutcome;
use crate::metrics::Metrics;

use super::index::KindIndex;
use super::pods::PodCache;

/// The operator's writes of namespaces whose watch events have not arrived yet (see
/// `index` for the generated kinds): reconciles read the namespace as written, and the
/// event echoing a write asks for no reconcile. A write stands in for the cached namespace
/// only while it is newer (by resource version, see `core::resource_version`): an event
/// delivered after it, or a deletion, is never hidden.
#[derive(Default)]
pub struct NamespaceWrites(Mutex<HashMap<String, Arc<Namespace>>>);

impl NamespaceWrites {
    /// The operator wrote the namespace; `after` is what was stored.
    pub fn record(&self, after: Namespace) {
        self.0
            .lock()
            .expect("namespace writes lock")
            .insert(after.name_any(), Arc::new(after));
    }

    /// The namespace as the store holds it now, or the operator's own write while that is
    /// newer. The store is read under the same lock that `settled` takes after the store
    /// took an event, so the two cannot miss each other. `None` when the namespace is gone.
    pub fn view(&self, store: &Store<Namespace>, name: &str) -> Option<Arc<Namespace>> {
        let writes = self.0.lock().expect("namespace writes lock");
        let cached = store.get(&kube::runtime::reflector::ObjectRef::new(name))?;
        Some(match writes.get(name) {
            Some(after) if newer(after, &cached) => after.clone(),
            _ => cached,
        })
    }

    /// Whether a watch event echoes the operator's own write (then it asks for no
    /// reconcile). Called before the store takes the event.
    pub fn echo(&self, event: &Namespace) -> bool {
        let writes = self.0.lock().expect("namespace writes lock");
        writes
            .get(&event.name_any())
            .is_some_and(|after| after.resource_version() == event.resource_version())
    }

    /// The store took a watch event of the namespace: a write it is at least as new as is
    /// no longer needed (an older event, delivered late, leaves it standing).
    pub fn settled(&self, event: &Namespace) {
        let mut writes = self.0.lock().expect("namespace writes lock");
        let name = event.name_any();
        if writes.get(&name).is_some_and(|after| !newer(after, event)) {
            writes.remove(&name);
        }
    }

    /// A fresh listing shows every write made before it.
    pub fn clear(&self) {
        self.0.lock().expect("namespace writes lock").clear();
    }
}

/// Whether `a` is known to be a newer version of the namespace than `b`.
fn newer(a: &Namespace, b: &Namespace) -> bool {
    match (&a.metadata.resource_version, &b.metadata.resource_version) {
        (Some(a), Some(b)) => crate::core::resource_version::newer(a, b),
        _ => false,
    }
}

pub struct Context {
    pub client: Client,
    pub config: RunConfig,
    pub excluded: BTreeSet<String>,
    pub profiles: Store<HardeningProfile>,
    pub namespaces: Store<Namespace>,
    pub namespace_writes: Arc<NamespaceWrites>,
    /// One index of every object per generated kind.
    pub managed: Vec<Arc<KindIndex>>,
    /// Container profiles of active pods (`None` with `--pod-report=false`).
    pub pods: Option<Arc<PodCache>>,
    /// The Trivy Operator's VulnerabilityReports (`None`: the cluster serves none).
    pub vulnerabilities: Option<Arc<super::vulnerabilities::VulnerabilityCache>>,
    /// What the node agents publish (`None`: no node agent namespace known).
    pub node_states: Option<Arc<super::nodes::NodeStates>>,
    /// The ClusterNetworkPolicies the operator writes (`None`: the cluster serves none).
    pub cluster_policies: Option<Arc<super::cluster_network_policies::ClusterPolicies>>,
    /// Every admission policy and binding (`None`: guardrails not handled).
    pub guardrails: Option<super::guardrails::GuardrailCaches>,
    /// ClusterRoles and ClusterRoleBindings: who can reach containers past admission.
    pub access: super::access::AccessCaches,
    /// When this replica started leading (and judging exceptions): an exception that expired
    /// before kept applying while no operator removed it.
    pub leading_since: std::sync::OnceLock<k8s_openapi::jiff::Timestamp>,
    /// Every HardeningException (`None`: the cluster does not serve them).
    pub exceptions: Option<Store<crate::core::api::HardeningException>>,
    /// Asks the exceptions' controller to judge an exception again (by name): the profile's
    /// reconcile does when its judgement of one differs from the exception's status (the
    /// profile appeared after the exception, or changed).
    pub exception_requests: Option<UnboundedSender<String>>,
    /// PodDisruptionBudgets, for `guardrails.highAvailability`.
    pub budgets: super::budgets::Budgets,
    /// Who the admission rules trust and what the API server serves (set when this replica
    /// starts leading, before any reconcile).
    pub admission: std::sync::OnceLock<crate::core::guardrails::AdmissionEnv>,
    pub recorder: Recorder,
    /// Asks the profile controller to recompute a profile's status (by name).
    pub status_trigger: UnboundedSender<String>,
    pub outcomes: Mutex<HashMap<String, NamespaceOutcome>>,
    /// Repairs per profile name since this process started.
    pub repairs: Mutex<HashMap<String, u64>>,
    /// Per profile name: the generation rolled out and the namespaces changed for it since
    /// this process started.
    pub rollouts: Mutex<HashMap<String, RolloutStatus>>,
    /// Consecutive failures per reconcile key, for per-object backoff.
    pub failures: Mutex<HashMap<String, u32>>,
    /// Writes that did not take, so that they are not repeated on the same state.
    pub unconverged: super::write::UnconvergedWrites,
    /// Each active pod's verdict under its namespace's governing profile (see `preview`).
    pub verdicts: super::preview::PodVerdicts,
    /// The API server's verdict on each profile generation (dry-run before the first write).
    pub admissions: super::admission::Admissions,
    pub metrics: Arc<Metrics>,
    /// Namespaces whose policy report may have changed.
    pub reports: super::reports::ReportQueue,
    /// Objects (`Namespace/<name>`, `HardeningProfile/<name>`) with a reconcile request
    /// that has not started yet: `hardening_queue_depth`.
    pub pending: Mutex<HashSet<String>>,
}

impl Context {
    /// Waits until every watch cache holds a complete first listing.
    pub async fn caches_ready(&self) {
        self.access.wait_until_ready().await;
        self.budgets.wait_until_ready().await;
        // A dropped writer ends the process anyway; readiness errors are not actionable here.
        let _ = self.profiles.wait_until_ready().await;
        let _ = self.namespaces.wait_until_ready().await;
        for index in &self.managed {
            index.wait_until_synced().await;
        }
        if let Some(pods) = &self.pods {
            pods.wait_until_synced().await;
        }
        if let Some(vulnerabilities) = &self.vulnerabilities {
            vulnerabilities.wait_until_synced().await;
        }
        if let Some(nodes) = &self.node_states {
            nodes.wait_until_synced().await;
        }
        if let Some(guardrails) = &self.guardrails {
            guardrails.wait_until_ready().await;
        }
        if let Some(exceptions) = &self.exceptions {
            let _ = exceptions.wait_until_ready().await;
        }
    }

    /// The admission environment (see `admission`).
    pub fn admission(&self) -> &crate::core::guardrails::AdmissionEnv {
        self.admission
            .get()
            .expect("the admission environment is set before the controllers start")
    }

    pub fn index_of(&self, kind: ManagedKind) -> &KindIndex {
        self.managed
            .iter()
            .find(|c| c.kind == kind)
            .expect("an index exists for every ManagedKind")
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
        self.reports.touch(namespace);
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
        let widening = |o: &Option<NamespaceOutcome>| {
            o.as_ref()
                .and_then(|o| o.widening.as_ref())
                .map_or(0, |w| w.len() as i64)
        };
        self.metrics
            .add_widening_policies(widening(&outcome) - widening(&previous));
        if previous != outcome {
            let affected: BTreeSet<&str> = previous
                .iter()
                .chain(outcome.iter())
                .flat_map(|o| o.candidates.iter().map(|(name, _)| name.as_str()))
                .collect();
            for profile in affected {
                let _ = self.status_trigger.send(profile.to_owned());
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
        let _ = self.status_trigger.send(profile.to_owned());
    }

    pub fn repairs_since_start(&self, profile: &str) -> u64 {
        self.repairs
            .lock()
            .expect("repairs lock")
            .get(profile)
            .copied()
            .unwrap_or(0)
    }

    /// Counts a namespace changed to roll out `generation` of `profile`.
    pub fn rolled_out(&self, profile: &str, generation: i64) {
        {
            let mut rollouts = self.rollouts.lock().expect("rollouts lock");
            let rollout = rollouts.entry(profile.to_owned()).or_default();
            if rollout.generation != generation {
                *rollout = RolloutStatus {
                    generation,
                    updated_namespaces: 0,
                };
            }
            rollout.updated_namespaces += 1;
        }
        let _ = self.status_trigger.send(profile.to_owned());
    }

    /// The rollout of `profile` at `generation` counted by this process, if any.
    pub fn rollout_since_start(&self, profile: &str, generation: i64) -> Option<RolloutStatus> {
        self.rollouts
            .lock()
            .expect("rollouts lock")
            .get(profile)
            .filter(|r| r.generation == generation)
            .cloned()
    }

    /// Counts a failure of `key` and returns how many happened in a row.
    pub fn note_failure(&self, key: &str) -> u32 {
        let mut failures = self.failures.lock().expect("failures lock");
        let n = failures.entry(key.to_owned()).or_default();
        *n += 1;
        *n
    }

    pub fn note_success(&self, key: &str) {
        self.failures.lock().expect("failures lock").remove(key);
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

    /// Names of the namespaces that `profile` selects now, from the namespace cache.
    pub fn selected_namespaces(&self, profile: &HardeningProfile) -> BTreeSet<String> {
        self.namespaces
            .state()
            .iter()
            .filter(|ns| ns.metadata.deletion_timestamp.is_none())
            .map(|ns| (ns.name_any(), ns))
            .filter(|(name, ns)| {
                !self.excluded.contains(name)
                    && crate::core::api::selects(&profile.spec, name, ns.labels())
            })
            .map(|(name, _)| name)
            .collect()
    }

    /// Forgets writes that did not take in `namespace`, and its pods' verdicts (it is gone or
    /// no longer governed).
    pub fn forget_unconverged(&self, namespace: &str) {
        self.verdicts.forget(namespace);
        self.unconverged.forget_namespace(namespace);
    }
}
