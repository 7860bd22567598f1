//! Keeps a profile's ValidatingAdmissionPolicy and binding (`crate::core::guardrails`) as
//! rendered: applies them (server-side, the operator's field manager), repairs what someone
//! else changed in Enforce mode and only reports it in Audit mode, and deletes them when the
//! profile drops its guardrails or is deleted. Called by the profile reconciler; the live
//! objects come from the watches of [`cache`] (every policy and binding: there are few, and a
//! foreign object with a generated name must be seen too).

use std::collections::BTreeSet;

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{DeleteParams, DynamicObject, PostParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Client, ResourceExt};
use serde_json::Value;
use tracing::{info, warn};

use crate::core::api::{DriftEntry, GuardrailsStatus, HardeningProfile, Mode, NamespaceState};
use crate::core::diff::{Drift, diff_object};
use crate::core::guardrails::{
    AdmissionEnv, BINDING_KIND, GuardrailObjects, MUTATING_BINDING_KIND, MUTATING_POLICY_KIND,
    POLICY_API_VERSION, POLICY_KIND, object_name, object_names, render, validation_actions,
};
use crate::core::labels::{FIELD_MANAGER, PROFILE_LABEL, RENDERED_ANNOTATION};
use crate::core::plan::applied_by_operator;
use crate::error::Error;

pub mod cache;

use cache::GuardrailCaches;
use cache::api_resource;
pub use cache::{caches, mutating_policies_served};

use super::context::Context;
use super::events::changed_fields;
use super::index::to_value;
use super::write::ClusterObject;

/// What the admission rules need to know, asked once when this replica starts leading: the
/// operator's own identity (a SelfSubjectReview: only it may change what it generated;
/// unknown, nothing is protected, and the log says why).
pub async fn environment(
    client: &Client,
    break_glass_group: &str,
    mutating_policies: bool,
) -> AdmissionEnv {
    let reviews: Api<SelfSubjectReview> = Api::all(client.clone());
    let operator = match reviews
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
    {
        Ok(review) => review
            .status
            .and_then(|s| s.user_info)
            .and_then(|u| u.username)
            .filter(|u| !u.is_empty()),
        Err(e) => {
            warn!(error = %e, "could not tell who the operator is (SelfSubjectReview): the generated objects are not protected from others");
            None
        }
    };
    info!(
        operator = operator.as_deref().unwrap_or("(unknown)"),
        break_glass_group,
        mutating_policies,
        "admission rules: who may change what the operator generated, and whether namespaces get their Pod Security labels at creation"
    );
    AdmissionEnv {
        operator,
        break_glass_group: break_glass_group.to_owned(),
        mutating_policies,
    }
}

/// Namespaces the profile's selector matches that it does not govern: those the operator
/// always excludes and those a profile of higher precedence selects.
pub fn not_governed(ctx: &Context, profile: &HardeningProfile) -> BTreeSet<String> {
    let profiles = ctx.caches.profiles.state();
    let rivals: Vec<&HardeningProfile> = profiles
        .iter()
        .map(|p| p.as_ref())
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| crate::core::api::outranks(p, profile))
        .collect();
    let mut names: BTreeSet<String> = ctx.excluded.clone();
    if !rivals.is_empty() {
        for name in ctx.selected_namespaces(profile) {
            let Some(ns) = ctx.caches.namespaces.get(&ObjectRef::new(&name)) else {
                continue;
            };
            if rivals
                .iter()
                .any(|r| crate::core::api::selects(&r.spec, &name, ns.labels()))
            {
                names.insert(name);
            }
        }
    }
    names
}

