//! What is known about the images (BSI SYS.1.6.A6 and A14, edition 2023; A7, A13 and A22 of
//! the superseded numbering): scanning is the Trivy Operator's job, which writes a
//! `VulnerabilityReport` (`aquasecurity.github.io/v1alpha1`) per workload and container,
//! labelled with the workload (`trivy-operator.resource.kind`, `.name`, `.namespace`) and
//! the container (`trivy-operator.container.name`). A workload whose image has a CRITICAL or
//! HIGH vulnerability with a fixed version (`vulnerabilities[].fixedVersion`) runs an image
//! that should have been rebuilt: a finding of its namespace. Pure: the controller keeps one
//! [`ReportEntry`] per report and asks for a namespace's reconcile when one changes.

use serde_json::Value;

use crate::core::plural::count;

pub const GROUP: &str = "aquasecurity.github.io";
pub const VERSION: &str = "v1alpha1";
pub const KIND: &str = "VulnerabilityReport";
pub const PLURAL: &str = "vulnerabilityreports";
pub const KIND_LABEL: &str = "trivy-operator.resource.kind";
pub const NAME_LABEL: &str = "trivy-operator.resource.name";
pub const CONTAINER_LABEL: &str = "trivy-operator.container.name";

/// Findings listed per namespace in the status; the rest are counted.
pub const MAX_LISTED: usize = 5;

/// What the operator keeps of one report: the workload and container it is about, the
/// image, and its fixable CRITICAL and HIGH findings.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReportEntry {
    /// `Kind/name` of the workload, e.g. `ReplicaSet/web-7d9f8`.
    pub workload: String,
    pub container: String,
    /// `registry/repository:tag` (or `@digest`) as the scanner read it.
    pub image: String,
    pub critical: u32,
    pub high: u32,
}

impl ReportEntry {
    /// The entry of a report as the API server stores it; `None` for one that does not name
    /// its workload (not written by the scanner).
    pub fn of(report: &Value) -> Option<Self> {
        let labels = &report["metadata"]["labels"];
        let kind = labels[KIND_LABEL].as_str()?;
        let name = labels[NAME_LABEL].as_str()?;
        let container = labels[CONTAINER_LABEL].as_str().unwrap_or_default();
        let body = &report["report"];
        let artifact = &body["artifact"];
        let mut image = artifact["repository"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if let Some(server) = body["registry"]["server"]
            .as_str()
            .filter(|s| !s.is_empty())
        {
            image = format!("{server}/{image}");
        }
        if let Some(tag) = artifact["tag"].as_str().filter(|t| !t.is_empty()) {
            image = format!("{image}:{tag}");
        } else if let Some(digest) = artifact["digest"].as_str().filter(|d| !d.is_empty()) {
            image = format!("{image}@{digest}");
        }
        let (mut critical, mut high) = (0, 0);
        for finding in body["vulnerabilities"].as_array().into_iter().flatten() {
            let fixable = finding["fixedVersion"]
                .as_str()
                .is_some_and(|v| !v.trim().is_empty());
            match finding["severity"].as_str() {
                Some("CRITICAL") if fixable => critical += 1,
                Some("HIGH") if fixable => high += 1,
                _ => {}
            }
        }
        Some(Self {
            workload: format!("{kind}/{name}"),
            container: container.to_owned(),
            image,
            critical,
            high,
        })
    }

    pub fn fixable(&self) -> bool {
        self.critical + self.high > 0
    }

    /// `ReplicaSet/web-7d9f8 container app (registry.example/web:1.2): 2 CRITICAL and 5 HIGH
    /// vulnerabilities with a fix`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.critical > 0 {
            parts.push(format!("{} CRITICAL", self.critical));
        }
        if self.high > 0 {
            parts.push(format!("{} HIGH", self.high));
        }
        format!(
            "{} container {} ({}): {} {} with a fix",
            self.workload,
            self.container,
            self.image,
            parts.join(" and "),
            if self.critical + self.high == 1 {
                "vulnerability"
            } else {
                "vulnerabilities"
            }
        )
    }
}

