//! Reconciles one HardeningProfile: its finalizer, and its status as the aggregate of the
//! namespace outcomes. Namespace writes all happen in the namespace reconciler; this one
//! writes only the profile itself, and only when something changed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use tracing::{debug, info};

use crate::core::api::{HardeningProfile, RolloutStatus, validate};
use crate::core::labels::{CLEANUP_FINALIZER, FIELD_MANAGER, PROFILE_ANNOTATION};
use crate::core::plural::count;
use crate::core::status::{StatusInput, desired_status, needs_update};
use crate::error::Error;

use super::STATUS_INTERVAL;
use super::context::Context;

/// How often a deleting profile checks whether its namespaces are cleaned up.
const CLEANUP_POLL: Duration = Duration::from_secs(1);

/// What the status held when this process first saw a profile, so that counts survive
/// restarts: `repairsTotal` by uid (a re-created profile starts at 0) and the rollout's
/// namespace count by uid and generation. Also the rollouts announced with an Event, and
/// when each profile's status was last written.
#[derive(Default)]
pub struct Baselines {
    repairs: Mutex<HashMap<String, u64>>,
    rollouts: Mutex<HashMap<(String, i64), u32>>,
    announced: Mutex<HashSet<(String, i64)>>,
    status_written: Mutex<HashMap<String, Instant>>,
}

impl Baselines {
    /// How long `profile`'s status must wait before it is written again: at most one
    /// write per [`STATUS_INTERVAL`], whatever asks for the reconcile (namespaces changing,
    /// the echo of the last status write, a watch of the admission objects).
    fn status_wait(&self, profile: &str) -> Option<Duration> {
        let written = self.status_written.lock().expect("baselines lock");
        let since = written.get(profile)?.elapsed();
        STATUS_INTERVAL.checked_sub(since).filter(|d| !d.is_zero())
    }

    /// A status write of `profile` was answered: the interval runs from the answer, so
    /// that two writes reach the API server at least the interval apart (counted from the
    /// request, a slow answer and a quick next one came closer). A failed write records
    /// nothing: the next one waits for the error's backoff, not for the interval (a
    /// throttled reconcile ends well, which would reset the backoff).
    fn record_status_write(&self, profile: &str) {
        self.status_written
            .lock()
            .expect("baselines lock")
            .insert(profile.to_owned(), Instant::now());
    }
}

