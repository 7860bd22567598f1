//! Policy reports: the content of one report per governed namespace, in the two report
//! APIs Policy Reporter and Kyverno-/Trivy-based tools read, and which of them a cluster
//! serves. Pure but for [`detect`]; `controller/reports.rs` writes them.
//!
//! The types follow the published CRDs, which are the same for both APIs but for
//! OpenReports' top-level `source`: `openreports.io/v1alpha1` `Report` / `ClusterReport`
//! (github.com/openreports/reports-api v0.2.1, `config/crd/`) and `wgpolicyk8s.io/v1alpha2`
//! `PolicyReport` / `ClusterPolicyReport` (github.com/kyverno/kyverno v1.19.1,
//! `config/crds/policyreport/`). A test applies what [`report_object`] builds to an API
//! server with those CRDs installed: their structural schemas (unknown fields pruned,
//! enums, required fields) are the judge.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::{HardeningProfile, Mode, NamespaceState};
use crate::labels::{MANAGED_BY_LABEL, MANAGED_BY_VALUE};
use crate::status::NamespaceOutcome;

/// The name of the operator's report in each governed namespace.
pub const REPORT_NAME: &str = "hardening-operator";
/// `source` of every result (and of an OpenReports report).
pub const SOURCE: &str = "hardening-operator";

/// A report API a cluster may serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportApi {
    /// `openreports.io/v1alpha1`, the successor.
    OpenReports,
    /// `wgpolicyk8s.io/v1alpha2`.
    WgPolicy,
}

impl ReportApi {
    /// In the order start-up prefers them.
    pub const ALL: [ReportApi; 2] = [Self::OpenReports, Self::WgPolicy];

    pub fn group(self) -> &'static str {
        match self {
            Self::OpenReports => "openreports.io",
            Self::WgPolicy => "wgpolicyk8s.io",
        }
    }

    pub fn version(self) -> &'static str {
        match self {
            Self::OpenReports => "v1alpha1",
            Self::WgPolicy => "v1alpha2",
        }
    }

    pub fn api_version(self) -> String {
        format!("{}/{}", self.group(), self.version())
    }

    /// The namespaced kind and its plural.
    pub fn kind(self) -> (&'static str, &'static str) {
        match self {
            Self::OpenReports => ("Report", "reports"),
            Self::WgPolicy => ("PolicyReport", "policyreports"),
        }
    }

    /// The cluster-scoped kind and its plural.
    pub fn cluster_kind(self) -> (&'static str, &'static str) {
        match self {
            Self::OpenReports => ("ClusterReport", "clusterreports"),
            Self::WgPolicy => ("ClusterPolicyReport", "clusterpolicyreports"),
        }
    }
}

/// The report API the cluster serves: OpenReports if its CRDs are installed, else
/// wgpolicyk8s.io v1alpha2, else none (`Ok(None)`). Both kinds of an API must be served.
pub async fn detect(client: &Client) -> Result<Option<ReportApi>, kube::Error> {
    for api in ReportApi::ALL {
        let resources = match client.list_api_group_resources(&api.api_version()).await {
            Ok(list) => list.resources,
            Err(kube::Error::Api(status)) if status.code == 404 => continue,
            Err(e) => return Err(e),
        };
        let served = |plural: &str| resources.iter().any(|r| r.name == plural);
        if served(api.kind().1) && served(api.cluster_kind().1) {
            return Ok(Some(api));
        }
    }
    Ok(None)
}

/// `result` of a check.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    Warn,
    Error,
    Skip,
}

/// One result: one check of one profile in one namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReportResult {
    pub source: String,
    /// The HardeningProfile.
    pub policy: String,
    /// The check, e.g. `network-policies`.
    pub rule: String,
    /// `BSI SYS.1.6 <first requirement>`.
    pub category: String,
    pub result: Outcome,
    pub scored: bool,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ObjectReference>,
    /// `requirements` (every BSI ID the check serves, comma-separated), `profile-mode`.
    pub properties: BTreeMap<String, String>,
}

