//! The reconcile requests not started yet (`hardening_queue_depth`) and the failures in a
//! row per reconcile key (the per-object backoff).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use crate::metrics::Metrics;

/// Reconcile keys (`Namespace/<name>`, `HardeningProfile/<name>`, ...) waiting to start, and
/// how often each failed in a row.
pub struct Queue {
    pending: Mutex<HashSet<String>>,
    failures: Mutex<HashMap<String, u32>>,
    metrics: Arc<Metrics>,
}

impl Queue {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            pending: Mutex::default(),
            failures: Mutex::default(),
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
}
