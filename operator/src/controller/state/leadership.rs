//! What holds from the moment this replica leads: since when (exceptions that expired
//! before kept applying while no operator removed them), and who the admission rules trust
//! and what the API server serves (asked once then, before any reconcile).

use std::sync::OnceLock;

use k8s_openapi::jiff::Timestamp;

use crate::core::guardrails::AdmissionEnv;

/// Set once, when this replica starts leading.
#[derive(Default)]
pub struct Leadership {
    since: OnceLock<Timestamp>,
    admission: OnceLock<AdmissionEnv>,
}

impl Leadership {
    /// This replica leads from now on.
    pub fn started(&self) {
        let _ = self.since.set(Timestamp::now());
    }

    /// The admission environment, asked once this replica leads.
    pub fn set_admission(&self, env: AdmissionEnv) {
        let _ = self.admission.set(env);
    }

    /// When this replica started leading (and judging exceptions), if it does.
    pub fn since(&self) -> Option<Timestamp> {
        self.since.get().copied()
    }

    /// The admission environment (see `guardrails::environment`).
    pub fn admission(&self) -> &AdmissionEnv {
        self.admission
            .get()
            .expect("the admission environment is set before the controllers start")
    }
}
