//! The compliance report (`hardening-operator report`): for every BSI SYS.1.6 requirement
//! (A1-A27, as in docs/requirements.md) whether the namespaces the profiles govern meet it,
//! per profile and per namespace, computed without I/O from the live profiles (spec and
//! status) and namespaces. What a profile covers and what the cluster withdraws is the
//! status's own judgement ([`crate::core::status::requirement_findings`]); which profile governs
//! a namespace is the controller's ([`crate::core::api::selection`], [`crate::core::api::winner`]).
//! [`markdown`] and [`html`] write it.

mod html;
mod markdown;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;

use crate::core::api::{HardeningProfile, Mode, NamespaceState, NamespaceStatus};
use crate::core::api::{SYSTEM_NAMESPACES, Selection, selection};
use crate::core::status::{ComplianceFacts, READY, requirement_findings};

pub use html::html;
pub use markdown::markdown;

/// Who can meet a requirement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The operator has an answer (what it generates or checks).
    Operator(&'static str),
    /// Organisational or host-level: outside what an operator can enforce.
    Organisational,
}

/// One requirement of BSI SYS.1.6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub id: &'static str,
    /// MUST, SHOULD or elevated; empty where docs/requirements.md names none.
    pub level: &'static str,
    /// The requirement, paraphrased (docs/requirements.md).
    pub text: &'static str,
    pub scope: Scope,
}

const fn operator(
    id: &'static str,
    level: &'static str,
    text: &'static str,
    answer: &'static str,
) -> Requirement {
    Requirement {
        id,
        level,
        text,
        scope: Scope::Operator(answer),
    }
}

const fn organisational(id: &'static str) -> Requirement {
    Requirement {
        id,
        level: "",
        text: "organisational or host-level requirement",
        scope: Scope::Organisational,
    }
}

/// A1-A27 in the module's order, as docs/requirements.md states them.
pub const REQUIREMENTS: [Requirement; 27] = [
    organisational("A1"),
    organisational("A2"),
    organisational("A3"),
    operator(
        "A4",
        "MUST",
        "software inside containers is hardened; nothing unneeded",
        "seccomp/AppArmor profiles restrict what the software may do",
    ),
    organisational("A5"),
    organisational("A6"),
    operator(
        "A7",
        "MUST",
        "images only from trusted registries, unmodified, no known vulnerabilities",
        "admission rule: image registry allow-list",
    ),
    operator(
        "A8",
        "MUST",
        "credentials stored so only authorised parties can read them",
        "audit: no secrets in env literals (report only)",
    ),
    operator(
        "A9",
        "MUST",
        "networks separated; only ports needed for operation exposed",
        "NetworkPolicies: default-deny ingress+egress, explicit allow-lists, DNS",
    ),
    operator(
        "A10",
        "MUST",
        "containers see only the volumes they need; read-only where writes are not needed",
        "PodSecurity restricted (no hostPath), admission: readOnlyRootFilesystem, no container-runtime socket mounts",
    ),
    operator(
        "A11",
        "MUST",
        "no administrative remote access into containers",
        "report/deny interactive exec where the profile says so",
    ),
    organisational("A12"),
    operator(
        "A13",
        "SHOULD",
        "rebuild and redeploy when security updates appear",
        "admission/audit: no :latest or tag-less images, pinned digests preferred",
    ),
    organisational("A14"),
    organisational("A15"),
    operator(
        "A16",
        "SHOULD",
        "application accounts have no rights on the host",
        "PodSecurity restricted: no host namespaces, no privileged",
    ),
    operator(
        "A17",
        "SHOULD",
        "services run under an unprivileged account",
        "PodSecurity restricted: runAsNonRoot, allowPrivilegeEscalation=false",
    ),
    operator(
        "A18",
        "SHOULD",
        "one service per container",
        "audit: report containers exposing several services",
    ),
    organisational("A19"),
    operator(
        "A20",
        "elevated",
        "CPU, memory, storage limited per container (availability)",
        "ResourceQuota per namespace + LimitRange defaults/maxima per container",
    ),
    operator(
        "A21",
        "elevated",
        "automated audit of container settings against an allow-list; only checked containers in production",
        "drift + compliance report in the profile's status",
    ),
    operator(
        "A22",
        "elevated",
        "images only from the organisation's own registry, technically enforced",
        "admission rule: registry allow-list (strict)",
    ),
    operator(
        "A23",
        "elevated",
        "containers start with reduced rights",
        "drop ALL capabilities (PodSecurity restricted), seccomp RuntimeDefault or stricter",
    ),
    operator(
        "A24",
        "elevated",
        "extended policies restrict network connections, filesystem access and syscalls",
        "NetworkPolicies + AppArmor (filesystem) + seccomp (syscalls)",
    ),
    operator(
        "A25",
        "elevated",
        "behaviour of containers monitored, deviations reported",
        "drift reporting; runtime intrusion detection itself is out of scope",
    ),
    operator(
        "A26",
        "elevated",
        "high availability: restart on surviving nodes",
        "the operator itself runs with leader election, several replicas",
    ),
    organisational("A27"),
];

