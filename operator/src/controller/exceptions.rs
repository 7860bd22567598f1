//! HardeningExceptions: the watch (when the cluster serves the CRD, found once at start-up),
//! and the controller that keeps each exception's status, publishes an Event when one comes
//! into force, starts expiring within a week, expires or is refused, and asks for its
//! profile's status at each of those moments. What an exception means is judged in the pure
//! core (`core::exceptions`): the profile's status lists those in force, and its admission
//! policy, Pod Security labels and verdicts read them from there.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use tokio::sync::mpsc::UnboundedSender;
use tracing::{info, warn};

use crate::core::api::{
    ExceptionState, HardeningException, HardeningExceptionStatus, HardeningProfile,
};
use crate::core::exceptions::{Judgement, judge, next_change, profile_exceptions, reasons};
use crate::error::Error;

use super::context::Context;
use super::managed::{drive, watch_backoff};
use super::start::controllers::{failed, timed};
use super::write::apply_status;
use crate::metrics::ControllerKind;

/// The plural the CRD serves.
const PLURAL: &str = "hardeningexceptions";

/// Whether the cluster serves HardeningExceptions (the CRD is installed), asked once at
/// start-up; without it no exception applies, and the log says so.
pub async fn detect(client: &Client) -> bool {
    let api_version = HardeningException::api_version(&()).into_owned();
    match client.list_api_group_resources(&api_version).await {
        Ok(list) if list.resources.iter().any(|r| r.name == PLURAL) => {
            info!("exceptions: HardeningExceptions are served and honoured");
            true
        }
        Ok(_) | Err(kube::Error::Api(_)) => {
            info!(
                "exceptions: off (the HardeningException CRD is not installed: no rule is suspended)"
            );
            false
        }
        Err(e) => {
            warn!(error = %e, "exceptions: off (could not discover {api_version})");
            false
        }
    }
}

/// The exceptions' cache and the future that fills it. A change asks for the reconcile of
/// the exception (`requests`, by name) and for the status of the profile it names (and of
/// the one it named before, when that changed).
pub fn cache(
    client: &Client,
    status_trigger: UnboundedSender<String>,
    requests: UnboundedSender<String>,
) -> (
    Store<HardeningException>,
    futures::future::BoxFuture<'static, ()>,
) {
    let api: Api<HardeningException> = Api::all(client.clone());
    let writer = reflector::store::Writer::<HardeningException>::default();
    let store = writer.as_reader();
    let mut named: std::collections::HashMap<String, String> = Default::default();
    let events = watcher(api, watcher::Config::default())
        .backoff(watch_backoff())
        .reflect(writer)
        .inspect(move |event| {
            let Ok(event) = event else { return };
            match event {
                watcher::Event::Apply(e) | watcher::Event::InitApply(e) => {
                    let profile = e.spec.profile.clone();
                    if let Some(before) = named.insert(e.name_any(), profile.clone())
                        && before != profile
                    {
                        let _ = status_trigger.send(before);
                    }
                    let _ = status_trigger.send(profile);
                    let _ = requests.send(e.name_any());
                }
                watcher::Event::Delete(e) => {
                    named.remove(&e.name_any());
                    let _ = status_trigger.send(e.spec.profile.clone());
                    let _ = requests.send(e.name_any());
                }
                watcher::Event::Init | watcher::Event::InitDone => {}
            }
        });
    (store, drive("HardeningException", events))
}

/// The status `exception` should have: its judgement at `now` (among the other exceptions
/// of its profile, which bound how many are in force), the requirements it weakens and a
/// `Ready` condition keeping its transition time while its status holds.
fn desired_status(
    exception: &HardeningException,
    judgement: &Judgement,
    now: Timestamp,
) -> HardeningExceptionStatus {
    let spec = &exception.spec;
    let weakens = crate::core::compliance::exception_weakens(&spec.rules, spec.pod_security_level);
    let ready = if judgement.state == ExceptionState::Active {
        "True"
    } else {
        "False"
    };
    let previous = exception
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
    let last_transition_time = match previous {
        Some(c) if c.status == ready => c.last_transition_time.clone(),
        _ => Time(now),
    };
    HardeningExceptionStatus {
        observed_generation: exception.metadata.generation,
        state: Some(judgement.state),
        reason: Some(judgement.reason.to_owned()),
        message: Some(judgement.message.clone()),
        weakens: (!weakens.is_empty()).then(|| crate::core::compliance::cite(&weakens)),
        conditions: vec![Condition {
            type_: "Ready".to_owned(),
            status: ready.to_owned(),
            reason: judgement.reason.to_owned(),
            message: judgement.message.chars().take(1024).collect(),
            observed_generation: exception.metadata.generation,
            last_transition_time,
        }],
    }
}

