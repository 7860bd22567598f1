//! The API server's verdict on each profile generation (see `super::super::admission`),
//! kept per profile uid and generation: what one namespace's dry-run says holds for every
//! namespace.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kube::ResourceExt;
use tokio::sync::OnceCell;

use crate::core::api::HardeningProfile;

/// The API server's verdict on one profile generation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    /// The rejections, each naming the profile's field: `field: message`, joined by `; `.
    Rejected(String),
}

/// Verdicts by profile uid and generation; one check runs at a time per generation, the
/// namespaces reconciled meanwhile wait for it.
#[derive(Default)]
pub struct Admissions(Mutex<HashMap<Generation, Arc<OnceCell<Verdict>>>>);

/// A profile generation: (uid, `metadata.generation`).
type Generation = (String, i64);

impl Admissions {
    /// The verdict on `profile`'s current generation, if one was reached.
    pub fn verdict(&self, profile: &HardeningProfile) -> Option<Verdict> {
        let key = key(profile);
        self.0
            .lock()
            .expect("admissions lock")
            .get(&key)
            .and_then(|cell| cell.get().cloned())
    }

    /// The verdict to reach (or reached) for `profile`'s current generation: one check runs
    /// at a time per generation.
    pub fn cell(&self, profile: &HardeningProfile) -> Arc<OnceCell<Verdict>> {
        let (uid, generation) = key(profile);
        let mut cells = self.0.lock().expect("admissions lock");
        // Only the current generation of a profile matters.
        cells.retain(|(u, g), _| *u != uid || *g >= generation);
        cells.entry((uid, generation)).or_default().clone()
    }
}

fn key(profile: &HardeningProfile) -> (String, i64) {
    (
        profile.uid().unwrap_or_default(),
        profile.metadata.generation.unwrap_or(0),
    )
}
