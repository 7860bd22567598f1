//! The profile's conditions: one function a condition, each deciding a [`Judged`]
//! (True, False or Unknown, with its reason and message) from the counts of the namespaces
//! ([`Counts`]), the listed namespaces (whose first finding the message names) and the
//! status input. [`ready`] is the roll-up: `Ready` is True only when every governed
//! namespace holds what the profile declares; `Stalled` and `Reconciling` (kstatus's
//! "abnormal-true" conditions) repeat its message while they are true. The others are
//! present only where they apply and do not change `Ready`. [`conditions`] lists them in
//! their fixed order and keeps each one's `lastTransitionTime` while its status holds.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::core::api::{
    ExceptionsStatus, GuardrailsStatus, HardeningProfileStatus, Mode, NamespaceState,
    NamespaceStatus, NodeBaselineStatus,
};
use crate::core::plural::{agree, count};

use super::StatusInput;
use super::namespaces::Counts;

pub const READY: &str = "Ready";
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";
pub const DRIFTED: &str = "Drifted";
pub const CONFLICTING: &str = "Conflicting";
/// Present when the profile declares seccomp/AppArmor profiles: whether every pod in the
/// namespaces it governs uses them. Informational: `Ready` does not depend on it.
pub const PODS_CONFINED: &str = "PodsConfined";
/// Present when the profile isolates a direction: whether any NetworkPolicy the operator did
/// not generate allows traffic the profile denies. Informational: `Ready` does not depend on it.
pub const NETWORK_ISOLATED: &str = "NetworkIsolated";
/// Present when the profile declares guardrails: whether the API server denies what they
/// forbid (True only in Enforce mode with the policy and binding as rendered).
pub const GUARDRAILS_ENFORCED: &str = "GuardrailsEnforced";
/// Present in Audit mode for profiles with a Pod Security `enforce` level or guardrails:
/// whether enforcing the profile would reject existing pods (the preview).
pub const READY_TO_ENFORCE: &str = "ReadyToEnforce";
/// Audit mode: whether what the profile's Enforce mode left in namespaces still acts there
/// (Audit mode neither repairs nor removes it).
pub const STILL_ENFORCED: &str = "StillEnforced";
/// Present when the cluster serves the Trivy Operator's VulnerabilityReports: whether the
/// images in the governed namespaces have CRITICAL or HIGH vulnerabilities with a fix.
pub const IMAGES_PATCHED: &str = "ImagesPatched";
/// Present with `spec.nodeBaseline`: whether every node whose agent published its state
/// meets it.
pub const NODES_MEET_BASELINE: &str = "NodesMeetBaseline";
/// Present with `networkPolicy.clusterNetworkPolicy`: whether the profile's
/// ClusterNetworkPolicies are in place (False `NotServed` where the cluster has none).
pub const CLUSTER_NETWORK_POLICIES: &str = "ClusterNetworkPolicies";
/// Present when a HardeningException names the profile: whether any is in force (True,
/// `Active` or `ExpiringSoon`) or none (False, `NoneInForce`). Informational: `Ready` does
/// not depend on it.
pub const EXCEPTIONS_IN_FORCE: &str = "ExceptionsInForce";

/// A condition's status, as Kubernetes names and spells it (`metav1.ConditionStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl ConditionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }

    /// This status for `reason`, explained by `message`.
    pub fn because(self, reason: &'static str, message: impl Into<String>) -> Judged {
        Judged {
            status: self,
            reason,
            message: message.into(),
        }
    }
}

/// A condition as judged: its status, a stable reason and a message in words.
#[derive(Clone, Debug, PartialEq)]
pub struct Judged {
    pub status: ConditionStatus,
    pub reason: &'static str,
    pub message: String,
}

impl Judged {
    /// The condition of type `type_` saying this (its message cut to the 1,024 characters
    /// the status keeps; generation and transition time are stamped by [`conditions`]).
    fn condition(&self, type_: &str) -> Condition {
        Condition {
            type_: type_.to_owned(),
            status: self.status.as_str().to_owned(),
            reason: self.reason.to_owned(),
            message: self.message.chars().take(1024).collect(),
            observed_generation: None,
            last_transition_time: Time(Default::default()),
        }
    }
}

