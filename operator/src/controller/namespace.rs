//! Reconciles one namespace: which profile governs it (priority), what that profile wants
//! there (render), what differs and what to do about it (`plan`, shared with
//! `hardening-operator diff`), then apply (Enforce) or only report (Audit), and record the
//! outcome for the profiles' status. Reads come from the watch caches; nothing is written
//! when nothing differs.
//!
//! A write is checked against what the API server returns: fields another manager added
//! (which server-side apply leaves in place) are removed with a patch guarded by the
//! resource version, and an object that still differs is reported `NotConverging` and not
//! written again until the profile or the object changes, so the operator never loops.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, ObjectReference};
use k8s_openapi::api::networking::v1::NetworkPolicy;
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
use crate::canonical::canonical;
use crate::diff::{Change, Drift, diff_namespace, diff_object};
use crate::error::{Difference, Error};
use crate::labels::{
    FIELD_MANAGER, MANAGED_BY_LABEL, MANAGED_BY_VALUE, PROFILE_ANNOTATION, PROFILE_LABEL,
    RENDERED_ANNOTATION,
};
use crate::metrics::ControllerKind;
use crate::plan::{self, Step, Target, applied_by_operator};
use crate::render::{Desired, ManagedKind, namespace_apply_body, render};
use crate::status::NamespaceOutcome;

use super::context::{Context, ObjectKey, Unconverged};
use super::index::to_value;
use super::managed;

pub async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, Error> {
    // Read now (the controller looked it up when it queued this reconcile), and as the
    // operator last wrote it if the cache has not caught up yet.
    let ns = ctx
        .namespace_writes
        .view(&ctx.namespaces, &ns.name_any())
        .unwrap_or(ns);
    let name = ns.name_any();
    if ns.metadata.deletion_timestamp.is_some() {
        // Everything in it goes away with it; nothing to enforce or report.
        ctx.record(&name, None);
        ctx.forget_unconverged(&name);
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
        ctx.forget_unconverged(&name);
        return Ok(Action::requeue(ctx.config.resync_period));
    };

    let candidate_list = candidates
        .iter()
        .map(|p| (p.name_any(), p.metadata.generation.unwrap_or(0)))
        .collect();
    let (found, error) = match govern(&ns, winner, &ctx).await {
        Ok(found) => (found, None),
        Err(e) => (Governed::failed(&e), Some(e)),
    };
    // What tenants do here, reported and never changed: pods not using the winner's
    // seccomp/AppArmor profiles, NetworkPolicies opening what it denies.
    let unconfined = ctx
        .pods
        .as_ref()
        .zip(workload_security_context(winner))
        .map(|(pods, required)| pods.assess(&name, &required));
    let widening = winner
        .spec
        .network_policy
        .as_ref()
        .filter(|rules| !rules.isolated_directions().is_empty())
        .map(|rules| crate::isolation::widening(rules, &tenant_policies(&ctx, &name)));
    let preview = preview(&ctx, &ns, winner).await;
    let outcome = NamespaceOutcome {
        preview,
        candidates: candidate_list,
        state: Some(found.state),
        reason: found.reason,
        permanent: found.permanent,
        message: found.message,
        drift: found.drift,
        unconfined,
        widening,
    };
    let previous = ctx.record(&name, Some(outcome.clone()));
    announce_conflicts(&ctx, &name, previous.as_ref(), &outcome, &candidates).await;
    match error {
        // Waits for a change of the profile, the namespace or an object in it.
        Some(e) if e.is_permanent() => {
            ctx.metrics
                .reconcile_failed(ControllerKind::Namespace, e.reason());
            Ok(Action::await_change())
        }
        // The controller's error policy backs off per namespace.
        Some(e) => Err(e),
        None => Ok(Action::requeue(ctx.config.resync_period)),
    }
}