/// Counts of the results by outcome.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub pass: u32,
    pub fail: u32,
    pub warn: u32,
    pub error: u32,
    pub skip: u32,
}

impl Summary {
    pub fn of(results: &[ReportResult]) -> Self {
        let mut s = Summary::default();
        for r in results {
            *match r.result {
                Outcome::Pass => &mut s.pass,
                Outcome::Fail => &mut s.fail,
                Outcome::Warn => &mut s.warn,
                Outcome::Error => &mut s.error,
                Outcome::Skip => &mut s.skip,
            } += 1;
        }
        s
    }
}

/// The checks, with the generated kinds whose drift fails them and the requirements each
/// serves.
const OBJECT_CHECKS: [(&str, &[&str], &[&str]); 4] = [
    (
        "pod-security-labels",
        &["Namespace"],
        &["A10", "A16", "A17", "A23"],
    ),
    ("network-policies", &["NetworkPolicy"], &["A9", "A24"]),
    ("resource-quota", &["ResourceQuota"], &["A20"]),
    ("limit-range", &["LimitRange"], &["A20"]),
];

/// The results of `profile` in `namespace`, from the namespace reconciler's outcome there
/// (the same data the profile's status is computed from). Sorted by rule; no timestamps,
/// so an unchanged state gives an equal report (written only when it changes).
pub fn namespace_results(
    profile: &HardeningProfile,
    namespace: &str,
    outcome: &NamespaceOutcome,
) -> Vec<ReportResult> {
    let name = profile.metadata.name.clone().unwrap_or_default();
    let spec = &profile.spec;
    let mode = match spec.mode {
        Mode::Enforce => "Enforce",
        Mode::Audit => "Audit",
    };
    let result =
        |rule: &str, ids: &[&str], result: Outcome, message: String, resources| ReportResult {
            source: SOURCE.to_owned(),
            policy: name.clone(),
            rule: rule.to_owned(),
            category: format!("BSI SYS.1.6 {}", ids[0]),
            result,
            scored: true,
            message,
            resources,
            properties: BTreeMap::from([
                ("requirements".to_owned(), ids.join(",")),
                ("profile-mode".to_owned(), mode.to_owned()),
            ]),
        };
    let declared = |rule: &str| match rule {
        "pod-security-labels" => spec.pod_security.is_some(),
        "network-policies" => spec.network_policy.is_some(),
        "resource-quota" => spec.resource_quota.is_some(),
        "limit-range" => spec.limit_range.is_some(),
        _ => false,
    };
    let state = outcome.state.unwrap_or(NamespaceState::Pending);
    let mut results = Vec::new();
    for (rule, kinds, ids) in OBJECT_CHECKS {
        if !declared(rule) {
            results.push(result(
                rule,
                ids,
                Outcome::Skip,
                format!("profile {name} does not declare it"),
                Vec::new(),
            ));
            continue;
        }
        let drift: Vec<_> = outcome
            .drift
            .iter()
            .filter(|d| kinds.contains(&d.kind.as_str()))
            .collect();
        let (verdict, message) = match state {
            NamespaceState::Pending => (Outcome::Skip, "not reconciled yet".to_owned()),
            NamespaceState::Conflict => (
                Outcome::Skip,
                "governed by another profile, which takes precedence".to_owned(),
            ),
            NamespaceState::Failed => (
                Outcome::Error,
                outcome
                    .message
                    .clone()
                    .or_else(|| outcome.reason.map(str::to_owned))
                    .unwrap_or_else(|| "the namespace cannot be brought to the profile".into()),
            ),
            _ if drift.is_empty() => (Outcome::Pass, "as the profile declares".to_owned()),
            _ => (
                Outcome::Fail,
                drift
                    .iter()
                    .map(|d| format!("{} {}: {} changed", d.kind, d.name, d.field))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        };
        let mut resources: Vec<ObjectReference> = drift
            .iter()
            .map(|d| object_ref(&d.kind, &d.name, namespace))
            .collect();
        resources.dedup();
        results.push(result(rule, ids, verdict, message, resources));
    }
    if let Some(unconfined) = &outcome.unconfined {
        let (verdict, message) = if unconfined.count == 0 {
            (
                Outcome::Pass,
                "every pod uses the profile's seccomp/AppArmor profiles".to_owned(),
            )
        } else {
            (
                Outcome::Fail,
                format!(
                    "{} not using the profile's seccomp/AppArmor profiles",
                    crate::plural::count(unconfined.count, "pod")
                ),
            )
        };
        let pods = unconfined
            .listed
            .iter()
            .map(|p| object_ref("Pod", &p.name, namespace))
            .collect();
        results.push(result(
            "pods-confined",
            &["A4", "A24"],
            verdict,
            message,
            pods,
        ));
    }
    if let Some(widening) = &outcome.widening {
        let (verdict, message) = if widening.is_empty() {
            (
                Outcome::Pass,
                "no tenant NetworkPolicy opens what the profile denies".to_owned(),
            )
        } else {
            (
                Outcome::Fail,
                widening
                    .iter()
                    .map(|w| format!("{} {}: {}", w.policy, w.direction.as_str(), w.opens))
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        };
        let mut policies: Vec<ObjectReference> = widening
            .iter()
            .map(|w| object_ref("NetworkPolicy", &w.policy, namespace))
            .collect();
        policies.dedup();
        results.push(result(
            "tenant-network-policies",
            &["A9", "A24"],
            verdict,
            message,
            policies,
        ));
    }
    results.sort_by(|a, b| a.rule.cmp(&b.rule));
    results
}

fn object_ref(kind: &str, name: &str, namespace: &str) -> ObjectReference {
    let api_version = match kind {
        "NetworkPolicy" => "networking.k8s.io/v1",
        _ => "v1",
    };
    let namespaced = kind != "Namespace";
    ObjectReference {
        api_version: Some(api_version.to_owned()),
        kind: Some(kind.to_owned()),
        name: Some(if namespaced { name } else { namespace }.to_owned()),
        namespace: namespaced.then(|| namespace.to_owned()),
        ..Default::default()
    }
}

/// The report object for `namespace` in `api`, ready for a server-side apply.
pub fn report_object(api: ReportApi, namespace: &str, results: &[ReportResult]) -> Value {
    let mut report = json!({
        "apiVersion": api.api_version(),
        "kind": api.kind().0,
        "metadata": {
            "name": REPORT_NAME,
            "namespace": namespace,
            "labels": { MANAGED_BY_LABEL: MANAGED_BY_VALUE },
        },
        "scope": { "apiVersion": "v1", "kind": "Namespace", "name": namespace },
        "summary": Summary::of(results),
        "results": results,
    });
    if api == ReportApi::OpenReports {
        report["source"] = json!(SOURCE);
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::DriftEntry;
    use crate::fixtures::{profile, specs};
    use crate::workloads::UnconfinedPods;

    fn strict() -> HardeningProfile {
        profile("strict")
            .spec_yaml(specs::RESTRICTED_DENY_ALL)
            .build()
    }

    fn outcome(state: NamespaceState, drift: Vec<DriftEntry>) -> NamespaceOutcome {
        NamespaceOutcome {
            candidates: vec![("strict".into(), 1)],
            state: Some(state),
            drift,
            ..Default::default()
        }
    }

    fn verdicts(results: &[ReportResult]) -> Vec<(&str, Outcome)> {
        results
            .iter()
            .map(|r| (r.rule.as_str(), r.result))
            .collect()
    }

    #[test]
    fn one_result_per_check_flipping_with_drift_and_back() {
        let in_sync =
            namespace_results(&strict(), "team", &outcome(NamespaceState::InSync, vec![]));
        assert_eq!(
            verdicts(&in_sync),
            [
                ("limit-range", Outcome::Skip),
                ("network-policies", Outcome::Pass),
                ("pod-security-labels", Outcome::Pass),
                ("resource-quota", Outcome::Pass),
            ]
        );
        assert_eq!(in_sync[1].category, "BSI SYS.1.6 A9");
        assert_eq!(in_sync[1].properties["requirements"], "A9,A24");

        let quota_drift = DriftEntry {
            kind: "ResourceQuota".into(),
            name: "hardening-quota".into(),
            field: "spec.hard.pods".into(),
            expected: Some("10".into()),
            actual: Some("99".into()),
            manager: Some("kubectl-edit".into()),
        };
        let drifted = namespace_results(
            &strict(),
            "team",
            &outcome(NamespaceState::Drifted, vec![quota_drift]),
        );
        let quota = drifted.iter().find(|r| r.rule == "resource-quota").unwrap();
        assert_eq!(quota.result, Outcome::Fail);
        assert_eq!(
            quota.message,
            "ResourceQuota hardening-quota: spec.hard.pods changed"
        );
        assert_eq!(quota.resources[0].name.as_deref(), Some("hardening-quota"));
        assert_eq!(
            drifted.iter().filter(|r| r.result == Outcome::Fail).count(),
            1,
            "only the drifted check fails"
        );
        // Repaired: the same report as before, so nothing would be written twice.
        let again = namespace_results(&strict(), "team", &outcome(NamespaceState::InSync, vec![]));
        assert_eq!(again, in_sync);
        assert_eq!(
            Summary::of(&drifted),
            Summary {
                pass: 2,
                fail: 1,
                skip: 1,
                ..Default::default()
            }
        );
    }

    #[test]
    fn failures_pending_and_tenant_findings() {
        let mut failed = outcome(NamespaceState::Failed, vec![]);
        failed.reason = Some("ForeignObject");
        failed.message =
            Some("ResourceQuota hardening-quota was not created by the operator".into());
        let results = namespace_results(&strict(), "team", &failed);
        assert!(
            results
                .iter()
                .filter(|r| r.rule != "limit-range")
                .all(|r| r.result == Outcome::Error && r.message.contains("not created"))
        );
        let pending =
            namespace_results(&strict(), "team", &outcome(NamespaceState::Pending, vec![]));
        assert!(pending.iter().all(|r| r.result == Outcome::Skip));

        let mut tenant = outcome(NamespaceState::InSync, vec![]);
        tenant.unconfined = Some(UnconfinedPods {
            count: 2,
            listed: vec![],
        });
        tenant.widening = Some(vec![]);
        let results = namespace_results(&strict(), "team", &tenant);
        let rule = |name: &str| results.iter().find(|r| r.rule == name).unwrap().result;
        assert_eq!(rule("pods-confined"), Outcome::Fail);
        assert_eq!(rule("tenant-network-policies"), Outcome::Pass);
    }

    #[test]
    fn report_objects_differ_only_where_the_apis_do() {
        let results =
            namespace_results(&strict(), "team", &outcome(NamespaceState::InSync, vec![]));
        let open = report_object(ReportApi::OpenReports, "team", &results);
        let wg = report_object(ReportApi::WgPolicy, "team", &results);
        assert_eq!(open["apiVersion"], "openreports.io/v1alpha1");
        assert_eq!(open["kind"], "Report");
        assert_eq!(open["source"], SOURCE);
        assert_eq!(wg["apiVersion"], "wgpolicyk8s.io/v1alpha2");
        assert_eq!(wg["kind"], "PolicyReport");
        assert!(wg.get("source").is_none());
        assert_eq!(
            open["summary"],
            json!({"pass": 3, "fail": 0, "warn": 0, "error": 0, "skip": 1})
        );
        assert_eq!(open["results"], wg["results"]);
    }
}
