//! Step 5: the profile's status as the aggregate of its namespaces' outcomes and of what
//! the steps before found, written (server-side apply, the operator's field manager) only
//! when it changed and at most once per status interval, with an Event naming the
//! requirements whose verdict changed.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::events::EventType;
use tracing::debug;

use super::super::context::Context;
use super::super::write::apply_status;
use super::Baselines;
use super::cluster::Cluster;
use crate::core::api::{ExceptionsStatus, HardeningProfile, HardeningProfileStatus, RolloutStatus};
use crate::core::status::{StatusInput, desired_status_kept, needs_update};
use crate::error::Error;

/// What the steps before found, for the status.
pub struct Found {
    pub selected: BTreeSet<String>,
    pub invalid: Option<String>,
    pub cluster: Cluster,
    pub exceptions: Option<ExceptionsStatus>,
    pub now: Timestamp,
    /// `repairsTotal` and the rollout's namespace count when this process first saw the
    /// profile (see [`Baselines`]).
    pub repairs_baseline: u64,
    pub rollout_baseline: u32,
}

/// The status the profile should have, and the rollout of its generation this process
/// counted (if any).
pub fn desired(
    profile: &HardeningProfile,
    ctx: &Context,
    found: &Found,
) -> (HardeningProfileStatus, Option<RolloutStatus>) {
    let name = profile.name_any();
    let generation = profile.metadata.generation.unwrap_or(0);
    let selected = &found.selected;
    let nodes = ctx.caches.node_states.as_ref().map(|n| n.snapshot());
    let input = StatusInput {
        profile,
        selected,
        repairs_total: 0,
        rollout: None,
        invalid: found.invalid.clone(),
        pods_watched: ctx.caches.pods.is_some(),
        guardrails: found.cluster.guardrails.clone(),
        node_proxy: profile
            .spec
            .guardrails
            .as_ref()
            .filter(|g| g.deny_exec)
            .map(|_| ctx.caches.access.node_proxy_subjects()),
        secret_readers: profile
            .spec
            .guardrails
            .as_ref()
            .filter(|g| super::super::access::credential_rules(g))
            .map(|_| {
                ctx.state.outcomes.read(|outcomes| {
                    // The namespaces this profile governs (another profile of higher
                    // precedence judges the others).
                    let governed: Vec<&str> = selected
                        .iter()
                        .map(String::as_str)
                        .filter(|ns| {
                            outcomes
                                .get(*ns)
                                .and_then(|r| r.outcome.winner())
                                .is_none_or(|w| w == name)
                        })
                        .collect();
                    ctx.caches.access.secret_readers(governed)
                })
            }),
        images_scanned: ctx.caches.vulnerabilities.is_some(),
        nodes: nodes.as_deref(),
        cluster_network_policies: found.cluster.cluster_policies.clone(),
        exceptions: found.exceptions.clone(),
        now: Time(found.now),
    };
    // The counts are read under the outcomes' lock: a namespace counts its rollout and
    // repairs before it records its outcome, so a status showing the outcome counts them.
    ctx.state.outcomes.read(|outcomes| {
        let since_start = ctx.state.counts.rollout_since_start(&name, generation);
        let rollout = match &since_start {
            Some(r) => Some(RolloutStatus {
                generation,
                updated_namespaces: found.rollout_baseline + r.updated_namespaces,
            }),
            // Nothing written for this generation (yet): the newest rollout stays reported.
            None => profile.status.as_ref().and_then(|s| s.rollout.clone()),
        };
        let input = StatusInput {
            rollout,
            repairs_total: found.repairs_baseline + ctx.state.counts.repairs_since_start(&name),
            ..input
        };
        // Each namespace's findings are kept beside its outcome: only the namespaces whose
        // outcome changed since the last computation are judged again.
        let status = desired_status_kept(&input, |ns| {
            outcomes.get(ns).map(|r| (&r.outcome, Some(&r.kept)))
        });
        (status, since_start)
    })
}

/// Whether the status was written (or needed no write), or must wait this long first.
pub enum Write {
    Done,
    Later(Duration),
}

/// Writes `status` if it differs from the profile's, unless the last write was less than
/// the status interval ago.
pub async fn write(
    profile: &HardeningProfile,
    ctx: &Context,
    baselines: &Baselines,
    status: &HardeningProfileStatus,
) -> Result<Write, Error> {
    if !needs_update(profile.status.as_ref(), status) {
        return Ok(Write::Done);
    }
    let name = profile.name_any();
    if let Some(wait) = baselines.status_wait(&name) {
        return Ok(Write::Later(wait));
    }
    // The requirements whose verdict changed, named with catalogue and edition.
    if let Some(note) = profile
        .status
        .as_ref()
        .and_then(|old| compliance_changes(&old.compliance, &status.compliance))
    {
        let (type_, reason) = note.1;
        ctx.events
            .publish(profile, type_, reason, "Assess", &note.0, None)
            .await;
    }
    debug!(profile = %name, changed = ?changed_fields(profile.status.as_ref(), status), "writing status");
    if let Err(e) =
        apply_status::<HardeningProfile>(&ctx.client, "HardeningProfile", &name, status).await
    {
        baselines.record_status_failure(&name);
        return Err(e);
    }
    baselines.record_status_write(&name);
    Ok(Write::Done)
}

/// The top-level fields of the status that a write changes (for the debug log).
fn changed_fields(
    old: Option<&crate::core::api::HardeningProfileStatus>,
    new: &crate::core::api::HardeningProfileStatus,
) -> Vec<String> {
    let as_map =
        |s: Option<&crate::core::api::HardeningProfileStatus>| match s.map(serde_json::to_value) {
            Some(Ok(serde_json::Value::Object(map))) => map,
            _ => serde_json::Map::new(),
        };
    let (old, new) = (as_map(old), as_map(Some(new)));
    let mut keys: Vec<String> = old.keys().chain(new.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    keys.retain(|k| old.get(k) != new.get(k));
    keys
}

/// The verdicts that changed between two `status.compliance` lists (`BSI SYS.1.6 (2023) A5:
/// Partial -> NotMet (reason)`), as an Event's note, type and reason: `ComplianceDegraded`
/// (Warning) when any got worse, else `ComplianceImproved`. `None` when nothing changed or
/// there was no earlier verdict to compare with.
fn compliance_changes(
    old: &[crate::core::api::RequirementStatus],
    new: &[crate::core::api::RequirementStatus],
) -> Option<(String, (EventType, &'static str))> {
    if old.is_empty() {
        return None;
    }
    let mut worse = false;
    let changes: Vec<String> = new
        .iter()
        .filter_map(|n| {
            let o = old.iter().find(|o| o.id == n.id)?;
            (o.verdict != n.verdict).then(|| {
                worse |= n.verdict.severity() > o.verdict.severity();
                let cited =
                    crate::core::compliance::requirement(&n.id).map_or(n.id.clone(), |r| r.cited());
                format!(
                    "{cited}: {} -> {} ({})",
                    o.verdict.as_str(),
                    n.verdict.as_str(),
                    n.reason
                )
            })
        })
        .collect();
    if changes.is_empty() {
        return None;
    }
    let kind = if worse {
        (EventType::Warning, "ComplianceDegraded")
    } else {
        (EventType::Normal, "ComplianceImproved")
    };
    Some((changes.join("; "), kind))
}
