//! The compliance report (`hardening-operator report`): for every requirement of BSI
//! IT-Grundschutz SYS.1.6 "Containerisierung" and APP.4.4 "Kubernetes" (edition 2023), the
//! verdict over the namespaces the profiles govern, per profile and over the cluster,
//! computed without I/O from the live profiles (spec and status) and namespaces. A profile's
//! verdicts are its status's `compliance` (from [`crate::core::compliance`], the function the
//! policy reports use too) when the status describes the profile's current generation;
//! otherwise nothing is claimed for it. Which profile governs a namespace is the
//! controller's choice ([`crate::core::api::selection`], [`crate::core::api::winner`]).
//! [`markdown`], [`html`] and [`oscal`] write it.

mod html;
mod markdown;
pub mod oscal;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;

use crate::core::api::{
    HardeningProfile, Mode, NamespaceState, RequirementStatus, SYSTEM_NAMESPACES, Selection,
    Verdict, selection,
};
use crate::core::compliance::{
    CATALOGUES, Catalogue, Level, REQUIREMENTS, Requirement, Scope, status_entry,
};
use crate::core::status::READY;

pub use html::html;
pub use markdown::markdown;

/// Which cluster the report is of.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterIdentity {
    /// The API server's URL, as the kubeconfig names it.
    pub server: String,
    /// The kubeconfig context, if one was used.
    pub context: Option<String>,
    /// The uid of the `kube-system` namespace: stable for the cluster's lifetime.
    pub uid: Option<String>,
    /// The API server's version (`gitVersion`).
    pub version: Option<String>,
}

/// One requirement over the cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct RequirementRow {
    pub requirement: &'static Requirement,
    /// The worst verdict of the profiles governing a namespace in the report.
    pub verdict: Verdict,
    pub reason: String,
    /// Per profile governing a namespace in the report: its verdict, as its status has it.
    pub profiles: Vec<(String, RequirementStatus)>,
}

/// A governed namespace.
#[derive(Clone, Debug, PartialEq)]
pub struct NamespaceRow {
    pub name: String,
    pub profile: String,
    /// `InSync`, `Drifted`, `Failed`, `Pending` (as the profile's status lists it, or not
    /// described at its generation yet), or `InSync or unlisted` (a status that cut its list).
    pub state: String,
    /// The status's reason and message for a namespace not in sync.
    pub detail: Option<String>,
}

/// One profile.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileRow {
    pub name: String,
    pub mode: Mode,
    /// The `Ready` condition: status and reason; `None` before the first status.
    pub ready: Option<(String, String)>,
    /// The status describes the profile's current generation.
    pub current: bool,
    pub selected: u32,
    pub in_sync: u32,
    pub drifted: u32,
    pub failed: u32,
    pub conflicting: u32,
    pub pending: u32,
    pub repairs_total: u64,
    /// Namespaces it governs among those in the report.
    pub namespaces: usize,
    /// Its verdicts, one per requirement in catalogue order.
    pub compliance: Vec<RequirementStatus>,
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
    pub cluster: ClusterIdentity,
    pub generated_at: String,
    pub requirements: Vec<RequirementRow>,
    pub profiles: Vec<ProfileRow>,
    pub namespaces: Vec<NamespaceRow>,
    /// Namespaces no profile selects (system and excluded namespaces aside): not counted.
    pub ungoverned: Vec<String>,
}

/// One accepted deviation of the report: a requirement, the profile whose exception it is,
/// and the deviation (exception, what it suspends, namespaces, owner, expiry, reason).
#[derive(Clone, Debug, PartialEq)]
pub struct DeviationRow<'a> {
    pub requirement: &'static Requirement,
    pub profile: &'a str,
    pub deviation: &'a crate::core::api::AcceptedDeviation,
}

impl Report {
    /// Every accepted deviation, by requirement in catalogue order, then profile.
    pub fn deviations(&self) -> Vec<DeviationRow<'_>> {
        self.requirements
            .iter()
            .flat_map(|row| {
                row.profiles.iter().flat_map(move |(profile, entry)| {
                    entry.accepted_deviations.iter().map(move |d| DeviationRow {
                        requirement: row.requirement,
                        profile,
                        deviation: d,
                    })
                })
            })
            .collect()
    }
}

/// Verdict counts of one catalogue's requirements of one level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelSummary {
    pub catalogue: &'static Catalogue,
    pub level: Level,
    /// Met, Partial, NotMet, Organisational, NotApplicable.
    pub counts: [usize; 5],
}

fn index(verdict: Verdict) -> usize {
    match verdict {
        Verdict::Met => 0,
        Verdict::Partial => 1,
        Verdict::NotMet => 2,
        Verdict::Organisational => 3,
        Verdict::NotApplicable => 4,
    }
}