/// Brings the profile's policy and binding to what it renders (or reports how they differ)
/// and says how they stand. `Err` after a failed write: the status still shows it.
pub async fn reconcile(
    profile: &HardeningProfile,
    ctx: &Context,
) -> (Option<GuardrailsStatus>, Option<Error>) {
    let Some(caches) = &ctx.caches.guardrails else {
        return (None, None);
    };
    let name = object_name(&profile.name_any());
    let Some(desired) = render(
        profile,
        &not_governed(ctx, profile),
        &ctx.config.protected_networks,
        ctx.state.leadership.admission(),
    ) else {
        // No admission rules (any more): remove what the operator generated for this profile.
        let error = remove_from(profile, ctx, caches).await.err();
        return (None, error);
    };
    let mut status = GuardrailsStatus {
        policy: name.clone(),
        validation_actions: validation_actions(profile.spec.mode)
            .into_iter()
            .map(String::from)
            .collect(),
        state: NamespaceState::InSync,
        message: None,
        drift: Vec::new(),
    };
    let synced = match sync(profile, ctx, caches, &desired).await {
        // What the profile no longer asks for (the mutating policy after a switch to Audit).
        Ok(drift) => remove_except(profile, ctx, caches, Some(&desired))
            .await
            .map(|()| drift),
        Err(e) => Err(e),
    };
    match synced {
        Ok(drift) => {
            if !drift.is_empty() {
                status.state = NamespaceState::Drifted;
                status.drift = drift
                    .into_iter()
                    .take(crate::core::api::MAX_LISTED_DRIFT)
                    .collect();
            }
            (Some(status), None)
        }
        Err(e) => {
            status.state = NamespaceState::Failed;
            status.message = Some(e.to_string());
            (Some(status), Some(e))
        }
    }
}

/// Applies each object that differs, unless it is a drift in Audit mode: those are returned.
async fn sync(
    profile: &HardeningProfile,
    ctx: &Context,
    caches: &GuardrailCaches,
    desired: &GuardrailObjects,
) -> Result<Vec<DriftEntry>, Error> {
    let mut reported = Vec::new();
    for (kind, body) in desired.iter() {
        let name = body["metadata"]["name"].as_str().unwrap_or_default();
        let live = caches.get(kind, name);
        if let Some(live) = &live
            && !applied_by_operator(live)
        {
            return Err(Error::ForeignObject {
                namespace: "(cluster)".to_owned(),
                objects: format!("{kind} {name} exists"),
            });
        }
        let live_json = live.as_deref().and_then(to_value);
        let drifts = diff_object(body, live_json.as_ref(), FIELD_MANAGER);
        if drifts.is_empty() {
            continue;
        }
        // The object holds this rendering already: the difference is someone else's change.
        let rendered = |o: &DynamicObject| o.annotations().get(RENDERED_ANNOTATION).cloned();
        let fingerprint = body["metadata"]["annotations"][RENDERED_ANNOTATION]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let repair = match &live {
            Some(live) => rendered(live).as_deref() == Some(fingerprint.as_str()),
            // Deleted by someone after the profile's status recorded its guardrails in
            // place at this generation (the record on the cluster, so a restart of the
            // operator does not turn the repair into a rollout).
            None => in_place(profile),
        };
        if repair && profile.spec.mode == Mode::Audit {
            reported.extend(drifts.iter().map(|d| DriftEntry::new(kind, name, d)));
            continue;
        }
        let version = live.as_ref().and_then(|l| l.resource_version());
        write(ctx, kind, name, body, &drifts, version).await?;
        if repair {
            ctx.metrics.drift_detected(kind);
            ctx.metrics.drift_repaired(kind);
            ctx.state.counts.add_repairs(&profile.name_any(), 1);
            announce_repair(ctx, profile, kind, name, &drifts).await;
        } else {
            ctx.metrics.rolled_out(kind);
            info!(profile = %profile.name_any(), kind, name, "applied guardrails");
        }
    }
    Ok(reported)
}

/// Whether the profile's status says its guardrails were in place (as rendered, or drifted in
/// Audit mode) at its current generation.
fn in_place(profile: &HardeningProfile) -> bool {
    profile.status.as_ref().is_some_and(|status| {
        status.observed_generation.is_some()
            && status.observed_generation == profile.metadata.generation
            && status.guardrails.as_ref().is_some_and(|g| {
                matches!(g.state, NamespaceState::InSync | NamespaceState::Drifted)
            })
    })
}