/// Requirements met by reporting itself (drift and compliance reporting): they hold in a
/// namespace whatever its state, since its deviations are reported.
const REPORTING: [&str; 2] = ["A21", "A25"];

/// How far the governed namespaces meet a requirement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Coverage {
    /// Met in every governed namespace.
    Covered,
    /// Met in some governed namespaces, or not in all.
    Partly,
    /// Met in no governed namespace.
    NotCovered,
    /// Organisational or host-level.
    OutOfScope,
}

impl Coverage {
    pub fn label(self) -> &'static str {
        match self {
            Self::Covered => "covered",
            Self::Partly => "partly covered",
            Self::NotCovered => "not covered",
            Self::OutOfScope => "not covered (organisational or host-level)",
        }
    }

    /// A stable token (HTML class, test).
    pub fn token(self) -> &'static str {
        match self {
            Self::Covered => "covered",
            Self::Partly => "partly",
            Self::NotCovered => "not-covered",
            Self::OutOfScope => "out-of-scope",
        }
    }
}

/// One requirement over every governed namespace.
#[derive(Clone, Debug, PartialEq)]
pub struct RequirementRow {
    pub requirement: Requirement,
    pub coverage: Coverage,
    /// Governed namespaces meeting it.
    pub meeting: usize,
    /// Profiles meeting it in at least one namespace.
    pub profiles: Vec<String>,
    /// What is missing where it is not met: one line per cause, with its namespaces.
    pub missing: Vec<String>,
}

/// A governed namespace.
#[derive(Clone, Debug, PartialEq)]
pub struct NamespaceRow {
    pub name: String,
    pub profile: String,
    /// `InSync`, `Drifted`, `Failed`, `Pending`, or `Unknown` (not listed in a status that
    /// lists only part of its namespaces).
    pub state: String,
    /// The status's reason and message for a namespace not in sync.
    pub detail: Option<String>,
    /// Requirements met here.
    pub meeting: Vec<&'static str>,
    /// Requirements the profile covers that are not met here, and why.
    pub withdrawn: Vec<(&'static str, String)>,
}

/// One profile.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileRow {
    pub name: String,
    pub mode: Mode,
    /// The `Ready` condition: status and reason; `None` before the first status.
    pub ready: Option<(String, String)>,
    pub selected: u32,
    pub in_sync: u32,
    pub drifted: u32,
    pub failed: u32,
    pub conflicting: u32,
    /// Selected but neither in sync, drifted, failed nor conflicting.
    pub pending: u32,
    pub repairs_total: u64,
    /// Requirements its spec covers, and why one is withdrawn profile-wide (as its status).
    pub covers: Vec<(&'static str, Option<String>)>,
    /// Namespaces it governs.
    pub namespaces: usize,
    /// How the nodes compare with its `nodeBaseline` (as its status says), if it has one.
    pub node_baseline: Option<crate::core::api::NodeBaselineStatus>,
}

impl ProfileRow {
    /// The node baseline in words: `2 of 3 nodes fall short: node-a: seccompDefault is
    /// false; node-b: ...`.
    pub fn nodes_text(&self) -> Option<String> {
        let nodes = self.node_baseline.as_ref()?;
        let mut text = format!(
            "{} of {} fall short",
            nodes.short,
            crate::core::plural::count(nodes.nodes, "node")
        );
        for f in &nodes.failing {
            text.push_str(&format!("; {}: {}", f.node, f.missing));
        }
        if nodes.short as usize > nodes.failing.len() {
            text.push_str(&format!(
                "; and {} more",
                crate::core::plural::count(nodes.short - nodes.failing.len() as u32, "node")
            ));
        }
        Some(text)
    }
}

/// The whole report.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub generated_at: String,
    pub requirements: Vec<RequirementRow>,
    pub profiles: Vec<ProfileRow>,
    pub namespaces: Vec<NamespaceRow>,
    /// Namespaces no profile selects (system and excluded namespaces aside): not counted.
    pub ungoverned: Vec<String>,
}

