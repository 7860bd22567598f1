//! `hardening-operator run`: the kube client (with request metrics and rate limit), the
//! metrics and health listener, leader election and the controllers, together.
//!
//! [`start`] binds the listener and connects before returning, so a busy address or a
//! missing permission for the Lease stops start-up; the operator then runs on a task of
//! its own. Integration tests start operators in-process with it (`127.0.0.1:0`, then
//! [`Running::metrics_address`]).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use futures::FutureExt;
use kube::Client;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::info;

use crate::config::{LEASE_NAME, RunConfig};
use crate::controller::{self, LostLeadership};
use crate::leader::{self, Election};
use crate::metrics::Metrics;
use crate::server::{self, Health};

/// Where the service account's namespace is mounted in a Pod.
const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("metrics address {address}: {source}")]
    Listen {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("kube client: {0}")]
    Client(#[source] kube::Error),
    #[error("leader election (Lease {namespace}/{LEASE_NAME}): {source}")]
    LeaderElection {
        namespace: String,
        #[source]
        source: kube_lease_manager::LeaseManagerError,
    },
    #[error(transparent)]
    LostLeadership(#[from] LostLeadership),
    #[error("metrics server: {0}")]
    Server(#[source] std::io::Error),
    #[error("the operator task ended: {0}")]
    Task(String),
}

/// A started operator.
pub struct Running {
    /// The address the metrics and health listener is bound to.
    pub metrics_address: SocketAddr,
    /// This replica's identity in the Lease, with leader election.
    pub identity: Option<String>,
    pub metrics: Arc<Metrics>,
    task: JoinHandle<Result<(), RunError>>,
}

impl Running {
    /// Waits until the operator has stopped: `Ok` after `shutdown`, an error when it lost
    /// the lead or the listener failed.
    pub async fn wait(self) -> Result<(), RunError> {
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(RunError::Task(e.to_string())),
        }
    }

    /// Stops everything at once, like a crash: no graceful shutdown, the Lease is not
    /// released.
    pub fn abort(&self) {
        self.task.abort();
    }

    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// Starts the operator for `kube_config` with `config` (already resolved, see
/// `config::resolve`); it stops when `shutdown` resolves.
pub async fn start(
    kube_config: kube::Config,
    config: RunConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, RunError> {
    let metrics = Arc::new(Metrics::new());
    let (listener, metrics_address) =
        server::bind(config.metrics_address)
            .await
            .map_err(|source| RunError::Listen {
                address: config.metrics_address,
                source,
            })?;
    let client = crate::client::build(
        kube_config,
        metrics.clone(),
        config.api_qps,
        config.api_burst,
        max_writes_in_flight(config.concurrency),
    )
    .map_err(RunError::Client)?;
    let election = if config.leader_election.enabled() {
        let namespace = lease_namespace(&config, &client);
        let identity = config
            .leader_election_identity
            .clone()
            .unwrap_or_else(leader::default_identity);
        let election = Election::new(
            client.clone(),
            &namespace,
            LEASE_NAME,
            &identity,
            config.leader_election_lease_duration,
            config.leader_election_renew_period,
        )
        .await
        .map_err(|source| RunError::LeaderElection {
            namespace: namespace.clone(),
            source,
        })?;
        info!(lease = LEASE_NAME, %namespace, %identity, "leader election on");
        Some(election)
    } else {
        None
    };
    let identity = election.as_ref().map(|e| e.identity.clone());
    info!(%metrics_address, "serving /metrics, /livez, /readyz");
    let task = tokio::spawn(run(
        client,
        config,
        metrics.clone(),
        listener,
        election,
        shutdown,
    ));
    Ok(Running {
        metrics_address,
        identity,
        metrics,
        task,
    })
}

async fn run(
    client: Client,
    config: RunConfig,
    metrics: Arc<Metrics>,
    listener: tokio::net::TcpListener,
    election: Option<Election>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let shutdown = shutdown.shared();
    let health = Arc::new(Health::default());
    let (leading_tx, leading_rx) = watch::channel(false);
    let server = server::serve(listener, metrics.clone(), health.clone(), shutdown.clone());
    let controllers = controller::run_with(
        client,
        config,
        metrics,
        health,
        election.as_ref().map(|_| leading_rx.clone()),
        shutdown,
    );
    let campaign = async {
        match &election {
            Some(election) => election.campaign(&leading_tx).await,
            None => std::future::pending().await,
        }
    };
    let result = tokio::select! {
        result = controllers => result.map_err(RunError::from),
        // Ends only when it lost the lead; the controllers have seen it too.
        () = campaign => Err(LostLeadership.into()),
        // Ends by itself only on an error; on shutdown it waits for the controllers.
        Err(e) = server => Err(RunError::Server(e)),
    };
    if result.is_ok()
        && *leading_rx.borrow()
        && let Some(election) = &election
    {
        election.release().await;
    }
    result
}

/// The Lease's namespace: the configured one, else the operator's own (POD_NAMESPACE,
/// else the service account's), else the kubeconfig's default namespace.
fn lease_namespace(config: &RunConfig, client: &Client) -> String {
    config
        .leader_election_namespace
        .clone()
        .or_else(|| config.operator_namespace.clone())
        .or_else(|| {
            std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE)
                .ok()
                .map(|ns| ns.trim().to_owned())
                .filter(|ns| !ns.is_empty())
        })
        .unwrap_or_else(|| client.default_namespace().to_owned())
}

/// How often [`release_freed_memory`] hands freed heap back.
const RELEASE_PERIOD: std::time::Duration = std::time::Duration::from_secs(5);

/// Hands the heap's free pages back to the system every [`RELEASE_PERIOD`], for as long as
/// the process runs. glibc's malloc keeps what a peak freed (the initial listings, a
/// rollout's writes and reports in flight) in its arenas, scattered between live blocks
/// where its own trimming (the top of the heap only) does not reach, so the resident size
/// stayed at the peak's. `malloc_trim(0)` releases every free page of every arena; it walks
/// only the allocator's free lists (about a millisecond for the operator's heap) and sends
/// nothing to the API server.
pub async fn release_freed_memory() {
    keep_large_blocks_apart();
    let mut ticks = tokio::time::interval(RELEASE_PERIOD);
    loop {
        ticks.tick().await;
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim takes no pointers; it only works on the allocator's own state,
        // under its locks.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

/// Large blocks (response bodies, connection buffers, a listing's page, a rendered
/// rollout's request bodies) go to mappings of their own instead of the heap's arenas:
/// freed, they are handed back at once, and live small blocks allocated meanwhile do not
/// pin the pages they leave behind. glibc's default threshold starts at 128 KiB and rises
/// to the size of every mapped block freed (up to 32 MiB), so after the first listings
/// nearly everything lands in the arenas; a fixed threshold stops that. Measured with the
/// full profile at 1,000 namespaces: RSS at convergence about 2 MiB less, peak about 1.5
/// (lean: no change). `GLIBC_TUNABLES` set in the environment wins (nothing is changed
/// then).
fn keep_large_blocks_apart() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("GLIBC_TUNABLES").is_none() {
        /// Blocks of this size and larger are mapped apart and unmapped when freed.
        const MMAP_THRESHOLD: libc::c_int = 64 * 1024;
        /// Free memory at the top of the heap beyond this is handed back at once.
        const TRIM_THRESHOLD: libc::c_int = 128 * 1024;
        // SAFETY: mallopt takes plain integers and changes only the allocator's settings,
        // under its locks.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        }
    }
}

/// The most writes in flight for `--concurrency` namespaces reconciled at once: twice as
/// many, since a reconcile writes its objects at once. Reconciles in flight hold what they
/// render until their writes are answered (memory), while the API server's best write rate
/// can need more writes in flight than that (the write limit finds how many).
fn max_writes_in_flight(concurrency: u16) -> usize {
    2 * usize::from(concurrency)
}
