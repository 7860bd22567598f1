//! Keeps a profile's ValidatingAdmissionPolicy and binding (`crate::core::guardrails`) as
//! rendered: applies them (server-side, the operator's field manager), repairs what someone
//! else changed in Enforce mode and only reports it in Audit mode, and deletes them when the
//! profile drops its guardrails or is deleted. Called by the profile reconciler; the live
//! objects come from two watches (every policy and binding: there are few, and a foreign
//! object with a generated name must be seen too).

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::core::ApiResource;
use kube::runtime::events::EventType;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;
use tracing::{info, warn};

use crate::core::api::{DriftEntry, GuardrailsStatus, HardeningProfile, Mode, NamespaceState};
use crate::core::diff::{Change, Drift, diff_object};
use crate::core::guardrails::{
    BINDING_KIND, GuardrailObjects, OBJECT_NAME_PREFIX, POLICY_API_VERSION, POLICY_KIND,
    object_name, render, validation_actions,
};
use crate::core::labels::{FIELD_MANAGER, PROFILE_LABEL, RENDERED_ANNOTATION};
use crate::core::plan::applied_by_operator;
use crate::error::{Difference, Error};

use super::context::Context;
use super::events::{changed_fields, publish};
use super::index::to_value;
use super::managed::{drive, watch_backoff};

fn api_resource(kind: &str) -> ApiResource {
    let (group, version) = POLICY_API_VERSION.split_once('/').expect("a group/version");
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind))
}

/// The caches of both kinds, and the futures that fill them. A change of an object asks for
/// the reconcile of the profile named in its `hardening.dev/profile` label.
pub fn caches(
    client: &Client,
    trigger: UnboundedSender<String>,
) -> (GuardrailCaches, Vec<BoxFuture<'static, ()>>) {
    let mut drivers = Vec::new();
    let mut stores = Vec::new();
    for kind in [POLICY_KIND, BINDING_KIND] {
        let resource = api_resource(kind);
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        let writer = reflector::store::Writer::new(resource);
        stores.push(writer.as_reader());
        let trigger = trigger.clone();
        let events = watcher(api, watcher::Config::default())
            .backoff(watch_backoff())
            .reflect(writer)
            .inspect_ok(move |event| {
                if let watcher::Event::Apply(o) | watcher::Event::Delete(o) = event
                    && let Some(profile) = profile_of(o)
                {
                    let _ = trigger.send(profile);
                }
            });
        drivers.push(drive(kind, events.map(|e| e.map(|_| ()))));
    }
    let bindings = stores.pop().expect("two stores");
    let policies = stores.pop().expect("two stores");
    (GuardrailCaches { policies, bindings }, drivers)
}

/// The profile an admission policy or binding concerns: the one its label names, or for an
/// object without the label (someone else's) the one whose generated name it holds, so that
/// its disappearance lets that profile's guardrails in at once.
fn profile_of(object: &DynamicObject) -> Option<String> {
    if let Some(profile) = object.labels().get(PROFILE_LABEL) {
        return Some(profile.clone());
    }
    object
        .name_any()
        .strip_prefix(OBJECT_NAME_PREFIX)
        .filter(|profile| !profile.is_empty())
        .map(str::to_owned)
}

#[derive(Clone)]
pub struct GuardrailCaches {
    pub policies: Store<DynamicObject>,
    pub bindings: Store<DynamicObject>,
}

impl GuardrailCaches {
    pub async fn wait_until_ready(&self) {
        let _ = self.policies.wait_until_ready().await;
        let _ = self.bindings.wait_until_ready().await;
    }

    fn store(&self, kind: &str) -> &Store<DynamicObject> {
        if kind == POLICY_KIND {
            &self.policies
        } else {
            &self.bindings
        }
    }

    fn get(&self, kind: &str, name: &str) -> Option<Arc<DynamicObject>> {
        self.store(kind)
            .get(&ObjectRef::new_with(name, api_resource(kind)))
    }
}

