//! Policy reports: the content of one report per governed namespace, in the two report
//! APIs Policy Reporter and Kyverno-/Trivy-based tools read, and which of them a cluster
//! serves; `controller/reports.rs` detects the API and writes them.
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
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::core::api::{HardeningProfile, Mode, NamespaceState};
use crate::core::labels::{MANAGED_BY_LABEL, MANAGED_BY_VALUE, PROFILE_LABEL};
use crate::core::status::NamespaceOutcome;

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

impl ReportResult {
    /// The result of `rule` of `profile`: category the first of `ids`, every one of them in
    /// the property `requirements`, the profile's mode in `profile-mode`.
    fn new(
        profile: &HardeningProfile,
        rule: &str,
        ids: &[&str],
        result: Outcome,
        message: String,
        resources: Vec<ObjectReference>,
    ) -> Self {
        let mode = match profile.spec.mode {
            Mode::Enforce => "Enforce",
            Mode::Audit => "Audit",
        };
        ReportResult {
            source: SOURCE.to_owned(),
            policy: profile.metadata.name.clone().unwrap_or_default(),
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
        }
    }
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
/// `images-patched` (A7, A13, A22; edition 2023: SYS.1.6.A6, A14): the namespace's
/// VulnerabilityReports list no CRITICAL or HIGH vulnerability with a fix.
fn images_patched(
    profile: &HardeningProfile,
    vulnerable: &crate::core::vulnerabilities::VulnerableImages,
) -> ReportResult {
    let (verdict, message) = if vulnerable.count == 0 {
        (
            Outcome::Pass,
            "no VulnerabilityReport lists a CRITICAL or HIGH vulnerability with a fix".to_owned(),
        )
    } else {
        (
            Outcome::Fail,
            format!(
                "{}; first: {}",
                crate::core::plural::count(vulnerable.count, "workload container"),
                vulnerable.listed.join("; ")
            ),
        )
    };
    ReportResult::new(
        profile,
        "images-patched",
        &crate::core::status::IMAGE_REQUIREMENTS,
        verdict,
        message,
        Vec::new(),
    )
}

pub fn namespace_results(
    profile: &HardeningProfile,
    namespace: &str,
    outcome: &NamespaceOutcome,
) -> Vec<ReportResult> {
    let name = profile.metadata.name.clone().unwrap_or_default();
    let spec = &profile.spec;
    let result = |rule: &str, ids: &[&str], result: Outcome, message: String, resources| {
        ReportResult::new(profile, rule, ids, result, message, resources)
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
                    crate::core::plural::count(unconfined.count, "pod")
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
    if let Some(vulnerable) = &outcome.vulnerable {
        results.push(images_patched(profile, vulnerable));
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

/// The results of what is not namespaced, for `profile` (sorted by rule), from the status
/// the profile reconciler computed: whether the profile is Ready at its current generation,
/// whether another profile takes some of its namespaces, and whether its guardrails (a
/// cluster-scoped ValidatingAdmissionPolicy and its binding) are in place. A status that
/// does not describe the profile's generation yet gives `skip`: nothing is claimed from an
/// older status.
pub fn cluster_results(profile: &HardeningProfile) -> Vec<ReportResult> {
    let mut results = profile_results(profile);
    results.sort_by(|a, b| a.rule.cmp(&b.rule));
    results
}

fn profile_results(profile: &HardeningProfile) -> Vec<ReportResult> {
    let name = profile.metadata.name.clone().unwrap_or_default();
    let spec = &profile.spec;
    let status = profile.status.as_ref();
    let current = status.is_some_and(|s| {
        s.observed_generation.is_some() && s.observed_generation == profile.metadata.generation
    });
    let condition = |type_: &str| {
        status
            .filter(|_| current)
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
    };
    let result = |rule: &str, ids: &[&str], result: Outcome, message: String, resources| {
        ReportResult::new(profile, rule, ids, result, message, resources)
    };
    let not_yet = || {
        format!(
            "the status does not describe generation {} yet",
            profile.metadata.generation.unwrap_or_default()
        )
    };
    let profile_ref = ObjectReference {
        api_version: Some("hardening.dev/v1alpha1".to_owned()),
        kind: Some("HardeningProfile".to_owned()),
        name: Some(name.clone()),
        ..Default::default()
    };

    let mut results = Vec::new();
    // Ready: the profile's own verdict over every namespace it selects (A21: the automated
    // audit of container settings against what is declared).
    let (verdict, message) = match condition(crate::core::status::READY) {
        None => (Outcome::Skip, not_yet()),
        // Audit mode is Ready while it finds drift (it changes nothing): the report does
        // not pass what the profile's namespaces fail.
        Some(c) if c.status == "True" => match condition(crate::core::status::DRIFTED) {
            Some(d) if d.status == "True" => {
                (Outcome::Warn, format!("{}: {}", c.message, d.message))
            }
            _ => (Outcome::Pass, c.message.clone()),
        },
        Some(c) if condition(crate::core::status::RECONCILING).is_some() => {
            (Outcome::Skip, format!("reconciling: {}", c.message))
        }
        Some(c) => (Outcome::Fail, format!("{}: {}", c.reason, c.message)),
    };
    results.push(result(
        "profile-ready",
        &["A21", "A25"],
        verdict,
        message,
        vec![profile_ref.clone()],
    ));

    // Namespaces another profile governs: this profile's rules do not apply there.
    let (verdict, message) = match condition(crate::core::status::CONFLICTING) {
        None => (Outcome::Skip, not_yet()),
        Some(c) if c.status == "True" => (Outcome::Warn, c.message.clone()),
        Some(c) => (Outcome::Pass, c.message.clone()),
    };
    results.push(result(
        "profile-conflicts",
        &["A21"],
        verdict,
        message,
        vec![profile_ref],
    ));

    // Guardrails: cluster-scoped admission objects.
    if let Some(guardrails) = &spec.guardrails {
        let ids = guardrail_requirements(guardrails);
        let ids = if ids.is_empty() { vec!["A21"] } else { ids };
        let policy = crate::core::guardrails::object_name(&name);
        let objects = [
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
        ]
        .map(|kind| ObjectReference {
            api_version: Some("admissionregistration.k8s.io/v1".to_owned()),
            kind: Some(kind.to_owned()),
            name: Some(policy.clone()),
            ..Default::default()
        })
        .to_vec();
        let (verdict, message) = match (
            condition(crate::core::status::GUARDRAILS_ENFORCED),
            status.and_then(|s| s.guardrails.as_ref()),
        ) {
            (None, _) => (Outcome::Skip, not_yet()),
            (Some(c), Some(g)) if c.status == "True" && g.drift.is_empty() => {
                (Outcome::Pass, c.message.clone())
            }
            (Some(c), Some(g)) if !g.drift.is_empty() => (
                Outcome::Fail,
                g.drift
                    .iter()
                    .map(|d| format!("{} {}: {} changed", d.kind, d.name, d.field))
                    .collect::<Vec<_>>()
                    .join("; ")
                    + &format!(" ({})", c.message),
            ),
            (Some(c), _) if c.status == "True" => (Outcome::Pass, c.message.clone()),
            (Some(c), _) => (Outcome::Fail, format!("{}: {}", c.reason, c.message)),
        };
        results.push(result("guardrails", &ids, verdict, message, objects));
    }
    results
}

/// The requirements the declared guardrails serve (as in `api::compliance`), whatever the
/// mode: the result says whether they are in place, not whether they are enforced.
fn guardrail_requirements(g: &crate::core::api::Guardrails) -> Vec<&'static str> {
    let registries = !g.allowed_registries.is_empty();
    [
        ("A7", registries),
        ("A9", g.deny_widening_network_policies),
        ("A10", g.require_read_only_root_filesystem),
        ("A11", g.deny_exec),
        ("A13", g.require_image_tag || g.require_image_digest),
        ("A22", registries),
    ]
    .into_iter()
    .filter_map(|(id, on)| on.then_some(id))
    .collect()
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

/// The name of the cluster-scoped report of `profile`: `hardening.dev-<profile>`, as its
/// guardrails' policy (one report per profile, so that operators sharing the profiles
/// between them by `--profile-selector` never write the same report).
pub fn cluster_report_name(profile: &str) -> String {
    format!("hardening.dev-{profile}")
}

/// The cluster-scoped report of `profile` in `api` (`ClusterReport` /
/// `ClusterPolicyReport`), scoped to the HardeningProfile, ready for a server-side apply.
pub fn cluster_report_object(api: ReportApi, profile: &str, results: &[ReportResult]) -> Value {
    let mut report = json!({
        "apiVersion": api.api_version(),
        "kind": api.cluster_kind().0,
        "metadata": {
            "name": cluster_report_name(profile),
            "labels": { MANAGED_BY_LABEL: MANAGED_BY_VALUE, PROFILE_LABEL: profile },
        },
        "scope": {
            "apiVersion": "hardening.dev/v1alpha1", "kind": "HardeningProfile", "name": profile,
        },
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
    use crate::core::api::DriftEntry;
    use crate::core::workloads::UnconfinedPods;
    use crate::fixtures::{profile, specs};

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

    /// `strict()` as the profile reconciler left it: at `generation`, with `status`.
    fn strict_at(generation: i64, status: Value) -> HardeningProfile {
        profile("strict")
            .spec_yaml(specs::RESTRICTED_DENY_ALL)
            .generation(generation)
            .status(status)
            .build()
    }

    fn guarded_at(generation: i64, status: Value) -> HardeningProfile {
        profile("strict")
            .spec_yaml(specs::RESTRICTED_DENY_ALL)
            .spec(json!({ "guardrails": { "allowedRegistries": ["registry.example/"], "denyExec": true } }))
            .generation(generation)
            .status(status)
            .build()
    }

    fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Value {
        json!({ "type": type_, "status": status, "reason": reason, "message": message,
                "lastTransitionTime": "2026-12-01T00:00:00Z" })
    }

    #[test]
    fn cluster_results_follow_the_status_of_the_current_generation_only() {
        let ready = json!({
            "observedGeneration": 2,
            "conditions": [
                condition("Ready", "True", "InSync", "3 namespaces in sync"),
                condition("Conflicting", "False", "NoConflict", "no conflict"),
            ],
        });
        let results = cluster_results(&strict_at(2, ready.clone()));
        assert_eq!(
            verdicts(&results),
            [
                ("profile-conflicts", Outcome::Pass),
                ("profile-ready", Outcome::Pass)
            ]
        );
        assert_eq!(results[1].message, "3 namespaces in sync");
        assert_eq!(results[1].category, "BSI SYS.1.6 A21");
        assert_eq!(
            results[1].resources[0].kind.as_deref(),
            Some("HardeningProfile")
        );
        assert_eq!(results[1].resources[0].namespace, None);

        // A newer generation the status does not describe yet: nothing is claimed.
        let stale = cluster_results(&strict_at(3, ready));
        assert!(stale.iter().all(|r| r.result == Outcome::Skip), "{stale:?}");
        assert!(stale[0].message.contains("generation 3"));
        assert!(
            cluster_results(&strict())
                .iter()
                .all(|r| r.result == Outcome::Skip)
        );

        let troubled = json!({
            "observedGeneration": 1,
            "conditions": [
                condition("Ready", "False", "Drifted", "1 namespace drifted and not repaired yet"),
                condition("Conflicting", "True", "NamespaceConflict", "1 namespace governed by another profile"),
            ],
        });
        let results = cluster_results(&strict_at(1, troubled));
        assert_eq!(
            verdicts(&results),
            [
                ("profile-conflicts", Outcome::Warn),
                ("profile-ready", Outcome::Fail)
            ]
        );
        assert_eq!(
            results[1].message,
            "Drifted: 1 namespace drifted and not repaired yet"
        );

        let reconciling = json!({
            "observedGeneration": 1,
            "conditions": [
                condition("Ready", "False", "Reconciling", "2 namespaces pending"),
                condition("Reconciling", "True", "Reconciling", "2 namespaces pending"),
            ],
        });
        let results = cluster_results(&strict_at(1, reconciling));
        assert_eq!(results[1].result, Outcome::Skip);

        let audited_drift = json!({
            "observedGeneration": 1,
            "conditions": [
                condition("Ready", "True", "Audited", "1 namespace audited, 1 drifted (Audit mode changes nothing)"),
                condition("Drifted", "True", "DriftDetected", "1 namespace drifted; first: team"),
            ],
        });
        let results = cluster_results(&strict_at(1, audited_drift));
        assert_eq!(results[1].rule, "profile-ready");
        assert_eq!(results[1].result, Outcome::Warn, "{:?}", results[1]);
        assert!(
            results[1]
                .message
                .ends_with("1 namespace drifted; first: team")
        );
    }

    #[test]
    fn guardrails_results_name_their_requirements_and_drift() {
        let enforced = json!({
            "observedGeneration": 1,
            "conditions": [
                condition("Ready", "True", "InSync", "in sync"),
                condition("GuardrailsEnforced", "True", "Enforced", "enforced"),
            ],
            "guardrails": { "policy": "hardening.dev-strict", "validationActions": ["Deny"],
                            "state": "InSync" },
        });
        let results = cluster_results(&guarded_at(1, enforced));
        let guardrails = results.iter().find(|r| r.rule == "guardrails").unwrap();
        assert_eq!(guardrails.result, Outcome::Pass);
        assert_eq!(guardrails.properties["requirements"], "A7,A11,A22");
        assert_eq!(
            guardrails
                .resources
                .iter()
                .map(|r| r.kind.clone().unwrap())
                .collect::<Vec<_>>(),
            [
                "ValidatingAdmissionPolicy",
                "ValidatingAdmissionPolicyBinding"
            ]
        );
        let drifted = json!({
            "observedGeneration": 1,
            "conditions": [
                condition("Ready", "False", "Drifted", "drifted"),
                condition("GuardrailsEnforced", "False", "GuardrailsDrifted", "the binding drifted"),
            ],
            "guardrails": { "policy": "hardening.dev-strict", "validationActions": ["Deny"],
                            "state": "Drifted",
                            "drift": [{ "kind": "ValidatingAdmissionPolicyBinding",
                                        "name": "hardening.dev-strict",
                                        "field": "spec.validationActions" }] },
        });
        let results = cluster_results(&guarded_at(1, drifted));
        let guardrails = results.iter().find(|r| r.rule == "guardrails").unwrap();
        assert_eq!(guardrails.result, Outcome::Fail);
        assert!(
            guardrails.message.starts_with(
                "ValidatingAdmissionPolicyBinding hardening.dev-strict: spec.validationActions changed"
            ),
            "{}",
            guardrails.message
        );
        // No guardrails declared: no result for them.
        assert!(
            cluster_results(&strict())
                .iter()
                .all(|r| r.rule != "guardrails")
        );
    }

    #[test]
    fn cluster_report_objects_are_scoped_to_their_profile() {
        let results = cluster_results(&strict());
        let open = cluster_report_object(ReportApi::OpenReports, "strict", &results);
        let wg = cluster_report_object(ReportApi::WgPolicy, "strict", &results);
        assert_eq!(open["kind"], "ClusterReport");
        assert_eq!(wg["kind"], "ClusterPolicyReport");
        assert_eq!(open["metadata"]["name"], "hardening.dev-strict");
        assert!(open["metadata"].get("namespace").is_none());
        assert_eq!(open["metadata"]["labels"][PROFILE_LABEL], "strict");
        assert_eq!(open["scope"]["kind"], "HardeningProfile");
        assert_eq!(open["source"], SOURCE);
        assert!(wg.get("source").is_none());
        assert_eq!(open["results"], wg["results"]);
    }
}