/// Every condition of the status, in their fixed order, stamped with the profile's
/// generation; each keeps the `lastTransitionTime` of `previous` while its status holds.
pub(super) fn conditions(
    input: &StatusInput<'_>,
    c: &Counts,
    entries: &[NamespaceStatus],
    nodes: Option<&NodeBaselineStatus>,
    previous: Option<&HardeningProfileStatus>,
) -> Vec<Condition> {
    let audit = input.profile.spec.mode == Mode::Audit;
    let ready = ready(input, c, entries);
    let mut out: Vec<(&str, Judged)> = Vec::new();
    let abnormal = abnormal(input, c, &ready);
    out.push((READY, ready));
    out.extend(abnormal);
    out.push((DRIFTED, drifted(c, entries)));
    out.push((CONFLICTING, conflicting(c, entries)));
    if c.confinement_reported {
        out.push((PODS_CONFINED, pods_confined(c, entries)));
    }
    if c.isolation_reported {
        out.push((NETWORK_ISOLATED, network_isolated(c, entries)));
    }
    if let Some((status, reason, message)) = &input.cluster_network_policies {
        out.push((
            CLUSTER_NETWORK_POLICIES,
            cluster_network_policies(status, reason, message),
        ));
    }
    if let Some(exceptions) = &input.exceptions {
        out.push((EXCEPTIONS_IN_FORCE, exceptions_in_force(exceptions)));
    }
    if let Some(nodes) = nodes {
        out.push((NODES_MEET_BASELINE, nodes_meet_baseline(nodes)));
    }
    if input.images_scanned {
        out.push((IMAGES_PATCHED, images_patched(c, entries)));
    }
    if c.pods_judged && audit {
        out.push((READY_TO_ENFORCE, ready_to_enforce(c, entries)));
    }
    if audit {
        out.push((STILL_ENFORCED, still_enforced(c, entries)));
    }
    // About `spec.guardrails`: an Enforce profile without them has admission objects too
    // (the creation gate, the protection), whose failure shows in Ready.
    if let (Some(g), Some(_)) = (&input.guardrails, &input.profile.spec.guardrails) {
        out.push((GUARDRAILS_ENFORCED, guardrails_enforced(g, audit)));
    }

    let generation = input.profile.metadata.generation;
    out.into_iter()
        .map(|(type_, said)| {
            let mut cond = said.condition(type_);
            cond.observed_generation = generation;
            let kept = previous
                .and_then(|p| p.conditions.iter().find(|old| old.type_ == cond.type_))
                .filter(|old| old.status == cond.status);
            cond.last_transition_time = match kept {
                Some(old) => old.last_transition_time.clone(),
                None => input.now.clone(),
            };
            cond
        })
        .collect()
}

/// The first listed namespace in `state`, as `<namespace>: <message>`.
fn first_in(entries: &[NamespaceStatus], state: NamespaceState) -> String {
    entries
        .iter()
        .find(|e| e.state == state)
        .map(|e| match &e.message {
            Some(m) => format!("{}: {m}", e.name),
            None => e.name.clone(),
        })
        .unwrap_or_default()
}

/// The first finding of the listed namespaces, as `<namespace>/<finding>`.
fn first_finding(
    entries: &[NamespaceStatus],
    finding: impl Fn(&NamespaceStatus) -> Option<String>,
) -> String {
    entries
        .iter()
        .find_map(|e| finding(e).map(|f| format!("{}/{f}", e.name)))
        .unwrap_or_default()
}

/// What tenants do, counted: `<n things> in <m namespaces> <verb> <what>; first: <first>`
/// (`verb`: singular and plural form, agreeing with `n`).
fn found_in(
    (n, thing): (u32, &str),
    namespaces: u32,
    (one, many): (&str, &str),
    what: &str,
    first: &str,
) -> String {
    format!(
        "{} in {} {} {what}; first: {first}",
        count(n, thing),
        count(namespaces, "namespace"),
        agree(n, one, many)
    )
}

/// The reason of the failed namespaces: one cause names itself; several are a failed
/// reconcile.
fn failure_reason(c: &Counts) -> &'static str {
    match c.failure_reasons.len() {
        1 => c
            .failure_reasons
            .iter()
            .next()
            .copied()
            .unwrap_or("ReconcileFailed"),
        _ => "ReconcileFailed",
    }
}

