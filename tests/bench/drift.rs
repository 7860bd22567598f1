//! Drift repair: another user (a cluster administrator in the operator's break-glass group:
//! in Enforce mode nobody else may) changes or deletes what the operator generated,
//! one drift at a time, each in another namespace; the latency is the audit timestamp of
//! the operator's repairing write minus that of the drift write. A drift not repaired
//! within the timeout is counted as unrepaired, and the next one follows.

use std::time::{Duration, Instant};

use hardening_operator::core::api::HardeningProfile;
use hardening_operator::core::labels::pod_security;
use hardening_operator::core::render::{DesiredObject, ManagedKind, names, render};
use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use crate::audit::{AuditLog, Event, Target};
use crate::setup::{DRIFT_USER, MEASURED_USER};

/// How often the audit log is looked at while waiting for a repair.
const POLL: Duration = Duration::from_millis(10);

/// The kinds of drift, made in turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DriftKind {
    DeleteNetworkPolicy,
    EditQuotaValue,
    RemovePodSecurityLabel,
    AlterPodSecurityLabel,
    /// A label selector on the default deny: it then isolates only some pods.
    WidenDefaultDenySelector,
    /// `endPort` on the DNS policy's port: a range instead of port 53.
    AddEndPort,
    EditLimitRange,
    DeleteLimitRange,
}

impl DriftKind {
    pub const ALL: [Self; 8] = [
        Self::DeleteNetworkPolicy,
        Self::EditQuotaValue,
        Self::RemovePodSecurityLabel,
        Self::AlterPodSecurityLabel,
        Self::WidenDefaultDenySelector,
        Self::AddEndPort,
        Self::EditLimitRange,
        Self::DeleteLimitRange,
    ];