pub async fn reconcile(
    profile: Arc<HardeningProfile>,
    ctx: Arc<Context>,
    baselines: &Baselines,
) -> Result<Action, Error> {
    let name = profile.name_any();
    let api: Api<HardeningProfile> = Api::all(ctx.client.clone());

    if profile.metadata.deletion_timestamp.is_some() {
        ctx.metrics.profile_gone(&name);
        if !profile.finalizers().iter().any(|f| f == CLEANUP_FINALIZER) {
            return Ok(Action::await_change());
        }
        // The namespace reconciler undoes each namespace (it sees the profile deleting);
        // the finalizer goes once no namespace names this profile any more. A namespace
        // being deleted is not waited for: it goes with everything in it, and the namespace
        // controller may take minutes to empty it.
        let remaining = ctx
            .caches
            .namespaces
            .state()
            .iter()
            .filter(|ns| ns.metadata.deletion_timestamp.is_none())
            .filter(|ns| ns.annotations().get(PROFILE_ANNOTATION) == Some(&name))
            .count();
        // The profile's admission policy and binding go in any case (see `guardrails`).
        super::guardrails::remove(&profile, &ctx).await?;
        if remaining > 0 || super::guardrails::remaining(&profile, &ctx) {
            return Ok(Action::requeue(CLEANUP_POLL));
        }
        let finalizers: Vec<&String> = profile
            .finalizers()
            .iter()
            .filter(|f| *f != CLEANUP_FINALIZER)
            .collect();
        let patch = json!({ "metadata": {
            "finalizers": finalizers,
            "resourceVersion": profile.resource_version(),
        }});
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(Error::api("remove finalizer", "HardeningProfile", &name))?;
        info!(profile = %name, "cleanup finished; finalizer removed");
        return Ok(Action::await_change());
    }

    if !profile.finalizers().iter().any(|f| f == CLEANUP_FINALIZER) {
        let mut finalizers = profile.finalizers().to_vec();
        finalizers.push(CLEANUP_FINALIZER.to_owned());
        let patch = json!({ "metadata": {
            "finalizers": finalizers,
            "resourceVersion": profile.resource_version(),
        }});
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(Error::api("add finalizer", "HardeningProfile", &name))?;
        // The update comes back through the watch and reconciles again.
        return Ok(Action::await_change());
    }

    // The operator's own checks, then the API server's verdict on what this generation
    // renders (see `admission`).
    let invalid = validate(&profile)
        .err()
        .map(|problems| {
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })
        .or_else(|| match ctx.state.admissions.verdict(&profile) {
            Some(super::state::Verdict::Rejected(message)) => Some(message),
            _ => None,
        });
    let uid = profile.uid().unwrap_or_default();
    let generation = profile.metadata.generation.unwrap_or(0);
    let baseline = *baselines
        .repairs
        .lock()
        .expect("baselines lock")
        .entry(uid.clone())
        .or_insert_with(|| profile.status.as_ref().map_or(0, |s| s.repairs_total));
    let rollout_baseline = *baselines
        .rollouts
        .lock()
        .expect("baselines lock")
        .entry((uid.clone(), generation))
        .or_insert_with(|| {
            profile
                .status
                .as_ref()
                .and_then(|s| s.rollout.as_ref())
                .filter(|r| r.generation == generation)
                .map_or(0, |r| r.updated_namespaces)
        });
    // The admission guardrails, unless this generation is invalid (then they stay as they
    // are until it is fixed).
    let (guardrails, guardrails_error) = if invalid.is_none() {
        super::guardrails::reconcile(&profile, &ctx).await
    } else {
        (
            profile.status.as_ref().and_then(|s| s.guardrails.clone()),
            None,
        )
    };
    let cluster_policies = if invalid.is_none() {
        super::cluster_network_policies::reconcile(&profile, &ctx).await
    } else {
        None
    };
    let selected = ctx.selected_namespaces(&profile);
    let nodes = ctx.caches.node_states.as_ref().map(|n| n.snapshot());
    // The exceptions in force now: the admission policy, the Pod Security labels and the
    // verdicts read them from the status written here. The reconcile comes back when the
    // next one expires (or starts expiring within a week).
    let now = Timestamp::now();
    let (exceptions, wake) = match &ctx.caches.exceptions {
        Some(store) => {
            let all = store.state();
            let judged = crate::core::exceptions::profile_exceptions(
                &profile,
                all.iter().map(|e| e.as_ref()),
                now,
                ctx.config.max_exception_duration,
            );
            let wake = crate::core::exceptions::next_change(
                all.iter()
                    .map(|e| e.as_ref())
                    .filter(|e| e.spec.profile == name),
                now,
            );
            // An exception whose status says otherwise is judged again by its controller
            // (created before this profile, or this profile changed since).
            if let Some(requests) = &ctx.state.exceptions {
                for (exception, judgement) in &judged.judged {
                    let stored = all
                        .iter()
                        .find(|e| e.name_any() == *exception)
                        .and_then(|e| e.status.as_ref())
                        .map(|s| (s.state, s.reason.as_deref()));
                    if stored != Some((Some(judgement.state), Some(judgement.reason))) {
                        requests.request(exception);
                    }
                }
            }
            (judged.status, wake)
        }
        None => (None, None),
    };
    let input = StatusInput {
        profile: &profile,
        selected: &selected,
        repairs_total: 0,
        rollout: None,
        invalid,
        pods_watched: ctx.caches.pods.is_some(),
        guardrails,
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
            .filter(|g| super::access::credential_rules(g))
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
                                .and_then(|o| o.winner())
                                .is_none_or(|w| w == name)
                        })
                        .collect();
                    ctx.caches.access.secret_readers(governed)
                })
            }),
        images_scanned: ctx.caches.vulnerabilities.is_some(),
        nodes: nodes.as_deref(),
        cluster_network_policies: cluster_policies,
        exceptions,
        now: Time(now),
    };
    // The counts are read under the outcomes' lock: a namespace counts its rollout and
    // repairs before it records its outcome, so a status showing the outcome counts them.
    let (status, since_start) = ctx.state.outcomes.read(|outcomes| {
        let since_start = ctx.state.counts.rollout_since_start(&name, generation);
        let rollout = match &since_start {
            Some(r) => Some(RolloutStatus {
                generation,
                updated_namespaces: rollout_baseline + r.updated_namespaces,
            }),
            // Nothing written for this generation (yet): the newest rollout stays reported.
            None => profile.status.as_ref().and_then(|s| s.rollout.clone()),
        };
        let input = StatusInput {
            rollout,
            repairs_total: baseline + ctx.state.counts.repairs_since_start(&name),
            ..input
        };
        (desired_status(&input, |ns| outcomes.get(ns)), since_start)
    });
    ctx.metrics.profile_ready(
        &name,
        status
            .conditions
            .iter()
            .any(|c| c.type_ == crate::core::status::READY && c.status == "True"),
    );
    if needs_update(profile.status.as_ref(), &status) {
        if let Some(wait) = baselines.status_wait(&name) {
            // Written again once the interval is over, from what holds then. A transient
            // guardrails failure backs off instead and is written with its retry; a
            // permanent one would wait for a change that may never come (a foreign
            // admission policy stays), so the status would keep an outcome of before.
            return match guardrails_error {
                Some(e) if !e.is_permanent() => Err(e),
                _ => Ok(Action::requeue(wait)),
            };
        }
        // The requirements whose verdict changed, named with catalogue and edition.
        if let Some(note) = profile
            .status
            .as_ref()
            .and_then(|old| compliance_changes(&old.compliance, &status.compliance))
        {
            let (type_, reason) = note.1;
            ctx.events
                .publish(&profile, type_, reason, "Assess", &note.0, None)
                .await;
        }
        debug!(profile = %name, changed = ?changed_fields(profile.status.as_ref(), &status), "writing status");
        let body = json!({
            "apiVersion": HardeningProfile::api_version(&()),
            "kind": HardeningProfile::kind(&()),
            "status": status,
        });
        api.patch_status(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(Error::api("apply status", "HardeningProfile", &name))?;
        baselines.record_status_write(&name);
    }
    // One Event per rollout this process took part in, once every namespace has it.
    let reconciled = !status
        .conditions
        .iter()
        .any(|c| c.type_ == crate::core::status::RECONCILING);
    if let (true, Some(rollout)) = (reconciled, since_start)
        && baselines
            .announced
            .lock()
            .expect("baselines lock")
            .insert((uid, generation))
    {
        let total = status.rollout.as_ref().map_or(0, |r| r.updated_namespaces);
        let note = format!(
            "rolled out generation {generation}: {} updated ({} by this operator instance)",
            count(total, "namespace"),
            rollout.updated_namespaces
        );
        // The profile as of this rollout: Events with equal references are folded into one
        // series keeping the first note, and each rollout has its own.
        let this_rollout = ObjectReference {
            resource_version: profile.resource_version(),
            ..profile.object_ref(&())
        };
        ctx.events
            .publish(
                &profile,
                EventType::Normal,
                "RolledOut",
                "Rollout",
                &note,
                Some(this_rollout),
            )
            .await;
    }
    // A failed guardrails write backs off (the status already says so).
    match (guardrails_error, wake) {
        (Some(e), _) => Err(e),
        // A little after the moment, so that the judgement has changed by then.
        (None, Some(after)) => Ok(Action::requeue(after + Duration::from_millis(100))),
        (None, None) => Ok(Action::await_change()),
    }
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