/// The judgement of `exception` now: among its profile's exceptions when the profile is
/// here (the 32 in force are chosen by name), alone otherwise.
fn judgement_of(
    exception: &HardeningException,
    profile: Option<&HardeningProfile>,
    all: &[Arc<HardeningException>],
    now: Timestamp,
    max: Duration,
) -> Judgement {
    let name = exception.name_any();
    match profile {
        Some(profile) => profile_exceptions(profile, all.iter().map(Arc::as_ref), now, max)
            .judged
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, j)| j)
            .unwrap_or_else(|| judge(exception, Some(profile), now, max)),
        None => judge(exception, None, now, max),
    }
}

pub async fn reconcile(
    exception: Arc<HardeningException>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let name = exception.name_any();
    if exception.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let profile_name = exception.spec.profile.clone();
    let profile = ctx
        .caches
        .profiles
        .get(&ObjectRef::new(&profile_name))
        .filter(|p| p.metadata.deletion_timestamp.is_none());
    // With --profile-selector, a profile not among this operator's may be another's: its
    // exceptions are that operator's to judge.
    if profile.is_none() && ctx.config.profile_selector.is_some() {
        return Ok(Action::await_change());
    }
    let Some(store) = &ctx.caches.exceptions else {
        return Ok(Action::await_change());
    };
    let now = Timestamp::now();
    let max = ctx.config.max_exception_duration;
    let judgement = judgement_of(&exception, profile.as_deref(), &store.state(), now, max);
    let status = desired_status(&exception, &judgement, now);
    ctx.metrics.exception_state(&name, state_label(&judgement));
    let before = exception.status.as_ref();
    if before != Some(&status) {
        let kind = "HardeningException";
        apply_status::<HardeningException>(&ctx.client, kind, &name, &status).await?;
    }
    let previous = (
        before.and_then(|s| s.state),
        before.and_then(|s| s.reason.clone()),
    );
    let leading_since = ctx.state.leadership.since();
    if let Some((type_, reason, note)) =
        transition(&exception, previous, &judgement, now, leading_since)
    {
        let reference = match &profile {
            Some(p) => p.object_ref(&()),
            None => exception.object_ref(&()),
        };
        let related = Some(exception.object_ref(&()));
        let event = super::events::event(type_, reason, "Judge", &note, related);
        ctx.events.publish_on(&reference, event).await;
    }
    // The profile's status lists what is in force; its reconcile follows the same clock.
    ctx.state.status.request(&profile_name);
    Ok(match next_change([exception.as_ref()], now) {
        // A little after the moment, so that the judgement has changed by then.
        Some(after) => Action::requeue(after + Duration::from_millis(100)),
        None => Action::await_change(),
    })
}

/// The `state` label of `hardening_exceptions`.
fn state_label(judgement: &Judgement) -> &'static str {
    match (judgement.state, judgement.reason) {
        (ExceptionState::Active, reasons::EXPIRING_SOON) => "expiring",
        (ExceptionState::Active, _) => "active",
        (ExceptionState::Expired, _) => "expired",
        (ExceptionState::Invalid, _) => "invalid",
        (ExceptionState::Pending, _) => "pending",
    }
}