/// Audit mode: the existing pods enforcing `profile` would reject here, computed again only
/// when the profile's generation, the namespace's Pod Security labels or its set of active
/// pods changed (two requests: a dry-run and a pod listing). A failure is logged and leaves
/// the namespace unpreviewed (the condition `ReadyToEnforce` says so); it is retried on the
/// next reconcile.
async fn preview(
    ctx: &Context,
    ns: &Namespace,
    profile: &HardeningProfile,
) -> Option<crate::preview::NamespacePreview> {
    if profile.spec.mode != Mode::Audit || !crate::preview::applies(profile) {
        return None;
    }
    let name = ns.name_any();
    let key: super::context::PreviewKey = (
        profile.name_any(),
        profile.metadata.generation.unwrap_or(0),
        ns.labels()
            .iter()
            .filter(|(k, _)| crate::labels::pod_security::ALL.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        ctx.pods
            .as_ref()
            .map(|p| p.names(&name))
            .unwrap_or_default(),
    );
    if let Some((known, preview)) = ctx.previews.lock().expect("previews lock").get(&name)
        && *known == key
        && ctx.pods.is_some()
    {
        return Some(preview.clone());
    }
    match super::preview::preview(&ctx.client, profile, ns).await {
        Ok(preview) => {
            ctx.previews
                .lock()
                .expect("previews lock")
                .insert(name, (key, preview.clone()));
            Some(preview)
        }
        Err(e) => {
            warn!(namespace = %name, profile = %profile.name_any(), error = %e, "preview failed");
            None
        }
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
    reason: Option<&'static str>,
    permanent: bool,
    message: Option<String>,
    drift: Vec<DriftEntry>,
}

impl Governed {
    fn failed(error: &Error) -> Self {
        Self {
            state: NamespaceState::Failed,
            reason: Some(error.reason()),
            permanent: error.is_permanent(),
            message: Some(error.to_string()),
            drift: Vec::new(),
        }
    }
}

/// The namespace's objects of the generated kinds, from the indexes.
fn live_objects(ctx: &Context, namespace: &str) -> Vec<(ManagedKind, Arc<DynamicObject>)> {
    ctx.managed
        .iter()
        .flat_map(|index| {
            index
                .in_namespace(namespace)
                .into_iter()
                .map(|object| (index.kind, object))
        })
        .collect()
}

/// The namespace's NetworkPolicies the operator did not generate.
fn tenant_policies(ctx: &Context, namespace: &str) -> Vec<NetworkPolicy> {
    ctx.index_of(ManagedKind::NetworkPolicy)
        .in_namespace(namespace)
        .iter()
        .filter(|policy| !applied_by_operator(policy))
        .filter_map(|policy| to_value(policy).and_then(|v| serde_json::from_value(v).ok()))
        .collect()
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
    let live = live_objects(ctx, &namespace);
    let steps = plan::plan(ns, &desired, profile.spec.mode, &live)?;
    let foreign: Vec<&Step> = steps
        .iter()
        .filter(|step| step.action == plan::Action::Foreign)
        .collect();
    let changes: Vec<&Step> = steps.iter().filter(|s| s.action.is_change()).collect();

    if !changes.is_empty() {
        // Nothing is written of a generation the API server would reject in part.
        super::admission::check(ctx, profile, &namespace, &desired).await?;
    }
    if enforce && !changes.is_empty() {
        // The namespace holds this rendering already: whatever differs, someone else
        // changed. Otherwise the rendering is new here (set-up, or a new generation).
        let repair = ns.annotations().get(RENDERED_ANNOTATION)
            == desired.namespace_annotations.get(RENDERED_ANNOTATION);
        enforce_changes(ctx, ns, &desired, &changes).await?;
        if repair {
            record_repairs(ctx, profile, &namespace, &changes).await;
        } else {
            for change in &changes {
                ctx.metrics.rolled_out(change.kind);
            }
            ctx.rolled_out(&profile_name, profile.metadata.generation.unwrap_or(0));
            debug!(
                %namespace,
                profile = %profile_name,
                changes = ?changes
                    .iter()
                    .map(|c| format!("{} {}: {:?}", c.kind, c.name, c.drifts.first().map(Drift::describe)))
                    .collect::<Vec<_>>(),
                "rolled out"
            );
        }
    } else if !enforce {
        count_audit_drifts(ctx, &namespace, &changes);
    }

    if enforce && !foreign.is_empty() {
        return Err(Error::ForeignObject {
            namespace,
            objects: foreign
                .iter()
                .map(|step| format!("{} {} exists", step.kind, step.name))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let mut drift: Vec<DriftEntry> = Vec::new();
    if !enforce {
        drift.extend(
            changes
                .iter()
                .flat_map(|c| c.drifts.iter().map(|d| DriftEntry::new(c.kind, &c.name, d))),
        );
        drift.extend(foreign.iter().map(|step| DriftEntry {
            kind: step.kind.to_owned(),
            name: step.name.clone(),
            field: crate::diff::MISSING_OBJECT_FIELD.to_owned(),
            expected: Some("generated by the operator".to_owned()),
            actual: Some("an object the operator did not create".to_owned()),
            manager: None,
        }));
    }
    Ok(Governed {
        state: if drift.is_empty() {
            NamespaceState::InSync
        } else {
            NamespaceState::Drifted
        },
        reason: None,
        permanent: false,
        message: None,
        drift,
    })
}

/// Repairs: counted per object in `repairsTotal` and the metrics, one `Repaired` Event per
/// object naming each changed field and who changed it.
async fn record_repairs(
    ctx: &Context,
    profile: &HardeningProfile,
    namespace: &str,
    changes: &[&Step<'_>],
) {
    for change in changes {
        ctx.metrics.drift_detected(change.kind);
        ctx.metrics.drift_repaired(change.kind);
    }
    ctx.add_repairs(&profile.name_any(), changes.len() as u64);
    for change in changes {
        let note = repair_note(namespace, change);
        publish(
            ctx,
            profile,
            EventType::Normal,
            "Repaired",
            "Repair",
            &note,
            Some(reference(change, namespace)),
        )
        .await;
    }
    info!(%namespace, profile = %profile.name_any(), repaired = changes.len(), "repaired drift");
}

/// `hardening_drifts_detected_total` in Audit mode: a drift when it first shows up (it is
/// found again on every reconcile until someone fixes it).
fn count_audit_drifts(ctx: &Context, namespace: &str, changes: &[&Step<'_>]) {
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

/// Applies every change: the generated objects at once, then the namespace, whose
/// annotation records that the rendering is complete.
async fn enforce_changes(
    ctx: &Context,
    ns: &Namespace,
    desired: &Desired,
    changes: &[&Step<'_>],
) -> Result<(), Error> {
    let namespace = ns.name_any();
    let writes = changes
        .iter()
        .filter(|c| !matches!(c.target, Target::Namespace(_)))
        .map(|change| write_object(ctx, &namespace, change));
    let results = futures::future::join_all(writes).await;
    if let Some(error) = results.into_iter().find_map(Result::err) {
        return Err(error);
    }
    for change in changes {
        if let Target::Namespace(body) = &change.target {
            write_namespace(ctx, ns, desired, change, body).await?;
        }
    }
    Ok(())
}

async fn write_object(ctx: &Context, namespace: &str, change: &Step<'_>) -> Result<(), Error> {
    match &change.target {
        Target::Object(object) => {
            let kind = object.kind();
            let body = object.to_json();
            let key: ObjectKey = (namespace.to_owned(), kind.kind(), object.name().to_owned());
            refuse_repeated_write(ctx, &key, &body, &change.drifts)?;
            let before = ctx
                .index_of(kind)
                .get(namespace, object.name())
                .and_then(|o| o.resource_version());
            let mut stored = if before.is_some() {
                managed::apply(&ctx.client, kind, namespace, object.name(), &body).await?
            } else {
                managed::create(&ctx.client, kind, namespace, object.name(), &body).await?
            };
            let canonical_body = canonical(&body);
            let check = |stored: &DynamicObject| {
                to_value(stored)
                    .map(|json| diff_object(&canonical_body, Some(&json), FIELD_MANAGER))
                    .unwrap_or_default()
            };
            let mut remaining = check(&stored);
            let added: Vec<Vec<String>> = foreign_additions(&remaining);
            if !added.is_empty() && added.len() == remaining.len() {
                let version = stored.resource_version().unwrap_or_default();
                stored = managed::remove_fields(
                    &ctx.client,
                    kind,
                    namespace,
                    object.name(),
                    &version,
                    &added,
                )
                .await?;
                remaining = check(&stored);
            }
            ctx.index_of(kind)
                .record_write(namespace, object.name(), before, Some(stored));
            settle(ctx, key, &body, remaining)
        }
        Target::Unwanted(kind, live) => {
            managed::delete(&ctx.client, *kind, namespace, &live.name_any()).await?;
            ctx.index_of(*kind).record_write(
                namespace,
                &live.name_any(),
                live.resource_version(),
                None,
            );
            Ok(())
        }
        // Written by `write_namespace`, after the objects.
        Target::Namespace(_) => Ok(()),
    }
}

/// Server-side applies the namespace's labels and annotations, then removes Pod Security
/// labels another manager added that the profile does not set.
async fn write_namespace(
    ctx: &Context,
    ns: &Namespace,
    desired: &Desired,
    change: &Step<'_>,
    body: &Value,
) -> Result<(), Error> {
    let name = ns.name_any();
    let key: ObjectKey = (name.clone(), "Namespace", name.clone());
    refuse_repeated_write(ctx, &key, body, &change.drifts)?;
    let mut stored = apply_namespace(ctx, &name, body).await?;
    let annotations: BTreeMap<String, String> = body
        .pointer("/metadata/annotations")
        .and_then(|a| serde_json::from_value(a.clone()).ok())
        .unwrap_or_default();
    let check = |stored: &Namespace| {
        diff_namespace(
            &desired.namespace_labels,
            &annotations,
            desired.governed_labels,
            stored,
            FIELD_MANAGER,
        )
    };
    let mut remaining = check(&stored);
    let added = foreign_additions(&remaining);
    if !added.is_empty() && added.len() == remaining.len() {
        let version = stored.resource_version().unwrap_or_default();
        let patch = managed::removal_patch(&version, &added);
        stored = Api::<Namespace>::all(ctx.client.clone())
            .patch(
                &name,
                &PatchParams {
                    field_manager: Some(FIELD_MANAGER.to_owned()),
                    ..PatchParams::default()
                },
                &Patch::Merge(&patch),
            )
            .await
            .map_err(Error::api("remove foreign labels of", "Namespace", &name))?;
        remaining = check(&stored);
    }
    ctx.namespace_writes.record(ns.resource_version(), stored);
    settle(ctx, key, body, remaining)
}

/// Paths of the drifts that are fields another manager added.
fn foreign_additions(drifts: &[Drift]) -> Vec<Vec<String>> {
    drifts
        .iter()
        .filter(|d| d.change == Change::Added)
        .map(|d| d.path.clone())
        .collect()
}

/// Refuses to write `body` again when the last write of the same body did not take and
/// the object still differs exactly as it did right after that write (nobody changed what
/// the operator compares since).
fn refuse_repeated_write(
    ctx: &Context,
    key: &ObjectKey,
    body: &Value,
    drifts: &[Drift],
) -> Result<(), Error> {
    let unconverged = ctx.unconverged.lock().expect("unconverged lock");
    match unconverged.get(key) {
        Some(last) if last.body == *body && last.remaining == differences(drifts) => {
            Err(last.error(key))
        }
        _ => Ok(()),
    }
}

/// What a list of drifts says about the object, without who did it.
fn differences(drifts: &[Drift]) -> Vec<(String, Option<String>, Option<String>)> {
    drifts
        .iter()
        .map(|d| (d.field.clone(), d.expected.clone(), d.actual.clone()))
        .collect()
}

/// After a write: forgets a past failure, or records this one and reports it.
fn settle(ctx: &Context, key: ObjectKey, body: &Value, remaining: Vec<Drift>) -> Result<(), Error> {
    let mut unconverged = ctx.unconverged.lock().expect("unconverged lock");
    let left = differences(&remaining);
    let Some(first) = remaining.into_iter().next() else {
        unconverged.remove(&key);
        return Ok(());
    };
    warn!(namespace = %key.0, kind = key.1, name = %key.2, field = %first.field, "write did not take; not repeating it");
    let unconverged_write = Unconverged {
        body: body.clone(),
        remaining: left,
        first: Difference {
            field: first.field,
            expected: first.expected.unwrap_or_else(|| "(absent)".to_owned()),
            actual: first.actual.unwrap_or_else(|| "(absent)".to_owned()),
        },
    };
    let error = unconverged_write.error(&key);
    unconverged.insert(key, unconverged_write);
    Err(error)
}

/// No profile selects the namespace (any more): if the operator set it up for a profile it
/// knows, undo that according to the profile's `cleanupPolicy`.
async fn release(
    ns: &Namespace,
    profiles: &[Arc<HardeningProfile>],
    ctx: &Context,
) -> Result<(), Error> {
    let namespace = ns.name_any();
    let generated: Vec<(ManagedKind, Arc<DynamicObject>)> = live_objects(ctx, &namespace)
        .into_iter()
        .filter(|(_, o)| {
            o.labels().get(MANAGED_BY_LABEL).map(String::as_str) == Some(MANAGED_BY_VALUE)
                && applied_by_operator(o)
        })
        .collect();
    // The claim, or (set-up interrupted before the namespace was written) the profile
    // label of what was generated.
    let claimed = ns
        .annotations()
        .get(PROFILE_ANNOTATION)
        .cloned()
        .or_else(|| {
            generated
                .iter()
                .find_map(|(_, o)| o.labels().get(PROFILE_LABEL).cloned())
        });
    let Some(claimed) = claimed else {
        return Ok(());
    };
    // A profile this operator does not see (another shard's, or gone without its
    // finalizer) is not ours to undo.
    let Some(owner) = profiles.iter().find(|p| p.name_any() == claimed) else {
        debug!(%namespace, profile = %claimed, "namespace claimed by an unknown profile; left alone");
        return Ok(());
    };
    let owned_annotations = owned_keys(ns, "annotations");
    match owner.spec.cleanup_policy {
        CleanupPolicy::Delete => {
            for (kind, live) in &generated {
                managed::delete(&ctx.client, *kind, &namespace, &live.name_any()).await?;
            }
            // Applying nothing gives up every label and annotation the operator set.
            if !owned_keys(ns, "labels").is_empty() || !owned_annotations.is_empty() {
                apply_namespace(
                    ctx,
                    &namespace,
                    &namespace_apply_body(&namespace, &BTreeMap::new(), &BTreeMap::new()),
                )
                .await?;
            }
            info!(%namespace, profile = %claimed, "removed generated objects and Pod Security labels");
        }
        CleanupPolicy::Orphan => {
            let uid = owner.uid().unwrap_or_default();
            for (kind, live) in &generated {
                if live.owner_references().iter().any(|r| r.uid == uid) {
                    managed::disown(&ctx.client, *kind, live, &uid).await?;
                }
            }
            // Keep the labels as they are; only the annotations go.
            if !owned_annotations.is_empty() {
                let kept: BTreeMap<String, String> = owned_keys(ns, "labels");
                apply_namespace(
                    ctx,
                    &namespace,
                    &namespace_apply_body(&namespace, &kept, &BTreeMap::new()),
                )
                .await?;
            }
            info!(%namespace, profile = %claimed, "orphaned generated objects and labels (cleanupPolicy: Orphan)");
        }
    }
    Ok(())
}

/// Labels or annotations (`field`) the operator's field manager owns on the namespace,
/// with their live values.
fn owned_keys(ns: &Namespace, field: &str) -> BTreeMap<String, String> {
    let owned = crate::ownership::owned_paths(ns.managed_fields(), FIELD_MANAGER);
    let live = match field {
        "labels" => ns.labels(),
        _ => ns.annotations(),
    };
    live.iter()
        .filter(|(key, _)| {
            owned.contains(&vec![
                "metadata".to_owned(),
                field.to_owned(),
                (*key).clone(),
            ])
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

async fn apply_namespace(ctx: &Context, name: &str, body: &Value) -> Result<Namespace, Error> {
    Api::<Namespace>::all(ctx.client.clone())
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(body),
        )
        .await
        .map_err(Error::api("apply", "Namespace", name))
}

/// `repaired ResourceQuota ns/hardening-quota: spec.hard.pods changed by kubectl-edit`.
fn repair_note(namespace: &str, change: &Step) -> String {
    let fields: Vec<String> = change.drifts.iter().take(5).map(Drift::describe).collect();
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

/// The changed object and its changed fields, as the Event's `related` object: Events with
/// equal (regarding, related, reason) are folded into one series that keeps the first note,
/// so each object and set of fields gets a series of its own.
fn reference(change: &Step, namespace: &str) -> ObjectReference {
    let (api_version, object_namespace) = match &change.target {
        Target::Namespace(_) => ("v1", None),
        Target::Object(object) => (object.kind().api_version(), Some(namespace.to_owned())),
        Target::Unwanted(kind, _) => (kind.api_version(), Some(namespace.to_owned())),
    };
    let fields: Vec<&str> = change.drifts.iter().map(|d| d.field.as_str()).collect();
    ObjectReference {
        api_version: Some(api_version.to_owned()),
        kind: Some(change.kind.to_owned()),
        name: Some(change.name.clone()),
        namespace: object_namespace,
        field_path: Some(fields.join(",")).filter(|f| !f.is_empty()),
        ..Default::default()
    }
}

/// Events on the profiles involved when a namespace newly becomes a conflict, or newly
/// holds a foreign object.
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
    let foreign = |o: &NamespaceOutcome| o.reason == Some("ForeignObject");
    let foreign_before = previous.is_some_and(|p| foreign(p) && p.winner() == outcome.winner());
    if foreign(outcome)
        && !foreign_before
        && let Some(profile) = candidates.first()
    {
        let note = outcome.message.as_deref().unwrap_or_default();
        publish(
            ctx,
            profile,
            EventType::Warning,
            "ForeignObject",
            "Apply",
            note,
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
