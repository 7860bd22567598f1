//! What every reconcile is given: the API client and the run's configuration, the watch
//! caches (`caches`), the state the reconcilers share, each part with its owner (`state`),
//! where Events go (`events`) and the metrics. Nothing here reconciles: the types it holds
//! know nothing of the reconcilers, so no reconciler module is imported back.

use std::collections::BTreeSet;
use std::sync::Arc;

use kube::{Client, ResourceExt};

use crate::config::RunConfig;
use crate::core::api::HardeningProfile;
use crate::metrics::Metrics;

use super::caches::Caches;
use super::events::Events;
use super::pod_verdicts::PodVerdicts;
use super::state::{Admissions, Counts, Leadership, Outcomes, Queue, ReportQueue, Requests};
use super::write::UnconvergedWrites;

pub struct Context {
    pub client: Client,
    pub config: RunConfig,
    /// Namespaces no profile touches (`RunConfig::excluded`).
    pub excluded: BTreeSet<String>,
    /// What the watches hold; reconciles read these, never the API server.
    pub caches: Caches,
    /// What the reconciles found and wrote, and what they ask of the loops beside them.
    pub state: State,
    /// Events on HardeningProfiles and HardeningExceptions.
    pub events: Events,
    pub metrics: Arc<Metrics>,
}

/// The state the reconcilers share, each part a type that owns its map and lock (see
/// `state`).
pub struct State {
    /// Each namespace's last outcome; recording one updates the gauges, the report queue
    /// and the status requests.
    pub outcomes: Outcomes,
    /// Repairs and rollouts per profile since this process started.
    pub counts: Counts,
    /// Writes that did not take, so that they are not repeated on the same state.
    pub unconverged: UnconvergedWrites,
    /// Each active pod's verdict under its namespace's governing profile (see `preview`).
    pub verdicts: PodVerdicts,
    /// The API server's verdict on each profile generation (dry-run before the first write).
    pub admissions: Admissions,
    /// Since when this replica leads, and the admission environment asked then.
    pub leadership: Leadership,
    /// Reconcile requests not started yet (`hardening_queue_depth`) and failures in a row.
    pub queue: Queue,
    /// Namespaces whose policy report may have changed.
    pub reports: Arc<ReportQueue>,
    /// Asks the profile controller to recompute a profile's status (by name).
    pub status: Requests,
    /// Asks the exceptions' controller to judge an exception again (by name; `None`: the
    /// cluster does not serve them): the profile's reconcile does when its judgement of one
    /// differs from the exception's status (the profile appeared after the exception, or
    /// changed).
    pub exceptions: Option<Requests>,
}

impl State {
    /// Empty state; `status` and `exceptions` reach the controllers that take the requests.
    pub fn new(metrics: &Arc<Metrics>, status: Requests, exceptions: Option<Requests>) -> Self {
        let reports = Arc::new(ReportQueue::default());
        Self {
            outcomes: Outcomes::new(reports.clone(), status.clone(), metrics.clone()),
            counts: Counts::new(status.clone()),
            unconverged: UnconvergedWrites::default(),
            verdicts: PodVerdicts::default(),
            admissions: Admissions::default(),
            leadership: Leadership::default(),
            queue: Queue::new(metrics.clone()),
            reports,
            status,
            exceptions,
        }
    }
}

impl Context {
    /// Names of the namespaces that `profile` selects now, from the namespace cache.
    pub fn selected_namespaces(&self, profile: &HardeningProfile) -> BTreeSet<String> {
        self.caches
            .namespaces
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
        self.state.verdicts.forget(namespace);
        self.state.unconverged.forget_namespace(namespace);
        self.state.unconverged.end_retries(namespace);
    }
}