/// The fixable findings of one namespace: how many workload containers, and the first
/// [`MAX_LISTED`] described, most CRITICAL first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VulnerableImages {
    pub count: u32,
    pub listed: Vec<String>,
}

/// The findings of a namespace's reports.
pub fn assess<'a>(entries: impl IntoIterator<Item = &'a ReportEntry>) -> VulnerableImages {
    let mut fixable: Vec<&ReportEntry> = entries.into_iter().filter(|e| e.fixable()).collect();
    fixable.sort_by(|a, b| {
        (b.critical, b.high)
            .cmp(&(a.critical, a.high))
            .then_with(|| (&a.workload, &a.container).cmp(&(&b.workload, &b.container)))
    });
    VulnerableImages {
        count: fixable.len() as u32,
        listed: fixable
            .iter()
            .take(MAX_LISTED)
            .map(|e| crate::core::api::truncate_text(&e.describe()))
            .collect(),
    }
}

/// Why a requirement the images serve does not hold, given the findings counted over a
/// profile's namespaces.
pub fn withdrawn(vulnerable: u32) -> Option<String> {
    (vulnerable > 0).then(|| {
        format!(
            "{} with CRITICAL or HIGH vulnerabilities that have a fix (Trivy Operator VulnerabilityReports)",
            count(vulnerable, "workload container")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(kind: &str, name: &str, findings: Value) -> Value {
        json!({
            "metadata": {"labels": {
                KIND_LABEL: kind, NAME_LABEL: name, CONTAINER_LABEL: "app",
                "trivy-operator.resource.namespace": "shop"
            }},
            "report": {
                "registry": {"server": "registry.example"},
                "artifact": {"repository": "shop/web", "tag": "1.2"},
                "summary": {"criticalCount": 2, "highCount": 1},
                "vulnerabilities": findings
            }
        })
    }

    #[test]
    fn only_critical_and_high_findings_with_a_fix_count() {
        let entry = ReportEntry::of(&report(
            "ReplicaSet",
            "web-1",
            json!([
                {"vulnerabilityID": "CVE-1", "severity": "CRITICAL", "fixedVersion": "1.2.3"},
                {"vulnerabilityID": "CVE-2", "severity": "CRITICAL", "fixedVersion": ""},
                {"vulnerabilityID": "CVE-3", "severity": "HIGH", "fixedVersion": "2.0"},
                {"vulnerabilityID": "CVE-4", "severity": "MEDIUM", "fixedVersion": "2.0"},
                {"vulnerabilityID": "CVE-5", "severity": "HIGH"}
            ]),
        ))
        .unwrap();
        assert_eq!(
            entry,
            ReportEntry {
                workload: "ReplicaSet/web-1".into(),
                container: "app".into(),
                image: "registry.example/shop/web:1.2".into(),
                critical: 1,
                high: 1,
            }
        );
        assert_eq!(
            entry.describe(),
            "ReplicaSet/web-1 container app (registry.example/shop/web:1.2): 1 CRITICAL and 1 HIGH vulnerabilities with a fix"
        );
        let unfixable = ReportEntry::of(&report(
            "Pod",
            "debug",
            json!([{"severity": "CRITICAL", "fixedVersion": ""}]),
        ))
        .unwrap();
        assert!(!unfixable.fixable());
        let found = assess([&unfixable, &entry]);
        assert_eq!(found.count, 1);
        assert_eq!(found.listed, vec![entry.describe()]);
        assert_eq!(ReportEntry::of(&json!({"metadata": {}})), None);
    }

    #[test]
    fn the_most_critical_are_listed_first_and_the_rest_counted() {
        let entries: Vec<ReportEntry> = (0..7)
            .map(|i| ReportEntry {
                workload: format!("ReplicaSet/w{i}"),
                container: "app".into(),
                image: "i".into(),
                critical: i,
                high: 1,
            })
            .collect();
        let found = assess(&entries);
        assert_eq!(found.count, 7);
        assert_eq!(found.listed.len(), MAX_LISTED);
        assert!(
            found.listed[0].starts_with("ReplicaSet/w6 "),
            "{:?}",
            found.listed
        );
    }
}