/// Writes one admission object along the one write path (see `write`).
async fn write(
    ctx: &Context,
    kind: &'static str,
    name: &str,
    body: &Value,
    drifts: &[Drift],
    resource_version: Option<String>,
) -> Result<(), Error> {
    let key = (String::new(), kind, name.to_owned());
    let api: Api<DynamicObject> = Api::all_with(ctx.client.clone(), &api_resource(kind));
    let mut target = ClusterObject {
        api,
        kind,
        name,
        body,
        drifts,
        live_version: resource_version,
    };
    super::write::write(&mut target, &ctx.state.unconverged, key, body, drifts).await
}

/// Deletes the profile's policy and binding, if the operator generated them. Whatever the
/// `cleanupPolicy`: a binding left behind would keep judging requests with its parameter,
/// the profile, gone (and so deny them).
pub async fn remove(profile: &HardeningProfile, ctx: &Context) -> Result<(), Error> {
    let Some(caches) = &ctx.caches.guardrails else {
        return Ok(());
    };
    remove_from(profile, ctx, caches).await
}

async fn remove_from(
    profile: &HardeningProfile,
    ctx: &Context,
    caches: &GuardrailCaches,
) -> Result<(), Error> {
    remove_except(profile, ctx, caches, None).await
}

/// Deletes the profile's admission objects that the operator generated, but those of
/// `desired` (bindings first: a policy without binding judges nothing).
async fn remove_except(
    profile: &HardeningProfile,
    ctx: &Context,
    caches: &GuardrailCaches,
    desired: Option<&GuardrailObjects>,
) -> Result<(), Error> {
    let names = object_names(&profile.name_any());
    let kinds: Vec<&'static str> = caches.kinds().collect();
    let mut objects: Vec<(&'static str, String)> = Vec::new();
    for kind in [
        MUTATING_BINDING_KIND,
        BINDING_KIND,
        MUTATING_POLICY_KIND,
        POLICY_KIND,
    ] {
        for name in &names {
            objects.push((kind, name.clone()));
        }
    }
    for (kind, name) in objects {
        let wanted = |d: &GuardrailObjects| {
            d.iter()
                .any(|(k, o)| k == kind && o["metadata"]["name"].as_str() == Some(name.as_str()))
        };
        if !kinds.contains(&kind) || desired.is_some_and(wanted) {
            continue;
        }
        let Some(live) = caches.get(kind, &name) else {
            continue;
        };
        if !applied_by_operator(&live)
            || live.labels().get(PROFILE_LABEL) != Some(&profile.name_any())
        {
            continue;
        }
        let api: Api<DynamicObject> = Api::all_with(ctx.client.clone(), &api_resource(kind));
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => info!(profile = %profile.name_any(), kind, name, "deleted admission object"),
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => return Err(Error::api("delete", kind, &name)(e)),
        }
    }
    Ok(())
}

/// Whether any generated policy or binding of `profile` is still in the caches.
pub fn remaining(profile: &HardeningProfile, ctx: &Context) -> bool {
    let Some(caches) = &ctx.caches.guardrails else {
        return false;
    };
    let names = object_names(&profile.name_any());
    let kinds: Vec<&'static str> = caches.kinds().collect();
    kinds.iter().any(|kind| {
        names
            .iter()
            .filter_map(|name| caches.get(kind, name))
            .any(|live| applied_by_operator(&live))
    })
}

async fn announce_repair(
    ctx: &Context,
    profile: &HardeningProfile,
    kind: &str,
    name: &str,
    drifts: &[Drift],
) {
    let note = format!("repaired {kind} {name}: {}", changed_fields(drifts));
    let related = ObjectReference {
        api_version: Some(POLICY_API_VERSION.to_owned()),
        kind: Some(kind.to_owned()),
        name: Some(name.to_owned()),
        field_path: Some(
            drifts
                .iter()
                .map(|d| d.field.as_str())
                .collect::<Vec<_>>()
                .join(","),
        )
        .filter(|f| !f.is_empty()),
        ..Default::default()
    };
    ctx.events.repaired(profile, &note, related).await;
    info!(profile = %profile.name_any(), kind, name, "repaired guardrails drift");
}