    pub fn describe(self) -> &'static str {
        match self {
            Self::DeleteNetworkPolicy => "delete NetworkPolicy hardening-allow-same-namespace",
            Self::EditQuotaValue => "quota pods 20 -> 99",
            Self::RemovePodSecurityLabel => "remove label pod-security enforce",
            Self::AlterPodSecurityLabel => "pod-security enforce restricted -> privileged",
            Self::WidenDefaultDenySelector => "default-deny podSelector {} -> matchLabels",
            Self::AddEndPort => "allow-dns port 53 -> 53-60 (endPort)",
            Self::EditLimitRange => "LimitRange default cpu 500m -> 400m",
            Self::DeleteLimitRange => "delete LimitRange hardening-limits",
        }
    }

    /// The object the drift writes, and the operator's repair too.
    fn target(self, namespace: &str) -> Target {
        let (kind, name) = match self {
            Self::RemovePodSecurityLabel | Self::AlterPodSecurityLabel => {
                return Target {
                    resource: "namespaces".into(),
                    namespace: String::new(),
                    name: namespace.into(),
                };
            }
            Self::DeleteNetworkPolicy => (ManagedKind::NetworkPolicy, names::ALLOW_SAME_NAMESPACE),
            Self::WidenDefaultDenySelector => (ManagedKind::NetworkPolicy, names::DEFAULT_DENY),
            Self::AddEndPort => (ManagedKind::NetworkPolicy, names::ALLOW_DNS),
            Self::EditQuotaValue => (ManagedKind::ResourceQuota, names::QUOTA),
            Self::EditLimitRange | Self::DeleteLimitRange => {
                (ManagedKind::LimitRange, names::LIMITS)
            }
        };
        Target {
            resource: kind.plural().into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// Makes the drift as `admin` (the break-glass administrator).
    async fn make(
        self,
        admin: &Client,
        profile: &HardeningProfile,
        namespace: &str,
    ) -> Result<(), String> {
        let merge = PatchParams::default();
        let result = match self {
            Self::DeleteNetworkPolicy => Api::<NetworkPolicy>::namespaced(admin.clone(), namespace)
                .delete(names::ALLOW_SAME_NAMESPACE, &DeleteParams::default())
                .await
                .map(|_| ()),
            Self::DeleteLimitRange => Api::<LimitRange>::namespaced(admin.clone(), namespace)
                .delete(names::LIMITS, &DeleteParams::default())
                .await
                .map(|_| ()),
            Self::EditQuotaValue => Api::<ResourceQuota>::namespaced(admin.clone(), namespace)
                .patch(
                    names::QUOTA,
                    &merge,
                    &Patch::Merge(json!({"spec": {"hard": {"pods": "99"}}})),
                )
                .await
                .map(|_| ()),
            Self::RemovePodSecurityLabel | Self::AlterPodSecurityLabel => {
                let value = match self {
                    Self::AlterPodSecurityLabel => json!("privileged"),
                    _ => Value::Null,
                };
                Api::<Namespace>::all(admin.clone())
                    .patch(
                        namespace,
                        &merge,
                        &Patch::Merge(
                            json!({"metadata": {"labels": {pod_security::ENFORCE: value}}}),
                        ),
                    )
                    .await
                    .map(|_| ())
            }
            Self::WidenDefaultDenySelector => {
                Api::<NetworkPolicy>::namespaced(admin.clone(), namespace)
                    .patch(
                        names::DEFAULT_DENY,
                        &merge,
                        &Patch::Merge(json!({"spec": {"podSelector": {
                            "matchLabels": {"bench.hardening.dev/drift": "widened"}
                        }}})),
                    )
                    .await
                    .map(|_| ())
            }
            Self::AddEndPort => {
                // A merge patch replaces a list: send the rendered rules with the change.
                let mut egress =
                    rendered(profile, namespace, names::ALLOW_DNS)?["spec"]["egress"].take();
                egress[0]["ports"][0]["endPort"] = json!(60);
                Api::<NetworkPolicy>::namespaced(admin.clone(), namespace)
                    .patch(
                        names::ALLOW_DNS,
                        &merge,
                        &Patch::Merge(json!({"spec": {"egress": egress}})),
                    )
                    .await
                    .map(|_| ())
            }
            Self::EditLimitRange => {
                let mut limits =
                    rendered(profile, namespace, names::LIMITS)?["spec"]["limits"].take();
                limits[0]["default"]["cpu"] = json!("400m");
                Api::<LimitRange>::namespaced(admin.clone(), namespace)
                    .patch(
                        names::LIMITS,
                        &merge,
                        &Patch::Merge(json!({"spec": {"limits": limits}})),
                    )
                    .await
                    .map(|_| ())
            }
        };
        result.map_err(|e| format!("{} in {namespace}: {e}", self.describe()))
    }
}

/// The rendered object `name` of `namespace`, as JSON.
fn rendered(profile: &HardeningProfile, namespace: &str, name: &str) -> Result<Value, String> {
    render(profile, namespace)
        .map_err(|e| e.to_string())?
        .objects
        .iter()
        .find(|o| o.name() == name)
        .map(DesiredObject::to_json)
        .ok_or_else(|| format!("the profile renders no {name}"))
}

/// One drift and what came of it.
pub struct Outcome {
    pub kind: DriftKind,
    pub namespace: String,
    /// Drift write to repairing write, by their audit timestamps; `None`: not repaired
    /// within the timeout.
    pub latency_ms: Option<f64>,
}

/// Makes `count` drifts, one at a time, of the kinds in turn, in namespaces spread over
/// `namespaces`.
pub async fn run(
    admin: &Client,
    audit: &mut AuditLog,
    profile: &HardeningProfile,
    namespaces: &[String],
    count: usize,
    timeout: Duration,
) -> Result<Vec<Outcome>, String> {
    let mut outcomes = Vec::new();
    for i in 0..count {
        let kind = DriftKind::ALL[i % DriftKind::ALL.len()];
        let namespace = &namespaces[i * namespaces.len() / count.max(1) % namespaces.len()];
        let target = kind.target(namespace);
        audit.read_new();
        let mark = audit.mark();
        kind.make(admin, profile, namespace).await?;
        let deadline = Instant::now() + timeout;
        let latency_ms = loop {
            audit.read_new();
            let events = audit.since(mark);
            let drift = events
                .iter()
                .find(|e| e.user == DRIFT_USER && is_write_to(e, &target));
            if let Some(drift) = drift {
                let repair = events.iter().find(|e| {
                    e.user == MEASURED_USER
                        && is_write_to(e, &target)
                        && e.code < 400
                        && e.received_us >= drift.received_us
                });
                if let Some(repair) = repair {
                    break Some((repair.completed_us - drift.completed_us) as f64 / 1000.0);
                }
            }
            if Instant::now() > deadline {
                break None;
            }
            tokio::time::sleep(POLL).await;
        };
        outcomes.push(Outcome {
            kind,
            namespace: namespace.clone(),
            latency_ms,
        });
    }
    Ok(outcomes)
}

fn is_write_to(event: &Event, target: &Target) -> bool {
    event.complete
        && event.is_write()
        && event.subresource.is_empty()
        && event.resource == target.resource
        // A Namespace's own requests carry its name as their namespace (but for create).
        && (event.namespace == target.namespace || target.resource == "namespaces")
        && event.name == target.name
}