/// `Ready`, the roll-up: an invalid spec, namespaces not reconciled yet, namespaces that
/// cannot be brought to the profile, failed guardrails and (in Enforce mode) drift not
/// repaired yet make it False, in that order; otherwise True (`InSync`, or `Audited` in
/// Audit mode).
pub(super) fn ready(input: &StatusInput<'_>, c: &Counts, entries: &[NamespaceStatus]) -> Judged {
    let audit = input.profile.spec.mode == Mode::Audit;
    if let Some(message) = &input.invalid {
        ConditionStatus::False.because("InvalidSpec", message.clone())
    } else if c.pending > 0 {
        ConditionStatus::False.because(
            "Reconciling",
            format!(
                "{} of {} not reconciled yet",
                c.pending,
                count(c.selected, "selected namespace")
            ),
        )
    } else if c.failed > 0 {
        ConditionStatus::False.because(
            failure_reason(c),
            format!(
                "{} cannot be brought to the profile; first: {}",
                count(c.failed, "namespace"),
                first_in(entries, NamespaceState::Failed)
            ),
        )
    } else if let Some(message) = input
        .guardrails
        .as_ref()
        .filter(|g| g.state == NamespaceState::Failed)
        .map(|g| g.message.clone().unwrap_or_default())
    {
        ConditionStatus::False.because("GuardrailsFailed", message)
    } else if c.drifted > 0 && !audit {
        ConditionStatus::False.because(
            "Drifted",
            format!(
                "{} drifted and not repaired yet",
                count(c.drifted, "namespace")
            ),
        )
    } else if audit {
        ConditionStatus::True.because(
            "Audited",
            format!(
                "{} audited, {} drifted (Audit mode changes nothing)",
                count(c.selected - c.conflicting, "namespace"),
                c.drifted
            ),
        )
    } else {
        ConditionStatus::True.because(
            "InSync",
            format!("{} in sync", count(c.in_sync, "namespace")),
        )
    }
}

/// kstatus reads these two "abnormal-true" conditions; they are present only while true,
/// with `ready`'s message: `Stalled` for an invalid spec or failures retrying cannot help
/// (the operator waits for a change), `Reconciling` while namespaces are not reconciled yet.
fn abnormal(input: &StatusInput<'_>, c: &Counts, ready: &Judged) -> Option<(&'static str, Judged)> {
    if input.invalid.is_some() {
        Some((
            STALLED,
            ConditionStatus::True.because("InvalidSpec", ready.message.clone()),
        ))
    } else if c.pending > 0 {
        Some((
            RECONCILING,
            ConditionStatus::True.because("Reconciling", ready.message.clone()),
        ))
    } else if c.permanent_failures > 0 {
        Some((
            STALLED,
            ConditionStatus::True.because(failure_reason(c), ready.message.clone()),
        ))
    } else {
        None
    }
}

/// `Drifted`: whether any governed namespace differs from the profile.
fn drifted(c: &Counts, entries: &[NamespaceStatus]) -> Judged {
    if c.drifted > 0 {
        ConditionStatus::True.because(
            "DriftDetected",
            format!(
                "{} drifted; first: {}",
                count(c.drifted, "namespace"),
                first_in(entries, NamespaceState::Drifted)
            ),
        )
    } else {
        ConditionStatus::False.because("NoDrift", "no drift in the governed namespaces")
    }
}

/// `Conflicting`: whether another profile governs a namespace this one selects.
fn conflicting(c: &Counts, entries: &[NamespaceStatus]) -> Judged {
    if c.conflicting > 0 {
        ConditionStatus::True.because(
            "NamespaceConflict",
            format!(
                "{} {} governed by another profile; first: {}",
                count(c.conflicting, "selected namespace"),
                agree(c.conflicting, "is", "are"),
                first_in(entries, NamespaceState::Conflict)
            ),
        )
    } else {
        ConditionStatus::False.because(
            "NoConflict",
            "no other profile governs a selected namespace",
        )
    }
}

/// `PodsConfined`: whether every pod in the governed namespaces uses the profile's
/// seccomp/AppArmor profiles.
fn pods_confined(c: &Counts, entries: &[NamespaceStatus]) -> Judged {
    if c.unconfined_pods > 0 {
        let first = first_finding(entries, |e| {
            e.pods.first().map(|p| format!("{}: {}", p.name, p.reason))
        });
        ConditionStatus::False.because(
            "UnconfinedPods",
            found_in(
                (c.unconfined_pods, "pod"),
                c.unconfined_namespaces,
                ("does", "do"),
                "not use the profile's workloadSecurityContext",
                &first,
            ),
        )
    } else {
        ConditionStatus::True.because(
            "AllPodsConfined",
            "every pod in the governed namespaces uses the profile's workloadSecurityContext",
        )
    }
}

