//! The report in NIST OSCAL (JSON, OSCAL 1.1.2): assessment results of the cluster, and a
//! component definition of what the operator implements. Requirement IDs are the BSI's
//! (`SYS.1.6.A5`, edition 2023) as OSCAL control IDs; each finding carries the Grundschutz++
//! controls the BSI's mapping gives (few: see [`crate::core::compliance::catalogue`]).
//! UUIDs are derived from a seed and a name (SHA-256, laid out as a version 5 UUID), so the
//! same report gives the same document. Validated in the tests with compliance-trestle.

use serde_json::{Value, json};

use super::{Report, evidence_line};
use crate::core::api::Verdict;
use crate::core::compliance::{CATALOGUES, REQUIREMENTS, Requirement, implementation};

/// The OSCAL version the documents follow.
pub const OSCAL_VERSION: &str = "1.1.2";
/// The namespace of the operator's own properties.
pub const NS: &str = "https://hardening.dev/ns/oscal";
/// Where the BSI publishes the IT-Grundschutz-Kompendium.
pub const KOMPENDIUM: &str = "https://www.bsi.bund.de/dok/it-grundschutz-kompendium";

/// A UUID (version 5 layout) from SHA-256 of `seed` and `name`.
pub fn uuid(seed: &str, name: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, format!("{seed}\0{name}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest.as_ref()[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn prop(name: &str, value: &str) -> Value {
    json!({ "name": name, "ns": NS, "value": value })
}

fn gspp_props(r: &Requirement) -> Vec<Value> {
    r.gspp
        .iter()
        .map(|m| {
            json!({ "name": "grundschutz-plus-plus", "ns": NS, "value": m.control,
                    "remarks": format!("{} {} {} (BSI mapping IT-GS2023 to Grundschutz++, draft)", m.source, m.relationship, m.control) })
        })
        .collect()
}

fn requirement_props(r: &Requirement) -> Vec<Value> {
    let mut props = vec![
        prop("catalogue", &r.catalogue.name()),
        prop("edition", r.catalogue.edition),
        prop("level", r.level.letter()),
    ];
    if !r.old.is_empty() {
        props.push(prop("superseded-container-id", r.old));
    }
    props.extend(gspp_props(r));
    props
}

/// The OSCAL timestamp form of `at` (RFC 3339 with a zone), as the report's time is.
fn timestamp(at: &str) -> String {
    at.to_owned()
}

/// OSCAL assessment results of `report`.
pub fn assessment_results(report: &Report) -> Value {
    let seed = format!(
        "{}|{}|{}",
        report
            .cluster
            .uid
            .as_deref()
            .unwrap_or(&report.cluster.server),
        report.generated_at,
        env!("CARGO_PKG_VERSION")
    );
    let at = timestamp(&report.generated_at);
    let plan = uuid(&seed, "assessment-plan");
    let mut observations = Vec::new();
    let mut findings = Vec::new();
    for row in report
        .requirements
        .iter()
        .filter(|r| r.requirement.assessed())
    {
        let r = row.requirement;
        let mut related = Vec::new();
        for (profile, entry) in &row.profiles {
            let id = uuid(&seed, &format!("observation/{}/{profile}", r.id));
            let evidence: Vec<Value> = entry
                .evidence
                .iter()
                .map(|e| json!({ "description": evidence_line(e) }))
                .collect();
            let mut observation = json!({
                "uuid": id,
                "title": format!("{} in the namespaces of HardeningProfile {profile}", r.id),
                "description": format!("{}: {}", entry.verdict.as_str(), entry.reason),
                "props": [prop("profile", profile), prop("verdict", entry.verdict.as_str())],
                "methods": ["TEST"],
                "collected": at,
            });
            if !evidence.is_empty() {
                observation["relevant-evidence"] = Value::Array(evidence);
            }
            observations.push(observation);
            related.push(json!({ "observation-uuid": id }));
        }
        let (state, reason, implementation) = match row.verdict {
            Verdict::Met => ("satisfied", "pass", "implemented"),
            Verdict::Partial => ("not-satisfied", "fail", "partial"),
            _ => ("not-satisfied", "fail", "planned"),
        };
        let mut props = requirement_props(r);
        props.push(prop("verdict", row.verdict.as_str()));
        let mut finding = json!({
            "uuid": uuid(&seed, &format!("finding/{}", r.id)),
            "title": format!("{} {}", r.id, r.title),
            "description": format!("{}: {}", row.verdict.as_str(), row.reason),
            "props": props,
            "target": {
                "type": "objective-id",
                "target-id": r.id,
                "status": { "state": state, "reason": reason },
                "implementation-status": { "state": implementation },
            },
        });
        if !related.is_empty() {
            finding["related-observations"] = Value::Array(related);
        }
        findings.push(finding);
    }
    let assessed: Vec<Value> = REQUIREMENTS
        .iter()
        .filter(|r| r.assessed())
        .map(|r| json!({ "control-id": r.id }))
        .collect();
    let not_assessed: Vec<Value> = REQUIREMENTS
        .iter()
        .filter(|r| !r.assessed())
        .map(|r| json!({ "control-id": r.id }))
        .collect();
    let c = &report.cluster;
    let mut cluster = vec![prop("cluster-server", &c.server)];
    if let Some(uid) = &c.uid {
        cluster.push(prop("cluster-uid", uid));
    }
    if let Some(version) = &c.version {
        cluster.push(prop("kubernetes-version", version));
    }
    if let Some(context) = &c.context {
        cluster.push(prop("kubeconfig-context", context));
    }
    let mut result = json!({
        "uuid": uuid(&seed, "result"),
        "title": format!("hardening-operator assessment of {}", c.server),
        "description": "Every requirement of BSI IT-Grundschutz SYS.1.6 Containerisierung and APP.4.4 Kubernetes (edition 2023) the operator assesses, judged over the namespaces the HardeningProfiles govern (each profile's status.compliance; the worst over the profiles). Organisational requirements and those the operator does not check are excluded from the reviewed controls.",
        "start": at,
        "end": at,
        "props": cluster,
        "reviewed-controls": {
            "control-selections": [{
                "description": "assessed by hardening-operator",
                "include-controls": assessed,
                "exclude-controls": not_assessed,
            }],
        },
    });
    if !observations.is_empty() {
        result["observations"] = Value::Array(observations);
    }
    if !findings.is_empty() {
        result["findings"] = Value::Array(findings);
    }
    json!({
        "assessment-results": {
            "uuid": uuid(&seed, "assessment-results"),
            "metadata": {
                "title": "Compliance of a Kubernetes cluster with BSI IT-Grundschutz SYS.1.6 and APP.4.4 (edition 2023)",
                "last-modified": at,
                "version": env!("CARGO_PKG_VERSION"),
                "oscal-version": OSCAL_VERSION,
            },
            "import-ap": { "href": format!("#{plan}") },
            "results": [result],
            "back-matter": {
                "resources": [{
                    "uuid": plan,
                    "title": "Assessment plan: hardening-operator's automated assessment",
                    "description": "No separate assessment plan: hardening-operator judges each requirement by the conditions its README states per requirement, from the HardeningProfiles and what the cluster shows.",
                    "rlinks": [{ "href": KOMPENDIUM }],
                }],
            },
        }
    })
}

/// An OSCAL component definition: what the operator implements of each requirement, and the
/// best verdict it can reach. `at` is the document's last-modified time.
pub fn component_definition(at: &str) -> Value {
    let seed = format!("hardening-operator {}", env!("CARGO_PKG_VERSION"));
    let implementations: Vec<Value> = CATALOGUES
        .iter()
        .map(|catalogue| {
            let requirements: Vec<Value> = REQUIREMENTS
                .iter()
                .filter(|r| std::ptr::eq(r.catalogue, *catalogue))
                .filter_map(|r| {
                    let (what, best) = implementation(r)?;
                    let mut props = requirement_props(r);
                    props.push(prop("best-verdict", best.as_str()));
                    Some(json!({
                        "uuid": uuid(&seed, &format!("implemented/{}", r.id)),
                        "control-id": r.id,
                        "description": what,
                        "props": props,
                    }))
                })
                .collect();
            json!({
                "uuid": uuid(&seed, &format!("implementation/{}", catalogue.module)),
                "source": KOMPENDIUM,
                "description": format!("{}, edition {} (IT-Grundschutz-Kompendium {})", catalogue.name(), catalogue.edition, catalogue.edition),
                "implemented-requirements": requirements,
            })
        })
        .collect();
    json!({
        "component-definition": {
            "uuid": uuid(&seed, "component-definition"),
            "metadata": {
                "title": "hardening-operator: what it implements of BSI IT-Grundschutz SYS.1.6 and APP.4.4 (edition 2023)",
                "last-modified": at,
                "version": env!("CARGO_PKG_VERSION"),
                "oscal-version": OSCAL_VERSION,
            },
            "components": [{
                "uuid": uuid(&seed, "component"),
                "type": "software",
                "title": "hardening-operator",
                "description": "A Kubernetes operator that turns a declared HardeningProfile into NetworkPolicies, a ResourceQuota, a LimitRange, Pod Security Admission labels, a ValidatingAdmissionPolicy and seccomp/AppArmor profiles in every selected namespace, keeps them in sync and reports every deviation and every requirement's verdict.",
                "control-implementations": implementations,
            }],
        }
    })
}
