//! The controllers: one keyed by Namespace (what a namespace gets depends on every
//! profile selecting it), one keyed by HardeningProfile (finalizer and status).
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
mod pods;
pub mod preview;
mod profile;
mod reports;
mod state;
mod trim;
mod vulnerabilities;
mod write;

pub use reports::PERIOD as REPORT_PERIOD;
pub use reports::detect as detect_report_api;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt, Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Namespace;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::config::RunConfig;
use crate::core::api::HardeningProfile;
use crate::core::labels::FIELD_MANAGER;
use crate::core::render::ManagedKind;
use crate::error::{Error, backoff_delay};
use crate::metrics::{ControllerKind, Metrics};
use crate::server::Health;

use caches::Caches;
pub use context::{Context, State};
use events::Events;
pub use managed::{api_resource, watch_backoff};
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
    // Every request for a namespace reconcile, from every watch, by namespace name.
    let (namespace_tx, mut namespace_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut drivers = Vec::new();

    let profile_api: Api<HardeningProfile> = Api::all(client.clone());
    let mut profile_watch = watcher::Config::default();
    if let Some(selector) = &config.profile_selector {
        profile_watch = profile_watch.labels(selector);
    }
    let (profiles, profile_writer) = reflector::store_shared(managed::SUBSCRIBER_BUFFER);
    let profile_events = profile_writer
        .subscribe()
        .expect("a shared writer has subscribers");
    let profile_self = profile_writer
        .subscribe()
        .expect("a shared writer has subscribers");
    drivers.push(managed::drive(
        "HardeningProfile",
        watcher(profile_api, profile_watch)
            .backoff(watch_backoff())
            .reflect_shared(profile_writer),
    ));

    let namespace_writer = reflector::store::Writer::<Namespace>::default();
    let namespaces = namespace_writer.as_reader();
    let namespace_writes = Arc::new(state::NamespaceWrites::default());
    let mut relist = Relist {
        own_writes: namespace_writes.clone(),
        ..Relist::default()
    };
    let (reader, tx) = (namespaces.clone(), namespace_tx.clone());
    drivers.push(managed::drive(
        "Namespace",
        watcher(
            Api::<Namespace>::all(client.clone()),
            watcher::Config::default(),
        )
        .backoff(watch_backoff())
        .map_ok(|event| event.modify(|ns| *ns = trim::namespace(std::mem::take(ns))))
        // Before the store takes the event: a re-list is compared with what it held.
        .map_ok(move |event| {
            for name in relist.changed(&event, &reader) {
                let _ = tx.send(name);
            }
            event
        })
        .reflect(namespace_writer)
        .inspect_ok({
            let writes = namespace_writes.clone();
            move |event| {
                if let watcher::Event::Apply(ns) | watcher::Event::Delete(ns) = event {
                    writes.settled(ns);
                }
            }
        }),
    ));

    // A change of a profile's spec (or its deletion) can change what any namespace gets;
    // its status writes change nothing there.
    drivers
        .push(profile_triggers(profile_events, namespaces.clone(), namespace_tx.clone()).boxed());

    let mut indexes = Vec::new();
    for kind in ManagedKind::ALL {
        let tx = namespace_tx.clone();
        let (index, driver) = managed::index(&client, kind, move |namespace| {
            let _ = tx.send(namespace);
        });
        drivers.push(driver);
        indexes.push(index);
    }
    let pods = config.pod_report.then(|| {
        let (cache, driver) = pods::cache(&client, config.excluded(), namespace_tx.clone());
        drivers.push(driver);
        cache
    });

    // The Trivy Operator's VulnerabilityReports, when the cluster serves them.
    let vulnerabilities = if vulnerabilities::detect(&client).await {
        let (cache, driver) =
            vulnerabilities::cache(&client, config.excluded(), namespace_tx.clone());
        drivers.push(driver);
        Some(cache)
    } else {
        None
    };

    let (status_tx, status_rx) = tokio::sync::mpsc::unbounded_channel();
    // ClusterNetworkPolicies, where the cluster serves them.
    let cluster_policies = if cluster_network_policies::detect(&client).await {
        let (cache, driver) = cluster_network_policies::cache(&client, status_tx.clone());
        drivers.push(driver);
        Some(cache)
    } else {
        None
    };
    // The node states the node agents publish, for the profiles' node baselines.
    let node_states = config.node_agent_namespace().map(|namespace| {
        let (states, driver) =
            nodes::cache(&client, &namespace, profiles.clone(), status_tx.clone());
        drivers.push(driver);
        states
    });
    // A change of a generated admission policy or binding asks for its profile's reconcile.
    let mutating_policies = guardrails::mutating_policies_served(&client).await;
    let admission_kinds: Vec<&'static str> = crate::core::guardrails::KINDS
        .into_iter()
        .filter(|kind| {
            mutating_policies
                || ![
                    crate::core::guardrails::MUTATING_POLICY_KIND,
                    crate::core::guardrails::MUTATING_BINDING_KIND,
                ]
                .contains(kind)
        })
        .collect();
    let (guardrail_caches, guardrail_drivers) =
        guardrails::caches(&client, status_tx.clone(), &admission_kinds);
    // HardeningExceptions, where the cluster serves them.
    let (exception_tx, exception_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let (exception_store, exception_requests) = if exceptions::detect(&client).await {
        let (store, driver) = exceptions::cache(&client, status_tx.clone(), exception_tx.clone());
        drivers.push(driver);
        (Some(store), Some(exception_tx))
    } else {
        drop(exception_tx);
        (None, None)
    };
    // PodDisruptionBudgets, for highAvailability's report on running pods.
    let (budgets, budgets_driver) = budgets::cache(&client, namespace_tx.clone());
    drivers.push(budgets_driver);
    // Who can reach containers past admission (nodes/proxy), for profiles with denyExec.
    let (access, access_drivers) = access::caches(&client, profiles.clone(), status_tx.clone());
    drivers.extend(access_drivers);
    drivers.extend(guardrail_drivers);
    let reporter = Reporter {
        controller: FIELD_MANAGER.into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let state = State::new(
        &metrics,
        Requests::new(status_tx),
        exception_requests.map(Requests::new),
    );
    let ctx = Arc::new(Context {
        events: Events::new(Recorder::new(client.clone(), reporter)),
        client: client.clone(),
        excluded: config.excluded(),
        config: config.clone(),
        caches: Caches {
            profiles,
            namespaces,
            namespace_writes,
            managed: indexes,
            pods,
            vulnerabilities,
            node_states,
            cluster_policies,
            guardrails: Some(guardrail_caches),
            exceptions: exception_store,
            access,
            budgets,
        },
        state,
        metrics,
    });

    // Boxed: polled by reference while standing by, then moved.
    let mut profile_self = Box::pin(profile_self);

    let lifecycle = async {
        // Standing by: until every cache is complete (reconciles read them, and "not
        // listed yet" must never look like "missing") and this replica leads. The
        // notifications meanwhile are dropped (a subscriber that is not read would stall
        // its reflector): the controllers reconcile everything when they start.
        let leads = {
            let ready_and_leading = async {
                ctx.caches.ready().await;
                health.set_caches_synced();
                info!("caches synced");
                match leading.as_mut() {
                    Some(leading) => leading.wait_for(|l| *l).await.is_ok(),
                    None => true,
                }
            };
            let drain = async {
                let notifications = futures::stream::select(
                    profile_self.as_mut().map(|_| ()),
                    futures::stream::poll_fn(|cx| namespace_rx.poll_recv(cx)).map(|_| ()),
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
        ctx.state.leadership.started();
        // Who the operator is, asked once it leads (a standby writes nothing, not even that).
        ctx.state.leadership.set_admission(
            guardrails::environment(&ctx.client, &config.break_glass_group, mutating_policies)
                .await,
        );
        info!("reconciling");

        let c = ctx.clone();
        let requests =
            futures::stream::poll_fn(move |cx| namespace_rx.poll_recv(cx)).map(move |name| {
                c.state.queue.requested(namespace_key(&name));
                ObjectRef::<Namespace>::new(&name)
            });
        // Everything once at the start: the caches filled while standing by.
        let c = ctx.clone();
        let namespace_loop = Controller::for_shared_stream(
            futures::stream::pending::<Arc<Namespace>>(),
            ctx.caches.namespaces.clone(),
        )
        .with_config(controller::Config::default().concurrency(config.concurrency))
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
                ctx.state.queue.started(&key);
                let started = Instant::now();
                let result = namespace::reconcile(ns, ctx.clone()).await;
                finished(&ctx, ControllerKind::Namespace, &key, started, &result);
                result
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
            profile_self.inspect(move |p| c.state.queue.requested(profile_key(&p.name_any()))),
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
                    ctx.state.queue.started(&key);
                    let started = Instant::now();
                    let result = profile::reconcile(p, ctx.clone(), &baselines).await;
                    finished(&ctx, ControllerKind::Profile, &key, started, &result);
                    result
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
                reports::run(ctx.clone(), health.clone(), shutdown.clone()),
                exceptions::run(ctx.clone(), exception_rx, shutdown.clone()),
            ) => Ok(()),
            _ = lost => {
                warn!("lost the leader election; stopped reconciling");
                Err(LostLeadership)
            }
        }
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

fn namespace_key(name: &str) -> String {
    format!("Namespace/{name}")
}

fn profile_key(name: &str) -> String {
    format!("HardeningProfile/{name}")
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
    let failures = ctx.state.queue.note_failure(key);
    warn!(object = key, reason = error.reason(), failures, error = %error, "reconcile failed");
    if error.is_permanent() {
        Action::await_change()
    } else {
        Action::requeue(backoff_delay(failures))
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

/// The namespaces to reconcile for a watch event of the namespace watch: the namespace an
/// event is about, and after a re-list every namespace that changed (or vanished) while the
/// watch was down. The first listing asks for nothing: the controller starts with a full pass.
#[derive(Default)]
struct Relist {
    synced: bool,
    seen: Option<HashSet<String>>,
    /// The echo of the operator's own write asks for nothing.
    own_writes: Arc<state::NamespaceWrites>,
}

impl Relist {
    fn changed(
        &mut self,
        event: &watcher::Event<Namespace>,
        store: &Store<Namespace>,
    ) -> Vec<String> {
        match event {
            watcher::Event::Apply(ns) if self.own_writes.echo(ns) => Vec::new(),
            watcher::Event::Apply(ns) | watcher::Event::Delete(ns) => vec![ns.name_any()],
            watcher::Event::Init => {
                self.seen = Some(HashSet::new());
                Vec::new()
            }
            watcher::Event::InitApply(ns) => {
                let name = ns.name_any();
                if let Some(seen) = self.seen.as_mut() {
                    seen.insert(name.clone());
                }
                let before = store.get(&ObjectRef::new(&name));
                if self.synced && before.and_then(|b| b.resource_version()) != ns.resource_version()
                {
                    vec![name]
                } else {
                    Vec::new()
                }
            }
            watcher::Event::InitDone => {
                self.own_writes.clear();
                let seen = self.seen.take().unwrap_or_default();
                let gone = if self.synced {
                    store
                        .state()
                        .iter()
                        .map(|ns| ns.name_any())
                        .filter(|name| !seen.contains(name))
                        .collect()
                } else {
                    Vec::new()
                };
                self.synced = true;
                gone
            }
        }
    }
}

/// Asks for every namespace's reconcile when a profile's spec, identity, deletion state or
/// exceptions in force change: not for its other status or finalizer writes, which change
/// nothing a namespace gets.
async fn profile_triggers(
    events: impl Stream<Item = Arc<HardeningProfile>>,
    namespaces: Store<Namespace>,
    trigger: UnboundedSender<String>,
) {
    let mut seen: HashMap<String, (Option<String>, Option<i64>, bool, u64)> = HashMap::new();
    events
        .for_each(|profile| {
            // The exceptions in force are part of what namespaces get (Pod Security labels)
            // and of how they are judged.
            let identity = (
                profile.uid(),
                profile.metadata.generation,
                profile.metadata.deletion_timestamp.is_some(),
                crate::core::exceptions::digest(crate::core::exceptions::active_of(&profile)),
            );
            if seen.insert(profile.name_any(), identity.clone()) != Some(identity) {
                for ns in namespaces.state() {
                    let _ = trigger.send(ns.name_any());
                }
            }
            futures::future::ready(())
        })
        .await;
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
