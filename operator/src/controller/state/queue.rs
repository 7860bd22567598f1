//! The reconcile requests not started yet (`hardening_queue_depth`) and the failures in a
//! row per reconcile key (the per-object backoff).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use super::{Backoffs, Failure};
use crate::metrics::Metrics;

/// Reconcile keys (`Namespace/<name>`, `HardeningProfile/<name>`, ...) waiting to start, and
/// how often each failed in a row.
pub struct Queue {
    pending: Mutex<HashSet<String>>,
    failures: Backoffs,
    metrics: Arc<Metrics>,
}

impl Queue {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            pending: Mutex::default(),
            failures: Backoffs::default(),
            metrics,
        }
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

    /// Counts a failure of `key`: how many happened in a row, and the wait before the next.
    pub fn note_failure(&self, key: &str) -> Failure {
        self.failures.fail(key)
    }

    pub fn note_success(&self, key: &str) {
        self.failures.clear(key);
    }
}
