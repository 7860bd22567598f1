//! The controllers: one keyed by Namespace (what a namespace gets depends on every
//! profile selecting it), one keyed by HardeningProfile (finalizer and status).
//!
//! Watches: Namespaces, HardeningProfiles, and each generated kind filtered by the
//! managed-by label. Each watch fills a cache and triggers reconciles; periodic resync is
//! only a safety net.

mod context;
mod managed;
mod namespace;
mod profile;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Namespace;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tracing::{debug, info, warn};

use crate::api::HardeningProfile;
use crate::config::RunConfig;
use crate::error::{Error, backoff_delay};
use crate::labels::FIELD_MANAGER;
use crate::render::ManagedKind;

pub use context::Context;
pub use managed::{api_resource, managed_selector};

/// How long the profile controller waits to coalesce status triggers from many namespaces.
const STATUS_DEBOUNCE: Duration = Duration::from_millis(500);

/// Runs the operator until `shutdown` resolves; in-flight reconciles finish first.
pub async fn run(
    client: Client,
    config: RunConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let shutdown = shutdown.shared();
    let profile_api: Api<HardeningProfile> = Api::all(client.clone());
    let mut profile_watch = watcher::Config::default();
    if let Some(selector) = &config.profile_selector {
        profile_watch = profile_watch.labels(selector);
    }

    // Shared caches: each filled by its own reflector future, each with a subscription
    // that triggers the namespace controller.
    let (profiles, profile_writer) = reflector::store_shared(managed::SUBSCRIBER_BUFFER);
    let profile_events = profile_writer
        .subscribe()
        .expect("a shared writer has subscribers");
    let mut drivers = vec![managed::drive(
        "HardeningProfile",
        watcher(profile_api.clone(), profile_watch.clone())
            .default_backoff()
            .reflect_shared(profile_writer),
    )];
    let (namespace_tx, mut namespace_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut caches = Vec::new();
    for kind in ManagedKind::ALL {
        let (cache, driver) = managed::cache(&client, kind, namespace_tx.clone());
        drivers.push(driver);
        caches.push(cache);
    }

    let namespace_controller = Controller::new(
        Api::<Namespace>::all(client.clone()),
        watcher::Config::default(),
    )
    .with_config(controller::Config::default().concurrency(config.concurrency));
    let namespaces = namespace_controller.store();
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
        namespaces: namespaces.clone(),
        managed: caches,
        status_trigger: status_tx,
        outcomes: Default::default(),
        repairs: Default::default(),
        failures: Default::default(),
    });

    // A profile change can change what any namespace gets (priority, selection).
    let all_namespaces = namespaces.clone();
    let namespace_controller = namespace_controller.watches_shared_stream(
        profile_events,
        move |_: Arc<HardeningProfile>| {
            all_namespaces
                .state()
                .iter()
                .map(|ns| ObjectRef::from_obj(ns.as_ref()))
                .collect::<Vec<_>>()
        },
    );
    // A change of a generated object reconciles its namespace.
    let namespace_controller =
        namespace_controller.reconcile_on(futures::stream::poll_fn(move |cx| {
            namespace_rx.poll_recv(cx)
        }));
    let namespace_loop = namespace_controller
        .graceful_shutdown_on(shutdown.clone())
        .run(namespace::reconcile, namespace_error_policy, ctx.clone())
        .for_each(|result| async move { log_result("Namespace", result) });

    let status_requests = futures::stream::poll_fn(move |cx| status_rx.poll_recv(cx));
    let baselines = Arc::new(profile::RepairBaselines::default());
    let profile_loop = Controller::new(profile_api, profile_watch)
        .with_config(controller::Config::default().debounce(STATUS_DEBOUNCE))
        .reconcile_on(status_requests)
        .graceful_shutdown_on(shutdown.clone())
        .run(
            move |p, ctx| {
                let baselines = baselines.clone();
                async move { profile::reconcile(p, ctx, &baselines).await }
            },
            profile_error_policy,
            ctx.clone(),
        )
        .for_each(|result| async move { log_result("HardeningProfile", result) });

    let controllers = async {
        // Reconciles read these caches; start them only once every cache has its first
        // complete listing, so "not listed yet" is never mistaken for "missing".
        tokio::select! {
            _ = ctx.caches_ready() => {}
            _ = shutdown.clone() => return,
        }
        info!("caches synced; reconciling");
        futures::join!(namespace_loop, profile_loop);
    };
    // The reflectors run until the controllers have shut down.
    tokio::select! {
        _ = controllers => {}
        _ = futures::future::join_all(drivers) => warn!("all watches ended"),
    }
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

fn log_result<K: kube::Resource, E: std::fmt::Display>(
    kind: &str,
    result: Result<(ObjectRef<K>, Action), E>,
) {
    match result {
        Ok((object, _)) => debug!(kind, object = %object.name, "reconciled"),
        // Reconcile errors were logged by the error policy; these are the controller's own
        // (a watch failing, an object gone from the cache): visible, never fatal.
        Err(e) => warn!(kind, error = %e, "controller event"),
    }
}
