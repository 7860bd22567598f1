//! Leader election with a `coordination.k8s.io/v1` Lease, through `kube-lease-manager`
//! (kube-runtime 5 has no leader election; `kube-leader-election` requires kube 4).
//!
//! The holder renews the Lease every renew period; another replica takes it over once it
//! has not been renewed for the lease duration (plus up to 1 s of random delay against
//! collisions). A leader that fails to renew, or finds another holder, steps down at once:
//! the controllers stop, and `hardening-operator run` exits so that Kubernetes restarts it
//! as a standby.

use std::time::Duration;

use kube::Client;
use kube_lease_manager::{LeaseCreateMode, LeaseManager, LeaseManagerError, LeaseParams};
use tokio::sync::watch;
use tracing::{info, warn};

pub struct Election {
    manager: LeaseManager,
    pub namespace: String,
    pub lease: String,
    pub identity: String,
}

impl Election {
    /// Creates the Lease `lease` in `namespace` if it does not exist (so missing
    /// permissions stop start-up). `renew_period` must be shorter than `lease_duration`;
    /// both are counted in whole seconds.
    pub async fn new(
        client: Client,
        namespace: &str,
        lease: &str,
        identity: &str,
        lease_duration: Duration,
        renew_period: Duration,
    ) -> Result<Self, LeaseManagerError> {
        let duration = lease_duration.as_secs().max(2);
        let renew = renew_period.as_secs().clamp(1, duration - 1);
        // kube-lease-manager's "grace": the holder renews this long before expiry.
        let params = LeaseParams::new(identity, duration, duration - renew);
        let manager = LeaseManager::new(
            client,
            lease,
            namespace,
            params,
            LeaseCreateMode::AutoCreate,
        )
        .await?;
        Ok(Election {
            manager,
            namespace: namespace.to_owned(),
            lease: lease.to_owned(),
            identity: identity.to_owned(),
        })
    }

    /// Competes for the Lease and renews it while holding it, publishing whether this
    /// replica leads. Returns only once it has lost the lead (after holding it); errors
    /// before that are retried with backoff.
    pub async fn campaign(&self, leading: &watch::Sender<bool>) {
        let mut led = false;
        let mut backoff = Duration::from_secs(1);
        loop {
            match self.manager.changed().await {
                Ok(true) => {
                    info!(lease = %self.lease, namespace = %self.namespace, identity = %self.identity, "leading");
                    led = true;
                    backoff = Duration::from_secs(1);
                    leading.send_replace(true);
                }
                Ok(false) if led => {
                    warn!(lease = %self.lease, identity = %self.identity, "another replica holds the lease now");
                    leading.send_replace(false);
                    return;
                }
                Ok(false) => {}
                Err(e) if led => {
                    // The lease may expire before a retry succeeds: never write on a
                    // lease that may be someone else's.
                    warn!(lease = %self.lease, error = %e, "could not renew the lease; stepping down");
                    leading.send_replace(false);
                    return;
                }
                Err(e) => {
                    warn!(lease = %self.lease, error = %e, ?backoff, "leader election failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    /// Gives the Lease up (on shutdown), so a standby takes over at once.
    pub async fn release(&self) {
        match self.manager.release().await {
            Ok(()) => info!(lease = %self.lease, "released the lease"),
            Err(e) => warn!(lease = %self.lease, error = %e, "could not release the lease"),
        }
    }
}

/// `<hostname>-<pid>`: the identity when POD_NAME is not set.
pub fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".to_owned());
    format!("{host}-{}", std::process::id())
}
