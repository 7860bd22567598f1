//! What the status held when this process first saw a profile, so that counts survive
//! restarts, and what the profile reconciler remembers between reconciles: the rollouts
//! announced with an Event, when each profile's status was last written, and how long a
//! failed status write holds the next one back.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kube::ResourceExt;

use super::super::STATUS_INTERVAL;
use super::super::state::Backoffs;
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
    status_failed: Backoffs,
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
    /// the echo of the last status write, a watch of the admission objects), and after a
    /// failed write until its backoff is over.
    pub fn status_wait(&self, profile: &str) -> Option<Duration> {
        let now = Instant::now();
        let interval = self
            .status_written
            .lock()
            .expect("baselines lock")
            .get(profile)
            .and_then(|written| (*written + STATUS_INTERVAL).checked_duration_since(now));
        let backoff = self.status_failed.remaining(profile);
        interval.max(backoff).filter(|d| !d.is_zero())
    }

    /// A status write of `profile` failed: the next waits 1 s, doubling with each failure
    /// in a row (as every transient error of one object backs off). The reconcile's own
    /// backoff does not hold it: a reconcile that something else asks for (a namespace
    /// changing, the profile watch) runs at once, and one that waits ends well, which
    /// resets the reconcile's count.
    pub fn record_status_failure(&self, profile: &str) {
        self.status_failed.fail(profile);
    }

    /// A status write of `profile` was answered: the interval runs from the answer, so
    /// that two writes reach the API server at least the interval apart (counted from the
    /// request, a slow answer and a quick next one came closer). It ends the backoff of
    /// failed writes.
    pub fn record_status_write(&self, profile: &str) {
        self.status_failed.clear(profile);
        self.status_written
            .lock()
            .expect("baselines lock")
            .insert(profile.to_owned(), Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waits(baselines: &Baselines) -> Duration {
        baselines.status_wait("p").unwrap_or_default()
    }

    #[test]
    fn failed_status_writes_back_off_until_one_is_answered() {
        let baselines = Baselines::default();
        assert_eq!(baselines.status_wait("p"), None);
        // Each failure in a row doubles the wait, whoever asks for the next reconcile.
        for (failure, backoff) in [(1, 1), (2, 2), (3, 4), (4, 8)] {
            baselines.record_status_failure("p");
            let wait = waits(&baselines);
            let backoff = Duration::from_secs(backoff);
            assert!(
                wait <= backoff && wait > backoff - Duration::from_millis(200),
                "failure {failure}: {wait:?}"
            );
        }
        assert_eq!(baselines.status_wait("other"), None);
        // An answered write ends the backoff; the interval between writes holds then.
        baselines.record_status_write("p");
        assert!(waits(&baselines) <= STATUS_INTERVAL);
        baselines.record_status_failure("p");
        assert!(waits(&baselines) > STATUS_INTERVAL);
        assert!(waits(&baselines) <= Duration::from_secs(1));
    }
}
