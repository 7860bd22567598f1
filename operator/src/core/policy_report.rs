//! Policy reports: the content of one report per governed namespace (one result per BSI
//! requirement the operator assesses, from [`crate::core::compliance`], the source of the
//! profile's `status.compliance` and of the compliance report too) and one per profile, in
//! the two report APIs Policy Reporter and Kyverno-/Trivy-based tools read, and which of them
//! a cluster serves; `controller/policy_reports.rs` detects the API and writes them.
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

use crate::core::api::{HardeningProfile, Mode, RequirementStatus, Verdict};
use crate::core::compliance::ProfileFacts;
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
    /// The catalogue and edition of a requirement (`BSI SYS.1.6 (2023)`), or
    /// `hardening-operator` for the operator's own checks of a profile.
    pub policy: String,
    /// The requirement (`SYS.1.6.A5`), or the operator's check (`profile-ready`).
    pub rule: String,
    /// `BSI SYS.1.6 (2023), level B`: catalogue, edition and level; for the operator's own
    /// checks `hardening-operator`.
    pub category: String,
    pub result: Outcome,
    pub scored: bool,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ObjectReference>,
    /// `profile`, `profile-mode`; for a requirement `title`, `level`, `verdict`, `edition`
    /// and `superseded-container-id` (the old SYS.1.6 "Container" ID, cross-reference only);
    /// for the guardrails `requirements` (the IDs they serve, with catalogue and edition).
    pub properties: BTreeMap<String, String>,
}

impl ReportResult {
    /// The result of the operator's own check `rule` of `profile` (category
    /// `hardening-operator`); `requirements` names what it serves, if anything.
    fn check(
        profile: &HardeningProfile,
        rule: &str,
        requirements: Option<String>,
        result: Outcome,
        message: String,
        resources: Vec<ObjectReference>,
    ) -> Self {
        let mut properties = profile_properties(profile);
        if let Some(requirements) = requirements {
            properties.insert("requirements".to_owned(), requirements);
        }
        ReportResult {
            source: SOURCE.to_owned(),
            policy: SOURCE.to_owned(),
            rule: rule.to_owned(),
            category: SOURCE.to_owned(),
            result,
            scored: true,
            message,
            resources,
            properties,
        }
    }

    /// The result of one requirement's verdict for `profile`.
    fn requirement(
        profile: &HardeningProfile,
        entry: &RequirementStatus,
        resources: Vec<ObjectReference>,
    ) -> Option<Self> {
        let requirement = crate::core::compliance::requirement(&entry.id)?;
        let result = outcome(entry.verdict)?;
        let mut properties = profile_properties(profile);
        properties.insert("title".to_owned(), requirement.title.to_owned());
        properties.insert("level".to_owned(), requirement.level.letter().to_owned());
        properties.insert("verdict".to_owned(), entry.verdict.as_str().to_owned());
        properties.insert(
            "edition".to_owned(),
            requirement.catalogue.edition.to_owned(),
        );
        if !requirement.old.is_empty() {
            properties.insert(
                "superseded-container-id".to_owned(),
                requirement.old.to_owned(),
            );
        }
        Some(ReportResult {
            source: SOURCE.to_owned(),
            policy: requirement.catalogue.short(),
            rule: requirement.id.to_owned(),
            category: format!(
                "{}, level {}",
                requirement.catalogue.short(),
                requirement.level.letter()
            ),
            result,
            scored: true,
            message: entry.reason.clone(),
            resources,
            properties,
        })
    }
}

fn profile_properties(profile: &HardeningProfile) -> BTreeMap<String, String> {
    let mode = match profile.spec.mode {
        Mode::Enforce => "Enforce",
        Mode::Audit => "Audit",
    };
    BTreeMap::from([
        (
            "profile".to_owned(),
            profile.metadata.name.clone().unwrap_or_default(),
        ),
        ("profile-mode".to_owned(), mode.to_owned()),
    ])
}

