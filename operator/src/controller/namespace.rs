//! Reconciles one namespace: which profile governs it (priority), what that profile wants
//! there (render), what differs and what to do about it (`plan`, shared with
//! `hardening-operator diff`), then apply (Enforce) or only report (Audit), and record the
//! outcome for the profiles' status. Reads come from the watch caches; nothing is written
//! when nothing differs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, ObjectReference};
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};
use serde_json::Value;
use tracing::{debug, info, warn};

use crate::api::{
    CleanupPolicy, DriftEntry, HardeningProfile, Mode, NamespaceState, validate,
    workload_security_context,
};
use crate::error::{Error, backoff_delay};
use crate::labels::{FIELD_MANAGER, PROFILE_ANNOTATION};
use crate::metrics::ControllerKind;
use crate::plan::{self, Step, Target};
use crate::render::{ManagedKind, namespace_apply_body, render};
use crate::status::NamespaceOutcome;

use super::context::Context;

pub async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, Error> {
    let name = ns.name_any();
    if ns.metadata.deletion_timestamp.is_some() {
        // Everything in it goes away with it; nothing to enforce or report.
        ctx.record(&name, None);
        return Ok(Action::await_change());
    }
    let profiles = ctx.profiles.state();
    let mut candidates: Vec<&HardeningProfile> = if ctx.excluded.contains(&name) {
        Vec::new()
    } else {
        profiles
            .iter()
            .map(|p| p.as_ref())
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter(|p| crate::api::selects(&p.spec, &name, ns.labels()))
            .collect()
    };
    candidates.sort_by(|a, b| precedence(a, b));

    let Some(winner) = candidates.first().copied() else {
        release(&ns, &profiles, &ctx).await?;
        ctx.record(&name, None);
        ctx.note_success(&name);
        return Ok(Action::requeue(ctx.config.resync_period));
    };

    let candidate_list = candidates
        .iter()
        .map(|p| (p.name_any(), p.metadata.generation.unwrap_or(0)))
        .collect();
    let result = govern(&ns, winner, &ctx).await;
    let (outcome, action, error) = match result {
        Ok(found) => {
            ctx.note_success(&name);
            (found, Action::requeue(ctx.config.resync_period), None)
        }
        Err(e) => {
            let state = if matches!(e, Error::ForeignObject { .. }) {
                NamespaceState::Conflict
            } else {
                NamespaceState::Failed
            };
            let found = Governed {
                state,
                message: Some(format!("{}: {e}", e.reason())),
                drift: Vec::new(),
            };
            if e.is_permanent() {
                // Waits for a change of the profile, the namespace or a generated object.
                // (Transient errors are returned, and counted where the reconcile ends.)
                ctx.metrics
                    .reconcile_failed(ControllerKind::Namespace, e.reason());
                (found, Action::await_change(), None)
            } else {
                (
                    found,
                    Action::requeue(backoff_delay(ctx.note_failure(&name))),
                    Some(e),
                )
            }
        }
    };
    // Whether the workloads use the winner's seccomp/AppArmor profiles: reported, never
    // enforced (pods are not the operator's to change).
    let unconfined = ctx
        .pods
        .as_ref()
        .zip(workload_security_context(winner))
        .map(|(pods, required)| pods.assess(&name, &required));
    let outcome = NamespaceOutcome {
        candidates: candidate_list,
        state: Some(outcome.state),
        message: outcome.message,
        drift: outcome.drift,
        unconfined,
    };
    let previous = ctx.record(&name, Some(outcome.clone()));
    announce_conflicts(&ctx, &name, previous.as_ref(), &outcome, &candidates).await;
    match error {
        // The controller's error policy applies the same per-object backoff.
        Some(e) => Err(e),
        None => Ok(action),
    }
}

/// Winner first (`api::outranks`: priority, then name), whatever the cache order.
fn precedence(a: &HardeningProfile, b: &HardeningProfile) -> std::cmp::Ordering {
    if crate::api::outranks(a, b) {
        std::cmp::Ordering::Less
    } else if crate::api::outranks(b, a) {
        std::cmp::Ordering::Greater
    } else {
        std::cmp::Ordering::Equal
    }
}

