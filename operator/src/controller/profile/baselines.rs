//! What the status held when this process first saw a profile, so that counts survive
//! restarts, and what the profile reconciler remembers between reconciles: the rollouts
//! announced with an Event, and when each profile's status was last written.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kube::ResourceExt;

use super::super::STATUS_INTERVAL;
use crate::core::api::HardeningProfile;

/// `repairsTotal` by uid (a re-created profile starts at 0) and the rollout's namespace
/// count by uid and generation, as first seen; the rollouts announced; the last status
/// write per profile.
#[derive(Default)]
pub struct Baselines {
    repairs: Mutex<HashMap<String, u64>>,
    rollouts: Mutex<HashMap<(String, i64), u32>>,
    announced: Mutex<HashSet<(String, i64)>>,
    status_written: Mutex<HashMap<String, Instant>>,
}

impl Baselines {
    /// `repairsTotal` and the current generation's rollout count as the status held them
    /// when this process first saw the profile.
    pub fn counts(&self, profile: &HardeningProfile) -> (u64, u32) {
        let uid = profile.uid().unwrap_or_default();
        let generation = profile.metadata.generation.unwrap_or(0);
        let repairs = *self
            .repairs
            .lock()
            .expect("baselines lock")
            .entry(uid.clone())
            .or_insert_with(|| profile.status.as_ref().map_or(0, |s| s.repairs_total));
        let rollout = *self
            .rollouts
            .lock()
            .expect("baselines lock")
            .entry((uid, generation))
            .or_insert_with(|| {
                profile
                    .status
                    .as_ref()
                    .and_then(|s| s.rollout.as_ref())
                    .filter(|r| r.generation == generation)
                    .map_or(0, |r| r.updated_namespaces)
            });
        (repairs, rollout)
    }

    /// Whether the rollout of `generation` of the profile `uid` is announced for the first
    /// time (it counts as announced from now on).
    pub fn first_announcement(&self, uid: String, generation: i64) -> bool {
        self.announced
            .lock()
            .expect("baselines lock")
            .insert((uid, generation))
    }

    /// How long `profile`'s status must wait before it is written again: at most one
    /// write per [`STATUS_INTERVAL`], whatever asks for the reconcile (namespaces changing,
    /// the echo of the last status write, a watch of the admission objects).
    pub fn status_wait(&self, profile: &str) -> Option<Duration> {
        let written = self.status_written.lock().expect("baselines lock");
        let since = written.get(profile)?.elapsed();
        STATUS_INTERVAL.checked_sub(since).filter(|d| !d.is_zero())
    }

    /// A status write of `profile` was answered: the interval runs from the answer, so
    /// that two writes reach the API server at least the interval apart (counted from the
    /// request, a slow answer and a quick next one came closer). A failed write records
    /// nothing: the next one waits for the error's backoff, not for the interval (a
    /// throttled reconcile ends well, which would reset the backoff).
    pub fn record_status_write(&self, profile: &str) {
        self.status_written
            .lock()
            .expect("baselines lock")
            .insert(profile.to_owned(), Instant::now());
    }
}