/// The report for `profiles` over `namespaces`, with the operator's exclusions.
pub fn build(
    profiles: &[HardeningProfile],
    namespaces: &[Namespace],
    excluded: &BTreeSet<String>,
    cluster: ClusterIdentity,
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

    let profile_rows: Vec<ProfileRow> = live
        .iter()
        .map(|p| profile_row(p, rows.iter().filter(|r| r.profile == p.name_any()).count()))
        .collect();
    let requirements = REQUIREMENTS
        .iter()
        .enumerate()
        .map(|(i, r)| requirement_row(r, i, &profile_rows, live.is_empty()))
        .collect();
    Report {
        cluster,
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
    let entry = status.and_then(|s| s.namespaces.iter().find(|n| n.name == namespace));
    let state = match (current, entry) {
        (false, _) => "Pending".to_owned(),
        (true, Some(entry)) => format!("{:?}", entry.state),
        // Only namespaces not in sync (or with findings) are listed; when the list is cut,
        // an unlisted one may be either.
        (true, None) if status.is_some_and(|s| s.unlisted_namespaces > 0) => {
            "InSync or unlisted".to_owned()
        }
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
    NamespaceRow {
        name: namespace.to_owned(),
        profile: profile.name_any(),
        state,
        detail,
    }
}

/// The profile's verdicts: its status's, when the status describes its current generation
/// and holds them; else nothing is claimed.
pub fn profile_verdicts(profile: &HardeningProfile) -> (bool, Vec<RequirementStatus>) {
    let status = profile.status.as_ref();
    let current = status.is_some_and(|s| {
        s.observed_generation.is_some() && s.observed_generation == profile.metadata.generation
    });
    if let Some(s) = status.filter(|s| current && s.compliance.len() == REQUIREMENTS.len()) {
        return (true, s.compliance.clone());
    }
    let why = format!(
        "not assessed: the profile's status does not describe generation {} yet",
        profile.metadata.generation.unwrap_or_default()
    );
    let entries = REQUIREMENTS
        .iter()
        .map(|r| match r.scope {
            Scope::Organisational(reason) => status_entry(
                r,
                Verdict::Organisational,
                reason.to_owned(),
                None,
                Vec::new(),
            ),
            Scope::Assessed => status_entry(r, Verdict::NotMet, why.clone(), None, Vec::new()),
        })
        .collect();
    (current, entries)
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
    let (current, compliance) = profile_verdicts(profile);
    ProfileRow {
        name: profile.name_any(),
        mode: profile.spec.mode,
        ready,
        current,
        selected: status.selected_namespaces,
        in_sync: status.in_sync_namespaces,
        drifted: status.drifted_namespaces,
        failed: status.failed_namespaces,
        conflicting: status.conflicting_namespaces,
        pending: status.selected_namespaces.saturating_sub(accounted),
        repairs_total: status.repairs_total,
        namespaces,
        compliance,
        node_baseline: status.node_baseline.clone(),
    }
}

fn requirement_row(
    requirement: &'static Requirement,
    index: usize,
    profiles: &[ProfileRow],
    no_profiles: bool,
) -> RequirementRow {
    let governing: Vec<(String, RequirementStatus)> = profiles
        .iter()
        .filter(|p| p.namespaces > 0)
        .filter_map(|p| p.compliance.get(index).map(|e| (p.name.clone(), e.clone())))
        .collect();
    if let Scope::Organisational(why) = requirement.scope {
        return RequirementRow {
            requirement,
            verdict: Verdict::Organisational,
            reason: why.to_owned(),
            profiles: governing,
        };
    }
    let judged: Vec<&(String, RequirementStatus)> = governing
        .iter()
        .filter(|(_, e)| e.verdict != Verdict::NotApplicable)
        .collect();
    let worst = judged
        .iter()
        .max_by_key(|(_, e)| e.verdict.severity())
        .copied();
    let (verdict, reason) = match worst {
        None if no_profiles => (Verdict::NotMet, "no HardeningProfile".to_owned()),
        None => (
            Verdict::NotMet,
            "no profile governs a namespace in the report".to_owned(),
        ),
        Some((_, e)) if judged.len() == 1 => (e.verdict, e.reason.clone()),
        Some((name, e)) => {
            let with = judged
                .iter()
                .filter(|(_, o)| o.verdict == e.verdict)
                .count();
            (
                e.verdict,
                format!(
                    "profile {name}: {} ({with} of {} profiles)",
                    e.reason,
                    judged.len()
                ),
            )
        }
    };
    RequirementRow {
        requirement,
        verdict,
        reason,
        profiles: governing,
    }
}

impl Report {
    /// Per catalogue and level: the cluster's verdicts counted.
    pub fn summary(&self) -> Vec<LevelSummary> {
        let mut out = Vec::new();
        for catalogue in CATALOGUES {
            for level in Level::ALL {
                let mut counts = [0; 5];
                for row in self.requirements.iter().filter(|r| {
                    std::ptr::eq(r.requirement.catalogue, catalogue) && r.requirement.level == level
                }) {
                    counts[index(row.verdict)] += 1;
                }
                out.push(LevelSummary {
                    catalogue,
                    level,
                    counts,
                });
            }
        }
        out
    }

    /// The cluster's verdicts counted: Met, Partial, NotMet, Organisational, NotApplicable.
    pub fn totals(&self) -> [usize; 5] {
        let mut totals = [0; 5];
        for row in &self.requirements {
            totals[index(row.verdict)] += 1;
        }
        totals
    }
}

/// A verdict as a stable token (HTML class, test).
pub fn token(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Met => "met",
        Verdict::Partial => "partial",
        Verdict::NotMet => "not-met",
        Verdict::Organisational => "organisational",
        Verdict::NotApplicable => "not-applicable",
    }
}

/// A verdict as people read it.
pub fn label(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Met => "Met",
        Verdict::Partial => "PARTIAL",
        Verdict::NotMet => "NOT MET",
        Verdict::Organisational => "organisational / not checked",
        Verdict::NotApplicable => "not applicable",
    }
}

/// Evidence as one line: `team-a/NetworkPolicy hardening-default-deny spec.policyTypes: note`.
pub fn evidence_line(e: &crate::core::api::ComplianceEvidence) -> String {
    let mut out = String::new();
    if let Some(ns) = &e.namespace {
        out.push_str(ns);
        out.push('/');
    }
    out.push_str(&e.kind);
    if let Some(name) = &e.name {
        out.push(' ');
        out.push_str(name);
    }
    if let Some(field) = &e.field {
        out.push(' ');
        out.push_str(field);
    }
    out.push_str(": ");
    out.push_str(&e.note);
    out
}
