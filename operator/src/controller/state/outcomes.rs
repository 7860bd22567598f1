//! What the namespace reconciler found in each namespace, and what recording an outcome sets
//! off: the policy report queue, the gauges of governed namespaces, unconfined pods and
//! widening policies, and a status request for every profile the old or the new outcome
//! names. Readers (the profile status, the policy reports) read under the same lock.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use crate::core::status::{Kept, NamespaceOutcome};
use crate::metrics::Metrics;

use super::{ReportQueue, Requests};

/// The last outcome of a namespace, and its compliance findings as its profile's status last
/// judged them (none until then: each outcome recorded starts without).
pub struct Recorded {
    pub outcome: NamespaceOutcome,
    pub kept: Kept,
}

/// The last outcome of every namespace a profile selects, by namespace name.
pub struct Outcomes {
    outcomes: Mutex<HashMap<String, Recorded>>,
    reports: Arc<ReportQueue>,
    status: Requests,
    metrics: Arc<Metrics>,
}

impl Outcomes {
    pub fn new(reports: Arc<ReportQueue>, status: Requests, metrics: Arc<Metrics>) -> Self {
        Self {
            outcomes: Mutex::default(),
            reports,
            status,
            metrics,
        }
    }

    /// Records a namespace's outcome (`None`: nothing to report there any more); when it
    /// changed, asks for a status update of every profile the old or new outcome mentions.
    /// Returns the previous outcome.
    pub fn record(
        &self,
        namespace: &str,
        outcome: Option<NamespaceOutcome>,
    ) -> Option<NamespaceOutcome> {
        let previous = {
            let mut outcomes = self.lock();
            let recorded = outcome.clone().map(|outcome| Recorded {
                outcome,
                kept: Kept::default(),
            });
            match recorded {
                Some(r) => outcomes.insert(namespace.to_owned(), r),
                None => outcomes.remove(namespace),
            }
            .map(|r| r.outcome)
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
                self.status.request(profile);
            }
        }
        previous
    }

    /// What `read` computes from every outcome, under the lock: one consistent view (a
    /// namespace counts its rollout and repairs before it records its outcome, so counts read
    /// inside see every outcome's).
    pub fn read<R>(&self, read: impl FnOnce(&HashMap<String, Recorded>) -> R) -> R {
        read(&self.lock())
    }

    /// The namespaces `profile` governs (it won there).
    pub fn governed_by(&self, profile: &str) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|(_, r)| r.outcome.winner() == Some(profile))
            .map(|(ns, _)| ns.clone())
            .collect()
    }

    /// The profile governing `namespace`, if any.
    pub fn winner(&self, namespace: &str) -> Option<String> {
        self.lock()
            .get(namespace)
            .and_then(|r| r.outcome.winner().map(str::to_owned))
    }

    /// Every namespace with an outcome.
    pub fn namespaces(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    pub fn contains(&self, namespace: &str) -> bool {
        self.lock().contains_key(namespace)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Recorded>> {
        self.outcomes.lock().expect("outcomes lock")
    }
}
