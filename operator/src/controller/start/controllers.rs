//! Step 4: the controllers, once this replica leads: one keyed by Namespace (what a
//! namespace gets depends on every profile selecting it), one keyed by HardeningProfile
//! (finalizer, cluster-scoped objects and status), beside them the policy report writer and
//! the exceptions' controller. Each starts with a pass over everything (the caches filled
//! while standing by); losing the lead stops them at once.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use kube::ResourceExt;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::{ObjectRef, ReflectHandle};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::watch;
use tracing::{debug, warn};

use super::super::context::Context;
use super::super::state::Failure;
use super::super::trim::CachedNamespace;
use super::super::{
    LostLeadership, STATUS_INTERVAL, exceptions, namespace, policy_reports, profile,
};
use crate::core::api::HardeningProfile;
use crate::error::Error;
use crate::metrics::ControllerKind;
use crate::server::Health;

/// What asks the controllers for reconciles, besides their pass at the start.
pub struct Requests {
    /// Namespace reconciles, by namespace name (every watch sends them).
    pub namespaces: UnboundedReceiver<String>,
    /// The profile watch's events.
    pub profile_events: Pin<Box<ReflectHandle<HardeningProfile>>>,
    /// Status recomputations, by profile name (merged per status interval).
    pub status: UnboundedReceiver<String>,
    /// Exception judgements, by exception name.
    pub exceptions: UnboundedReceiver<String>,
}

/// Runs the controllers until `shutdown` (in-flight reconciles finish first) or until
/// `leading` says this replica lost the lead.
pub async fn run<S>(
    ctx: Arc<Context>,
    health: Arc<Health>,
    requests: Requests,
    leading: Option<watch::Receiver<bool>>,
    shutdown: S,
) -> Result<(), LostLeadership>
where
    S: Future<Output = ()> + Clone + Send + Sync + 'static,
{
    let Requests {
        namespaces: mut namespace_rx,
        profile_events,
        status: status_rx,
        exceptions: exception_rx,
    } = requests;
    let c = ctx.clone();
    let requests =
        futures::stream::poll_fn(move |cx| namespace_rx.poll_recv(cx)).map(move |name| {
            c.state.queue.requested(namespace_key(&name));
            ObjectRef::<CachedNamespace>::new(&name)
        });
    // Everything once at the start: the caches filled while standing by.
    let c = ctx.clone();
    let namespace_loop = Controller::for_shared_stream(
        futures::stream::pending::<Arc<CachedNamespace>>(),
        ctx.caches.namespaces.clone(),
    )
    .with_config(controller::Config::default().concurrency(ctx.config.concurrency))
    .reconcile_on(requests)
    .reconcile_all_on(futures::stream::once(async move {
        for ns in c.caches.namespaces.state() {
            c.state.queue.requested(namespace_key(&ns.name_any()));
        }
    }))
    .graceful_shutdown_on(shutdown.clone())
    .run(
        |ns, ctx: Arc<Context>| async move {
            let key = namespace_key(&ns.name_any());
            let reconcile = namespace::reconcile(ns, ctx.clone());
            timed(&ctx, ControllerKind::Namespace, key, reconcile).await
        },
        |ns, error, ctx| error_policy(&namespace_key(&ns.name_any()), error, &ctx),
        ctx.clone(),
    )
    .for_each({
        let c = ctx.clone();
        move |result| {
            log_result("Namespace", result, &c, namespace_key);
            futures::future::ready(())
        }
    });

    let c = ctx.clone();
    let status_requests = throttled(status_rx, STATUS_INTERVAL).map(move |name| {
        c.state.queue.requested(profile_key(&name));
        ObjectRef::<HardeningProfile>::new(&name)
    });
    let baselines = Arc::new(profile::Baselines::default());
    let c = ctx.clone();
    let all = ctx.clone();
    let profile_loop = Controller::for_shared_stream(
        profile_events.inspect(move |p| c.state.queue.requested(profile_key(&p.name_any()))),
        ctx.caches.profiles.clone(),
    )
    .reconcile_on(status_requests)
    .reconcile_all_on(futures::stream::once(async move {
        for p in all.caches.profiles.state() {
            all.state.queue.requested(profile_key(&p.name_any()));
        }
    }))
    .graceful_shutdown_on(shutdown.clone())
    .run(
        move |p, ctx: Arc<Context>| {
            let baselines = baselines.clone();
            async move {
                let key = profile_key(&p.name_any());
                let reconcile = profile::reconcile(p, ctx.clone(), &baselines);
                timed(&ctx, ControllerKind::Profile, key, reconcile).await
            }
        },
        |p, error, ctx| error_policy(&profile_key(&p.name_any()), error, &ctx),
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
        _ = futures::future::join4(
            namespace_loop,
            profile_loop,
            policy_reports::run(ctx.clone(), health.clone(), shutdown.clone()),
            exceptions::run(ctx.clone(), exception_rx, shutdown.clone()),
        ) => Ok(()),
        _ = lost => {
            warn!("lost the leader election; stopped reconciling");
            Err(LostLeadership)
        }
    }
}

