//! The controllers: one keyed by Namespace (what a namespace gets depends on every
//! profile selecting it), one keyed by HardeningProfile (finalizer and status).
//!
//! Watches: Namespaces, HardeningProfiles, each generated kind filtered by the
//! managed-by label, and (unless `--pod-report=false`) active pods, decoded down to their
//! seccomp/AppArmor fields. Each watch fills a cache and triggers reconciles; periodic resync is
//! only a safety net. With leader election, the caches fill on every replica and only
//! the leader runs the controllers.

mod context;
mod managed;
mod namespace;
mod pods;
mod profile;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Namespace;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::api::HardeningProfile;
use crate::config::RunConfig;
use crate::error::{Error, backoff_delay};
use crate::labels::FIELD_MANAGER;
use crate::metrics::{ControllerKind, Metrics};
use crate::render::ManagedKind;
use crate::server::Health;

pub use context::Context;
pub use managed::{api_resource, managed_selector};

/// How long the profile controller waits to coalesce status triggers from many namespaces.
const STATUS_DEBOUNCE: Duration = Duration::from_millis(500);

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
/// is true (always without leader election).
pub async fn run_with(
    client: Client,
    config: RunConfig,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    mut leading: Option<watch::Receiver<bool>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), LostLeadership> {
    let shutdown = shutdown.shared();
    let profile_api: Api<HardeningProfile> = Api::all(client.clone());
    let mut profile_watch = watcher::Config::default();
    if let Some(selector) = &config.profile_selector {
        profile_watch = profile_watch.labels(selector);
    }

    // Shared caches: each filled by its own reflector future, with subscriptions that
    // trigger the controllers. One watch per kind.
    let (profiles, profile_writer) = reflector::store_shared(managed::SUBSCRIBER_BUFFER);
    let profile_events = profile_writer
        .subscribe()
        .expect("a shared writer has subscribers");
    let profile_self = profile_writer
        .subscribe()
        .expect("a shared writer has subscribers");
    let mut drivers = vec![managed::drive(
        "HardeningProfile",
        watcher(profile_api, profile_watch)
            .default_backoff()
            .reflect_shared(profile_writer),
    )];
    let (namespaces, namespace_writer) = reflector::store_shared(managed::SUBSCRIBER_BUFFER);
    let namespace_self = namespace_writer
        .subscribe()
        .expect("a shared writer has subscribers");
    drivers.push(managed::drive(
        "Namespace",
        watcher(
            Api::<Namespace>::all(client.clone()),
            watcher::Config::default(),
        )
        .default_backoff()
        .reflect_shared(namespace_writer),
    ));
    let (namespace_tx, mut namespace_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut caches = Vec::new();
    for kind in ManagedKind::ALL {
        let (cache, driver) = managed::cache(&client, kind, namespace_tx.clone());
        drivers.push(driver);
        caches.push(cache);
    }
    let pods = config.pod_report.then(|| {
        let (cache, driver) = pods::cache(&client, config.excluded(), namespace_tx.clone());
        drivers.push(driver);
        cache
    });

    let (status_tx, mut status_rx) = tokio::sync::mpsc::unbounded_channel();
    let reporter = Reporter {
        controller: FIELD_MANAGER.into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let ctx = Arc::new(Context {
        recorder: Recorder::new(client.clone(), reporter),
        client: client.clone(),
        excluded: config.excluded(),
        config: config.clone(),
        profiles,
        namespaces,
        managed: caches,
        pods,
        status_trigger: status_tx,
        outcomes: Default::default(),
        repairs: Default::default(),
        failures: Default::default(),
        metrics,
        pending: Default::default(),
    });

    // Boxed: subscriptions are polled by reference while standing by, then moved.
    let mut profile_events = Box::pin(profile_events);
    let mut profile_self = Box::pin(profile_self);
    let mut namespace_self = Box::pin(namespace_self);

    let lifecycle = async {
        // Standing by: until every cache is complete (reconciles read them, and "not
        // listed yet" must never look like "missing") and this replica leads. The
        // notifications meanwhile are dropped (a subscriber that is not read would stall
        // its reflector): the controllers reconcile everything when they start.
        let leads = {
            let ready_and_leading = async {
                ctx.caches_ready().await;
                health.set_caches_synced();
                info!("caches synced");
                match leading.as_mut() {
                    Some(leading) => leading.wait_for(|l| *l).await.is_ok(),
                    None => true,
                }
            };
            let drain = async {
                let notifications = futures::stream::select(
                    futures::stream::select(
                        profile_events.as_mut().map(|_| ()),
                        profile_self.as_mut().map(|_| ()),
                    ),
                    futures::stream::select(
                        namespace_self.as_mut().map(|_| ()),
                        futures::stream::poll_fn(|cx| namespace_rx.poll_recv(cx)).map(|_| ()),
                    ),
                );
                notifications.for_each(|()| async {}).await;
                std::future::pending::<()>().await
            };
            tokio::select! {
                leads = ready_and_leading => leads,
                _ = drain => false,
                _ = shutdown.clone() => return Ok(()),
            }
        };
        if !leads {
            return Err(LostLeadership);
        }
        info!("reconciling");

        // A namespace's own changes reconcile it.
        let c = ctx.clone();
        let namespace_controller = Controller::for_shared_stream(
            namespace_self.inspect(move |ns| c.requested(namespace_key(&ns.name_any()))),
            ctx.namespaces.clone(),
        )
        .with_config(controller::Config::default().concurrency(config.concurrency));
        // A profile change can change what any namespace gets (priority, selection).
        let c = ctx.clone();
        let namespace_controller = namespace_controller.watches_shared_stream(
            profile_events,
            move |_: Arc<HardeningProfile>| {
                c.namespaces
                    .state()
                    .iter()
                    .map(|ns| {
                        c.requested(namespace_key(&ns.name_any()));
                        ObjectRef::from_obj(ns.as_ref())
                    })
                    .collect::<Vec<_>>()
            },
        );
        // A change of a generated object reconciles its namespace.
        let c = ctx.clone();
        let namespace_controller = namespace_controller.reconcile_on(
            futures::stream::poll_fn(move |cx| namespace_rx.poll_recv(cx))
                .inspect(move |ns| c.requested(namespace_key(&ns.name))),
        );
        // Everything once at the start: the caches filled while standing by.
        let c = ctx.clone();
        let namespace_controller =
            namespace_controller.reconcile_all_on(futures::stream::once(async move {
                for ns in c.namespaces.state() {
                    c.requested(namespace_key(&ns.name_any()));
                }
            }));
        let c = ctx.clone();
        let namespace_loop = namespace_controller
            .graceful_shutdown_on(shutdown.clone())
            .run(
                |ns, ctx: Arc<Context>| async move {
                    let name = ns.name_any();
                    ctx.started(&namespace_key(&name));
                    let started = Instant::now();
                    let result = namespace::reconcile(ns, ctx.clone()).await;
                    ctx.metrics
                        .reconciled(ControllerKind::Namespace, started.elapsed());
                    if let Err(e) = &result {
                        ctx.metrics
                            .reconcile_failed(ControllerKind::Namespace, e.reason());
                    }
                    result
                },
                namespace_error_policy,
                ctx.clone(),
            )
            .for_each(move |result| {
                log_result("Namespace", result, &c, namespace_key);
                futures::future::ready(())
            });

        let c = ctx.clone();
        let status_requests = futures::stream::poll_fn(move |cx| status_rx.poll_recv(cx))
            .inspect(move |p| c.requested(profile_key(&p.name)));
        let baselines = Arc::new(profile::RepairBaselines::default());
        let c = ctx.clone();
        let all = ctx.clone();
        let profile_loop = Controller::for_shared_stream(
            profile_self.inspect(move |p| c.requested(profile_key(&p.name_any()))),
            ctx.profiles.clone(),
        )
        .with_config(controller::Config::default().debounce(STATUS_DEBOUNCE))
        .reconcile_on(status_requests)
        .reconcile_all_on(futures::stream::once(async move {
            for p in all.profiles.state() {
                all.requested(profile_key(&p.name_any()));
            }
        }))
        .graceful_shutdown_on(shutdown.clone())
        .run(
            move |p, ctx: Arc<Context>| {
                let baselines = baselines.clone();
                async move {
                    ctx.started(&profile_key(&p.name_any()));
                    let started = Instant::now();
                    let result = profile::reconcile(p, ctx.clone(), &baselines).await;
                    ctx.metrics
                        .reconciled(ControllerKind::Profile, started.elapsed());
                    if let Err(e) = &result {
                        ctx.metrics
                            .reconcile_failed(ControllerKind::Profile, e.reason());
                    }
                    result
                }
            },
            profile_error_policy,
            ctx.clone(),
        )
        .for_each({
            let c = ctx.clone();
            move |result| {
                log_result("HardeningProfile", result, &c, profile_key);
                futures::future::ready(())
            }
        });

        // Losing the lead stops the controllers at once: dropping them cancels every
        // reconcile in flight, so nothing more is written.
        let lost = async {
            match leading {
                Some(mut leading) => {
                    let _ = leading.wait_for(|l| !*l).await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = futures::future::join(namespace_loop, profile_loop) => Ok(()),
            _ = lost => {
                warn!("lost the leader election; stopped reconciling");
                Err(LostLeadership)
            }
        }
    };
    // The reflectors run until the controllers have shut down.
    tokio::select! {
        result = lifecycle => result,
        _ = futures::future::join_all(drivers) => {
            warn!("all watches ended");
            Ok(())
        }
    }
}

fn namespace_key(name: &str) -> String {
    format!("Namespace/{name}")
}

fn profile_key(name: &str) -> String {
    format!("HardeningProfile/{name}")
}

fn namespace_error_policy(ns: Arc<Namespace>, error: &Error, ctx: Arc<Context>) -> Action {
    error_policy(&ns.name_any(), error, &ctx)
}

fn profile_error_policy(
    profile: Arc<HardeningProfile>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    error_policy(&format!("profile/{}", profile.name_any()), error, &ctx)
}

/// Permanent errors wait for a change; transient ones back off per object.
fn error_policy(key: &str, error: &Error, ctx: &Context) -> Action {
    warn!(object = key, reason = error.reason(), error = %error, "reconcile failed");
    if error.is_permanent() {
        Action::await_change()
    } else {
        Action::requeue(backoff_delay(ctx.failure_count(key).max(1)))
    }
}

fn log_result<K: kube::Resource, E: std::fmt::Display, W: std::fmt::Display>(
    kind: &str,
    result: Result<(ObjectRef<K>, Action), controller::Error<E, W>>,
    ctx: &Context,
    key: fn(&str) -> String,
) {
    match result {
        Ok((object, _)) => debug!(kind, object = %object.name, "reconciled"),
        // A request for an object that is gone never starts a reconcile.
        Err(controller::Error::ObjectNotFound(object)) => {
            ctx.started(&key(&object.name));
            debug!(kind, object = %object.name, "gone before its reconcile");
        }
        // Reconcile errors were logged by the error policy; these are the controller's own
        // (a watch failing): visible, never fatal.
        Err(e) => warn!(kind, error = %e, "controller event"),
    }
}