/// What governing a namespace found, from the winner's view.
struct Governed {
    state: NamespaceState,
    message: Option<String>,
    drift: Vec<DriftEntry>,
}

async fn govern(
    ns: &Namespace,
    profile: &HardeningProfile,
    ctx: &Context,
) -> Result<Governed, Error> {
    let namespace = ns.name_any();
    let profile_name = profile.name_any();
    if let Err(problems) = validate(profile) {
        return Err(Error::InvalidSpec {
            profile: profile_name,
            message: problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        });
    }
    let desired = render(profile, &namespace).map_err(|e| Error::Render {
        profile: profile_name.clone(),
        namespace: namespace.clone(),
        message: e.to_string(),
    })?;
    let enforce = profile.spec.mode == Mode::Enforce;

    // The generated objects here: everything in the label-filtered caches, plus any
    // object with a rendered name they do not hold (relabelled, or someone else's).
    let mut live: Vec<(ManagedKind, Arc<DynamicObject>)> = ctx
        .managed
        .iter()
        .flat_map(|cache| {
            cache
                .in_namespace(&namespace)
                .into_iter()
                .map(|object| (cache.kind, object))
        })
        .collect();
    for object in &desired.objects {
        let cached = live
            .iter()
            .any(|(kind, o)| *kind == object.kind() && o.name_any() == object.name());
        if !cached
            && let Some(fetched) = ctx
                .cache(object.kind())
                .fetch(&ctx.client, &namespace, object.name())
                .await?
        {
            live.push((object.kind(), Arc::new(fetched)));
        }
    }

    let steps = plan::plan(ns, &desired, profile.spec.mode, &live)?;
    let foreign: Vec<String> = steps
        .iter()
        .filter(|step| step.action == plan::Action::Foreign)
        .map(|step| format!("{} {}", step.kind, step.name))
        .collect();
    let changes: Vec<&Step> = steps.iter().filter(|s| s.action.is_change()).collect();

    let already_governed = ns.annotations().get(PROFILE_ANNOTATION) == Some(&profile_name);
    count_drifts(ctx, &namespace, &changes, enforce, already_governed);
    if enforce {
        let repaired = enforce_changes(ctx, &namespace, &changes).await?;
        if already_governed && repaired > 0 {
            for change in &changes {
                ctx.metrics.drift_repaired(change.kind);
            }
            ctx.add_repairs(&profile_name, repaired);
            for change in &changes {
                let note = repair_note(&namespace, change);
                publish(
                    ctx,
                    profile,
                    EventType::Normal,
                    "Repaired",
                    "Repair",
                    &note,
                    Some(reference(change, &namespace)),
                )
                .await;
            }
            info!(%namespace, profile = %profile_name, repaired, "repaired drift");
        }
    } else if !changes.is_empty() {
        debug!(%namespace, profile = %profile_name, changes = changes.len(), "drift found (Audit mode)");
    }

    let drift: Vec<DriftEntry> = if enforce {
        Vec::new()
    } else {
        changes
            .iter()
            .flat_map(|c| c.drifts.iter().map(|d| DriftEntry::new(c.kind, &c.name, d)))
            .collect()
    };
    if !foreign.is_empty() {
        return Ok(Governed {
            state: NamespaceState::Conflict,
            message: Some(format!(
                "ForeignObject: {} exists and is not managed by the operator; left alone",
                foreign.join(", ")
            )),
            drift,
        });
    }
    let state = if drift.is_empty() {
        NamespaceState::InSync
    } else {
        NamespaceState::Drifted
    };
    Ok(Governed {
        state,
        message: None,
        drift,
    })
}