fn namespace_key(name: &str) -> String {
    format!("Namespace/{name}")
}

fn profile_key(name: &str) -> String {
    format!("HardeningProfile/{name}")
}

/// Runs one reconcile of `key`: it leaves the queue when it starts, and its end counts in
/// the metrics and the failures in a row (the exceptions' controller's too).
pub(crate) async fn timed(
    ctx: &Context,
    controller: ControllerKind,
    key: String,
    reconcile: impl Future<Output = Result<Action, Error>>,
) -> Result<Action, Error> {
    ctx.state.queue.started(&key);
    let started = Instant::now();
    let result = reconcile.await;
    finished(ctx, controller, &key, started, &result);
    result
}

/// Metrics and the failure count of one finished reconcile.
fn finished(
    ctx: &Context,
    controller: ControllerKind,
    key: &str,
    started: Instant,
    result: &Result<Action, Error>,
) {
    ctx.metrics.reconciled(controller, started.elapsed());
    match result {
        Ok(_) => ctx.state.queue.note_success(key),
        Err(e) => ctx.metrics.reconcile_failed(controller, e.reason()),
    }
}

/// Permanent errors wait for a change; every other failure backs off per object: 1 s,
/// doubling with each failure in a row, up to 5 minutes.
fn error_policy(key: &str, error: &Error, ctx: &Context) -> Action {
    let failure = failed(key, error, ctx);
    if error.is_permanent() {
        Action::await_change()
    } else {
        Action::requeue(failure.delay)
    }
}

/// Counts and logs a failed reconcile of `key`: how many failed in a row, and the backoff.
pub(crate) fn failed(key: &str, error: &Error, ctx: &Context) -> Failure {
    let failure = ctx.state.queue.note_failure(key);
    warn!(object = key, reason = error.reason(), failures = failure.in_a_row, error = %error, "reconcile failed");
    failure
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
            ctx.state.queue.started(&key(&object.name));
            if kind == "Namespace" {
                ctx.state.outcomes.record(&object.name, None);
                ctx.forget_unconverged(&object.name);
            }
            debug!(kind, object = %object.name, "gone before its reconcile");
        }
        // Reconcile errors were logged by the error policy; these are the controller's own
        // (a watch failing): visible, never fatal.
        Err(e) => warn!(kind, error = %e, "controller event"),
    }
}

/// The names from `requests`, each at most once per `period`: requests arriving within a
/// period are merged and passed on at its end.
fn throttled(requests: UnboundedReceiver<String>, period: Duration) -> impl Stream<Item = String> {
    let ticks = tokio::time::interval(period);
    futures::stream::unfold((requests, ticks), |(mut requests, mut ticks)| async move {
        loop {
            ticks.tick().await;
            let mut due = std::collections::BTreeSet::new();
            loop {
                match requests.try_recv() {
                    Ok(name) => {
                        due.insert(name);
                    }
                    Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                    Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => {
                        return (!due.is_empty()).then_some((due, (requests, ticks)));
                    }
                }
            }
            if !due.is_empty() {
                return Some((due, (requests, ticks)));
            }
        }
    })
    .flat_map(futures::stream::iter)
}
