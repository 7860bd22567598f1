//! Failures in a row per key and when the next attempt may start: the per-object backoff
//! (1 s, doubling with each failure in a row, up to 5 minutes: [`backoff_delay`]).
//!
//! Kept apart from a reconcile's own requeue because kube-runtime runs a reconcile that a
//! trigger asks for at once, whatever the error policy's requeue said, and a reconcile that
//! holds back a write ends Ok: an owner that must not retry on every trigger (a profile's
//! status write, a namespace write while a profile is deleted) asks its own [`Backoffs`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::backoff_delay;

#[derive(Default)]
pub struct Backoffs(Mutex<HashMap<String, Failures>>);

/// Failures of one key in a row, and when the next attempt may start.
struct Failures {
    in_a_row: u32,
    retry_at: Instant,
}

/// A failure just counted: how many happened in a row, and how long the next attempt waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    pub in_a_row: u32,
    pub delay: Duration,
}

impl Backoffs {
    /// Counts a failure of `key`.
    pub fn fail(&self, key: &str) -> Failure {
        let mut failures = self.lock();
        let in_a_row = failures.get(key).map_or(0, |f| f.in_a_row) + 1;
        let delay = backoff_delay(in_a_row);
        failures.insert(
            key.to_owned(),
            Failures {
                in_a_row,
                retry_at: Instant::now() + delay,
            },
        );
        Failure { in_a_row, delay }
    }

    /// How long the next attempt of `key` must still wait (`None`: it may start now).
    pub fn remaining(&self, key: &str) -> Option<Duration> {
        self.lock()
            .get(key)
            .and_then(|f| f.retry_at.checked_duration_since(Instant::now()))
            .filter(|d| !d.is_zero())
    }

    /// `key` succeeded: its next failure waits 1 s again.
    pub fn clear(&self, key: &str) {
        let mut failures = self.lock();
        // Steady state: nothing failing, nothing to look up.
        if !failures.is_empty() {
            failures.remove(key);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failures>> {
        self.0.lock().expect("backoffs lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(failure: Failure) -> u64 {
        failure.delay.as_secs()
    }

    #[test]
    fn failures_in_a_row_double_the_wait_per_key_until_cleared() {
        let backoffs = Backoffs::default();
        assert_eq!(backoffs.remaining("a"), None);
        let delays: Vec<u64> = (0..4).map(|_| secs(backoffs.fail("a"))).collect();
        assert_eq!(delays, [1, 2, 4, 8]);
        assert_eq!(backoffs.fail("a").in_a_row, 5);
        // Each key counts its own failures.
        assert_eq!(secs(backoffs.fail("b")), 1);
        assert_eq!(backoffs.remaining("other"), None);
        let left = backoffs.remaining("a").unwrap();
        assert!(
            left <= Duration::from_secs(16) && left > Duration::from_secs(15),
            "{left:?}"
        );
        backoffs.clear("a");
        assert_eq!(backoffs.remaining("a"), None);
        assert_eq!(secs(backoffs.fail("a")), 1);
        assert_eq!(secs(backoffs.fail("b")), 2);
        // The wait is capped at 5 minutes.
        let capped = (0..20).map(|_| backoffs.fail("c")).last().unwrap();
        assert_eq!((capped.in_a_row, secs(capped)), (20, 300));
    }
}