/// The Event a change of judgement calls for: in force (`ExceptionActive`), expiring within
/// a week (`ExceptionExpiringSoon`, for one in force before), expired (`ExceptionExpired`:
/// when this operator started leading after the expiry, that the exception kept applying
/// until now, and how long), refused (`ExceptionRejected`, `ExceptionNotApplied`). `None`
/// when nothing changed that people must hear of.
fn transition(
    exception: &HardeningException,
    (state, reason): (Option<ExceptionState>, Option<String>),
    judgement: &Judgement,
    now: Timestamp,
    leading_since: Option<Timestamp>,
) -> Option<(EventType, &'static str, String)> {
    let name = exception.name_any();
    let spec = &exception.spec;
    if state == Some(judgement.state) && reason.as_deref() == Some(judgement.reason) {
        return None;
    }
    let what = crate::core::exceptions::suspends(&spec.rules, spec.pod_security_level);
    let whom = format!(
        "owner {}, reason: {}",
        spec.owner,
        crate::core::api::truncate_text(&spec.reason)
    );
    match judgement.state {
        ExceptionState::Active if state == Some(ExceptionState::Active) => {
            (judgement.reason == reasons::EXPIRING_SOON).then(|| {
                (
                    EventType::Normal,
                    "ExceptionExpiringSoon",
                    format!(
                        "HardeningException {name} ({what} for profile {}) expires at {}, within a week: {}; {whom}",
                        spec.profile, spec.expires, judgement.message
                    ),
                )
            })
        }
        ExceptionState::Active => Some((
            EventType::Normal,
            "ExceptionActive",
            format!(
                "HardeningException {name} is in force for profile {} until {}: {what}; {whom}",
                spec.profile, spec.expires
            ),
        )),
        ExceptionState::Expired => {
            let late = crate::core::api::expiry(&spec.expires).ok().and_then(|at| {
                let ms = now.as_millisecond() - at.as_millisecond();
                let after = crate::core::exceptions::words(Duration::from_millis(ms.max(0) as u64));
                match leading_since {
                    Some(since) if since > at => Some(format!(
                        " The operator was not running (or not leading) at its expiry: it kept applying until now, {after} after its expiry."
                    )),
                    _ if ms > 30_000 => Some(format!(" It was removed {after} after its expiry.")),
                    _ => None,
                }
            });
            Some((
                EventType::Normal,
                "ExceptionExpired",
                format!(
                    "HardeningException {name} expired at {}: {what} no longer; the rules of profile {} apply again.{}",
                    spec.expires,
                    spec.profile,
                    late.unwrap_or_default()
                ),
            ))
        }
        ExceptionState::Invalid => Some((
            EventType::Warning,
            "ExceptionRejected",
            format!(
                "HardeningException {name} is not applied: {}",
                judgement.message
            ),
        )),
        ExceptionState::Pending => Some((
            EventType::Warning,
            "ExceptionNotApplied",
            format!(
                "HardeningException {name} is not applied: {}",
                judgement.message
            ),
        )),
    }
}

/// An exception's key in the reconcile bookkeeping (failures in a row).
fn exception_key(name: &str) -> String {
    format!("HardeningException/{name}")
}

/// Runs the exceptions' controller until `shutdown`: every exception once at the start, then
/// on each change (`requests`, by name) and at each moment its judgement changes with time.
pub async fn run(
    ctx: Arc<Context>,
    requests: tokio::sync::mpsc::UnboundedReceiver<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + Clone + 'static,
) {
    let Some(store) = ctx.caches.exceptions.clone() else {
        return;
    };
    let mut requests = requests;
    let requests = futures::stream::poll_fn(move |cx| requests.poll_recv(cx))
        .map(|name| ObjectRef::<HardeningException>::new(&name));
    kube::runtime::controller::Controller::for_shared_stream(
        futures::stream::pending::<Arc<HardeningException>>(),
        store,
    )
    .reconcile_on(requests)
    .reconcile_all_on(futures::stream::once(futures::future::ready(())))
    .graceful_shutdown_on(shutdown)
    .run(
        |exception, ctx: Arc<Context>| async move {
            let key = exception_key(&exception.name_any());
            let reconcile = reconcile(exception, ctx.clone());
            timed(&ctx, ControllerKind::Exception, key, reconcile).await
        },
        // Unlike the other controllers' error policy, every failure backs off, a permanent
        // one too.
        |exception, error, ctx| {
            Action::requeue(failed(&exception_key(&exception.name_any()), error, &ctx).delay)
        },
        ctx.clone(),
    )
    .for_each(|result| {
        match result {
            Err(kube::runtime::controller::Error::ObjectNotFound(object)) => {
                ctx.metrics.exception_gone(&object.name);
            }
            Err(e) => warn!(kind = "HardeningException", error = %e, "controller event"),
            Ok(_) => {}
        }
        futures::future::ready(())
    })
    .await;
}