/// Namespaces the profile's selector matches that it does not govern: those the operator
/// always excludes and those a profile of higher precedence selects.
pub fn not_governed(ctx: &Context, profile: &HardeningProfile) -> BTreeSet<String> {
    let profiles = ctx.profiles.state();
    let rivals: Vec<&HardeningProfile> = profiles
        .iter()
        .map(|p| p.as_ref())
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| crate::core::api::outranks(p, profile))
        .collect();
    let mut names: BTreeSet<String> = ctx.excluded.clone();
    if !rivals.is_empty() {
        for name in ctx.selected_namespaces(profile) {
            let Some(ns) = ctx.namespaces.get(&ObjectRef::new(&name)) else {
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
    let Some(caches) = &ctx.guardrails else {
        return (None, None);
    };
    let name = object_name(&profile.name_any());
    let Some(desired) = render(
        profile,
        &not_governed(ctx, profile),
        &ctx.config.protected_networks,
    ) else {
        // No guardrails (any more): remove what the operator generated for this profile.
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
    match sync(profile, ctx, caches, &desired).await {
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
            ctx.add_repairs(&profile.name_any(), 1);
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

/// Server-side apply (forced), then removes fields another manager added, guarded by the
/// resource version; an object that still differs is `NotConverging`.
async fn write(
    ctx: &Context,
    kind: &'static str,
    name: &str,
    body: &Value,
    drifts: &[Drift],
    resource_version: Option<String>,
) -> Result<(), Error> {
    let key = (String::new(), kind, name.to_owned());
    {
        let unconverged = ctx.unconverged.lock().expect("unconverged lock");
        if let Some(last) = unconverged.get(&key)
            && last.body == *body
            && last.remaining == differences(drifts)
        {
            return Err(last.error(&key));
        }
    }
    let api: Api<DynamicObject> = Api::all_with(ctx.client.clone(), &api_resource(kind));
    // Server-side apply merges a set-typed list (`validationActions`) with the values other
    // managers own, which can make it invalid (`[Warn, Deny]`): such lists are first set
    // whole by a merge patch, guarded by the resource version.
    let lists: Vec<(&Drift, &Value)> = drifts
        .iter()
        .filter(|d| d.change == Change::Changed)
        .filter_map(|d| lookup(body, &d.path).map(|v| (d, v)))
        .filter(|(_, v)| v.is_array())
        .collect();
    if let (false, Some(version)) = (lists.is_empty(), resource_version) {
        let mut patch = serde_json::json!({ "metadata": { "resourceVersion": version } });
        for (drift, value) in &lists {
            set_path(&mut patch, &drift.path, (*value).clone());
        }
        api.patch(
            name,
            &PatchParams {
                field_manager: Some(FIELD_MANAGER.to_owned()),
                ..PatchParams::default()
            },
            &Patch::Merge(&patch),
        )
        .await
        .map_err(Error::api("reset lists of", kind, name))?;
    }
    let mut stored = api
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(body),
        )
        .await
        .map_err(Error::api("apply", kind, name))?;
    let check = |stored: &DynamicObject| {
        to_value(stored)
            .map(|json| diff_object(body, Some(&json), FIELD_MANAGER))
            .unwrap_or_default()
    };
    let mut remaining = check(&stored);
    let added: Vec<Vec<String>> = remaining
        .iter()
        .filter(|d| d.change == Change::Added)
        .map(|d| d.path.clone())
        .collect();
    if !added.is_empty() && added.len() == remaining.len() {
        let version = stored.resource_version().unwrap_or_default();
        stored = super::managed::remove_fields_with(&api, name, &version, &added)
            .await
            .map_err(Error::api("remove foreign fields of", kind, name))?;
        remaining = check(&stored);
    }
    let mut unconverged = ctx.unconverged.lock().expect("unconverged lock");
    let Some(first) = remaining.first() else {
        unconverged.remove(&key);
        return Ok(());
    };
    warn!(kind, name, field = %first.field, "write did not take; not repeating it");
    let entry = super::context::Unconverged {
        body: body.clone(),
        remaining: differences(&remaining),
        first: Difference {
            field: first.field.clone(),
            expected: first
                .expected
                .clone()
                .unwrap_or_else(|| "(absent)".to_owned()),
            actual: first
                .actual
                .clone()
                .unwrap_or_else(|| "(absent)".to_owned()),
        },
    };
    let error = entry.error(&key);
    unconverged.insert(key, entry);
    Err(error)
}

fn lookup<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(value, |node, key| node.get(key))
}

fn set_path(patch: &mut Value, path: &[String], value: Value) {
    let mut node = patch;
    for key in path {
        node = &mut node[key.as_str()];
    }
    *node = value;
}

fn differences(drifts: &[Drift]) -> Vec<(String, Option<String>, Option<String>)> {
    drifts
        .iter()
        .map(|d| (d.field.clone(), d.expected.clone(), d.actual.clone()))
        .collect()
}

/// Deletes the profile's policy and binding, if the operator generated them. Whatever the
/// `cleanupPolicy`: a binding left behind would keep judging requests with its parameter,
/// the profile, gone (and so deny them).
pub async fn remove(profile: &HardeningProfile, ctx: &Context) -> Result<(), Error> {
    let Some(caches) = &ctx.guardrails else {
        return Ok(());
    };
    remove_from(profile, ctx, caches).await
}

async fn remove_from(
    profile: &HardeningProfile,
    ctx: &Context,
    caches: &GuardrailCaches,
) -> Result<(), Error> {
    let name = object_name(&profile.name_any());
    // The binding first: a policy without binding judges nothing.
    for kind in [BINDING_KIND, POLICY_KIND] {
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
            Ok(_) => info!(profile = %profile.name_any(), kind, name, "deleted guardrails"),
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => return Err(Error::api("delete", kind, &name)(e)),
        }
    }
    Ok(())
}

/// Whether any generated policy or binding of `profile` is still in the caches.
pub fn remaining(profile: &HardeningProfile, ctx: &Context) -> bool {
    let Some(caches) = &ctx.guardrails else {
        return false;
    };
    let name = object_name(&profile.name_any());
    [POLICY_KIND, BINDING_KIND]
        .iter()
        .filter_map(|kind| caches.get(kind, &name))
        .any(|live| applied_by_operator(&live))
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
    publish(
        ctx,
        profile,
        EventType::Normal,
        "Repaired",
        "Repair",
        &note,
        Some(related),
    )
    .await;
    info!(profile = %profile.name_any(), kind, name, "repaired guardrails drift");
}
