//! Reconciles one namespace: which profile governs it (priority), what that profile wants
//! there (render), how the live state differs (diff), then apply (Enforce) or only report
//! (Audit), and record the outcome for the profiles' status. Reads come from the watch
//! caches; nothing is written when nothing differs.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, ObjectReference};
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};
use serde_json::{Value, json};
use tracing::{debug, info, warn};

use crate::api::{CleanupPolicy, DriftEntry, HardeningProfile, Mode, NamespaceState, validate};
use crate::diff::{Drift, attribute, diff_attributed, diff_namespace};
use crate::error::{Error, backoff_delay};
use crate::labels::{FIELD_MANAGER, PROFILE_ANNOTATION, PROFILE_LABEL};
use crate::ownership::{owned_but_not_desired, render_path};
use crate::render::{DesiredObject, render};
use crate::status::NamespaceOutcome;

use super::context::Context;
use super::managed::applied_by_operator;

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
    let outcome = NamespaceOutcome {
        candidates: candidate_list,
        state: Some(outcome.state),
        message: outcome.message,
        drift: outcome.drift,
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

/// One object (or the namespace itself) that differs from what the profile wants.
struct Change {
    kind: &'static str,
    name: String,
    drifts: Vec<Drift>,
    /// What to do about it in Enforce mode.
    fix: Fix,
}

enum Fix {
    ApplyNamespace(Value),
    Apply(Box<DesiredObject>),
    Delete(Arc<DynamicObject>),
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

    let mut changes = Vec::new();
    let mut foreign = Vec::new();

    // The namespace's Pod Security labels and the annotation naming its profile. Audit
    // mode writes nothing into the namespace, so it neither expects nor checks the
    // annotation.
    let annotations = if enforce {
        desired.namespace_annotations.clone()
    } else {
        BTreeMap::new()
    };
    let ns_body = namespace_body(&namespace, &desired.namespace_labels, &annotations);
    let mut ns_drifts = diff_namespace(&desired.namespace_labels, &annotations, ns);
    let claim = ["metadata", "annotations", PROFILE_ANNOTATION].map(String::from);
    ns_drifts.extend(
        stale_fields(&ns_body, ns.managed_fields(), ns_value(ns).as_ref())
            .into_iter()
            // A claim left from Enforce mode is not drift: Audit mode changes nothing.
            .filter(|d| enforce || d.path != claim),
    );
    if !ns_drifts.is_empty() {
        changes.push(Change {
            kind: "Namespace",
            name: namespace.clone(),
            drifts: attribute(ns_drifts, ns.managed_fields(), FIELD_MANAGER),
            fix: Fix::ApplyNamespace(ns_body),
        });
    }

    // Generated objects.
    for object in &desired.objects {
        let cache = ctx.cache(object.kind());
        let name = object.name().to_owned();
        let live = match cache.get(&namespace, &name) {
            Some(cached) => Some(cached.as_ref().clone()),
            // Not in the label-filtered cache: absent, relabelled, or someone else's.
            None => cache.fetch(&ctx.client, &namespace, &name).await?,
        };
        if let Some(live) = &live
            && !applied_by_operator(live)
        {
            foreign.push(format!("{} {name}", object.kind().kind()));
            continue;
        }
        let body = object.to_json();
        let live_json = live.as_ref().map(to_value).transpose()?;
        let mut drifts = diff_attributed(&body, live_json.as_ref(), FIELD_MANAGER);
        if let Some(live) = &live {
            drifts.extend(stale_fields(
                &body,
                live.managed_fields(),
                live_json.as_ref(),
            ));
        }
        if !drifts.is_empty() {
            changes.push(Change {
                kind: object.kind().kind(),
                name,
                drifts,
                fix: Fix::Apply(Box::new(object.clone())),
            });
        }
    }

    // Objects the operator made here that the profile no longer wants (a section removed,
    // or another profile's objects after a change of governing profile).
    for cache in &ctx.managed {
        for live in cache.in_namespace(&namespace) {
            let wanted = desired
                .objects
                .iter()
                .any(|o| o.kind() == cache.kind && o.name() == live.name_any());
            if !wanted {
                changes.push(Change {
                    kind: cache.kind.kind(),
                    name: live.name_any(),
                    drifts: vec![unwanted_object(&live)],
                    fix: Fix::Delete(live.clone()),
                });
            }
        }
    }

    let already_governed = ns.annotations().get(PROFILE_ANNOTATION) == Some(&profile_name);
    if enforce {
        let repaired = enforce_changes(ctx, &namespace, &changes).await?;
        if already_governed && repaired > 0 {
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
                    Some(change.reference(&namespace)),
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

/// Applies every change; the namespace first, so its labels protect what follows.
/// Returns how many objects were changed.
async fn enforce_changes(ctx: &Context, namespace: &str, changes: &[Change]) -> Result<u64, Error> {
    let mut count = 0;
    for change in changes {
        match &change.fix {
            Fix::ApplyNamespace(body) => apply_namespace(ctx, namespace, body).await?,
            Fix::Apply(object) => {
                let cache = ctx.cache(object.kind());
                cache
                    .apply(&ctx.client, namespace, object.name(), &object.to_json())
                    .await?
            }
            Fix::Delete(live) => {
                let cache = ctx.managed.iter().find(|c| {
                    c.resource.kind
                        == live
                            .types
                            .as_ref()
                            .map(|t| t.kind.clone())
                            .unwrap_or_default()
                });
                match cache {
                    Some(cache) => {
                        cache
                            .delete(&ctx.client, namespace, &live.name_any())
                            .await?
                    }
                    None => {
                        warn!(%namespace, name = %live.name_any(), "no cache for a stale object's kind")
                    }
                }
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
                &namespace_body(&namespace, &BTreeMap::new(), &BTreeMap::new()),
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
                &namespace_body(&namespace, &kept, &BTreeMap::new()),
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

fn namespace_body(
    name: &str,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": { "name": name, "labels": labels, "annotations": annotations },
    })
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

/// Fields the operator owns on the live object that the profile no longer sets.
fn stale_fields(
    desired: &Value,
    managed_fields: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry],
    live: Option<&Value>,
) -> Vec<Drift> {
    owned_but_not_desired(desired, managed_fields, FIELD_MANAGER)
        .into_iter()
        .map(|path| Drift {
            field: render_path(&path),
            actual: live.and_then(|l| lookup(l, &path)),
            path,
            expected: None,
            manager: None,
        })
        .collect()
}

/// The live value at `path`, as text for messages.
fn lookup(live: &Value, path: &[String]) -> Option<String> {
    let mut node = live;
    for segment in path {
        node = node.get(segment)?;
    }
    Some(match node {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

fn unwanted_object(live: &DynamicObject) -> Drift {
    Drift {
        field: "(object)".to_owned(),
        path: Vec::new(),
        expected: Some("object absent".to_owned()),
        actual: Some(format!(
            "generated for profile {}",
            live.labels()
                .get(PROFILE_LABEL)
                .map(String::as_str)
                .unwrap_or("?")
        )),
        manager: None,
    }
}

fn ns_value(ns: &Namespace) -> Option<Value> {
    serde_json::to_value(ns).ok()
}

fn to_value(object: &DynamicObject) -> Result<Value, Error> {
    serde_json::to_value(object).map_err(|source| Error::Serialization {
        what: format!(
            "{}/{}",
            object.namespace().unwrap_or_default(),
            object.name_any()
        ),
        source,
    })
}

/// `repaired ResourceQuota ns/hardening-quota: spec.hard.pods (changed by kubectl-edit)`.
fn repair_note(namespace: &str, change: &Change) -> String {
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

impl Change {
    /// The changed object, as the Event's `related` object: one Event series per object,
    /// as Events with equal (regarding, related, reason) are folded into one series.
    fn reference(&self, namespace: &str) -> ObjectReference {
        let (api_version, object_namespace) = match &self.fix {
            Fix::ApplyNamespace(_) => ("v1".to_owned(), None),
            Fix::Apply(object) => (
                object.kind().api_version().to_owned(),
                Some(namespace.to_owned()),
            ),
            Fix::Delete(live) => (
                live.types
                    .as_ref()
                    .map(|t| t.api_version.clone())
                    .unwrap_or_default(),
                Some(namespace.to_owned()),
            ),
        };
        ObjectReference {
            api_version: Some(api_version),
            kind: Some(self.kind.to_owned()),
            name: Some(self.name.clone()),
            namespace: object_namespace,
            ..Default::default()
        }
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