/// At most this many namespaces are named on one line of `missing`.
const NAMED_PER_CAUSE: usize = 5;

/// The report for `profiles` over `namespaces`, with the operator's exclusions.
pub fn build(
    profiles: &[HardeningProfile],
    namespaces: &[Namespace],
    excluded: &BTreeSet<String>,
    generated_at: String,
) -> Report {
    let live: Vec<&HardeningProfile> = profiles
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    let mut rows = Vec::new();
    let mut ungoverned = Vec::new();
    for namespace in namespaces {
        let name = namespace.name_any();
        // What the operator leaves alone whatever the profiles say is not counted.
        if namespace.metadata.deletion_timestamp.is_some()
            || SYSTEM_NAMESPACES.contains(&name.as_str())
            || excluded.contains(&name)
        {
            continue;
        }
        let selecting = live
            .iter()
            .copied()
            .filter(|p| selection(&p.spec, namespace, excluded) == Selection::Selected);
        match crate::core::api::winner(selecting) {
            Some(profile) => rows.push(namespace_row(profile, &name)),
            None => ungoverned.push(name),
        }
    }
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    ungoverned.sort();

    let profile_rows = live
        .iter()
        .map(|p| profile_row(p, rows.iter().filter(|r| r.profile == p.name_any()).count()))
        .collect();
    let requirements = REQUIREMENTS
        .iter()
        .map(|r| requirement_row(*r, &rows, &live))
        .collect();
    Report {
        generated_at,
        requirements,
        profiles: profile_rows,
        namespaces: rows,
        ungoverned,
    }
}

/// `namespace` as its governing `profile`'s status reports it.
fn namespace_row(profile: &HardeningProfile, namespace: &str) -> NamespaceRow {
    let status = profile.status.as_ref();
    let current = status.is_some_and(|s| s.observed_generation == profile.metadata.generation);
    let entry: Option<&NamespaceStatus> =
        status.and_then(|s| s.namespaces.iter().find(|n| n.name == namespace));
    let state = match (current, entry) {
        (false, _) => "Pending".to_owned(),
        (true, Some(entry)) => format!("{:?}", entry.state),
        // Only namespaces not in sync (or with tenant findings) are listed; when the list
        // is cut, an unlisted one may be either.
        (true, None) if status.is_some_and(|s| s.unlisted_namespaces > 0) => "Unknown".to_owned(),
        (true, None) => format!("{:?}", NamespaceState::InSync),
    };
    let detail = entry.and_then(|e| {
        let text: Vec<&str> = e
            .reason
            .as_deref()
            .into_iter()
            .chain(e.message.as_deref())
            .collect();
        (!text.is_empty()).then(|| text.join(": "))
    });
    let facts = ComplianceFacts {
        confinement_reported: status.is_some_and(|s| s.unconfined_pods.is_some()),
        unconfined_pods: entry.map_or(0, |e| e.unconfined_pods),
        widening_policies: entry.map_or(0, |e| e.widening_policies),
        guardrails_enforced: status
            .is_some_and(|s| ComplianceFacts::of_status(s).guardrails_enforced),
        vulnerable_workloads: entry.map_or(0, |e| e.vulnerable_workloads),
    };
    let in_sync = state == "InSync";
    let mut meeting = Vec::new();
    let mut withdrawn = Vec::new();
    for finding in requirement_findings(&profile.spec, facts) {
        let why = if in_sync || REPORTING.contains(&finding.id) {
            finding.withdrawn
        } else {
            Some(match state.as_str() {
                "Pending" => "not reconciled at the profile's current generation yet".to_owned(),
                "Unknown" => "not listed in the profile's status (its list is cut)".to_owned(),
                other => format!("the namespace is {other}"),
            })
        };
        match why {
            None => meeting.push(finding.id),
            Some(why) => withdrawn.push((finding.id, why)),
        }
    }
    NamespaceRow {
        name: namespace.to_owned(),
        profile: profile.name_any(),
        state,
        detail,
        meeting,
        withdrawn,
    }
}