/// `hardening_drifts_detected_total`: in Enforce mode every change to a namespace the
/// profile already governs (setting a namespace up is no drift); in Audit mode a drift
/// when it first shows up (it is found again on every reconcile until someone fixes it).
fn count_drifts(
    ctx: &Context,
    namespace: &str,
    changes: &[&Step<'_>],
    enforce: bool,
    already_governed: bool,
) {
    if enforce {
        if already_governed {
            for change in changes {
                ctx.metrics.drift_detected(change.kind);
            }
        }
        return;
    }
    let known: BTreeSet<(String, String)> = ctx
        .outcomes
        .lock()
        .expect("outcomes lock")
        .get(namespace)
        .map(|o| {
            o.drift
                .iter()
                .map(|d| (d.kind.clone(), d.name.clone()))
                .collect()
        })
        .unwrap_or_default();
    for change in changes {
        if !known.contains(&(change.kind.to_owned(), change.name.clone())) {
            ctx.metrics.drift_detected(change.kind);
        }
    }
}

/// Applies every change; the namespace first, so its labels protect what follows.
/// Returns how many objects were changed.
async fn enforce_changes(
    ctx: &Context,
    namespace: &str,
    changes: &[&Step<'_>],
) -> Result<u64, Error> {
    let mut count = 0;
    for change in changes {
        match &change.target {
            Target::Namespace(body) => apply_namespace(ctx, namespace, body).await?,
            Target::Object(object) => {
                let cache = ctx.cache(object.kind());
                cache
                    .apply(&ctx.client, namespace, object.name(), &object.to_json())
                    .await?
            }
            Target::Unwanted(kind, live) => {
                ctx.cache(*kind)
                    .delete(&ctx.client, namespace, &live.name_any())
                    .await?
            }
        }
        count += 1;
    }
    Ok(count)
}

/// No profile selects the namespace (any more): if the operator set it up for a profile it
/// knows, undo that according to the profile's `cleanupPolicy`.
async fn release(
    ns: &Namespace,
    profiles: &[Arc<HardeningProfile>],
    ctx: &Context,
) -> Result<(), Error> {
    let namespace = ns.name_any();
    let Some(claimed) = ns.annotations().get(PROFILE_ANNOTATION) else {
        return Ok(());
    };
    // A profile this operator does not see (another shard's, or gone without its
    // finalizer) is not ours to undo.
    let Some(owner) = profiles.iter().find(|p| &p.name_any() == claimed) else {
        debug!(%namespace, profile = %claimed, "namespace claimed by an unknown profile; left alone");
        return Ok(());
    };
    match owner.spec.cleanup_policy {
        CleanupPolicy::Delete => {
            for cache in &ctx.managed {
                for live in cache.in_namespace(&namespace) {
                    cache
                        .delete(&ctx.client, &namespace, &live.name_any())
                        .await?;
                }
            }
            // Applying nothing gives up every label and annotation the operator set.
            apply_namespace(
                ctx,
                &namespace,
                &namespace_apply_body(&namespace, &BTreeMap::new(), &BTreeMap::new()),
            )
            .await?;
            info!(%namespace, profile = %claimed, "removed generated objects and Pod Security labels");
        }
        CleanupPolicy::Orphan => {
            let uid = owner.uid().unwrap_or_default();
            for cache in &ctx.managed {
                for live in cache.in_namespace(&namespace) {
                    if live.owner_references().iter().any(|r| r.uid == uid) {
                        cache.disown(&ctx.client, &live, &uid).await?;
                    }
                }
            }
            // Keep the labels as they are; only the claim goes.
            let kept: BTreeMap<String, String> = owned_label_values(ns);
            apply_namespace(
                ctx,
                &namespace,
                &namespace_apply_body(&namespace, &kept, &BTreeMap::new()),
            )
            .await?;
            info!(%namespace, profile = %claimed, "orphaned generated objects and labels (cleanupPolicy: Orphan)");
        }
    }
    Ok(())
}

/// Labels the operator's field manager owns on the namespace, with their live values.
fn owned_label_values(ns: &Namespace) -> BTreeMap<String, String> {
    let owned = crate::ownership::owned_paths(ns.managed_fields(), FIELD_MANAGER);
    ns.labels()
        .iter()
        .filter(|(key, _)| {
            owned.contains(&vec![
                "metadata".to_owned(),
                "labels".to_owned(),
                (*key).clone(),
            ])
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

async fn apply_namespace(ctx: &Context, name: &str, body: &Value) -> Result<(), Error> {
    Api::<Namespace>::all(ctx.client.clone())
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(body),
        )
        .await
        .map(|_| ())
        .map_err(Error::api("apply", "Namespace", name))
}

/// `repaired ResourceQuota ns/hardening-quota: spec.hard.pods (changed by kubectl-edit)`.
fn repair_note(namespace: &str, change: &Step) -> String {
    let fields: Vec<String> = change
        .drifts
        .iter()
        .take(5)
        .map(|d| match &d.manager {
            Some(m) => format!("{} (changed by {m})", d.field),
            None => d.field.clone(),
        })
        .collect();
    let more = change.drifts.len().saturating_sub(5);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!(
        "repaired {} {namespace}/{}: {}{more}",
        change.kind,
        change.name,
        fields.join(", ")
    )
}

/// The changed object, as the Event's `related` object: one Event series per object,
/// as Events with equal (regarding, related, reason) are folded into one series.
fn reference(change: &Step, namespace: &str) -> ObjectReference {
    let (api_version, object_namespace) = match &change.target {
        Target::Namespace(_) => ("v1", None),
        Target::Object(object) => (object.kind().api_version(), Some(namespace.to_owned())),
        Target::Unwanted(kind, _) => (kind.api_version(), Some(namespace.to_owned())),
    };
    ObjectReference {
        api_version: Some(api_version.to_owned()),
        kind: Some(change.kind.to_owned()),
        name: Some(change.name.clone()),
        namespace: object_namespace,
        ..Default::default()
    }
}

/// Events on the profiles involved when a namespace newly becomes a conflict.
async fn announce_conflicts(
    ctx: &Context,
    namespace: &str,
    previous: Option<&NamespaceOutcome>,
    outcome: &NamespaceOutcome,
    candidates: &[&HardeningProfile],
) {
    let was = |profile: &str| {
        previous.is_some_and(|p| p.candidates.iter().skip(1).any(|(n, _)| n == profile))
    };
    let winner = outcome.winner().unwrap_or_default();
    for loser in candidates.iter().skip(1) {
        if !was(&loser.name_any()) {
            let note = format!(
                "namespace {namespace} is governed by profile {winner}, which takes precedence"
            );
            publish(
                ctx,
                loser,
                EventType::Warning,
                "NamespaceConflict",
                "Select",
                &note,
                Some(namespace_ref(namespace)),
            )
            .await;
        }
    }
    let foreign_now = outcome.state == Some(NamespaceState::Conflict);
    let foreign_before = previous.is_some_and(|p| {
        p.state == Some(NamespaceState::Conflict) && p.winner() == outcome.winner()
    });
    if foreign_now
        && !foreign_before
        && let Some(profile) = candidates.first()
    {
        let note = format!(
            "namespace {namespace}: {}",
            outcome.message.as_deref().unwrap_or_default()
        );
        publish(
            ctx,
            profile,
            EventType::Warning,
            "ForeignObject",
            "Apply",
            &note,
            Some(namespace_ref(namespace)),
        )
        .await;
    }
}

fn namespace_ref(namespace: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Namespace".into()),
        name: Some(namespace.into()),
        ..Default::default()
    }
}

async fn publish(
    ctx: &Context,
    profile: &HardeningProfile,
    type_: EventType,
    reason: &str,
    action: &str,
    note: &str,
    related: Option<ObjectReference>,
) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note.chars().take(1024).collect()),
        action: action.into(),
        secondary: related,
    };
    if let Err(e) = ctx.recorder.publish(&event, &profile.object_ref(&())).await {
        // An Event is informational; its loss is logged, never fatal.
        warn!(profile = %profile.name_any(), reason, error = %e, "could not publish event");
    }
}