/// A verdict as a policy report result: Met passes, Partial warns, NotMet fails; the
/// others have no result.
pub fn outcome(verdict: Verdict) -> Option<Outcome> {
    match verdict {
        Verdict::Met => Some(Outcome::Pass),
        Verdict::Partial => Some(Outcome::Warn),
        Verdict::NotMet => Some(Outcome::Fail),
        Verdict::Organisational | Verdict::NotApplicable => None,
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

/// The results of `profile` in `namespace`: one per requirement the operator assesses, from
/// [`crate::core::compliance::assess_namespace`] on the namespace reconciler's outcome there
/// (the function the profile's `status.compliance` folds over its namespaces), with the
/// objects it rests on as resources. Sorted by rule; no timestamps, so an unchanged state
/// gives an equal report (written only when it changes). Empty when the profile does not
/// govern the namespace at its current generation's view (another profile does).
pub fn namespace_results(
    profile: &HardeningProfile,
    namespace: &str,
    outcome: &NamespaceOutcome,
    facts: &ProfileFacts,
) -> Vec<ReportResult> {
    let name = profile.metadata.name.as_deref().unwrap_or_default();
    let generation = profile.metadata.generation.unwrap_or(0);
    let active = crate::core::exceptions::active_of(profile);
    let digest = crate::core::exceptions::digest(active);
    let Some(ns) = outcome.compliance_facts(namespace, name, generation, active, digest) else {
        return Vec::new();
    };
    let mut results: Vec<ReportResult> =
        crate::core::compliance::assess_namespace(&profile.spec, facts, &ns)
            .into_iter()
            .filter(|f| f.requirement.assessed())
            .filter_map(|f| {
                let entry = crate::core::compliance::status_entry(
                    f.requirement,
                    f.verdict,
                    f.reason,
                    None,
                    f.evidence,
                );
                let resources = evidence_refs(&entry.evidence);
                ReportResult::requirement(profile, &entry, resources)
            })
            .collect();
    // The accepted deviations here, one result each: a warning, never a pass.
    results.extend(
        ns.exceptions
            .iter()
            .map(|e| exception_result(profile, e, Some(namespace))),
    );
    results.sort_by(|a, b| a.rule.cmp(&b.rule));
    results
}

/// The check `exception` of a HardeningException in force: `warn`, with what it suspends,
/// until when, who owns it and why (`namespace`: in the report of that namespace).
fn exception_result(
    profile: &HardeningProfile,
    exception: &crate::core::api::ActiveException,
    namespace: Option<&str>,
) -> ReportResult {
    let weakens =
        crate::core::compliance::exception_weakens(&exception.rules, exception.pod_security_level);
    let what = crate::core::exceptions::suspends(&exception.rules, exception.pod_security_level);
    let mut scope = Vec::new();
    if let Some(pods) = &exception.pod_selector {
        scope.push(format!(
            "pods {}",
            serde_json::to_string(pods).unwrap_or_default()
        ));
    }
    if !exception.containers.is_empty() {
        scope.push(format!("containers {}", exception.containers.join(", ")));
    }
    let scope = match (namespace, scope.is_empty()) {
        (Some(ns), true) => format!(" in namespace {ns}"),
        (Some(ns), false) => format!(" for {} in namespace {ns}", scope.join(", ")),
        (None, true) => String::new(),
        (None, false) => format!(" for {}", scope.join(", ")),
    };
    let mut result = ReportResult::check(
        profile,
        "exception",
        (!weakens.is_empty()).then(|| crate::core::compliance::cite(&weakens)),
        Outcome::Warn,
        format!(
            "accepted deviation: HardeningException {} ({what}{scope}) until {}, owner {}: {}",
            exception.name, exception.expires, exception.owner, exception.reason
        ),
        vec![exception_ref(&exception.name)],
    );
    for (key, value) in [
        ("exception", exception.name.clone()),
        ("owner", exception.owner.clone()),
        ("expires", exception.expires.clone()),
    ] {
        result.properties.insert(key.to_owned(), value);
    }
    result
}

fn exception_ref(name: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("hardening.dev/v1alpha1".to_owned()),
        kind: Some("HardeningException".to_owned()),
        name: Some(name.to_owned()),
        ..Default::default()
    }
}

/// The objects among `evidence` (not the profile's own fields), as references.
fn evidence_refs(evidence: &[crate::core::api::ComplianceEvidence]) -> Vec<ObjectReference> {
    let mut refs: Vec<ObjectReference> = evidence
        .iter()
        .filter_map(|e| {
            Some(object_ref(
                &e.kind,
                e.name.as_deref()?,
                e.namespace.as_deref()?,
            ))
        })
        .collect();
    refs.dedup();
    refs
}

/// The results of what is not namespaced, for `profile` (sorted by rule), from the status
/// the profile reconciler computed: each requirement's verdict over its namespaces (its
/// `status.compliance`, read as the compliance report reads it:
/// [`crate::core::compliance_report::profile_verdicts`]), whether the profile is Ready at its current
/// generation, whether another profile takes some of its namespaces, and whether its
/// guardrails (a cluster-scoped ValidatingAdmissionPolicy and its binding) are in place. A
/// status that does not describe the profile's generation yet gives `skip` or `fail`:
/// nothing is claimed from an older status.
pub fn cluster_results(profile: &HardeningProfile) -> Vec<ReportResult> {
    let mut results = profile_results(profile);
    // Every exception of the profile: those in force warn, the others (expired, not
    // applied) are skipped, each with its reason.
    if let Some(exceptions) = profile.status.as_ref().and_then(|s| s.exceptions.as_ref()) {
        results.extend(
            exceptions
                .active
                .iter()
                .map(|e| exception_result(profile, e, None)),
        );
        results.extend(exceptions.inactive.iter().map(|line| {
            let name = line.split(':').next().unwrap_or_default();
            let mut result = ReportResult::check(
                profile,
                "exception",
                None,
                Outcome::Skip,
                format!("HardeningException {line}"),
                vec![exception_ref(name)],
            );
            result
                .properties
                .insert("exception".to_owned(), name.to_owned());
            result
        }));
    }
    let (_, verdicts) = crate::core::compliance_report::profile_verdicts(profile);
    results.extend(verdicts.iter().filter_map(|entry| {
        ReportResult::requirement(profile, entry, evidence_refs(&entry.evidence))
    }));
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
    let result = |rule: &str, ids: Option<String>, result: Outcome, message: String, resources| {
        ReportResult::check(profile, rule, ids, result, message, resources)
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
        None,
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
        None,
        verdict,
        message,
        vec![profile_ref],
    ));

    // Guardrails: cluster-scoped admission objects.
    if let Some(guardrails) = &spec.guardrails {
        let ids = guardrail_requirements(guardrails);
        let ids = (!ids.is_empty()).then(|| crate::core::compliance::cite(&ids));
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
        results.push(result("guardrails", ids, verdict, message, objects));
    }
    results
}

