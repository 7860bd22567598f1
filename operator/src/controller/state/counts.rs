//! What this process changed per profile since it started: repairs (`repairsTotal`) and
//! the namespaces a rollout updated (`status.rollout`). Each count asks for the profile's
//! status.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::core::api::RolloutStatus;

use super::Requests;

/// Repairs and rollouts per profile name since this process started.
pub struct Counts {
    repairs: Mutex<HashMap<String, u64>>,
    /// Per profile name: the generation rolled out and the namespaces changed for it.
    rollouts: Mutex<HashMap<String, RolloutStatus>>,
    status: Requests,
}

impl Counts {
    pub fn new(status: Requests) -> Self {
        Self {
            repairs: Mutex::default(),
            rollouts: Mutex::default(),
            status,
        }
    }

    /// Counts repairs and asks for a status update (`repairsTotal` changed).
    pub fn add_repairs(&self, profile: &str, count: u64) {
        *self
            .repairs
            .lock()
            .expect("repairs lock")
            .entry(profile.to_owned())
            .or_default() += count;
        self.status.request(profile);
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
        self.status.request(profile);
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
}
