//! The controllers: one keyed by Namespace (what a namespace gets depends on every
//! profile selecting it, see `namespace`), one keyed by HardeningProfile (finalizer,
//! cluster-scoped objects and status, see `profile`), started by [`run_with`] in the steps
//! of `start`. What every reconcile is given is a `Context` (`context`): the watch caches
//! (`caches`), the state the reconcilers share, each part with its owner (`state`), and
//! where Events go (`events`); every write of an owned object takes one path (`write`).
//!
//! Watches: Namespaces, HardeningProfiles, every object of each generated kind (indexed by
//! namespace, see `index`), and (unless `--pod-report=false`) active pods, decoded down to
//! their seccomp/AppArmor fields. Each watch fills a cache and asks for the reconciles its
//! changes call for; a watch that restarts re-lists and asks for the namespaces that changed
//! meanwhile. Periodic resync is only a safety net. With leader election, the caches fill on
//! every replica and only the leader runs the controllers.

mod access;
mod admission;
mod budgets;
mod caches;
mod cluster_network_policies;
mod context;
mod events;
mod exceptions;
mod guardrails;
mod index;
mod managed;
mod namespace;
mod nodes;
mod pod_verdicts;
mod pods;
mod policy_reports;
mod profile;
mod start;
mod state;
mod trim;
mod vulnerabilities;
mod write;

pub use policy_reports::PERIOD as REPORT_PERIOD;
pub use policy_reports::detect as detect_report_api;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use kube::Client;
use kube::runtime::events::{Recorder, Reporter};
use tokio::sync::watch;
use tracing::warn;

use crate::config::RunConfig;
use crate::core::labels::FIELD_MANAGER;
use crate::metrics::Metrics;
use crate::server::Health;

pub use context::{Context, State};
use events::Events;
pub use managed::watch_backoff;
use start::standby::Standby;
use state::Requests;

/// How often at most a profile's status is recomputed for its namespaces' changes, and
/// written (if it changed) for any reason.
const STATUS_INTERVAL: Duration = Duration::from_millis(500);

/// Runs the operator until `shutdown` resolves; in-flight reconciles finish first. No
/// leader election, metrics kept but not served.
pub async fn run(
    client: Client,
    config: RunConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let _ = run_with(
        client,
        config,
        Arc::new(Metrics::new()),
        Arc::new(Health::default()),
        None,
        shutdown,
    )
    .await;
}

/// This replica stopped leading and stopped its controllers: it writes nothing more.
#[derive(Debug, thiserror::Error)]
#[error("lost the leader election; stopped reconciling")]
pub struct LostLeadership;

/// Runs the operator until `shutdown` resolves (in-flight reconciles finish first) or,
/// with `leading` (leader election), until this replica loses the lead.
///
/// The watch caches fill at once, also on a standby replica, and mark `health` ready
/// when complete. The controllers (everything that writes) run only while `leading`
/// is true (always without leader election). The steps are `start`'s.
pub async fn run_with(
    client: Client,
    config: RunConfig,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    mut leading: Option<watch::Receiver<bool>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), LostLeadership> {
    let shutdown = shutdown.shared();
    let start::watches::Watches {
        caches,
        drivers,
        mut namespace_requests,
        profile_events,
        status: (status_tx, status_rx),
        exceptions: (exception_tx, exception_rx),
        mutating_policies,
    } = start::watches::start(&client, &config).await;
    let reporter = Reporter {
        controller: FIELD_MANAGER.into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let state = State::new(
        &metrics,
        Requests::new(status_tx),
        exception_tx.map(Requests::new),
    );
    let ctx = Arc::new(Context {
        events: Events::new(Recorder::new(client.clone(), reporter)),
        client,
        excluded: config.excluded(),
        config,
        caches,
        state,
        metrics,
    });

    let lifecycle = async {
        // Boxed: polled by reference while standing by, then moved.
        let mut profile_events = Box::pin(profile_events);
        match start::standby::standby(
            &ctx,
            &health,
            leading.as_mut(),
            profile_events.as_mut(),
            &mut namespace_requests,
            shutdown.clone(),
        )
        .await
        {
            Standby::Leads => {}
            Standby::NotLeading => return Err(LostLeadership),
            Standby::ShutDown => return Ok(()),
        }
        start::lead(&ctx, mutating_policies).await;
        let requests = start::controllers::Requests {
            namespaces: namespace_requests,
            profile_events,
            status: status_rx,
            exceptions: exception_rx,
        };
        start::controllers::run(
            ctx.clone(),
            health.clone(),
            requests,
            leading,
            shutdown.clone(),
        )
        .await
    };
    // The watches run until the controllers have shut down.
    tokio::select! {
        result = lifecycle => result,
        _ = futures::future::join_all(drivers) => {
            warn!("all watches ended");
            Ok(())
        }
    }
}
