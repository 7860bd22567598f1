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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use k8s_openapi::api::core::v1::Namespace;
    use serde_json::{Value, json};

    use super::*;
    use crate::core::compliance::{NamespaceFacts, ProfileFacts, assess_profile};
    use crate::fixtures::profile;

    fn namespace(name: &str, tier: &str) -> Namespace {
        serde_json::from_value(json!({
            "metadata": { "name": name, "labels": { "tier": tier } }
        }))
        .unwrap()
    }

    fn strict_spec() -> Value {
        json!({
            "namespaceSelector": { "matchLabels": { "tier": "strict" } },
            "podSecurity": { "enforce": { "level": "restricted" } },
            "networkPolicy": { "defaultDeny": ["Ingress", "Egress"] },
            "limitRange": { "limits": [{ "type": "Container", "default": { "cpu": "1", "memory": "1Gi" } }] }
        })
    }

    /// A status as the operator writes it: its compliance computed by the one function, over
    /// `namespaces` in the given states.
    fn status(spec: &Value, namespaces: &[(&str, NamespaceState)], listed: Value) -> Value {
        let spec: crate::core::api::HardeningProfileSpec =
            serde_json::from_value(spec.clone()).unwrap();
        let facts = ProfileFacts {
            pods_watched: true,
            guardrails_enforced: false,
            images_scanned: false,
        };
        let empty = crate::core::preview::NamespacePreview::default();
        let compliance = assess_profile(
            &spec,
            &facts,
            namespaces.iter().map(|(name, state)| NamespaceFacts {
                exceptions: Vec::new(),
                name,
                state: *state,
                message: None,
                drift: &[],
                unconfined: None,
                widening: Some(&[]),
                running: Some(&empty),
                vulnerable: None,
            }),
        );
        json!({
            "observedGeneration": 1,
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "InSync", "message": "",
                "lastTransitionTime": "2026-12-01T00:00:00Z"
            }],
            "selectedNamespaces": namespaces.len(),
            "inSyncNamespaces": namespaces.iter().filter(|(_, s)| *s == NamespaceState::InSync).count(),
            "namespaces": listed,
            "repairsTotal": 3,
            "compliance": compliance,
        })
    }

    fn row<'a>(report: &'a Report, id: &str) -> &'a RequirementRow {
        report
            .requirements
            .iter()
            .find(|r| r.requirement.id == id)
            .unwrap()
    }

    fn build_of(profiles: &[HardeningProfile], namespaces: &[Namespace]) -> Report {
        build(
            profiles,
            namespaces,
            &BTreeSet::new(),
            ClusterIdentity {
                server: "https://127.0.0.1:6443".into(),
                context: Some("test".into()),
                uid: Some("0b5c5f4e-0000-4000-8000-000000000001".into()),
                version: Some("v1.36.2".into()),
            },
            "2026-12-01T12:00:00Z".into(),
        )
    }

    #[test]
    fn every_requirement_once_in_order_and_nothing_claimed_without_a_profile() {
        let report = build_of(&[], &[]);
        let ids: Vec<&str> = report
            .requirements
            .iter()
            .map(|r| r.requirement.id)
            .collect();
        let expected: Vec<&str> = crate::core::compliance::REQUIREMENTS
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, expected);
        for row in &report.requirements {
            let expected = if row.requirement.assessed() {
                Verdict::NotMet
            } else {
                Verdict::Organisational
            };
            assert_eq!(row.verdict, expected, "{}", row.requirement.id);
        }
        assert_eq!(report.totals(), [0, 0, 20, 27, 0]);
        let summary = report.summary();
        assert_eq!(summary.len(), 6);
        let basic = summary[0];
        assert_eq!(
            (basic.catalogue.module, basic.level),
            ("SYS.1.6", Level::Basic)
        );
        assert_eq!(basic.counts.iter().sum::<usize>(), 8);
    }

    #[test]
    fn the_report_takes_each_profile_s_verdicts_from_its_current_status() {
        let strict = profile("strict")
        .generation(1)
        .spec(strict_spec())
        .status(status(
            &strict_spec(),
            &[("a", NamespaceState::InSync), ("b", NamespaceState::Drifted)],
            json!([{ "name": "b", "state": "Drifted", "reason": "Drifted", "message": "ResourceQuota hardening-quota changed" }]),
        ))
        .build();
        let audit_spec = json!({ "namespaceSelector": { "matchLabels": { "tier": "audit" } }, "mode": "Audit",
        "podSecurity": { "enforce": { "level": "restricted" } } });
        let audit = profile("audit")
            .generation(1)
            .spec(audit_spec.clone())
            .status(status(
                &audit_spec,
                &[("c", NamespaceState::InSync)],
                json!([]),
            ))
            .build();
        // A profile whose status describes an older generation: nothing claimed.
        let stale = profile("stale")
            .generation(2)
            .spec(
                json!({ "namespaceSelector": { "matchLabels": { "tier": "stale" } },
            "podSecurity": { "enforce": { "level": "restricted" } } }),
            )
            .status(status(
                &strict_spec(),
                &[("d", NamespaceState::InSync)],
                json!([]),
            ))
            .build();
        let namespaces = [
            namespace("a", "strict"),
            namespace("b", "strict"),
            namespace("c", "audit"),
            namespace("d", "stale"),
            namespace("e-nobody", "none"),
            namespace("kube-system", "strict"),
        ];
        let report = build_of(&[strict.clone(), audit.clone(), stale.clone()], &namespaces);
        assert_eq!(report.ungoverned, ["e-nobody"]);
        let states: Vec<(&str, &str)> = report
            .namespaces
            .iter()
            .map(|n| (n.name.as_str(), n.state.as_str()))
            .collect();
        assert_eq!(
            states,
            [
                ("a", "InSync"),
                ("b", "Drifted"),
                ("c", "InSync"),
                ("d", "Pending")
            ]
        );
        // Per profile: exactly its status's verdicts, or nothing claimed for an older generation.
        let p = |name: &str| report.profiles.iter().find(|p| p.name == name).unwrap();
        assert_eq!(
            p("strict").compliance,
            strict.status.as_ref().unwrap().compliance
        );
        assert!(p("strict").current && !p("stale").current);
        assert!(
            p("stale")
                .compliance
                .iter()
                .filter(|e| e.verdict != Verdict::Organisational)
                .all(|e| e.verdict == Verdict::NotMet && e.reason.contains("generation 2"))
        );
        // Over the cluster: the worst profile decides, and says which.
        let a17 = row(&report, "SYS.1.6.A17");
        assert_eq!(a17.verdict, Verdict::NotMet);
        assert!(
            a17.reason.starts_with("profile stale: not assessed"),
            "{}",
            a17.reason
        );
        assert_eq!(a17.profiles.len(), 3);
        assert_eq!(row(&report, "SYS.1.6.A1").verdict, Verdict::Organisational);
        let md = markdown(&report);
        assert!(
            md.contains(
                "| SYS.1.6.A17 | Running Containers Without Privileges | S | **NOT MET** |"
            ),
            "{md}"
        );
        assert!(md.contains(
        "- Cluster identity (uid of namespace kube-system): 0b5c5f4e-0000-4000-8000-000000000001"
    ));
        assert!(md.contains(
        "Catalogue: BSI IT-Grundschutz SYS.1.6 Containerisierung (Containerisation), edition 2023"
    ));
    }

    #[test]
    fn markdown_html_and_oscal_have_every_requirement_and_the_html_no_external_asset() {
        let strict = profile("strict<&>")
            .generation(1)
            .spec(strict_spec())
            .status(status(
                &strict_spec(),
                &[("a", NamespaceState::InSync)],
                json!([]),
            ))
            .build();
        let report = build_of(&[strict], &[namespace("a", "strict")]);
        let md = markdown(&report);
        for r in &crate::core::compliance::REQUIREMENTS {
            assert_eq!(
                md.lines()
                    .filter(|l| l.starts_with(&format!("| {} | {} |", r.id, r.title)))
                    .count(),
                1,
                "{}",
                r.id
            );
        }
        let page = html(&report);
        for row in &report.requirements {
            let id = row.requirement.id;
            assert_eq!(
                page.matches(&format!("<tr id=\"req-{id}\"")).count(),
                1,
                "{id}"
            );
            assert!(page.contains(&format!(
                "data-verdict=\"{}\"><td>{id}</td>",
                token(row.verdict)
            )));
        }
        for external in ["src=", "href=", "url(", "@import", "<script", "<link"] {
            assert!(!page.contains(external), "{external} in the page");
        }
        assert!(page.contains("<svg id=\"verdict-chart\""));
        assert!(page.contains("<svg id=\"drift-chart\""));
        assert!(page.contains("<section class=\"organisational\">"));
        // Names are escaped.
        assert!(page.contains("strict&lt;&amp;&gt;"));
        assert!(!page.contains("strict<&>"));

        let ar = oscal::assessment_results(&report);
        let result = &ar["assessment-results"]["results"][0];
        let findings = result["findings"].as_array().unwrap();
        assert_eq!(findings.len(), 20);
        let a21 = findings
            .iter()
            .find(|f| f["target"]["target-id"] == "SYS.1.6.A21")
            .unwrap();
        assert_eq!(a21["target"]["status"]["state"], "not-satisfied");
        assert_eq!(
            result["reviewed-controls"]["control-selections"][0]["exclude-controls"]
                .as_array()
                .unwrap()
                .len(),
            27
        );
        // The same report gives the same document.
        assert_eq!(ar, oscal::assessment_results(&report));
        let uuid = ar["assessment-results"]["uuid"].as_str().unwrap();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "5");
        let cd = oscal::component_definition("2026-12-01T12:00:00Z");
        let implementations =
            cd["component-definition"]["components"][0]["control-implementations"]
                .as_array()
                .unwrap();
        assert_eq!(implementations.len(), 2);
        let implemented: usize = implementations
            .iter()
            .map(|i| i["implemented-requirements"].as_array().unwrap().len())
            .sum();
        assert_eq!(implemented, 20);
    }
}