fn profile_row(profile: &HardeningProfile, namespaces: usize) -> ProfileRow {
    let status = profile.status.clone().unwrap_or_default();
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == READY)
        .map(|c| (c.status.clone(), c.reason.clone()));
    let accounted = status.in_sync_namespaces
        + status.drifted_namespaces
        + status.failed_namespaces
        + status.conflicting_namespaces;
    ProfileRow {
        name: profile.name_any(),
        mode: profile.spec.mode,
        ready,
        selected: status.selected_namespaces,
        in_sync: status.in_sync_namespaces,
        drifted: status.drifted_namespaces,
        failed: status.failed_namespaces,
        conflicting: status.conflicting_namespaces,
        pending: status.selected_namespaces.saturating_sub(accounted),
        repairs_total: status.repairs_total,
        covers: requirement_findings(&profile.spec, ComplianceFacts::of_status(&status))
            .into_iter()
            .map(|f| (f.id, f.withdrawn))
            .collect(),
        namespaces,
        node_baseline: status.node_baseline.clone(),
    }
}

fn requirement_row(
    requirement: Requirement,
    rows: &[NamespaceRow],
    profiles: &[&HardeningProfile],
) -> RequirementRow {
    let Scope::Operator(answer) = requirement.scope else {
        return RequirementRow {
            requirement,
            coverage: Coverage::OutOfScope,
            meeting: 0,
            profiles: Vec::new(),
            missing: vec![
                "organisational or host-level: the operator cannot enforce it".to_owned(),
            ],
        };
    };
    let id = requirement.id;
    let meeting: Vec<&NamespaceRow> = rows.iter().filter(|r| r.meeting.contains(&id)).collect();
    let holding: BTreeSet<String> = meeting.iter().map(|r| r.profile.clone()).collect();
    // Causes, each with the namespaces it applies to.
    let mut causes: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for row in rows.iter().filter(|r| !r.meeting.contains(&id)) {
        let cause = match row.withdrawn.iter().find(|(w, _)| *w == id) {
            Some((_, why)) => format!("profile {}: {why}", row.profile),
            None => format!("profile {} does not cover it ({answer})", row.profile),
        };
        causes.entry(cause).or_default().push(&row.name);
    }
    let mut missing: Vec<String> = causes
        .into_iter()
        .map(|(cause, namespaces)| {
            let named: Vec<&str> = namespaces.iter().take(NAMED_PER_CAUSE).copied().collect();
            let more = namespaces.len() - named.len();
            let tail = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            format!(
                "{cause}: {} ({}{tail})",
                crate::core::plural::count(namespaces.len(), "namespace"),
                named.join(", ")
            )
        })
        .collect();
    if rows.is_empty() {
        missing.push(if profiles.is_empty() {
            format!("no HardeningProfile ({answer})")
        } else {
            format!("no profile governs any namespace ({answer})")
        });
    }
    let coverage = if rows.is_empty() || meeting.is_empty() {
        Coverage::NotCovered
    } else if meeting.len() == rows.len() {
        Coverage::Covered
    } else {
        Coverage::Partly
    };
    RequirementRow {
        requirement,
        coverage,
        meeting: meeting.len(),
        profiles: holding.into_iter().collect(),
        missing,
    }
}

impl Report {
    /// Requirements by coverage: (covered, partly, not covered, out of scope).
    pub fn totals(&self) -> [usize; 4] {
        let mut totals = [0; 4];
        for row in &self.requirements {
            totals[row.coverage as usize] += 1;
        }
        totals
    }
}