/// The requirements (2023 IDs) the declared guardrails serve, whatever the mode: the result
/// says whether they are in place, not whether they are enforced.
fn guardrail_requirements(g: &crate::core::api::Guardrails) -> Vec<&'static str> {
    let on = [
        ("allowedRegistries", !g.allowed_registries.is_empty()),
        ("requireImageTag", g.require_image_tag),
        ("requireImageDigest", g.require_image_digest),
        (
            "requireReadOnlyRootFilesystem",
            g.require_read_only_root_filesystem,
        ),
        (
            "denyWideningNetworkPolicies",
            g.deny_widening_network_policies,
        ),
    ];
    let mut ids: Vec<&'static str> = on
        .into_iter()
        .filter(|(_, on)| *on)
        .flat_map(|(rule, _)| {
            crate::core::compliance::guardrail_requirements(rule)
                .iter()
                .copied()
        })
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

fn object_ref(kind: &str, name: &str, namespace: &str) -> ObjectReference {
    let api_version = match kind {
        "NetworkPolicy" => "networking.k8s.io/v1",
        "HardeningProfile" => "hardening.dev/v1alpha1",
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
    use crate::core::api::{DriftEntry, NamespaceState};
    use crate::core::preview::NamespacePreview;
    use crate::core::workloads::UnconfinedPods;
    use crate::fixtures::{profile, specs};

    fn strict() -> HardeningProfile {
        profile("strict")
            .spec_yaml(specs::RESTRICTED_DENY_ALL)
            .build()
    }

    const FACTS: ProfileFacts = ProfileFacts {
        pods_watched: true,
        guardrails_enforced: false,
        images_scanned: false,
    };

    fn outcome(state: NamespaceState, drift: Vec<DriftEntry>) -> NamespaceOutcome {
        NamespaceOutcome {
            candidates: vec![("strict".into(), 1)],
            state: Some(state),
            drift,
            widening: Some(Vec::new()),
            preview: Some(NamespacePreview::default().into()),
            ..Default::default()
        }
    }

    fn verdict(results: &[ReportResult], rule: &str) -> Outcome {
        results.iter().find(|r| r.rule == rule).unwrap().result
    }

    #[test]
    fn one_result_per_assessed_requirement_flipping_with_drift_and_back() {
        let in_sync = namespace_results(
            &strict(),
            "team",
            &outcome(NamespaceState::InSync, vec![]),
            &FACTS,
        );
        let rules: Vec<&str> = in_sync.iter().map(|r| r.rule.as_str()).collect();
        let mut assessed: Vec<&str> = crate::core::compliance::REQUIREMENTS
            .iter()
            .filter(|r| r.assessed())
            .map(|r| r.id)
            .collect();
        assessed.sort();
        assert_eq!(rules, assessed);
        let a5 = in_sync.iter().find(|r| r.rule == "SYS.1.6.A5").unwrap();
        assert_eq!(a5.policy, "BSI SYS.1.6 (2023)");
        assert_eq!(a5.category, "BSI SYS.1.6 (2023), level B");
        assert_eq!(a5.result, Outcome::Warn);
        assert_eq!(a5.properties["verdict"], "Partial");
        assert_eq!(a5.properties["superseded-container-id"], "A9");
        assert_eq!(a5.properties["profile"], "strict");
        assert_eq!(verdict(&in_sync, "APP.4.4.A18"), Outcome::Fail);

        let deny_drift = DriftEntry {
            kind: "NetworkPolicy".into(),
            name: "hardening-default-deny".into(),
            field: "spec.policyTypes".into(),
            expected: Some("[Ingress, Egress]".into()),
            actual: Some("[Ingress]".into()),
            manager: Some("kubectl-edit".into()),
        };
        let drifted = namespace_results(
            &strict(),
            "team",
            &outcome(NamespaceState::Drifted, vec![deny_drift]),
            &FACTS,
        );
        let a5 = drifted.iter().find(|r| r.rule == "SYS.1.6.A5").unwrap();
        assert_eq!(a5.result, Outcome::Fail);
        assert!(
            a5.message.contains("hardening-default-deny differs"),
            "{}",
            a5.message
        );
        assert_eq!(
            a5.resources[0].name.as_deref(),
            Some("hardening-default-deny")
        );
        // What the Pod Security labels provide did not drift.
        assert_eq!(verdict(&drifted, "SYS.1.6.A17"), Outcome::Warn);
        // Repaired: the same report as before, so nothing would be written twice.
        let again = namespace_results(
            &strict(),
            "team",
            &outcome(NamespaceState::InSync, vec![]),
            &FACTS,
        );
        assert_eq!(again, in_sync);
    }

    /// Issue 24: an exception in force is a warning in the report of each namespace it
    /// covers and in the profile's, with owner, expiry and reason; an expired one is
    /// skipped in the profile's; a namespace judged with other exceptions than the status
    /// lists now is not judged yet.
    #[test]
    fn exceptions_warn_while_in_force_and_are_skipped_once_expired() {
        let exception = crate::core::exceptions::active_entry(
            &crate::fixtures::exception("legacy", "strict", "team", "2026-12-31T00:00:00Z")
                .spec(serde_json::json!({ "rules": ["requireImageTag"], "containers": ["app"] }))
                .build(),
        );
        let status = serde_json::json!({
            "observedGeneration": 1,
            "exceptions": {
                "active": [exception],
                "expired": 1,
                "inactive": ["old-one: expired at 2026-01-01T00:00:00Z: the rules of profile strict apply again"],
            },
        });
        let strict = profile("strict")
            .spec_yaml(specs::RESTRICTED_DENY_ALL)
            .spec_yaml("guardrails: {requireImageTag: true}")
            .generation(1)
            .status(status)
            .build();
        let mut covered = outcome(NamespaceState::InSync, vec![]);
        covered.exceptions = vec![exception.name.clone()];
        covered.exceptions_digest =
            crate::core::exceptions::digest(crate::core::exceptions::active_of(&strict));
        let results = namespace_results(&strict, "team", &covered, &FACTS);
        let result = results.iter().find(|r| r.rule == "exception").unwrap();
        assert_eq!(result.result, Outcome::Warn);
        assert_eq!(result.properties["exception"], "legacy");
        assert_eq!(result.properties["owner"], "team-legacy");
        assert_eq!(result.properties["expires"], "2026-12-31T00:00:00Z");
        assert!(
            result
                .message
                .contains("guardrail requireImageTag suspended")
                && result.message.contains("containers app")
                && result.message.contains("RISK-1"),
            "{}",
            result.message
        );
        assert_eq!(
            result.resources[0].kind.as_deref(),
            Some("HardeningException")
        );
        let a6 = results.iter().find(|r| r.rule == "SYS.1.6.A6").unwrap();
        assert_ne!(a6.result, Outcome::Pass);
        assert!(a6.message.contains("accepted deviations"), "{}", a6.message);
        // Judged with other exceptions than the status lists: not judged yet.
        let mut stale = covered.clone();
        stale.exceptions_digest = 0;
        assert!(
            namespace_results(&strict, "team", &stale, &FACTS)
                .iter()
                .filter(|r| r.rule.starts_with("SYS") || r.rule.starts_with("APP"))
                .all(|r| r.result == Outcome::Fail)
        );
        let cluster = cluster_results(&strict);
        let of = |outcome: Outcome| {
            cluster
                .iter()
                .filter(|r| r.rule == "exception" && r.result == outcome)
                .count()
        };
        assert_eq!((of(Outcome::Warn), of(Outcome::Skip)), (1, 1));
        assert!(
            cluster
                .iter()
                .any(|r| r.result == Outcome::Skip && r.message.contains("old-one: expired at"))
        );
        assert!(
            !cluster
                .iter()
                .any(|r| r.rule == "exception" && r.result == Outcome::Pass)
        );
    }

    #[test]
    fn failures_pending_conflicts_and_tenant_findings() {
        let mut failed = outcome(NamespaceState::Failed, vec![]);
        failed.reason = Some("ForeignObject");
        failed.message =
            Some("ResourceQuota hardening-quota was not created by the operator".into());
        let results = namespace_results(&strict(), "team", &failed, &FACTS);
        assert!(
            results
                .iter()
                .all(|r| r.result == Outcome::Fail && r.message.contains("not created"))
        );
        let pending = namespace_results(
            &strict(),
            "team",
            &outcome(NamespaceState::Pending, vec![]),
            &FACTS,
        );
        assert!(pending.iter().all(|r| r.result == Outcome::Fail));
        // Another profile governs it: this one reports nothing there.
        let mut other = outcome(NamespaceState::InSync, vec![]);
        other.candidates.insert(0, ("other".into(), 1));
        assert!(namespace_results(&strict(), "team", &other, &FACTS).is_empty());

        let confining = profile("strict")
            .spec_yaml(specs::RESTRICTED_DENY_ALL)
            .spec_yaml("{seccomp: {baseline: Strict}, apparmor: {denyWrite: [/etc/**]}}")
            .build();
        let mut tenant = outcome(NamespaceState::InSync, vec![]);
        tenant.unconfined = Some(
            UnconfinedPods {
                count: 2,
                listed: vec![],
            }
            .into(),
        );
        let results = namespace_results(&confining, "team", &tenant, &FACTS);
        assert_eq!(verdict(&results, "SYS.1.6.A21"), Outcome::Fail);
        tenant.unconfined = Some(UnconfinedPods::default().into());
        // Confined, but only reported (no guardrails.requireProfiles): a warning.
        let results = namespace_results(&confining, "team", &tenant, &FACTS);
        assert_eq!(verdict(&results, "SYS.1.6.A21"), Outcome::Warn);
        let required = profile("strict")
            .spec_yaml(specs::RESTRICTED_DENY_ALL)
            .spec_yaml("{seccomp: {baseline: Strict}, apparmor: {denyWrite: [/etc/**]}, guardrails: {requireProfiles: true}}")
            .build();
        let enforced = ProfileFacts {
            guardrails_enforced: true,
            ..FACTS
        };
        let results = namespace_results(&required, "team", &tenant, &enforced);
        assert_eq!(verdict(&results, "SYS.1.6.A21"), Outcome::Pass);
    }

    #[test]
    fn report_objects_differ_only_where_the_apis_do() {
        let results = namespace_results(
            &strict(),
            "team",
            &outcome(NamespaceState::InSync, vec![]),
            &FACTS,
        );
        let open = report_object(ReportApi::OpenReports, "team", &results);
        let wg = report_object(ReportApi::WgPolicy, "team", &results);
        assert_eq!(open["apiVersion"], "openreports.io/v1alpha1");
        assert_eq!(open["kind"], "Report");
        assert_eq!(open["source"], SOURCE);
        assert_eq!(wg["apiVersion"], "wgpolicyk8s.io/v1alpha2");
        assert_eq!(wg["kind"], "PolicyReport");
        assert!(wg.get("source").is_none());
        assert_eq!(open["summary"], json!(Summary::of(&results)));
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

    fn verdicts(results: &[ReportResult]) -> Vec<(&str, Outcome)> {
        results
            .iter()
            .map(|r| (r.rule.as_str(), r.result))
            .collect()
    }

    /// The operator's own checks among a profile's cluster results.
    fn cluster_checks(profile: &HardeningProfile) -> Vec<ReportResult> {
        cluster_results(profile)
            .into_iter()
            .filter(|r| r.category == SOURCE)
            .collect()
    }

    #[test]
    fn cluster_results_carry_the_status_verdicts_of_the_current_generation_only() {
        let facts = ProfileFacts {
            pods_watched: true,
            guardrails_enforced: false,
            images_scanned: false,
        };
        let ns = NamespaceOutcome {
            candidates: vec![("strict".into(), 2)],
            state: Some(NamespaceState::InSync),
            widening: Some(Vec::new()),
            preview: Some(NamespacePreview::default().into()),
            ..Default::default()
        };
        let spec = strict().spec;
        let compliance = crate::core::compliance::assess_profile(
            &spec,
            &facts,
            ns.compliance_facts("team", "strict", 2, &[], 0),
        );
        let status = json!({ "observedGeneration": 2, "compliance": compliance });
        let results = cluster_results(&strict_at(2, status.clone()));
        for entry in &compliance {
            let result = results.iter().find(|r| r.rule == entry.id);
            assert_eq!(
                result.map(|r| r.result),
                super::outcome(entry.verdict),
                "{}",
                entry.id
            );
        }
        // The namespace's own report agrees, requirement by requirement.
        let own = namespace_results(&strict_at(2, status.clone()), "team", &ns, &facts);
        for r in &own {
            let cluster = results.iter().find(|c| c.rule == r.rule).unwrap();
            assert_eq!((r.result, &r.message), (cluster.result, &cluster.message));
        }
        // A newer generation: nothing is claimed.
        let stale = cluster_results(&strict_at(3, status));
        assert!(
            stale
                .iter()
                .filter(|r| r.category != SOURCE)
                .all(|r| r.result == Outcome::Fail && r.message.contains("generation 3"))
        );
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
        let results = cluster_checks(&strict_at(2, ready.clone()));
        assert_eq!(
            verdicts(&results),
            [
                ("profile-conflicts", Outcome::Pass),
                ("profile-ready", Outcome::Pass)
            ]
        );
        assert_eq!(results[1].message, "3 namespaces in sync");
        assert_eq!(results[1].category, "hardening-operator");
        assert_eq!(
            results[1].resources[0].kind.as_deref(),
            Some("HardeningProfile")
        );
        assert_eq!(results[1].resources[0].namespace, None);

        // A newer generation the status does not describe yet: nothing is claimed.
        let stale = cluster_checks(&strict_at(3, ready));
        assert!(stale.iter().all(|r| r.result == Outcome::Skip), "{stale:?}");
        assert!(stale[0].message.contains("generation 3"));
        assert!(
            cluster_checks(&strict())
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
        let results = cluster_checks(&strict_at(1, troubled));
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
        let results = cluster_checks(&strict_at(1, reconciling));
        assert_eq!(results[1].result, Outcome::Skip);

        let audited_drift = json!({
            "observedGeneration": 1,
            "conditions": [
                condition("Ready", "True", "Audited", "1 namespace audited, 1 drifted (Audit mode changes nothing)"),
                condition("Drifted", "True", "DriftDetected", "1 namespace drifted; first: team"),
            ],
        });
        let results = cluster_checks(&strict_at(1, audited_drift));
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
        let results = cluster_checks(&guarded_at(1, enforced));
        let guardrails = results.iter().find(|r| r.rule == "guardrails").unwrap();
        assert_eq!(guardrails.result, Outcome::Pass);
        assert_eq!(
            guardrails.properties["requirements"],
            "BSI SYS.1.6 (2023) A6, A10"
        );
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
        let results = cluster_checks(&guarded_at(1, drifted));
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
            cluster_checks(&strict())
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