/// `NetworkIsolated`: whether any tenant NetworkPolicy allows traffic the profile denies.
fn network_isolated(c: &Counts, entries: &[NamespaceStatus]) -> Judged {
    if c.widening_policies > 0 {
        let first = first_finding(entries, |e| {
            e.policies.first().map(|p| {
                format!(
                    "{}: allows {} {}",
                    p.name,
                    p.direction.as_str().to_lowercase(),
                    p.opens
                )
            })
        });
        ConditionStatus::False.because(
            "WideningPolicies",
            found_in(
                (c.widening_policies, "NetworkPolicy rule"),
                c.widened_namespaces,
                ("allows", "allow"),
                "traffic the profile denies",
                &first,
            ),
        )
    } else {
        ConditionStatus::True.because(
            "NoWideningPolicies",
            "no NetworkPolicy in the governed namespaces allows traffic the profile denies",
        )
    }
}

/// `ClusterNetworkPolicies`: as the controller found them (status, reason, message).
fn cluster_network_policies(status: &str, reason: &'static str, message: &str) -> Judged {
    let status = match status {
        "True" => ConditionStatus::True,
        "False" => ConditionStatus::False,
        _ => ConditionStatus::Unknown,
    };
    status.because(reason, message)
}

/// `ExceptionsInForce`: how many exceptions are in force, which expires first, what
/// expired or is not applied, and that an expired one applies until the operator removes
/// it.
fn exceptions_in_force(e: &ExceptionsStatus) -> Judged {
    let mut parts = Vec::new();
    let soonest = e.active.iter().min_by_key(|a| {
        crate::core::api::expiry(&a.expires)
            .map(|t| t.as_millisecond())
            .unwrap_or(i64::MAX)
    });
    if let Some(first) = soonest {
        parts.push(format!(
            "{} in force ({} expiring within a week); first to expire: {} at {}",
            count(e.active.len(), "exception"),
            e.expiring_soon,
            first.name,
            first.expires
        ));
    }
    if e.expired > 0 {
        parts.push(format!(
            "{} expired (no longer applied)",
            count(e.expired, "exception")
        ));
    }
    if e.not_applied > 0 {
        parts.push(format!(
            "{} not applied (see status.exceptions.inactive)",
            count(e.not_applied, "exception")
        ));
    }
    let note = "the operator removes an exception from the admission policy at its expiry; while the operator is not running, an expired exception keeps applying";
    let message = format!("{}; {note}", parts.join("; "));
    match (e.active.is_empty(), e.expiring_soon) {
        (true, _) => ConditionStatus::False.because("NoneInForce", message),
        (false, 0) => ConditionStatus::True.because("Active", message),
        (false, _) => ConditionStatus::True.because("ExpiringSoon", message),
    }
}

/// `NodesMeetBaseline`: whether every node whose agent published its state meets the
/// profile's `nodeBaseline` (Unknown while none has).
fn nodes_meet_baseline(nodes: &NodeBaselineStatus) -> Judged {
    if nodes.nodes == 0 {
        ConditionStatus::Unknown.because(
            "NoNodeReports",
            "no node agent has published its node's state (is the node agent running, and --node-agent-namespace its namespace?)",
        )
    } else if nodes.short > 0 {
        let first = nodes
            .failing
            .first()
            .map(|f| format!("{}: {}", f.node, f.missing))
            .unwrap_or_default();
        ConditionStatus::False.because(
            "NodesFallShort",
            format!(
                "{} of {} {} short of the node baseline; first: {first}",
                nodes.short,
                count(nodes.nodes, "node"),
                agree(nodes.short, "falls", "fall")
            ),
        )
    } else {
        ConditionStatus::True.because(
            "AllNodesMeetBaseline",
            format!(
                "{} {} the node baseline (nodes without a node agent are not counted)",
                count(nodes.nodes, "node"),
                agree(nodes.nodes, "meets", "meet")
            ),
        )
    }
}

/// `ImagesPatched`: whether any workload container runs an image with a fixable CRITICAL
/// or HIGH vulnerability.
fn images_patched(c: &Counts, entries: &[NamespaceStatus]) -> Judged {
    if c.vulnerable > 0 {
        let first = first_finding(entries, |e| e.vulnerabilities.first().cloned());
        ConditionStatus::False.because(
            "FixableVulnerabilities",
            found_in(
                (c.vulnerable, "workload container"),
                c.vulnerable_namespaces,
                ("runs", "run"),
                "images with CRITICAL or HIGH vulnerabilities that have a fix",
                &first,
            ),
        )
    } else {
        ConditionStatus::True.because(
            "NoFixableVulnerabilities",
            "no VulnerabilityReport in the governed namespaces lists a CRITICAL or HIGH vulnerability with a fix",
        )
    }
}

/// `ReadyToEnforce` (Audit mode): whether enforcing would reject existing pods (Unknown
/// until every governed namespace is previewed).
fn ready_to_enforce(c: &Counts, entries: &[NamespaceStatus]) -> Judged {
    let governed = c.selected - c.conflicting;
    if c.would_reject_pods > 0 {
        let first = first_finding(entries, |e| {
            e.would_reject
                .first()
                .map(|r| format!("{}: {}", r.pod, r.reason))
        });
        ConditionStatus::False.because(
            "WouldRejectPods",
            format!(
                "enforcing would reject {} in {}; first: {first}",
                count(c.would_reject_pods, "existing pod"),
                count(c.would_reject_namespaces, "namespace")
            ),
        )
    } else if c.previewed < governed {
        ConditionStatus::Unknown.because(
            "Previewing",
            format!(
                "{} of {} previewed",
                c.previewed,
                count(governed, "governed namespace")
            ),
        )
    } else {
        ConditionStatus::True.because(
            "NoRejections",
            format!(
                "enforcing would reject no existing pod in {}",
                count(governed, "namespace")
            ),
        )
    }
}

/// `StillEnforced` (Audit mode): whether what Enforce mode left still acts somewhere.
fn still_enforced(c: &Counts, entries: &[NamespaceStatus]) -> Judged {
    if c.enforced_namespaces > 0 {
        let first = entries
            .iter()
            .find(|e| !e.enforced.is_empty())
            .map(|e| format!("{}: {}", e.name, e.enforced.join(", ")))
            .unwrap_or_default();
        ConditionStatus::True.because(
            "LeftByEnforceMode",
            format!(
                "{} {} what Enforce mode left (Audit mode neither repairs nor removes it); first: {first}",
                count(c.enforced_namespaces, "namespace"),
                agree(c.enforced_namespaces, "still enforces", "still enforce"),
            ),
        )
    } else {
        ConditionStatus::False.because(
            "NothingEnforced",
            "no governed namespace enforces anything of this profile: its admission rules only warn and audit",
        )
    }
}

/// `GuardrailsEnforced`: whether the API server denies what `spec.guardrails` forbids
/// (the policy and binding as rendered, in Enforce mode).
fn guardrails_enforced(g: &GuardrailsStatus, audit: bool) -> Judged {
    let actions = g.validation_actions.join(", ");
    match g.state {
        NamespaceState::InSync if !audit => ConditionStatus::True.because(
            "Enforced",
            format!("ValidatingAdmissionPolicy {} bound with [{actions}]", g.policy),
        ),
        NamespaceState::InSync => ConditionStatus::False.because(
            "AuditOnly",
            format!(
                "ValidatingAdmissionPolicy {} bound with [{actions}]: violations are warned about and audited, not denied",
                g.policy
            ),
        ),
        NamespaceState::Drifted => ConditionStatus::False.because(
            "Drifted",
            format!(
                "the ValidatingAdmissionPolicy or binding {} differs from the profile; first: {}",
                g.policy,
                g.drift
                    .first()
                    .map(|d| format!("{} {}", d.kind, d.field))
                    .unwrap_or_default()
            ),
        ),
        NamespaceState::Failed => ConditionStatus::False.because(
            "GuardrailsFailed",
            g.message.clone().unwrap_or_default(),
        ),
        NamespaceState::Pending | NamespaceState::Conflict => ConditionStatus::False.because(
            "Pending",
            "the ValidatingAdmissionPolicy and binding are not applied yet",
        ),
    }
}
