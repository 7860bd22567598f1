//! Compliance: the catalogues in force ([`catalogue`]: BSI IT-Grundschutz SYS.1.6
//! "Containerisierung" and APP.4.4 "Kubernetes", edition 2023) and the one function that
//! judges each requirement from a profile and what the cluster shows: [`assess_namespace`]
//! for one governed namespace, [`assess_profile`] for a profile over its namespaces (the
//! worst of theirs). The profile's `status.compliance`, the compliance report (which reads
//! that status) and the policy reports (one result per requirement per namespace) all come
//! from here, so they cannot disagree. The conditions of each verdict are written from the
//! requirement's text; README "Requirements and verdicts" states them row by row.
//!
//! Verdicts: `Met` (every condition holds, as far as the cluster's objects show it),
//! `Partial` (what the operator does holds; what is missing is said in words), `NotMet`
//! (why), `Organisational` (the operator neither generates nor checks anything for it),
//! `NotApplicable` (the profile governs no namespace).

pub mod catalogue;

use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};

pub use catalogue::{
    APP_4_4, CATALOGUES, Catalogue, Level, REQUIREMENTS, Requirement, SYS_1_6, Scope, requirement,
};

use crate::core::api::{
    AcceptedDeviation, ActiveException, ComplianceEvidence, DriftEntry, HardeningProfileSpec,
    MAX_LISTED_EVIDENCE, Mode, NamespaceState, PodSecurityLevel, PolicyType, RequirementStatus,
    SeccompBaseline, Verdict, VerdictCounts,
};
use crate::core::isolation::Widening;
use crate::core::plural::count;
use crate::core::preview::NamespacePreview;
use crate::core::workloads::UnconfinedPods;

/// Longest reason kept in a verdict.
pub const MAX_REASON_CHARS: usize = 400;

/// The first Pod Security policy version whose `restricted` level checks everything the
/// verdicts rely on: `runAsUser=0` (from v1.23), dropped capabilities (v1.22), seccomp
/// (v1.19), `allowPrivilegeEscalation` (v1.8), `runAsNonRoot` (v1.0)
/// (k8s.io/pod-security-admission v0.36.2, `policy/check_*.go`).
pub const RESTRICTED_COMPLETE_FROM_MINOR: u32 = 23;

/// What holds for a profile as a whole, beyond its spec.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ProfileFacts {
    /// The operator watches pods (`--pod-report`): unconfined pods can be counted.
    pub pods_watched: bool,
    /// The API server enforces the profile's guardrails: Enforce mode, the
    /// ValidatingAdmissionPolicy and binding as rendered, with `Deny`.
    pub guardrails_enforced: bool,
    /// The cluster has the Trivy Operator's VulnerabilityReports: each namespace says which
    /// images have fixable CRITICAL or HIGH vulnerabilities.
    pub images_scanned: bool,
}

/// What the cluster shows of one namespace the profile governs.
#[derive(Clone, Debug)]
pub struct NamespaceFacts<'a> {
    pub name: &'a str,
    /// `InSync`, `Drifted`, `Failed` or `Pending` (a namespace another profile governs is
    /// that profile's to judge).
    pub state: NamespaceState,
    /// Why it is `Failed`.
    pub message: Option<&'a str>,
    pub drift: &'a [DriftEntry],
    /// Pods not using the profile's seccomp/AppArmor profiles; `None`: not checked.
    pub unconfined: Option<&'a UnconfinedPods>,
    /// Tenant NetworkPolicy rules opening what the profile denies; `None`: not checked.
    pub widening: Option<&'a [Widening]>,
    /// The running pods judged by the profile's Pod Security level and guardrails, in either
    /// mode; `None`: not judged (yet).
    pub running: Option<&'a NamespacePreview>,
    /// Workload containers whose images have fixable CRITICAL or HIGH vulnerabilities;
    /// `None`: not scanned (see `ProfileFacts::images_scanned`).
    pub vulnerable: Option<&'a crate::core::vulnerabilities::VulnerableImages>,
    /// The HardeningExceptions in force that cover this namespace (their findings on the
    /// running pods are accepted, not gaps: the preview leaves them out).
    pub exceptions: Vec<&'a ActiveException>,
}

impl<'a> NamespaceFacts<'a> {
    /// A namespace not reconciled (at the profile's generation and exceptions) yet.
    pub fn pending(name: &'a str) -> Self {
        NamespaceFacts {
            name,
            state: NamespaceState::Pending,
            message: None,
            drift: &[],
            unconfined: None,
            widening: None,
            running: None,
            vulnerable: None,
            exceptions: Vec::new(),
        }
    }
}

/// One requirement judged.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub requirement: &'static Requirement,
    pub verdict: Verdict,
    pub reason: String,
    pub evidence: Vec<ComplianceEvidence>,
    /// The exceptions in force that weaken it here: accepted deviations.
    pub accepted: Vec<AcceptedDeviation>,
}

/// A shortfall found while judging: how bad, what, and where it shows.
struct Gap {
    verdict: Verdict,
    text: String,
    evidence: Vec<ComplianceEvidence>,
}

/// What the profile's spec declares, derived once per judgement.
struct Declared<'a> {
    spec: &'a HardeningProfileSpec,
    enforcing: bool,
    /// The Pod Security `enforce` level (above `privileged`) and its version (`None`: latest).
    level: Option<(PodSecurityLevel, Option<u32>)>,
    ingress: bool,
    egress: bool,
}

impl<'a> Declared<'a> {
    fn of(spec: &'a HardeningProfileSpec) -> Self {
        let level = spec
            .pod_security
            .as_ref()
            .and_then(|ps| ps.enforce.as_ref())
            .filter(|e| e.level != PodSecurityLevel::Privileged)
            .map(|e| {
                let minor = e
                    .version
                    .as_deref()
                    .filter(|v| *v != "latest")
                    .and_then(|v| v.strip_prefix("v1."))
                    .and_then(|n| n.parse::<u32>().ok());
                (e.level, minor)
            });
        let isolated = spec
            .network_policy
            .as_ref()
            .map(|np| np.isolated_directions())
            .unwrap_or_default();
        Declared {
            spec,
            enforcing: spec.mode == Mode::Enforce,
            level,
            ingress: isolated.contains(&PolicyType::Ingress),
            egress: isolated.contains(&PolicyType::Egress),
        }
    }

    fn baseline(&self) -> bool {
        self.level.is_some()
    }

    fn restricted(&self) -> bool {
        matches!(self.level, Some((PodSecurityLevel::Restricted, _)))
    }

    fn level_text(&self) -> String {
        match self.level {
            Some((level, Some(minor))) => format!("{}:v1.{minor}", level.as_str()),
            Some((level, None)) => format!("{}:latest", level.as_str()),
            None => "none".to_owned(),
        }
    }

    fn guardrail(&self, on: impl Fn(&crate::core::api::Guardrails) -> bool) -> bool {
        self.spec.guardrails.as_ref().is_some_and(on)
    }
}

impl Judge<'_> {
    /// Rules a requirement rests on: each missing one is a gap of `missing` (`None`: all of
    /// them missing is NotMet, some Partial), named with the profile field; declared but not
    /// enforced by the API server, NotMet.
    fn rules(&mut self, facts: &ProfileFacts, rules: &[(&str, bool, &str)], none_declared: &str) {
        let declared = rules.iter().filter(|(_, on, _)| *on).count();
        if declared == 0 {
            self.not_met(
                none_declared.to_owned(),
                rules
                    .iter()
                    .map(|(field, _, _)| {
                        profile_field(&format!("spec.guardrails.{field}"), "unset")
                    })
                    .collect(),
            );
            return;
        }
        for (field, on, why) in rules {
            if !on {
                self.partial(
                    format!("{why} (guardrails.{field})"),
                    vec![profile_field(&format!("spec.guardrails.{field}"), "unset")],
                );
            }
        }
        if !facts.guardrails_enforced {
            self.not_met(
                "the guardrails are not enforced (see the GuardrailsEnforced condition)",
                Vec::new(),
            );
        }
    }
}

fn profile_field(field: &str, note: impl Into<String>) -> ComplianceEvidence {
    ComplianceEvidence {
        namespace: None,
        kind: "HardeningProfile".to_owned(),
        name: None,
        field: Some(field.to_owned()),
        note: note.into(),
    }
}

fn object(
    namespace: &str,
    kind: &str,
    name: &str,
    field: Option<&str>,
    note: &str,
) -> ComplianceEvidence {
    ComplianceEvidence {
        namespace: Some(namespace.to_owned()),
        kind: kind.to_owned(),
        name: Some(name.to_owned()),
        field: field.map(str::to_owned),
        note: crate::core::api::truncate_text(note),
    }
}

/// Judges one requirement in one namespace: collects its gaps, the worst decides.
struct Judge<'a> {
    declared: &'a Declared<'a>,
    ns: &'a NamespaceFacts<'a>,
    /// Per Pod Security finding of the running pods, its checks as a [`check_mask`].
    masks: &'a [u32],
    gaps: Vec<Gap>,
}

impl Judge<'_> {
    fn gap(
        &mut self,
        verdict: Verdict,
        text: impl Into<String>,
        evidence: Vec<ComplianceEvidence>,
    ) {
        self.gaps.push(Gap {
            verdict,
            text: text.into(),
            evidence,
        });
    }

    fn not_met(&mut self, text: impl Into<String>, evidence: Vec<ComplianceEvidence>) {
        self.gap(Verdict::NotMet, text, evidence);
    }

    fn partial(&mut self, text: impl Into<String>, evidence: Vec<ComplianceEvidence>) {
        self.gap(Verdict::Partial, text, evidence);
    }

    /// The namespace's state: failed or pending meets nothing; drift of `kinds` breaks
    /// what those objects provide. Audit mode reports and keeps nothing.
    fn state(&mut self, kinds: &[&str]) {
        let ns = self.ns;
        match ns.state {
            NamespaceState::Failed => self.not_met(
                format!(
                    "the namespace cannot be brought to the profile: {}",
                    ns.message.unwrap_or("failed")
                ),
                vec![object(ns.name, "Namespace", ns.name, None, "Failed")],
            ),
            NamespaceState::Pending | NamespaceState::Conflict => self.not_met(
                "the namespace is not reconciled at the profile's generation yet",
                vec![object(ns.name, "Namespace", ns.name, None, "Pending")],
            ),
            NamespaceState::Drifted | NamespaceState::InSync => {
                let drifted: Vec<&DriftEntry> = ns
                    .drift
                    .iter()
                    .filter(|d| kinds.contains(&d.kind.as_str()))
                    .collect();
                if !drifted.is_empty() {
                    let first = drifted[0];
                    self.not_met(
                        format!(
                            "{} {} differs from the profile ({}{})",
                            first.kind,
                            first.name,
                            first.field,
                            match drifted.len() - 1 {
                                0 => String::new(),
                                n => format!(" and {} more", count(n, "field")),
                            }
                        ),
                        drifted
                            .iter()
                            .take(MAX_LISTED_EVIDENCE)
                            .map(|d| {
                                let note = match &d.manager {
                                    Some(m) => format!("differs from the profile, changed by {m}"),
                                    None => "differs from the profile".to_owned(),
                                };
                                let name = if d.kind == "Namespace" {
                                    ns.name
                                } else {
                                    &d.name
                                };
                                object(ns.name, &d.kind, name, Some(&d.field), &note)
                            })
                            .collect(),
                    );
                }
            }
        }
        if !self.declared.enforcing {
            self.partial(
                "Audit mode: found as declared, but the operator enforces and repairs nothing",
                vec![profile_field("spec.mode", "Audit")],
            );
        }
    }

    /// Running pods: any finding of Pod Security whose check is one of `checks`, or of a
    /// guardrail in `rules`, breaks the requirement; pods not judged cap it at Partial.
    /// Images with fixable CRITICAL or HIGH vulnerabilities (the Trivy Operator's
    /// VulnerabilityReports): not met while any run; without the reports, not known.
    fn vulnerabilities(&mut self, scanned: bool) {
        if !scanned {
            self.partial(
                "the images' vulnerability status is not known (no Trivy Operator VulnerabilityReports in the cluster)",
                Vec::new(),
            );
            return;
        }
        let ns = self.ns;
        if let Some(vulnerable) = ns.vulnerable.filter(|v| v.count > 0) {
            let text =
                crate::core::vulnerabilities::withdrawn(vulnerable.count).unwrap_or_default();
            let first = vulnerable.listed.first().cloned().unwrap_or_default();
            self.not_met(
                format!("{text}; first: {first}"),
                vec![ComplianceEvidence {
                    namespace: Some(ns.name.to_owned()),
                    kind: "VulnerabilityReport".to_owned(),
                    name: None,
                    field: None,
                    note: first,
                }],
            );
        }
    }

    fn running(&mut self, checks: &[&str], rules: &[&str]) {
        let ns = self.ns;
        let Some(preview) = ns.running else {
            self.partial(
                "running pods not checked (pods admitted before the namespace was hardened may break it)",
                Vec::new(),
            );
            return;
        };
        let mut pods = 0u32;
        let mut first: Option<String> = None;
        let mut evidence = Vec::new();
        let wanted = check_mask(checks);
        for (f, mask) in preview.pod_security.findings.iter().zip(self.masks) {
            if mask & wanted == 0 {
                continue;
            }
            pods += 1 + f.other_pods;
            if evidence.len() < MAX_LISTED_EVIDENCE {
                let broken: Vec<&str> = f
                    .reason
                    .split(", ")
                    .filter(|check| check_mask(&[check]) & wanted != 0)
                    .collect();
                let what = format!(
                    "Pod Security {}: {}",
                    preview.level.as_deref().unwrap_or_default(),
                    broken.join(", ")
                );
                first.get_or_insert_with(|| format!("{}: {what}", f.pod));
                evidence.push(object(ns.name, "Pod", &f.pod, None, &what));
            }
        }
        for f in preview
            .guardrails
            .iter()
            .filter(|f| rules.contains(&f.rule))
        {
            pods += 1;
            if evidence.len() < MAX_LISTED_EVIDENCE {
                let what = format!("guardrail {}: {}", f.rule, f.reason);
                first.get_or_insert_with(|| format!("{}: {what}", f.pod));
                evidence.push(object(ns.name, "Pod", &f.pod, None, &what));
            }
        }
        if pods > 0 {
            self.not_met(
                format!(
                    "{} running break{} it; first: {}",
                    count(pods, "pod"),
                    if pods == 1 { "s" } else { "" },
                    first.unwrap_or_default()
                ),
                evidence,
            );
        } else if let Some(note) = preview
            .pod_security
            .incomplete
            .as_ref()
            .filter(|_| !checks.is_empty())
        {
            self.partial(
                format!("running pods only partly checked: {note}"),
                Vec::new(),
            );
        }
    }

    /// Tenant NetworkPolicy rules opening what the profile denies.
    fn widening(&mut self) {
        let ns = self.ns;
        if let Some(w) = ns.widening.filter(|w| !w.is_empty()) {
            self.not_met(
                format!(
                    "{} of tenants allow{} traffic the profile denies; first: {} allows {} {}",
                    count(w.len(), "NetworkPolicy rule"),
                    if w.len() == 1 { "s" } else { "" },
                    w[0].policy,
                    w[0].direction.as_str().to_lowercase(),
                    w[0].opens
                ),
                w.iter()
                    .take(MAX_LISTED_EVIDENCE)
                    .map(|w| {
                        object(
                            ns.name,
                            "NetworkPolicy",
                            &w.policy,
                            None,
                            &format!("allows {} {}", w.direction.as_str().to_lowercase(), w.opens),
                        )
                    })
                    .collect(),
            );
        }
    }

    /// The worst gap decides; `met` says what holds when there is none.
    fn finish(
        self,
        requirement: &'static Requirement,
        met: &str,
        holds: Vec<ComplianceEvidence>,
    ) -> Finding {
        let verdict = self
            .gaps
            .iter()
            .map(|g| g.verdict)
            .max_by_key(|v| v.severity())
            .unwrap_or(Verdict::Met);
        if verdict == Verdict::Met {
            return Finding {
                requirement,
                verdict,
                reason: met.to_owned(),
                evidence: holds.into_iter().take(MAX_LISTED_EVIDENCE).collect(),
                accepted: Vec::new(),
            };
        }
        // The gaps of the deciding verdict first, then the others.
        let mut gaps = self.gaps;
        gaps.sort_by_key(|g| std::cmp::Reverse(g.verdict.severity()));
        let texts: Vec<&str> = gaps.iter().map(|g| g.text.as_str()).collect();
        let reason = if verdict == Verdict::Partial {
            format!("{met}; but {}", texts.join("; "))
        } else {
            texts.join("; ")
        };
        // What holds is evidence of a Partial verdict only; a NotMet one shows what breaks it.
        let holds = if verdict == Verdict::Partial {
            holds
        } else {
            Vec::new()
        };
        let evidence: Vec<ComplianceEvidence> = gaps
            .into_iter()
            .flat_map(|g| g.evidence)
            .chain(holds)
            .take(MAX_LISTED_EVIDENCE)
            .collect();
        Finding {
            requirement,
            verdict,
            reason: cut(&reason),
            evidence,
            accepted: Vec::new(),
        }
    }
}

fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_REASON_CHARS - 1) {
        Some((at, _)) if text.chars().count() > MAX_REASON_CHARS => format!("{}…", &text[..at]),
        _ => text.to_owned(),
    }
}

/// Pod Security checks (the reasons k8s.io/pod-security-admission gives) by what they keep
/// from the host.
const HOST_NETWORK: [&str; 2] = ["host namespaces", "hostPort"];
const HOST_ACCESS: [&str; 4] = [
    "privileged",
    "host namespaces",
    "hostPath volumes",
    "probe or lifecycle host",
];
const PRIVILEGES: [&str; 7] = [
    "privileged",
    "allowPrivilegeEscalation != false",
    "unrestricted capabilities",
    "non-default capabilities",
    "runAsNonRoot != true",
    "runAsUser=0",
    "seccompProfile",
];
const HOST_ACCOUNTS: [&str; 5] = [
    "privileged",
    "host namespaces",
    "hostPath volumes",
    "runAsNonRoot != true",
    "runAsUser=0",
];
const STORAGE: [&str; 2] = ["hostPath volumes", "restricted volume types"];
const POD_SEPARATION: [&str; 10] = [
    "privileged",
    "host namespaces",
    "hostPath volumes",
    "procMount",
    "forbidden sysctls",
    "forbidden AppArmor profile",
    "seLinuxOptions",
    "hostProcess",
    "probe or lifecycle host",
    "non-default capabilities",
];
/// Every Pod Security check: the profile's policy as a whole.
const ANY_CHECK: [&str; 1] = [""];

/// The reasons k8s.io/pod-security-admission v0.36.2 gives (`policy/check_*.go`), by bit;
/// the last stands for anything else a newer admission plugin may say.
const CHECKS: [&str; 18] = [
    "privileged",
    "host namespaces",
    "hostPath volumes",
    "hostPort",
    "non-default capabilities",
    "unrestricted capabilities",
    "allowPrivilegeEscalation != false",
    "runAsNonRoot != true",
    "runAsUser=0",
    "seccompProfile",
    "restricted volume types",
    "procMount",
    "forbidden sysctls",
    "forbidden AppArmor profile",
    "seLinuxOptions",
    "hostProcess",
    "probe or lifecycle host",
    "",
];

/// The bits of `checks`: a check counts when it starts with a known reason, an unknown one
/// as the last bit; `""` stands for every check.
fn check_mask(checks: &[&str]) -> u32 {
    let mut mask = 0;
    for check in checks {
        if check.is_empty() {
            return u32::MAX;
        }
        let bit = CHECKS
            .iter()
            .position(|c| !c.is_empty() && check.starts_with(c))
            .unwrap_or(CHECKS.len() - 1);
        mask |= 1 << bit;
    }
    mask
}
const IMAGE_RULES: [&str; 3] = ["allowedRegistries", "requireImageTag", "requireImageDigest"];
/// Every rule that rejects pods: a running pod breaking one is not under the profile's policy.
const ALL_RULES: [&str; 13] = [
    "allowedRegistries",
    "requireImageTag",
    "requireImageDigest",
    "requireReadOnlyRootFilesystem",
    "requireProfiles",
    "requireUserNamespaces",
    "denySecretEnvLiterals",
    "denyServiceAccountToken",
    "denyDefaultServiceAccount",
    "requireController",
    "requireProbes",
    "requireReadOnlyMounts",
    "denyMountPropagation",
];

/// Every requirement of both catalogues judged for one namespace the profile governs.
pub fn assess_namespace(
    spec: &HardeningProfileSpec,
    facts: &ProfileFacts,
    ns: &NamespaceFacts<'_>,
) -> Vec<Finding> {
    let declared = Declared::of(spec);
    // The running pods' Pod Security findings, read once for every requirement.
    let masks: Vec<u32> = ns
        .running
        .map(|p| {
            p.pod_security
                .findings
                .iter()
                .map(|f| {
                    f.reason
                        .split(", ")
                        .fold(0, |m, check| m | check_mask(&[check]))
                })
                .collect()
        })
        .unwrap_or_default();
    REQUIREMENTS
        .iter()
        .map(|r| judge(r, &declared, facts, ns, &masks))
        .map(|f| {
            if f.requirement.assessed() {
                with_deviations(f, &ns.exceptions)
            } else {
                f
            }
        })
        .collect()
}

fn organisational(r: &'static Requirement, why: &str) -> Finding {
    Finding {
        requirement: r,
        verdict: Verdict::Organisational,
        reason: why.to_owned(),
        evidence: Vec::new(),
        accepted: Vec::new(),
    }
}

/// The assessed requirements resting on the Pod Security enforce level: what a
/// HardeningException lowering it weakens.
const POD_SECURITY_ROWS: [&str; 9] = [
    "SYS.1.6.A5",
    "SYS.1.6.A10",
    "SYS.1.6.A16",
    "SYS.1.6.A17",
    "SYS.1.6.A18",
    "SYS.1.6.A19",
    "APP.4.4.A4",
    "APP.4.4.A7",
    "APP.4.4.A13",
];

/// The requirements (2023 IDs) suspending guardrail `rule` weakens: those the rule serves
/// ([`guardrail_requirements`]), SYS.1.6.A10 for the pod rules (the policy for images and
/// containers) and APP.4.4.A13 for every rule (the settings audited and enforced). Computed
/// once per rule (it is asked for every namespace and requirement).
pub fn rule_weakens(rule: &str) -> &'static [&'static str] {
    static TABLE: std::sync::OnceLock<Vec<(&'static str, Vec<&'static str>)>> =
        std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        crate::core::api::GUARDRAIL_RULES
            .iter()
            .map(|(rule, _)| {
                let mut ids: Vec<&'static str> = guardrail_requirements(rule).to_vec();
                if ALL_RULES.contains(rule) {
                    ids.push("SYS.1.6.A10");
                }
                ids.push("APP.4.4.A13");
                ids.sort();
                ids.dedup();
                (*rule, ids)
            })
            .collect()
    });
    table
        .iter()
        .find(|(r, _)| *r == rule)
        .map_or(&[], |(_, ids)| ids.as_slice())
}

/// The requirements (2023 IDs) `exception` weakens, in catalogue order.
pub fn exception_weakens(rules: &[String], level: Option<PodSecurityLevel>) -> Vec<&'static str> {
    let mut ids: Vec<&'static str> = rules
        .iter()
        .flat_map(|r| rule_weakens(r).iter().copied())
        .collect();
    if level.is_some() {
        ids.extend(POD_SECURITY_ROWS);
    }
    REQUIREMENTS
        .iter()
        .map(|r| r.id)
        .filter(|id| ids.contains(id))
        .collect()
}

/// Whether `exception` weakens requirement `id` (cheap: asked for every namespace).
fn weakens(id: &str, exception: &ActiveException) -> bool {
    (exception.pod_security_level.is_some() && POD_SECURITY_ROWS.contains(&id))
        || exception
            .rules
            .iter()
            .any(|rule| rule_weakens(rule).contains(&id))
}

/// What `exception` suspends of requirement `id`, in words; `None` when it weakens it not.
fn deviation_of(id: &str, exception: &ActiveException) -> Option<String> {
    let rules: Vec<&str> = exception
        .rules
        .iter()
        .map(String::as_str)
        .filter(|rule| rule_weakens(rule).contains(&id))
        .collect();
    if rules.is_empty() && exception.pod_security_level.is_none() {
        return None;
    }
    let level = exception
        .pod_security_level
        .filter(|_| POD_SECURITY_ROWS.contains(&id));
    let mut parts = Vec::new();
    match rules.as_slice() {
        [] => {}
        [one] => parts.push(format!("guardrail {one}")),
        many => parts.push(format!("guardrails {}", many.join(", "))),
    }
    if let Some(level) = level {
        parts.push(format!("Pod Security enforce {}", level.as_str()));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// A deviation in words: `HardeningException legacy (guardrail requireImageTag; owner
/// team-a, until 2026-12-31T00:00:00Z): reason`.
pub fn deviation_text(d: &AcceptedDeviation) -> String {
    format!(
        "HardeningException {} ({}; owner {}, until {}): {}",
        d.exception, d.suspends, d.owner, d.expires, d.reason
    )
}

/// The exceptions in force covering the namespace weaken the finding: accepted deviations,
/// listed with owner, reason and expiry (the first [`MAX_DEVIATIONS`]; the reason counts the
/// others). A requirement otherwise met is "met except accepted deviations" (Partial), never
/// Met; any other verdict says them after its reason.
fn with_deviations(mut finding: Finding, exceptions: &[&ActiveException]) -> Finding {
    let id = finding.requirement.id;
    let mut total = 0;
    for e in exceptions {
        if !weakens(id, e) {
            continue;
        }
        total += 1;
        if finding.accepted.len() < MAX_DEVIATIONS
            && let Some(suspends) = deviation_of(id, e)
        {
            finding.accepted.push(AcceptedDeviation {
                exception: e.name.clone(),
                owner: e.owner.clone(),
                reason: e.reason.clone(),
                expires: e.expires.clone(),
                suspends,
                namespaces: 1,
            });
        }
    }
    if total == 0 {
        return finding;
    }
    // The reason is cut at MAX_REASON_CHARS: what would be cut is not written.
    let mut listed = String::new();
    for d in &finding.accepted {
        if listed.len() > MAX_REASON_CHARS {
            break;
        }
        if !listed.is_empty() {
            listed.push_str("; ");
        }
        listed.push_str(&deviation_text(d));
    }
    if total > finding.accepted.len() {
        listed.push_str(&format!(
            "; and {} more",
            count(total - finding.accepted.len(), "exception")
        ));
    }
    finding.reason = match finding.verdict {
        Verdict::Met => {
            finding.verdict = Verdict::Partial;
            format!(
                "met except accepted deviations: {listed} (what holds: {})",
                finding.reason
            )
        }
        _ => format!("{}; accepted deviations: {listed}", finding.reason),
    };
    finding.reason = cut(&finding.reason);
    finding
}

fn judge(
    r: &'static Requirement,
    d: &Declared<'_>,
    facts: &ProfileFacts,
    ns: &NamespaceFacts<'_>,
    masks: &[u32],
) -> Finding {
    if let Scope::Organisational(why) = r.scope {
        return organisational(r, why);
    }
    let mut j = Judge {
        declared: d,
        ns,
        masks,
        gaps: Vec::new(),
    };
    let n = ns.name;
    let labels = |note: &str| {
        object(
            n,
            "Namespace",
            n,
            Some("metadata.labels[pod-security.kubernetes.io/enforce]"),
            note,
        )
    };
    let deny = |note: &str| {
        object(
            n,
            "NetworkPolicy",
            "hardening-default-deny",
            Some("spec.policyTypes"),
            note,
        )
    };
    let no_level = |j: &mut Judge<'_>, what: &str| {
        j.not_met(
            format!("no Pod Security enforce level: {what}"),
            vec![profile_field(
                "spec.podSecurity.enforce",
                "unset or privileged",
            )],
        )
    };
    match r.id {
        "SYS.1.6.A5" => {
            j.state(&["NetworkPolicy", "Namespace"]);
            network_both_ways(&mut j, Verdict::Partial);
            if !d.baseline() {
                j.partial(
                    "no Pod Security enforce level forbids host networking, and a hostNetwork pod bypasses every NetworkPolicy",
                    vec![profile_field("spec.podSecurity.enforce", "unset or privileged")],
                );
            }
            j.widening();
            j.running(&HOST_NETWORK, &[]);
            j.partial(
                "separating the hosts' administration network, and whether the cluster's network plugin enforces NetworkPolicies, is outside the objects the operator sees",
                Vec::new(),
            );
            j.finish(r, "NetworkPolicies deny traffic in both directions but what the profile allows, and no pod may use the host's network", vec![deny("Ingress, Egress"), labels(&d.level_text())])
        }
        "SYS.1.6.A6" => {
            j.state(&[]);
            let registries = d.guardrail(|g| !g.allowed_registries.is_empty());
            if !registries {
                j.not_met(
                    "images from any source are admitted (no guardrails.allowedRegistries)",
                    vec![profile_field("spec.guardrails.allowedRegistries", "unset")],
                );
            } else if !facts.guardrails_enforced {
                j.not_met(
                    "the guardrails are not enforced (see the GuardrailsEnforced condition)",
                    Vec::new(),
                );
            }
            if !d.guardrail(|g| g.require_image_tag || g.require_image_digest) {
                j.partial(
                    "images need not carry a version (guardrails.requireImageTag or requireImageDigest)",
                    vec![profile_field("spec.guardrails.requireImageTag", "unset")],
                );
            }
            j.running(&[], &IMAGE_RULES);
            j.vulnerabilities(facts.images_scanned);
            j.partial(
                "the images' creators and whether base images are supported are not checked",
                Vec::new(),
            );
            j.finish(
                r,
                "images are admitted only from the allowed registries",
                vec![profile_field(
                    "spec.guardrails.allowedRegistries",
                    "enforced",
                )],
            )
        }
        "SYS.1.6.A8" => {
            j.state(&[]);
            let literals = d.guardrail(|g| g.deny_secret_env_literals);
            j.rules(facts, &[("denySecretEnvLiterals", literals, "")], "containers may carry passwords, API keys and other credentials as literal environment values, readable by anyone who may read the pod (no guardrails.denySecretEnvLiterals)");
            j.running(&[], &["denySecretEnvLiterals"]);
            j.partial(
                "credentials built into images are not checked, and who may read the namespace's Secrets is only listed for review (status.secretReaders)",
                Vec::new(),
            );
            j.finish(r, "no container takes a value with a secret-like name from a literal environment variable: such values come from Secrets", vec![profile_field("spec.guardrails.denySecretEnvLiterals", "enforced")])
        }
        "SYS.1.6.A11" => {
            j.state(&[]);
            let on = d.guardrail(|g| g.one_service_per_container);
            if !on {
                j.not_met(
                    "the services a container provides are not checked (no guardrails.oneServicePerContainer)",
                    vec![profile_field("spec.guardrails.oneServicePerContainer", "unset")],
                );
            }
            j.running(&[], &["oneServicePerContainer"]);
            j.partial(
                "a heuristic that only warns (one container port, no process supervisor as command): what a container runs is not known to the API server",
                Vec::new(),
            );
            j.finish(r, "containers exposing more than one port or starting a process supervisor are warned about", vec![profile_field("spec.guardrails.oneServicePerContainer", "warns")])
        }
        "SYS.1.6.A25" | "APP.4.4.A19" => {
            j.state(&[]);
            let controller = d.guardrail(|g| g.require_controller);
            let available = d.guardrail(|g| g.high_availability);
            j.rules(
                facts,
                &[
                    ("requireController", controller, "bare pods, which nothing recreates when their node fails, are admitted"),
                    ("highAvailability", available, "workloads are not checked for replicas and disruption budgets"),
                ],
                "nothing about availability is checked: bare pods are admitted and replicas not checked (no guardrails.requireController or highAvailability)",
            );
            j.running(&[], &["requireController", "highAvailability"]);
            if r.id == "SYS.1.6.A25" {
                j.partial("the level of availability each application needs is to be defined, and whether replicas run on different hosts is not checked", Vec::new());
            } else {
                j.partial("sites and fire zones, the spreading of replicas across them and the control plane's own availability are not checked", Vec::new());
            }
            j.finish(r, "every pod has a controller, and workloads labelled highly available run at least 2 replicas under a PodDisruptionBudget", vec![profile_field("spec.guardrails.highAvailability", "enforced")])
        }
        "APP.4.4.A9" => {
            j.state(&[]);
            let default_account = d.guardrail(|g| g.deny_default_service_account);
            let token = d.guardrail(|g| g.deny_service_account_token);
            j.rules(
                facts,
                &[
                    ("denyDefaultServiceAccount", default_account, "pods may use the default service account"),
                    ("denyServiceAccountToken", token, "pods that do not call the API get a service account token anyway"),
                ],
                "pods may use the default service account and get its token without needing it (no guardrails.denyDefaultServiceAccount or denyServiceAccountToken)",
            );
            j.running(
                &[],
                &["denyDefaultServiceAccount", "denyServiceAccountToken"],
            );
            j.partial("the rights granted to service accounts (least privilege, none to default) and tokens per automation program are not checked", Vec::new());
            j.finish(r, "no pod runs under the default service account, and only pods that ask for one get a token", vec![profile_field("spec.guardrails.denyDefaultServiceAccount", "enforced"), profile_field("spec.guardrails.denyServiceAccountToken", "enforced")])
        }
        "APP.4.4.A11" => {
            j.state(&[]);
            let probes = d.guardrail(|g| g.require_probes);
            j.rules(
                facts,
                &[("requireProbes", probes, "")],
                "containers need no liveness or readiness probe (no guardrails.requireProbes)",
            );
            j.running(&[], &["requireProbes"]);
            j.finish(r, "every container of a long-running pod has a liveness and a readiness probe (whether they test what matters, and their periods, are the application's)", vec![profile_field("spec.guardrails.requireProbes", "enforced")])
        }
        "SYS.1.6.A10" => {
            j.state(&["Namespace"]);
            let registries = d.guardrail(|g| !g.allowed_registries.is_empty());
            match (d.baseline(), registries) {
                (false, false) => j.not_met(
                    "the profile states neither rules for running containers (Pod Security enforce level) nor permitted images (guardrails.allowedRegistries)",
                    vec![profile_field("spec.podSecurity.enforce", "unset"), profile_field("spec.guardrails.allowedRegistries", "unset")],
                ),
                (false, true) => j.partial("no rules for running containers (Pod Security enforce level)", vec![profile_field("spec.podSecurity.enforce", "unset")]),
                (true, false) => j.partial("no permitted images (guardrails.allowedRegistries)", vec![profile_field("spec.guardrails.allowedRegistries", "unset")]),
                (true, true) => {}
            }
            if registries && !facts.guardrails_enforced && d.enforcing {
                j.not_met(
                    "the guardrails are not enforced (see the GuardrailsEnforced condition)",
                    Vec::new(),
                );
            }
            if !d.guardrail(|g| g.require_image_tag || g.require_image_digest) {
                j.partial("no rule for deploying images (guardrails.requireImageTag or requireImageDigest)", vec![profile_field("spec.guardrails.requireImageTag", "unset")]);
            }
            j.running(&ANY_CHECK, &ALL_RULES);
            j.finish(r, "the profile is the policy: Pod Security level, permitted registries and versioned images, applied by the API server to every pod", vec![labels(&d.level_text()), profile_field("spec.guardrails", "enforced")])
        }
        "SYS.1.6.A15" => {
            j.state(&["LimitRange"]);
            let container = d.spec.limit_range.as_ref().and_then(|lr| {
                lr.limits
                    .iter()
                    .find(|l| l.type_ == crate::core::api::LimitType::Container)
            });
            let bounds = |resource: &str| {
                container.is_some_and(|c| {
                    c.default.as_ref().is_some_and(|m| m.contains_key(resource))
                        || c.max.as_ref().is_some_and(|m| m.contains_key(resource))
                })
            };
            let missing: Vec<&str> = ["cpu", "memory"]
                .into_iter()
                .filter(|r| !bounds(r))
                .collect();
            if !missing.is_empty() {
                j.not_met(
                    format!(
                        "{} not limited per container (the LimitRange sets no default or max {})",
                        missing.join(" and "),
                        missing.join(" or ")
                    ),
                    vec![profile_field(
                        "spec.limitRange.limits[type=Container]",
                        format!("no default or max {}", missing.join(", ")),
                    )],
                );
            }
            let claims = d.spec.limit_range.as_ref().is_some_and(|lr| {
                lr.limits.iter().any(|l| {
                    l.type_ == crate::core::api::LimitType::PersistentVolumeClaim
                        && l.max.as_ref().is_some_and(|m| m.contains_key("storage"))
                })
            });
            if !claims {
                j.partial("persistent storage per claim is not bounded (no PersistentVolumeClaim max storage)", vec![profile_field("spec.limitRange.limits[type=PersistentVolumeClaim]", "no max storage")]);
            }
            j.partial(
                "network bandwidth is not limited, the reaction to exceeded limits is to be documented, and pods admitted before the LimitRange are not checked",
                Vec::new(),
            );
            j.finish(r, "every container gets CPU and memory requests and limits (LimitRange hardening-limits)", vec![object(n, "LimitRange", "hardening-limits", Some("spec.limits"), "Container default/max cpu, memory")])
        }
        "SYS.1.6.A16" => {
            j.state(&["Namespace"]);
            if !d.baseline() {
                no_level(
                    &mut j,
                    "containers may be privileged or use the host's namespaces and file system",
                );
            }
            j.running(&HOST_ACCESS, &[]);
            j.partial("remote maintenance access points in containers (such as SSH servers) are not checked", Vec::new());
            j.finish(
                r,
                "no container may be privileged or use the host's namespaces or paths",
                vec![labels(&d.level_text())],
            )
        }
        "SYS.1.6.A17" => {
            j.state(&["Namespace"]);
            match d.level {
                Some((PodSecurityLevel::Restricted, Some(minor))) if minor < RESTRICTED_COMPLETE_FROM_MINOR => {
                    let mut unchecked = Vec::new();
                    if minor < 8 { unchecked.push("allowPrivilegeEscalation (from v1.8)"); }
                    if minor < 19 { unchecked.push("seccompProfile (from v1.19)"); }
                    if minor < 22 { unchecked.push("dropped capabilities (from v1.22)"); }
                    unchecked.push("runAsUser=0 (from v1.23)");
                    j.partial(
                        format!("Pod Security restricted:v1.{minor} does not check {}", unchecked.join(", ")),
                        vec![profile_field("spec.podSecurity.enforce.version", format!("v1.{minor}"))],
                    );
                }
                Some((PodSecurityLevel::Restricted, _)) => {}
                Some(_) => j.not_met(
                    "containers may run as root and gain privileges (Pod Security baseline, not restricted)",
                    vec![profile_field("spec.podSecurity.enforce.level", "baseline")],
                ),
                None => no_level(&mut j, "containers may run privileged, as root"),
            }
            j.running(&PRIVILEGES, &[]);
            j.partial("the container runtime's own account and its further encapsulation are host matters", Vec::new());
            j.finish(r, "containers run as non-root, cannot escalate privileges, with ALL capabilities dropped (Pod Security restricted)", vec![labels(&d.level_text())])
        }
        "SYS.1.6.A18" => {
            j.state(&["Namespace"]);
            if !d.restricted() {
                j.not_met(
                    "containers may run as root (no Pod Security restricted), which is root on the host without user namespaces",
                    vec![profile_field("spec.podSecurity.enforce.level", d.level_text())],
                );
            }
            user_namespaces(&mut j, facts, "a container's user IDs are the host's");
            j.running(&HOST_ACCOUNTS, &["requireUserNamespaces"]);
            j.finish(
                r,
                "containers run as non-root, without host namespaces or host paths, each pod in a user namespace of its own (hostUsers: false), so no account of a container has rights on the host",
                vec![labels(&d.level_text()), profile_field("spec.guardrails.requireUserNamespaces", "enforced")],
            )
        }
        "SYS.1.6.A19" => {
            j.state(&["Namespace"]);
            if !d.baseline() {
                no_level(&mut j, "containers may mount host paths");
            } else if !d.restricted() {
                j.partial(
                    "volume types are not restricted (Pod Security baseline, not restricted)",
                    vec![profile_field("spec.podSecurity.enforce.level", "baseline")],
                );
            }
            if !d.guardrail(|g| g.require_read_only_mounts) {
                j.partial("volumes may be mounted writable where reading is all that is needed (guardrails.requireReadOnlyMounts)", vec![profile_field("spec.guardrails.requireReadOnlyMounts", "unset")]);
            }
            if !d.guardrail(|g| g.deny_mount_propagation) {
                j.partial("mounts may propagate between host and container (guardrails.denyMountPropagation)", vec![profile_field("spec.guardrails.denyMountPropagation", "unset")]);
            }
            j.running(&STORAGE, &["requireReadOnlyMounts", "denyMountPropagation"]);
            j.partial("which volumes and claims each container needs, and permissions on network storage, are not checked", Vec::new());
            j.finish(r, "no host paths; only configMap, secret, emptyDir, projected, downwardAPI, CSI and claim volumes", vec![labels(&d.level_text())])
        }
        "SYS.1.6.A21" => {
            j.state(&["NetworkPolicy"]);
            let seccomp = d.spec.seccomp.as_ref();
            let seccomp_tighter = seccomp
                .is_some_and(|s| s.baseline == SeccompBaseline::Strict || !s.deny.is_empty());
            let apparmor = d.spec.apparmor.as_ref();
            let apparmor_tighter = apparmor.is_some_and(|a| {
                !a.deny_write.is_empty()
                    || !a.read_only.is_empty()
                    || !a.no_exec.is_empty()
                    || a.network.as_ref().is_some_and(|n| n.deny_raw)
                    || a.capabilities.as_ref().is_some_and(|c| !c.deny.is_empty())
                    || !a.presets.is_empty()
            });
            let kinds = [d.ingress && d.egress, seccomp_tighter, apparmor_tighter];
            let severity = if kinds.iter().any(|k| *k) {
                Verdict::Partial
            } else {
                Verdict::NotMet
            };
            network_both_ways(&mut j, severity);
            match (seccomp, seccomp_tighter) {
                (None, _) => j.gap(severity, "no seccomp profile restricts system calls", vec![profile_field("spec.seccomp", "unset")]),
                (Some(_), false) => j.gap(severity, "the seccomp profile is the runtime default, not tighter (baseline Strict or deny rules)", vec![profile_field("spec.seccomp", "RuntimeDefault, no deny rules")]),
                _ => {}
            }
            match (apparmor, apparmor_tighter) {
                (None, _) => j.gap(
                    severity,
                    "no AppArmor profile restricts file system access",
                    vec![profile_field("spec.apparmor", "unset")],
                ),
                (Some(_), false) => j.gap(
                    severity,
                    "the AppArmor profile adds nothing to the runtime default",
                    vec![profile_field("spec.apparmor", "no rules")],
                ),
                _ => {}
            }
            if seccomp.is_some() || apparmor.is_some() {
                if !d.guardrail(|g| g.require_profiles) {
                    j.partial("pods may start without the profiles, which are only reported (guardrails.requireProfiles)", vec![profile_field("spec.guardrails.requireProfiles", "unset")]);
                } else if !facts.guardrails_enforced {
                    j.partial("pods may start without the profiles: the guardrails are not enforced (see the GuardrailsEnforced condition)", Vec::new());
                }
                // Running pods without the profiles: the unconfined pods below (the same check).
                match ns.unconfined {
                    _ if !facts.pods_watched => j.partial("pods are not checked for using the profiles (the operator runs with --pod-report=false)", Vec::new()),
                    None => j.partial("pods are not checked for using the profiles", Vec::new()),
                    Some(u) if u.count > 0 => j.not_met(
                        format!("{} not use the profile's seccomp/AppArmor profiles; first: {}: {}", match u.count { 1 => "1 pod does".to_owned(), c => format!("{c} pods do") }, u.listed.first().map_or("", |p| p.name.as_str()), u.listed.first().map_or("", |p| p.reason.as_str())),
                        u.listed.iter().take(MAX_LISTED_EVIDENCE).map(|p| object(n, "Pod", &p.name, Some("spec.securityContext"), &p.reason)).collect(),
                    ),
                    Some(_) => {}
                }
            }
            j.widening();
            j.finish(r, "NetworkPolicies deny both directions and every pod runs under the profile's seccomp and AppArmor profiles, both tighter than the runtime defaults; the API server admits no pod without them", vec![deny("Ingress, Egress"), profile_field("status.workloadSecurityContext", "used by every pod"), profile_field("spec.guardrails.requireProfiles", "enforced")])
        }
        "SYS.1.6.A23" => {
            j.state(&[]);
            if !d.guardrail(|g| g.require_read_only_root_filesystem) {
                j.not_met("containers may write to their root file system (no guardrails.requireReadOnlyRootFilesystem)", vec![profile_field("spec.guardrails.requireReadOnlyRootFilesystem", "unset")]);
            } else if !facts.guardrails_enforced {
                j.not_met(
                    "the guardrails are not enforced (see the GuardrailsEnforced condition)",
                    Vec::new(),
                );
            }
            j.running(
                &[],
                &["requireReadOnlyRootFilesystem", "requireReadOnlyMounts"],
            );
            match d.spec.guardrails.as_ref() {
                Some(g) if g.require_read_only_mounts && !g.scratch_volumes.is_empty() => j.partial(
                    format!("the declared scratch volumes ({}) are mounted writable", g.scratch_volumes.join(", ")),
                    vec![profile_field("spec.guardrails.scratchVolumes", g.scratch_volumes.join(", "))],
                ),
                Some(g) if g.require_read_only_mounts => {}
                _ => j.partial(
                    "volumes may still be mounted writable (emptyDir, claims: guardrails.requireReadOnlyMounts)",
                    vec![profile_field("spec.guardrails.requireReadOnlyMounts", "unset")],
                ),
            }
            j.finish(
                r,
                "every container's root file system is read-only and every volume is mounted read-only",
                vec![
                    profile_field("spec.guardrails.requireReadOnlyRootFilesystem", "enforced"),
                    profile_field("spec.guardrails.requireReadOnlyMounts", "enforced"),
                ],
            )
        }
        "APP.4.4.A4" => {
            j.state(&["Namespace"]);
            if !d.baseline() {
                no_level(
                    &mut j,
                    "pods may share the host's process, IPC and network namespaces and file system",
                );
            }
            user_namespaces(&mut j, facts, "user IDs are not separated between pods");
            j.running(&POD_SEPARATION, &["requireUserNamespaces"]);
            j.finish(
                r,
                "pods share no host namespace (PID, IPC, network, users: hostUsers: false) and no host path",
                vec![labels(&d.level_text()), profile_field("spec.guardrails.requireUserNamespaces", "enforced")],
            )
        }
        "APP.4.4.A7" => {
            j.state(&["NetworkPolicy", "Namespace"]);
            network_both_ways(&mut j, Verdict::Partial);
            if !d.baseline() {
                j.partial("no Pod Security enforce level forbids host networking, which bypasses NetworkPolicies", vec![profile_field("spec.podSecurity.enforce", "unset or privileged")]);
            }
            if !(d.guardrail(|g| g.deny_widening_network_policies) && facts.guardrails_enforced) {
                j.partial("anyone who may create NetworkPolicies in the namespace can open it (guardrails.denyWideningNetworkPolicies not enforced)", vec![profile_field("spec.guardrails.denyWideningNetworkPolicies", "unset or not enforced")]);
            }
            j.widening();
            j.running(&HOST_NETWORK, &[]);
            j.partial("separating the nodes' and the control plane's networks, and admin ports reachable only from the administration network, are outside the namespace's objects", Vec::new());
            j.finish(r, "connections between namespaces are denied first and only the profile's allow-lists permit any", vec![deny("Ingress, Egress")])
        }
        "APP.4.4.A13" => {
            j.state(&[]);
            let rules = d.baseline() || d.spec.guardrails.is_some();
            if !rules {
                j.not_met("the pods' settings are neither audited nor enforced (no Pod Security enforce level, no guardrails)", vec![profile_field("spec.podSecurity.enforce", "unset"), profile_field("spec.guardrails", "unset")]);
            }
            j.running(&ANY_CHECK, &ALL_RULES);
            j.partial(
                "the settings of the nodes and of Kubernetes itself are not audited",
                Vec::new(),
            );
            j.finish(r, "the pods' settings are audited against the profile and enforced by the API server, the generated objects kept", vec![labels(&d.level_text())])
        }
        "APP.4.4.A18" => {
            j.state(&["NetworkPolicy"]);
            network_both_ways(&mut j, Verdict::NotMet);
            if d.spec
                .network_policy
                .as_ref()
                .is_none_or(|np| np.allow_same_namespace)
            {
                j.not_met("allowSameNamespace lets every pod of the namespace reach every other on every port", vec![profile_field("spec.networkPolicy.allowSameNamespace", "true")]);
            }
            j.widening();
            j.partial("the profile's allow rules apply to every pod of the namespace, not per pod, and who may change pod labels is not checked", Vec::new());
            j.finish(
                r,
                "no traffic between the namespace's pods unless a rule allows it",
                vec![deny("Ingress, Egress")],
            )
        }
        other => unreachable!("{other} is assessed but has no conditions"),
    }
}

/// User namespaces (`guardrails.requireUserNamespaces`): without them `without` (Partial);
/// required but not enforced, Partial.
fn user_namespaces(j: &mut Judge<'_>, facts: &ProfileFacts, without: &str) {
    if !j.declared.guardrail(|g| g.require_user_namespaces) {
        j.partial(
            format!("user namespaces (hostUsers: false) are not required, so {without} (guardrails.requireUserNamespaces)"),
            vec![profile_field("spec.guardrails.requireUserNamespaces", "unset")],
        );
    } else if !facts.guardrails_enforced {
        j.partial(
            "user namespaces are required but the guardrails are not enforced (see the GuardrailsEnforced condition)",
            Vec::new(),
        );
    }
}

/// Default deny (or allow-lists) in both directions; a missing direction is a gap of
/// `severity`, both missing NotMet.
fn network_both_ways(j: &mut Judge<'_>, severity: Verdict) {
    let d = j.declared;
    match (d.ingress, d.egress) {
        (true, true) => {}
        (false, false) => j.not_met(
            "no NetworkPolicy isolates the pods (networkPolicy.defaultDeny)",
            vec![profile_field("spec.networkPolicy.defaultDeny", "[]")],
        ),
        (true, false) => j.gap(
            severity,
            "egress is not denied by default",
            vec![profile_field("spec.networkPolicy.defaultDeny", "[Ingress]")],
        ),
        (false, true) => j.gap(
            severity,
            "ingress is not denied by default",
            vec![profile_field("spec.networkPolicy.defaultDeny", "[Egress]")],
        ),
    }
}

/// Folds the findings of a profile's namespaces into one verdict per requirement: the worst
/// of its namespaces' (the reason of the first namespace with it, and how many have it).
#[derive(Default)]
pub struct ProfileAssessment {
    rows: Vec<Row>,
    namespaces: u32,
    /// The verdicts of a quiet namespace (in sync or not reconciled yet, nothing found), by
    /// its state and which checks ran: every such namespace gets the same verdicts and
    /// reasons, so it is judged once (while a profile rolls out, most of its namespaces are
    /// pending, and the status is computed up to twice a second).
    quiet: std::collections::HashMap<QuietKey, Vec<Verdict>>,
    /// The findings the namespaces judged in this computation are kept as differences from
    /// ([`Judged`]): the first one's.
    base: Option<std::sync::Arc<Rows>>,
}

/// What a quiet namespace's verdicts depend on: whether it is pending (else in sync), and
/// whether its pods, tenant NetworkPolicies, running pods and images were checked.
type QuietKey = (bool, bool, bool, bool, bool);

/// One namespace's findings as [`ProfileAssessment`] folds them, without their reasons and
/// evidence: per requirement, the verdict and a digest of the reason. Kept beside the
/// namespace's outcome (see [`ProfileAssessment::judge_kept`]) so that a status computed
/// again judges only the namespaces whose outcome changed; the reason and evidence of the
/// namespace a verdict names are judged again when the status is finished.
///
/// Held as the requirements where it differs from `base`, the findings of a namespace
/// judged in the same computation (shared): namespaces of a profile mostly differ in a few
/// requirements (those whose reasons name their pods or objects), so a namespace costs
/// some 16 bytes a differing requirement instead of 9 bytes each.
#[derive(Debug)]
pub struct Judged {
    /// What the findings were judged with besides the namespace's outcome (see
    /// [`judged_key`]): kept findings of another key are judged again.
    key: u64,
    base: std::sync::Arc<Rows>,
    /// Requirement index, verdict and reason digest where this namespace differs from
    /// `base`, by index.
    differs: Box<[(u16, Verdict, u64)]>,
}

/// Per requirement (in catalogue order), the verdict and the digest of the reason.
#[derive(Debug, PartialEq)]
pub struct Rows {
    verdicts: Box<[Verdict]>,
    reasons: Box<[u64]>,
}

impl Rows {
    fn of(findings: &[Finding]) -> Self {
        Self {
            verdicts: findings.iter().map(|f| f.verdict).collect(),
            reasons: findings.iter().map(|f| reason_digest(&f.reason)).collect(),
        }
    }
}

impl Judged {
    /// `findings` judged with `key`, as they differ from `base`.
    fn of(key: u64, base: std::sync::Arc<Rows>, findings: &[Finding]) -> Self {
        let differs = findings
            .iter()
            .enumerate()
            .filter_map(|(i, f)| {
                let reason = reason_digest(&f.reason);
                let same = base.verdicts.get(i) == Some(&f.verdict)
                    && base.reasons.get(i) == Some(&reason);
                (!same).then_some((i as u16, f.verdict, reason))
            })
            .collect();
        Self { key, base, differs }
    }

    /// Per requirement, the verdict and the digest of the reason.
    fn rows(&self) -> impl Iterator<Item = (Verdict, u64)> + '_ {
        let mut differs = self.differs.iter().peekable();
        (0..self.base.verdicts.len()).map(move |i| {
            match differs.next_if(|(at, ..)| usize::from(*at) == i) {
                Some((_, verdict, reason)) => (*verdict, *reason),
                None => (self.base.verdicts[i], self.base.reasons[i]),
            }
        })
    }
}

/// What a namespace's findings depend on besides its outcome: the profile (its UID and
/// generation stand for its spec), the facts about it as a whole and the exceptions in force
/// it lists (their digest).
pub fn judged_key(
    uid: Option<&str>,
    generation: i64,
    facts: &ProfileFacts,
    exceptions: u64,
) -> u64 {
    let mut hasher = DefaultHasher::new();
    (uid, generation, facts, exceptions).hash(&mut hasher);
    hasher.finish()
}

fn reason_digest(reason: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    reason.hash(&mut hasher);
    hasher.finish()
}

struct Row {
    counts: VerdictCounts,
    /// The accepted deviations of every namespace, by exception, namespaces summed.
    deviations: std::collections::BTreeMap<String, AcceptedDeviation>,
    worst: Option<Worst>,
    /// Whether the namespace of `worst` has accepted deviations here: among namespaces of
    /// the same verdict one with deviations is named, so that the reason says them.
    worst_deviates: bool,
    /// Distinct reasons (their digests) among the namespaces with the worst verdict.
    reasons: BTreeSet<u64>,
}

/// The worst verdict of a requirement so far and the first namespace with it: its reason
/// and evidence, or `None` while they are to be judged again ([`Judged`] keeps neither).
struct Worst {
    verdict: Verdict,
    namespace: String,
    found: Option<(String, Vec<ComplianceEvidence>)>,
}

impl Row {
    /// Adds one namespace's verdict here (`found`: its reason and evidence, when at hand).
    fn add(
        &mut self,
        namespace: &str,
        verdict: Verdict,
        reason: u64,
        deviates: bool,
        found: impl FnOnce() -> Option<(String, Vec<ComplianceEvidence>)>,
    ) {
        match verdict {
            Verdict::Met => self.counts.met += 1,
            Verdict::Partial => self.counts.partial += 1,
            Verdict::NotMet => self.counts.not_met += 1,
            _ => {}
        }
        let (worse, deviating) = match &self.worst {
            None => (true, false),
            Some(w) => (
                verdict.severity() > w.verdict.severity(),
                verdict == w.verdict && deviates && !self.worst_deviates,
            ),
        };
        if worse || deviating {
            if worse {
                self.reasons.clear();
            }
            self.reasons.insert(reason);
            self.worst_deviates = deviates;
            self.worst = Some(Worst {
                verdict,
                namespace: namespace.to_owned(),
                found: found(),
            });
        } else if self.reasons.len() < 2
            && self.worst.as_ref().is_some_and(|w| w.verdict == verdict)
        {
            self.reasons.insert(reason);
        }
    }
}

impl ProfileAssessment {
    pub fn new() -> Self {
        Self {
            rows: REQUIREMENTS
                .iter()
                .map(|_| Row {
                    counts: VerdictCounts::default(),
                    deviations: std::collections::BTreeMap::new(),
                    worst: None,
                    worst_deviates: false,
                    reasons: BTreeSet::new(),
                })
                .collect(),
            namespaces: 0,
            quiet: std::collections::HashMap::new(),
            base: None,
        }
    }

    /// Judges one governed namespace ([`assess_namespace`]) and adds its findings; a quiet
    /// namespace like one judged before only adds to the counts (its findings would be the
    /// same but for the namespace's name in the evidence, which only the first keeps).
    pub fn judge(
        &mut self,
        spec: &HardeningProfileSpec,
        facts: &ProfileFacts,
        ns: &NamespaceFacts<'_>,
    ) {
        self.judge_kept(spec, facts, ns, None);
    }

    /// [`Self::judge`], with `kept` the findings of this namespace judged before
    /// (`kept.1` what they were judged with, [`judged_key`]): a namespace neither quiet nor
    /// covered by an exception is judged only when its kept findings are of another key
    /// (or none), and then kept. The reasons and evidence a verdict names are judged again
    /// by [`Self::finish_with`].
    pub fn judge_kept(
        &mut self,
        spec: &HardeningProfileSpec,
        facts: &ProfileFacts,
        ns: &NamespaceFacts<'_>,
        kept: Option<(&std::cell::RefCell<Option<Box<Judged>>>, u64)>,
    ) {
        let quiet = matches!(ns.state, NamespaceState::InSync | NamespaceState::Pending)
            && ns.drift.is_empty()
            && ns.unconfined.is_none_or(|u| u.count == 0)
            && ns.widening.is_none_or(<[Widening]>::is_empty)
            && ns.running.is_none_or(|p| {
                p.pod_security.findings.is_empty()
                    && p.pod_security.incomplete.is_none()
                    && p.guardrails.is_empty()
            })
            && ns.vulnerable.is_none_or(|v| v.count == 0)
            && ns.exceptions.is_empty();
        let key = (
            ns.state == NamespaceState::Pending,
            ns.unconfined.is_some(),
            ns.widening.is_some(),
            ns.running.is_some(),
            ns.vulnerable.is_some(),
        );
        if quiet && let Some(verdicts) = self.quiet.get(&key) {
            self.namespaces += 1;
            for (row, verdict) in self.rows.iter_mut().zip(verdicts) {
                match verdict {
                    Verdict::Met => row.counts.met += 1,
                    Verdict::Partial => row.counts.partial += 1,
                    Verdict::NotMet => row.counts.not_met += 1,
                    _ => {}
                }
            }
            return;
        }
        // Accepted deviations are summed by exception: such a namespace is judged each time.
        let kept = kept.filter(|_| !quiet && ns.exceptions.is_empty());
        if let Some((cell, judged_with)) = kept
            && let Some(judged) = cell.borrow().as_deref().filter(|j| j.key == judged_with)
        {
            self.namespaces += 1;
            for (row, (verdict, reason)) in self.rows.iter_mut().zip(judged.rows()) {
                row.add(ns.name, verdict, reason, false, || None);
            }
            return;
        }
        let findings = assess_namespace(spec, facts, ns);
        if quiet {
            self.quiet
                .insert(key, findings.iter().map(|f| f.verdict).collect());
        }
        if let Some((cell, judged_with)) = kept {
            let base = self
                .base
                .get_or_insert_with(|| std::sync::Arc::new(Rows::of(&findings)))
                .clone();
            *cell.borrow_mut() = Some(Box::new(Judged::of(judged_with, base, &findings)));
        }
        self.add(ns.name, findings);
    }

    /// Adds one governed namespace's findings (from [`assess_namespace`]).
    pub fn add(&mut self, namespace: &str, findings: Vec<Finding>) {
        self.namespaces += 1;
        for (row, finding) in self.rows.iter_mut().zip(findings) {
            let deviates = !finding.accepted.is_empty();
            for deviation in finding.accepted {
                match row.deviations.get_mut(&deviation.exception) {
                    Some(known) => known.namespaces += 1,
                    None => {
                        row.deviations
                            .insert(deviation.exception.clone(), deviation);
                    }
                }
            }
            let reason = reason_digest(&finding.reason);
            row.add(namespace, finding.verdict, reason, deviates, || {
                Some((finding.reason, finding.evidence))
            });
        }
    }

    /// One entry per requirement, in catalogue order.
    pub fn finish(self) -> Vec<RequirementStatus> {
        self.finish_with(|_| None)
    }

    /// [`Self::finish`], with `judge_again` the findings of a namespace whose kept findings
    /// ([`Judged`]) a verdict names, for its reason and evidence (`None`: no longer
    /// judged; cannot be while the outcomes are read under one lock).
    pub fn finish_with(
        mut self,
        judge_again: impl Fn(&str) -> Option<Vec<Finding>>,
    ) -> Vec<RequirementStatus> {
        let mut again: std::collections::HashMap<String, Option<Vec<Finding>>> =
            std::collections::HashMap::new();
        for (i, row) in self.rows.iter_mut().enumerate() {
            let Some(worst) = row.worst.as_mut().filter(|w| w.found.is_none()) else {
                continue;
            };
            let findings = again
                .entry(worst.namespace.clone())
                .or_insert_with(|| judge_again(&worst.namespace));
            worst.found = findings
                .as_ref()
                .and_then(|f| f.get(i))
                .map(|f| (f.reason.clone(), f.evidence.clone()));
        }
        let total = self.namespaces;
        REQUIREMENTS
            .iter()
            .zip(self.rows)
            .map(|(r, row)| {
                let deviations: Vec<AcceptedDeviation> = row.deviations.into_values().collect();
                let (verdict, reason, evidence, counts) = match (r.scope, row.worst) {
                    (Scope::Organisational(why), _) => {
                        (Verdict::Organisational, why.to_owned(), Vec::new(), None)
                    }
                    (Scope::Assessed, None) => (
                        Verdict::NotApplicable,
                        "the profile governs no namespace".to_owned(),
                        Vec::new(),
                        None,
                    ),
                    (Scope::Assessed, Some(worst)) => {
                        let (reason, evidence) = worst.found.unwrap_or_default();
                        let first = worst.namespace;
                        let verdict = worst.verdict;
                        let with = row.counts.of(verdict);
                        let reason = if with == total && row.reasons.len() <= 1 {
                            reason
                        } else {
                            format!(
                                "{first}: {reason} ({} of {})",
                                with,
                                count(total, "namespace")
                            )
                        };
                        (verdict, cut(&reason), evidence, Some(row.counts))
                    }
                };
                let mut entry = status_entry(r, verdict, reason, counts, evidence);
                entry.accepted_deviations = deviations.into_iter().take(MAX_DEVIATIONS).collect();
                entry
            })
            .collect()
    }
}

/// Most accepted deviations listed per requirement in the status.
pub const MAX_DEVIATIONS: usize = 5;

/// The status entry of `r`.
pub fn status_entry(
    r: &'static Requirement,
    verdict: Verdict,
    reason: String,
    namespaces: Option<VerdictCounts>,
    evidence: Vec<ComplianceEvidence>,
) -> RequirementStatus {
    RequirementStatus {
        catalogue: r.catalogue.name(),
        edition: r.catalogue.edition.to_owned(),
        id: r.id.to_owned(),
        title: r.title.to_owned(),
        level: r.level.letter().to_owned(),
        verdict,
        reason,
        namespaces,
        evidence: evidence.into_iter().take(MAX_LISTED_EVIDENCE).collect(),
        accepted_deviations: Vec::new(),
    }
}

/// The verdicts of `spec` over `namespaces` (each governed by it): [`assess_namespace`]
/// per namespace, folded by [`ProfileAssessment`].
pub fn assess_profile<'a>(
    spec: &HardeningProfileSpec,
    facts: &ProfileFacts,
    namespaces: impl IntoIterator<Item = NamespaceFacts<'a>>,
) -> Vec<RequirementStatus> {
    let mut assessment = ProfileAssessment::new();
    for ns in namespaces {
        assessment.judge(spec, facts, &ns);
    }
    assessment.finish()
}

/// Requirements named in a message: `BSI SYS.1.6 (2023) A6, A10` (IDs of one catalogue
/// grouped), `BSI SYS.1.6 (2023) A5; BSI APP.4.4 (2023) A7`.
pub fn cite(ids: &[&str]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for catalogue in CATALOGUES {
        // In the catalogue's order, whatever the order given.
        let own: Vec<&str> = REQUIREMENTS
            .iter()
            .filter(|r| std::ptr::eq(r.catalogue, catalogue) && ids.contains(&r.id))
            .map(|r| r.short_id())
            .collect();
        if !own.is_empty() {
            parts.push(format!("{} {}", catalogue.short(), own.join(", ")));
        }
    }
    parts.join("; ")
}

/// The requirements (2023 IDs) a guardrail rule serves; none for `denyExec`, which goes
/// beyond the BSI's text (SYS.1.6.A16 wants administration through the container runtime).
pub fn guardrail_requirements(rule: &str) -> &'static [&'static str] {
    match rule {
        "allowedRegistries" | "requireImageTag" | "requireImageDigest" => {
            &["SYS.1.6.A6", "SYS.1.6.A10"]
        }
        "requireReadOnlyRootFilesystem" => &["SYS.1.6.A23"],
        // NetworkPolicies and what gets past them to a container's ports.
        "denyWideningNetworkPolicies" | "denyPortForward" | "denyPodProxy" => {
            &["SYS.1.6.A5", "APP.4.4.A7"]
        }
        "requireProfiles" => &["SYS.1.6.A21"],
        // A container's root is not the host's; user IDs separated between pods.
        "requireUserNamespaces" => &["SYS.1.6.A18", "APP.4.4.A4"],
        "denySecretEnvLiterals" => &["SYS.1.6.A8"],
        "denyServiceAccountToken" | "denyDefaultServiceAccount" => &["APP.4.4.A9"],
        "oneServicePerContainer" => &["SYS.1.6.A11"],
        // Pods recreated elsewhere when a node fails; several replicas, disruption budgets.
        "requireController" | "highAvailability" => &["SYS.1.6.A25", "APP.4.4.A19"],
        "requireProbes" => &["APP.4.4.A11"],
        "requireReadOnlyMounts" => &["SYS.1.6.A19", "SYS.1.6.A23"],
        "denyMountPropagation" => &["SYS.1.6.A19"],
        _ => &[],
    }
}

/// How a guardrail's messages name what it serves: `BSI SYS.1.6 (2023) A6, A10`, or for a
/// rule no requirement asks for, `no BSI requirement, a rule of this profile` (no quotes:
/// the text goes into CEL string literals).
pub fn guardrail_citation(rule: &str) -> String {
    match guardrail_requirements(rule) {
        [] => "no BSI requirement, a rule of this profile".to_owned(),
        ids => cite(ids),
    }
}

/// What the operator generates, enforces or checks for an assessed requirement, and the best
/// verdict it can reach (the rest of the requirement lies outside the cluster's objects); for
/// the component definition and the report. `None` for organisational requirements.
pub fn implementation(r: &Requirement) -> Option<(&'static str, Verdict)> {
    use Verdict::{Met, Partial};
    Some(match r.id {
        "SYS.1.6.A5" => (
            "NetworkPolicies deny ingress and egress by default and allow what the profile lists; Pod Security baseline or restricted keeps pods off the host's network; tenant NetworkPolicies opening what the profile denies are reported (and, with guardrails.denyWideningNetworkPolicies, rejected). The hosts' administration network and the network plugin's enforcement are outside its reach.",
            Partial,
        ),
        "SYS.1.6.A6" => (
            "guardrails.allowedRegistries: the API server admits images only from the listed registries; requireImageTag / requireImageDigest: only versioned images. Image creators, vulnerabilities and base image support are not checked.",
            Partial,
        ),
        "SYS.1.6.A10" => (
            "The HardeningProfile is the policy for container operation (Pod Security level) and permitted images (allowedRegistries, requireImageTag or requireImageDigest); the API server applies it to every pod, and running pods are judged against it.",
            Met,
        ),
        "SYS.1.6.A15" => (
            "A LimitRange gives every container CPU and memory requests and limits (default or max) and bounds each volume claim (PersistentVolumeClaim max storage); a ResourceQuota caps the namespace. Network bandwidth and the documented reaction to exceeded limits are not covered.",
            Partial,
        ),
        "SYS.1.6.A16" => (
            "Pod Security baseline or restricted: no privileged containers, no host namespaces or host paths, so no access from a container to its host. Remote maintenance access points inside containers are not checked.",
            Partial,
        ),
        "SYS.1.6.A17" => (
            "Pod Security restricted (v1.23 or later): non-root, no privilege escalation, ALL capabilities dropped, seccomp. The container runtime's own account is a host matter.",
            Partial,
        ),
        "SYS.1.6.A18" => (
            "Pod Security restricted: non-root, no host namespaces or paths; guardrails.requireUserNamespaces: every pod in a user namespace of its own (hostUsers: false), so a container's accounts have no rights on the host. The node agent reports which nodes can run such pods.",
            Met,
        ),
        "SYS.1.6.A19" => (
            "Pod Security baseline: no host paths; restricted: only configMap, secret, emptyDir, projected, downwardAPI, CSI and claim volumes; guardrails.requireReadOnlyMounts: volumes read-only but declared scratch space; guardrails.denyMountPropagation: no mounts shared with the host. Which claims a container needs is not checked.",
            Partial,
        ),
        "SYS.1.6.A21" => (
            "NetworkPolicies in both directions, a seccomp profile and an AppArmor profile tighter than the runtime defaults, installed on every node by the node agent; guardrails.requireProfiles: the API server admits no container without them, and every running pod is checked for using them.",
            Met,
        ),
        "SYS.1.6.A23" => (
            "guardrails.requireReadOnlyRootFilesystem and requireReadOnlyMounts: the API server admits only containers with a read-only root file system and read-only volumes (declared scratch volumes, if any, stay writable and keep it Partial). The AppArmor preset NoShellsOrPackageManagers keeps shells and package managers from running.",
            Met,
        ),
        "APP.4.4.A4" => (
            "Pod Security baseline or restricted: no host PID, IPC or network namespace, no host paths, no privileged containers; guardrails.requireUserNamespaces: user IDs separated by a user namespace per pod.",
            Met,
        ),
        "APP.4.4.A7" => (
            "NetworkPolicies deny traffic between namespaces first and allow what the profile lists; guardrails.denyWideningNetworkPolicies keeps tenants from opening more. Node and control-plane networks are outside its reach.",
            Partial,
        ),
        "APP.4.4.A13" => (
            "The profile is the list of allowed settings: the operator audits the generated objects continuously and repairs drift, the API server enforces the pod rules, running pods are judged against them. Nodes' and Kubernetes' own settings are not audited.",
            Partial,
        ),
        "SYS.1.6.A8" => (
            "guardrails.denySecretEnvLiterals: no literal environment value under a secret-like name (credentials come from Secrets). Credentials in images and who may read Secrets are not checked.",
            Partial,
        ),
        "SYS.1.6.A11" => (
            "guardrails.oneServicePerContainer: a heuristic that warns about containers with more than one port or a process supervisor as command; nothing is rejected.",
            Partial,
        ),
        "SYS.1.6.A25" => (
            "guardrails.requireController: no bare pods; highAvailability: workloads labelled highly available need 2 replicas or more (rejected otherwise) and a PodDisruptionBudget (reported). The level of availability needed and replicas on different hosts are not checked.",
            Partial,
        ),
        "APP.4.4.A9" => (
            "guardrails.denyDefaultServiceAccount: no pod on the default service account; denyServiceAccountToken: a token only for pods that ask for one. The rights of the service accounts are not checked.",
            Partial,
        ),
        "APP.4.4.A11" => (
            "guardrails.requireProbes: every container of a long-running pod has a liveness and a readiness probe; running pods are judged too. Whether the probes test what matters is the application's.",
            Met,
        ),
        "APP.4.4.A19" => (
            "guardrails.requireController and highAvailability: pods recreated by their controllers, highly available workloads with 2 replicas or more and a PodDisruptionBudget. Sites, fire zones and the control plane are not checked.",
            Partial,
        ),
        "APP.4.4.A18" => (
            "With allowSameNamespace: false and default deny, no traffic flows between a namespace's pods unless the profile allows it. Allow rules apply to every pod of the namespace, not per pod.",
            Partial,
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    //! The verdicts, case by case, written from the requirements' wording (README "Requirements
    //! and verdicts" is the table these follow), and the catalogue against the Kompendium.

    use std::collections::BTreeMap;

    use super::*;
    use crate::core::api::{HardeningProfileSpec, UnconfinedPod};
    use crate::core::preview::{GuardrailFinding, PodSecurityFinding, PodSecurityPreview};

    #[test]
    fn the_catalogues_hold_every_requirement_of_the_2023_edition_with_its_level() {
        let ids = |catalogue: &Catalogue| -> Vec<&str> {
            REQUIREMENTS
                .iter()
                .filter(|r| std::ptr::eq(r.catalogue, catalogue))
                .map(|r| r.id)
                .collect()
        };
        let expected = |module: &str, n: usize| -> Vec<String> {
            (1..=n).map(|i| format!("{module}.A{i}")).collect()
        };
        assert_eq!(ids(&SYS_1_6), expected("SYS.1.6", 26));
        assert_eq!(ids(&APP_4_4), expected("APP.4.4", 21));
        // Levels as the Kompendium 2023 marks them: SYS.1.6 A1-A8 B, A9-A20 S, A21-A26 H;
        // APP.4.4 A1-A5 B, A6-A12 S, A13-A21 H.
        for r in &REQUIREMENTS {
            let n: u32 = r.short_id()[1..].parse().unwrap();
            let level = match (r.catalogue.module, n) {
                ("SYS.1.6", 1..=8) | ("APP.4.4", 1..=5) => Level::Basic,
                ("SYS.1.6", 9..=20) | ("APP.4.4", 6..=12) => Level::Standard,
                _ => Level::Elevated,
            };
            assert_eq!(r.level, level, "{}", r.id);
            assert!(!r.title.is_empty() && !r.title_de.is_empty(), "{}", r.id);
            assert_eq!(requirement(r.id), Some(r));
            // Every requirement the operator assesses says what it does.
            assert_eq!(r.assessed(), implementation(r).is_some(), "{}", r.id);
        }
        // The titles ComplianceAsCode gets wrong, as the BSI names them.
        assert_eq!(
            requirement("SYS.1.6.A21").unwrap().title_de,
            "Erweiterte Sicherheitsrichtlinien"
        );
        assert_eq!(
            requirement("SYS.1.6.A23").unwrap().title_de,
            "Unveränderlichkeit der Container"
        );
        // The BSI's mapping to Grundschutz++ covers 10 requirements.
        assert_eq!(
            REQUIREMENTS.iter().filter(|r| !r.gspp.is_empty()).count(),
            10
        );
        assert_eq!(
            cite(&["SYS.1.6.A6", "SYS.1.6.A10"]),
            "BSI SYS.1.6 (2023) A6, A10"
        );
        assert_eq!(
            cite(&["APP.4.4.A7", "SYS.1.6.A5"]),
            "BSI SYS.1.6 (2023) A5; BSI APP.4.4 (2023) A7"
        );
    }

    fn spec(yaml: &str) -> HardeningProfileSpec {
        let mut value: serde_json::Value = serde_yaml_ng::from_str(yaml).unwrap();
        if value.is_null() {
            value = serde_json::json!({});
        }
        value["namespaceSelector"] = serde_json::json!({});
        serde_json::from_value(value).unwrap()
    }

    /// The cluster state of one namespace in a case.
    #[derive(Clone, Default)]
    struct State {
        state: Option<NamespaceState>,
        drift: Vec<DriftEntry>,
        unconfined: Option<UnconfinedPods>,
        widening: Option<Vec<Widening>>,
        running: Option<NamespacePreview>,
        pods_watched: Option<bool>,
        guardrails_enforced: Option<bool>,
    }

    /// A namespace in sync, pods checked and none breaking anything, tenants quiet, the
    /// guardrails (if any) enforced.
    fn clean() -> State {
        State {
            state: Some(NamespaceState::InSync),
            unconfined: Some(UnconfinedPods::default()),
            widening: Some(Vec::new()),
            running: Some(NamespacePreview::default()),
            ..State::default()
        }
    }

    fn pods(reason: &str) -> NamespacePreview {
        NamespacePreview {
            accepted: Vec::new(),
            level: Some("restricted:latest".into()),
            pod_security: PodSecurityPreview {
                findings: vec![PodSecurityFinding {
                    pod: "old-0".into(),
                    other_pods: 1,
                    reason: reason.into(),
                }],
                incomplete: None,
            },
            guardrails: Vec::new(),
        }
    }

    fn guardrail(rule: &'static str) -> NamespacePreview {
        NamespacePreview {
            guardrails: vec![GuardrailFinding {
                pod: "old-0".into(),
                rule,
                reason: "x".into(),
            }],
            ..NamespacePreview::default()
        }
    }

    fn drift(kind: &str, name: &str, field: &str) -> DriftEntry {
        DriftEntry {
            kind: kind.into(),
            name: name.into(),
            field: field.into(),
            expected: None,
            actual: None,
            manager: Some("kubectl-edit".into()),
        }
    }

    fn judged(spec_yaml: &str, s: &State) -> BTreeMap<&'static str, Finding> {
        let spec = spec(spec_yaml);
        let facts = ProfileFacts {
            pods_watched: s.pods_watched.unwrap_or(true),
            guardrails_enforced: s
                .guardrails_enforced
                .unwrap_or(spec.guardrails.is_some() && spec.mode == Mode::Enforce),
            images_scanned: false,
        };
        let ns = NamespaceFacts {
            exceptions: Vec::new(),
            name: "team",
            state: s.state.unwrap_or(NamespaceState::InSync),
            message: Some("NetworkPolicy hardening-default-deny was not created by the operator"),
            drift: &s.drift,
            unconfined: s.unconfined.as_ref(),
            widening: s.widening.as_deref(),
            running: s.running.as_ref(),
            vulnerable: None,
        };
        assess_namespace(&spec, &facts, &ns)
            .into_iter()
            .map(|f| (f.requirement.id, f))
            .collect()
    }

    const RESTRICTED: &str = "podSecurity: {enforce: {level: restricted}}\n";
    const BASELINE: &str = "podSecurity: {enforce: {level: baseline}}\n";
    const DENY_BOTH: &str = "networkPolicy: {defaultDeny: [Ingress, Egress]}\n";
    const DENY_IN: &str = "networkPolicy: {defaultDeny: [Ingress]}\n";
    const CONFINED: &str = "seccomp: {baseline: Strict}\napparmor: {denyWrite: [/etc/**]}\n";
    const REGISTRIES: &str =
        "guardrails: {allowedRegistries: [registry.example], requireImageTag: true}\n";
    const LIMITS: &str = "limitRange: {limits: [{type: Container, default: {cpu: 500m, memory: 256Mi}}, {type: PersistentVolumeClaim, max: {storage: 10Gi}}]}\n";

    fn s(parts: &[&str]) -> String {
        parts.concat()
    }

    /// One case: a profile, a cluster state, and the verdicts (with a word of the reason) the
    /// requirement's wording gives.
    struct Case {
        what: &'static str,
        spec: String,
        state: State,
        expect: Vec<(&'static str, Verdict, &'static str)>,
    }

    fn case(
        what: &'static str,
        spec: String,
        state: State,
        expect: &[(&'static str, Verdict, &'static str)],
    ) -> Case {
        Case {
            what,
            spec,
            state,
            expect: expect.to_vec(),
        }
    }

    use Verdict::{Met, NotMet, Organisational, Partial};

    fn cases() -> Vec<Case> {
        let full = s(&[
            RESTRICTED,
            DENY_BOTH,
            CONFINED,
            LIMITS,
            "guardrails: {allowedRegistries: [registry.example], requireImageTag: true, requireProfiles: true}\n",
        ]);
        vec![
        // SYS.1.6.A5: admin and access networks separated; only needed communication.
        case("A5 deny both ways, baseline", s(&[BASELINE, DENY_BOTH]), clean(), &[("SYS.1.6.A5", Partial, "administration network")]),
        case("A5 one direction only", s(&[BASELINE, DENY_IN]), clean(), &[("SYS.1.6.A5", Partial, "egress is not denied")]),
        case("A5 no isolation at all", BASELINE.into(), clean(), &[("SYS.1.6.A5", NotMet, "no NetworkPolicy isolates")]),
        case("A5 without a Pod Security level: hostNetwork bypasses", DENY_BOTH.into(), clean(), &[("SYS.1.6.A5", Partial, "hostNetwork pod bypasses")]),
        case("A5 a tenant policy opens ingress", s(&[BASELINE, DENY_BOTH]), State { widening: Some(vec![Widening { policy: "allow-all".into(), direction: PolicyType::Ingress, opens: "from anywhere on all ports, to all pods".into() }]), ..clean() }, &[("SYS.1.6.A5", NotMet, "allow-all"), ("APP.4.4.A7", NotMet, "allow-all"), ("SYS.1.6.A21", NotMet, "allow-all")]),
        case("A5 a running pod on the host network", s(&[BASELINE, DENY_BOTH]), State { running: Some(pods("host namespaces")), ..clean() }, &[("SYS.1.6.A5", NotMet, "2 pods running break it"), ("APP.4.4.A4", NotMet, "host namespaces")]),
        case("A5 the default deny drifted", s(&[BASELINE, DENY_BOTH]), State { state: Some(NamespaceState::Drifted), drift: vec![drift("NetworkPolicy", "hardening-default-deny", "spec.policyTypes")], ..clean() }, &[("SYS.1.6.A5", NotMet, "hardening-default-deny differs"), ("SYS.1.6.A16", Partial, "")]),
        // SYS.1.6.A6: images only from trusted sources, versioned.
        case("A6 registries and tags enforced", REGISTRIES.into(), clean(), &[("SYS.1.6.A6", Partial, "vulnerability status")]),
        case("A6 no registry list", RESTRICTED.into(), clean(), &[("SYS.1.6.A6", NotMet, "any source")]),
        case("A6 registries but not enforced", REGISTRIES.into(), State { guardrails_enforced: Some(false), ..clean() }, &[("SYS.1.6.A6", NotMet, "not enforced")]),
        case("A6 registries without a version rule", "guardrails: {allowedRegistries: [registry.example]}\n".into(), clean(), &[("SYS.1.6.A6", Partial, "need not carry a version")]),
        case("A6 a running pod from elsewhere", REGISTRIES.into(), State { running: Some(guardrail("allowedRegistries")), ..clean() }, &[("SYS.1.6.A6", NotMet, "allowedRegistries"), ("SYS.1.6.A10", NotMet, "allowedRegistries")]),
        // SYS.1.6.A10: a policy for images and container operation, applied.
        case("A10 Pod Security, registries, versions, enforced", s(&[RESTRICTED, REGISTRIES]), clean(), &[("SYS.1.6.A10", Met, "the profile is the policy")]),
        case("A10 running pods not judged (Enforce, preview missing)", s(&[RESTRICTED, REGISTRIES]), State { running: None, ..clean() }, &[("SYS.1.6.A10", Partial, "running pods not checked"), ("SYS.1.6.A17", Partial, "running pods not checked")]),
        case("A10 a running pod breaking Pod Security in Enforce mode", s(&[RESTRICTED, REGISTRIES]), State { running: Some(pods("runAsNonRoot != true")), ..clean() }, &[("SYS.1.6.A10", NotMet, "runAsNonRoot"), ("SYS.1.6.A17", NotMet, "runAsNonRoot"), ("SYS.1.6.A18", NotMet, "runAsNonRoot")]),
        case("A10 no permitted images", RESTRICTED.into(), clean(), &[("SYS.1.6.A10", Partial, "no permitted images")]),
        case("A10 no policy at all", DENY_BOTH.into(), clean(), &[("SYS.1.6.A10", NotMet, "neither")]),
        case("A10 Audit mode", s(&["mode: Audit\n", RESTRICTED, REGISTRIES]), clean(), &[("SYS.1.6.A10", Partial, "Audit mode"), ("SYS.1.6.A6", NotMet, "not enforced")]),
        case("A10 Audit mode, a running pod breaking the level (previewed)", s(&["mode: Audit\n", RESTRICTED, REGISTRIES]), State { running: Some(pods("privileged")), ..clean() }, &[("SYS.1.6.A10", NotMet, "privileged"), ("SYS.1.6.A16", NotMet, "privileged")]),
        case("A10 a pending namespace", s(&[RESTRICTED, REGISTRIES]), State { state: Some(NamespaceState::Pending), ..clean() }, &[("SYS.1.6.A10", NotMet, "not reconciled"), ("SYS.1.6.A5", NotMet, "not reconciled")]),
        case("A10 a failed namespace", s(&[RESTRICTED, REGISTRIES]), State { state: Some(NamespaceState::Failed), ..clean() }, &[("SYS.1.6.A10", NotMet, "cannot be brought"), ("SYS.1.6.A21", NotMet, "cannot be brought")]),
        // SYS.1.6.A15: CPU, memory, storage, bandwidth per container; reaction documented.
        case("A15 cpu, memory and claims bounded", LIMITS.into(), clean(), &[("SYS.1.6.A15", Partial, "bandwidth")]),
        case("A15 a quota and a LimitRange without memory", "resourceQuota: {hard: {pods: \"10\"}}\nlimitRange: {limits: [{type: Container, default: {cpu: 500m}}]}\n".into(), clean(), &[("SYS.1.6.A15", NotMet, "memory not limited")]),
        case("A15 a quota alone", "resourceQuota: {hard: {requests.memory: 1Gi}}\n".into(), clean(), &[("SYS.1.6.A15", NotMet, "cpu and memory not limited")]),
        case("A15 memory bounded by max only", "limitRange: {limits: [{type: Container, max: {cpu: \"1\", memory: 1Gi}}]}\n".into(), clean(), &[("SYS.1.6.A15", Partial, "per claim is not bounded")]),
        case("A15 the LimitRange drifted", LIMITS.into(), State { state: Some(NamespaceState::Drifted), drift: vec![drift("LimitRange", "hardening-limits", "spec.limits[0].default.memory")], ..clean() }, &[("SYS.1.6.A15", NotMet, "hardening-limits differs")]),
        // SYS.1.6.A16: no administrative access container -> host; no remote maintenance points.
        case("A16 baseline", BASELINE.into(), clean(), &[("SYS.1.6.A16", Partial, "SSH")]),
        case("A16 no level", DENY_BOTH.into(), clean(), &[("SYS.1.6.A16", NotMet, "privileged")]),
        case("A16 a privileged pod running", BASELINE.into(), State { running: Some(pods("privileged")), ..clean() }, &[("SYS.1.6.A16", NotMet, "privileged"), ("SYS.1.6.A17", NotMet, "")]),
        case("A16 the Pod Security label removed", BASELINE.into(), State { state: Some(NamespaceState::Drifted), drift: vec![drift("Namespace", "team", "metadata.labels[pod-security.kubernetes.io/enforce]")], ..clean() }, &[("SYS.1.6.A16", NotMet, "differs"), ("SYS.1.6.A15", NotMet, "")]),
        // SYS.1.6.A17: unprivileged account, cannot gain rights; runtime encapsulated.
        case("A17 restricted latest", RESTRICTED.into(), clean(), &[("SYS.1.6.A17", Partial, "runtime's own account")]),
        case("A17 restricted pinned to v1.21", "podSecurity: {enforce: {level: restricted, version: v1.21}}\n".into(), clean(), &[("SYS.1.6.A17", Partial, "does not check dropped capabilities (from v1.22), runAsUser=0")]),
        case("A17 baseline only", BASELINE.into(), clean(), &[("SYS.1.6.A17", NotMet, "as root")]),
        case("A17 running pods escalate", RESTRICTED.into(), State { running: Some(pods("allowPrivilegeEscalation != false, unrestricted capabilities")), ..clean() }, &[("SYS.1.6.A17", NotMet, "allowPrivilegeEscalation != false, unrestricted capabilities"), ("SYS.1.6.A19", Partial, "")]),
        // SYS.1.6.A18: accounts in containers without rights on the host.
        case("A18 restricted", RESTRICTED.into(), clean(), &[("SYS.1.6.A18", Partial, "guardrails.requireUserNamespaces")]),
        case("A18 baseline", BASELINE.into(), clean(), &[("SYS.1.6.A18", NotMet, "as root")]),
        // SYS.1.6.A19: only the storage needed.
        case("A19 restricted", RESTRICTED.into(), clean(), &[("SYS.1.6.A19", Partial, "network storage")]),
        case("A19 baseline", BASELINE.into(), clean(), &[("SYS.1.6.A19", Partial, "volume types are not restricted")]),
        case("A19 a running pod with a host path", RESTRICTED.into(), State { running: Some(pods("hostPath volumes, restricted volume types")), ..clean() }, &[("SYS.1.6.A19", NotMet, "hostPath"), ("SYS.1.6.A16", NotMet, "hostPath"), ("APP.4.4.A4", NotMet, "hostPath")]),
        // SYS.1.6.A21: extended policies for network, file system, system calls, used.
        case("A21 everything, every pod confined", full.clone(), clean(), &[("SYS.1.6.A21", Met, "tighter than the runtime defaults")]),
        case("A21 runtime-default seccomp and AppArmor are not extended", s(&[DENY_BOTH, "seccomp: {}\napparmor: {}\n"]), clean(), &[("SYS.1.6.A21", Partial, "runtime default")]),
        case("A21 unconfined pods", full.clone(), State { unconfined: Some(UnconfinedPods { count: 2, listed: vec![UnconfinedPod { name: "debug".into(), reason: "container debug: seccompProfile not set".into() }] }), ..clean() }, &[("SYS.1.6.A21", NotMet, "2 pods do not use")]),
        case("A21 pods not watched", full.clone(), State { pods_watched: Some(false), unconfined: None, ..clean() }, &[("SYS.1.6.A21", Partial, "--pod-report=false")]),
        case("A21 nothing declared", BASELINE.into(), clean(), &[("SYS.1.6.A21", NotMet, "no seccomp profile")]),
        case("A21 the profiles only reported, not required", s(&[RESTRICTED, DENY_BOTH, CONFINED]), clean(), &[("SYS.1.6.A21", Partial, "guardrails.requireProfiles")]),
        case("A21 the profiles required but not enforced", full.clone(), State { guardrails_enforced: Some(false), ..clean() }, &[("SYS.1.6.A21", Partial, "not enforced")]),
        case("A21 with the no-shells preset only", s(&[DENY_BOTH, "seccomp: {baseline: Strict}\napparmor: {presets: [NoShellsOrPackageManagers]}\nguardrails: {requireProfiles: true}\n"]), clean(), &[("SYS.1.6.A21", Met, "tighter")]),
        // SYS.1.6.A23: immutable containers.
        case("A23 read-only root enforced", "guardrails: {requireReadOnlyRootFilesystem: true}\n".into(), clean(), &[("SYS.1.6.A23", Partial, "writable")]),
        case("A23 no rule", RESTRICTED.into(), clean(), &[("SYS.1.6.A23", NotMet, "root file system")]),
        case("A23 a running writable pod", "guardrails: {requireReadOnlyRootFilesystem: true}\n".into(), State { running: Some(guardrail("requireReadOnlyRootFilesystem")), ..clean() }, &[("SYS.1.6.A23", NotMet, "requireReadOnlyRootFilesystem")]),
        case("A23 read-only root and mounts", "guardrails: {requireReadOnlyRootFilesystem: true, requireReadOnlyMounts: true}\n".into(), clean(), &[("SYS.1.6.A23", Met, "every volume is mounted read-only")]),
        case("A23 declared scratch volumes stay writable", "guardrails: {requireReadOnlyRootFilesystem: true, requireReadOnlyMounts: true, scratchVolumes: [tmp]}\n".into(), clean(), &[("SYS.1.6.A23", Partial, "scratch volumes (tmp)")]),
        case("A23 a running pod with a writable mount", "guardrails: {requireReadOnlyRootFilesystem: true, requireReadOnlyMounts: true}\n".into(), State { running: Some(guardrail("requireReadOnlyMounts")), ..clean() }, &[("SYS.1.6.A23", NotMet, "requireReadOnlyMounts"), ("SYS.1.6.A19", NotMet, "requireReadOnlyMounts")]),
        // SYS.1.6.A19: read-only mounts and no propagation are named when missing.
        case("A19 mounts not checked", RESTRICTED.into(), clean(), &[("SYS.1.6.A19", Partial, "guardrails.denyMountPropagation")]),
        case("A19 a running pod propagating mounts", s(&[RESTRICTED, "guardrails: {denyMountPropagation: true}\n"]), State { running: Some(guardrail("denyMountPropagation")), ..clean() }, &[("SYS.1.6.A19", NotMet, "denyMountPropagation")]),
        // SYS.1.6.A8: credentials not in literal environment values.
        case("A8 no rule", RESTRICTED.into(), clean(), &[("SYS.1.6.A8", NotMet, "literal environment values")]),
        case("A8 literals denied", "guardrails: {denySecretEnvLiterals: true}\n".into(), clean(), &[("SYS.1.6.A8", Partial, "images")]),
        case("A8 literals denied, Audit mode", "mode: Audit\nguardrails: {denySecretEnvLiterals: true}\n".into(), State { guardrails_enforced: Some(false), ..clean() }, &[("SYS.1.6.A8", NotMet, "not enforced")]),
        case("A8 a running pod with a literal password", "guardrails: {denySecretEnvLiterals: true}\n".into(), State { running: Some(guardrail("denySecretEnvLiterals")), ..clean() }, &[("SYS.1.6.A8", NotMet, "denySecretEnvLiterals"), ("SYS.1.6.A10", NotMet, "denySecretEnvLiterals"), ("APP.4.4.A13", NotMet, "denySecretEnvLiterals")]),
        // SYS.1.6.A11: one service per container, a heuristic.
        case("A11 not checked", RESTRICTED.into(), clean(), &[("SYS.1.6.A11", NotMet, "not checked")]),
        case("A11 warned about", "guardrails: {oneServicePerContainer: true}\n".into(), clean(), &[("SYS.1.6.A11", Partial, "heuristic")]),
        case("A11 a running pod with two services", s(&[RESTRICTED, "guardrails: {allowedRegistries: [registry.example], requireImageTag: true, oneServicePerContainer: true}\n"]), State { running: Some(guardrail("oneServicePerContainer")), ..clean() }, &[("SYS.1.6.A11", NotMet, "oneServicePerContainer"), ("SYS.1.6.A10", Met, "")]),
        // SYS.1.6.A25, APP.4.4.A19: availability.
        case("A25 nothing checked", RESTRICTED.into(), clean(), &[("SYS.1.6.A25", NotMet, "nothing about availability"), ("APP.4.4.A19", NotMet, "nothing about availability")]),
        case("A25 controllers only", "guardrails: {requireController: true}\n".into(), clean(), &[("SYS.1.6.A25", Partial, "guardrails.highAvailability"), ("APP.4.4.A19", Partial, "fire zones")]),
        case("A25 controllers and availability", "guardrails: {requireController: true, highAvailability: true}\n".into(), clean(), &[("SYS.1.6.A25", Partial, "different hosts")]),
        case("A25 a highly available workload short of replicas", s(&[RESTRICTED, "guardrails: {allowedRegistries: [registry.example], requireImageTag: true, requireController: true, highAvailability: true}\n"]), State { running: Some(guardrail("highAvailability")), ..clean() }, &[("SYS.1.6.A25", NotMet, "highAvailability"), ("APP.4.4.A19", NotMet, "highAvailability"), ("SYS.1.6.A10", Met, "")]),
        // APP.4.4.A9: service accounts.
        case("APP A9 nothing checked", RESTRICTED.into(), clean(), &[("APP.4.4.A9", NotMet, "default service account")]),
        case("APP A9 tokens only", "guardrails: {denyServiceAccountToken: true}\n".into(), clean(), &[("APP.4.4.A9", Partial, "guardrails.denyDefaultServiceAccount")]),
        case("APP A9 both", "guardrails: {denyServiceAccountToken: true, denyDefaultServiceAccount: true}\n".into(), clean(), &[("APP.4.4.A9", Partial, "rights granted")]),
        case("APP A9 a running pod on default", "guardrails: {denyServiceAccountToken: true, denyDefaultServiceAccount: true}\n".into(), State { running: Some(guardrail("denyDefaultServiceAccount")), ..clean() }, &[("APP.4.4.A9", NotMet, "denyDefaultServiceAccount")]),
        // APP.4.4.A11: probes.
        case("APP A11 probes required", "guardrails: {requireProbes: true}\n".into(), clean(), &[("APP.4.4.A11", Met, "liveness and a readiness probe")]),
        case("APP A11 no rule", RESTRICTED.into(), clean(), &[("APP.4.4.A11", NotMet, "no liveness or readiness")]),
        case("APP A11 running pods not judged", "guardrails: {requireProbes: true}\n".into(), State { running: None, ..clean() }, &[("APP.4.4.A11", Partial, "running pods not checked")]),
        case("APP A11 a running pod without probes", "guardrails: {requireProbes: true}\n".into(), State { running: Some(guardrail("requireProbes")), ..clean() }, &[("APP.4.4.A11", NotMet, "requireProbes")]),
        // SYS.1.6.A18, APP.4.4.A4: user namespaces.
        case("A18 restricted with user namespaces", s(&[RESTRICTED, "guardrails: {requireUserNamespaces: true}\n"]), clean(), &[("SYS.1.6.A18", Met, "user namespace"), ("APP.4.4.A4", Met, "users")]),
        case("A18 user namespaces not enforced", s(&[RESTRICTED, "guardrails: {requireUserNamespaces: true}\n"]), State { guardrails_enforced: Some(false), ..clean() }, &[("SYS.1.6.A18", Partial, "not enforced"), ("APP.4.4.A4", Partial, "not enforced")]),
        case("A18 a running pod sharing the host's users", s(&[RESTRICTED, "guardrails: {requireUserNamespaces: true}\n"]), State { running: Some(guardrail("requireUserNamespaces")), ..clean() }, &[("SYS.1.6.A18", NotMet, "requireUserNamespaces"), ("APP.4.4.A4", NotMet, "requireUserNamespaces")]),
        case("A18 baseline with user namespaces", s(&[BASELINE, "guardrails: {requireUserNamespaces: true}\n"]), clean(), &[("SYS.1.6.A18", NotMet, "as root"), ("APP.4.4.A4", Met, "")]),
        // SYS.1.6.A24 and organisational ones: never met by the operator.
        case("A24 drift reporting is not behaviour monitoring", full.clone(), clean(), &[("SYS.1.6.A24", Organisational, "not behaviour"), ("SYS.1.6.A1", Organisational, "planning"), ("SYS.1.6.A22", Organisational, ""), ("APP.4.4.A21", Organisational, "")]),
        // APP.4.4.A4: separation of pods.
        case("APP A4 baseline", BASELINE.into(), clean(), &[("APP.4.4.A4", Partial, "user IDs are not separated")]),
        case("APP A4 no level", DENY_BOTH.into(), clean(), &[("APP.4.4.A4", NotMet, "host's process")]),
        // APP.4.4.A7: between namespaces deny first; network rules changed by selected admins.
        case("APP A7 deny both, widening denied", s(&[BASELINE, DENY_BOTH, "guardrails: {denyWideningNetworkPolicies: true}\n"]), clean(), &[("APP.4.4.A7", Partial, "control plane")]),
        case("APP A7 tenants may open", s(&[BASELINE, DENY_BOTH]), clean(), &[("APP.4.4.A7", Partial, "denyWideningNetworkPolicies")]),
        // APP.4.4.A13: automated auditing and enforcement.
        case("APP A13 enforced level, pods judged", RESTRICTED.into(), clean(), &[("APP.4.4.A13", Partial, "nodes")]),
        case("APP A13 nothing about pods", DENY_BOTH.into(), clean(), &[("APP.4.4.A13", NotMet, "neither audited nor enforced")]),
        // APP.4.4.A18: micro-segmentation inside a namespace.
        case("APP A18 same namespace allowed", s(&[DENY_BOTH]), clean(), &[("APP.4.4.A18", NotMet, "allowSameNamespace")]),
        case("APP A18 same namespace denied", "networkPolicy: {defaultDeny: [Ingress, Egress], allowSameNamespace: false}\n".into(), clean(), &[("APP.4.4.A18", Partial, "not per pod")]),
        // Running pods only partly checked by Pod Security (its own limit).
        case("running pods partly checked", RESTRICTED.into(), State { running: Some(NamespacePreview { pod_security: PodSecurityPreview { findings: vec![], incomplete: Some("new PodSecurity enforce level only checked against the first 3000 of 3100 existing pods".into()) }, ..NamespacePreview::default() }), ..clean() }, &[("SYS.1.6.A17", Partial, "only partly checked")]),
    ]
    }

    #[test]
    fn verdicts_follow_the_requirement_text_case_by_case() {
        let cases = cases();
        assert!(cases.len() >= 40, "{} cases", cases.len());
        let mut failures = Vec::new();
        for c in &cases {
            let found = judged(&c.spec, &c.state);
            for (id, verdict, word) in &c.expect {
                let f = &found[id];
                if f.verdict != *verdict || !f.reason.contains(word) {
                    failures.push(format!(
                        "{}: {id} is {:?} ({}), expected {verdict:?} with {word:?}",
                        c.what, f.verdict, f.reason
                    ));
                }
            }
            // Never Met unless every condition holds: no Met beside a NotMet cause for the same
            // namespace state, and organisational ones are never met.
            for f in found.values() {
                if !f.requirement.assessed() {
                    assert_eq!(f.verdict, Verdict::Organisational, "{}", f.requirement.id);
                }
                assert!(f.reason.chars().count() <= MAX_REASON_CHARS + 1);
                assert!(f.evidence.len() <= crate::core::api::MAX_LISTED_EVIDENCE);
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn what_can_be_met_is_met_only_when_everything_holds() {
        let full = s(&[
            RESTRICTED,
            CONFINED,
            LIMITS,
            "networkPolicy: {defaultDeny: [Ingress, Egress], allowSameNamespace: false}\n",
            "guardrails: {allowedRegistries: [registry.example], requireImageTag: true, \
         requireReadOnlyRootFilesystem: true, denyWideningNetworkPolicies: true, \
         requireProfiles: true, requireUserNamespaces: true, denySecretEnvLiterals: true, \
         denyServiceAccountToken: true, denyDefaultServiceAccount: true, \
         oneServicePerContainer: true, requireController: true, requireProbes: true, \
         highAvailability: true, requireReadOnlyMounts: true, denyMountPropagation: true}\n",
        ]);
        let found = judged(&full, &clean());
        let met: Vec<&str> = found
            .values()
            .filter(|f| f.verdict == Verdict::Met)
            .map(|f| f.requirement.id)
            .collect();
        assert_eq!(
            met,
            [
                "APP.4.4.A11",
                "APP.4.4.A4",
                "SYS.1.6.A10",
                "SYS.1.6.A18",
                "SYS.1.6.A21",
                "SYS.1.6.A23"
            ]
        );
        for f in found.values().filter(|f| f.requirement.assessed()) {
            let (_, best) = implementation(f.requirement).unwrap();
            assert_eq!(f.verdict, best, "{}: {}", f.requirement.id, f.reason);
        }
        // A pending namespace or Audit mode takes every Met away; running pods not judged take
        // A10's (A21 rests on the pod check of its own, the unconfined pods).
        let pending = State {
            state: Some(NamespaceState::Pending),
            ..clean()
        };
        assert!(
            judged(&full, &pending)
                .values()
                .all(|f| f.verdict != Verdict::Met)
        );
        let unjudged = judged(
            &full,
            &State {
                running: None,
                ..clean()
            },
        );
        assert_eq!(unjudged["SYS.1.6.A10"].verdict, Verdict::Partial);
        assert_eq!(unjudged["SYS.1.6.A18"].verdict, Verdict::Partial);
        assert_eq!(unjudged["APP.4.4.A11"].verdict, Verdict::Partial);
        assert_eq!(unjudged["SYS.1.6.A21"].verdict, Verdict::Met);
        let audit = format!("mode: Audit\n{full}");
        assert!(
            judged(&audit, &clean())
                .values()
                .all(|f| f.verdict != Verdict::Met)
        );
    }

    #[test]
    fn a_profile_is_as_good_as_its_worst_namespace_and_claims_nothing_without_one() {
        let spec = spec(&s(&[RESTRICTED, REGISTRIES]));
        let facts = ProfileFacts {
            pods_watched: true,
            guardrails_enforced: true,
            images_scanned: false,
        };
        let good = clean();
        let breaking = State {
            running: Some(pods("runAsNonRoot != true")),
            ..clean()
        };
        let as_facts = |name: &'static str, s: &'static State| NamespaceFacts {
            exceptions: Vec::new(),
            name,
            state: s.state.unwrap(),
            message: None,
            drift: &s.drift,
            unconfined: s.unconfined.as_ref(),
            widening: s.widening.as_deref(),
            running: s.running.as_ref(),
            vulnerable: None,
        };
        let good: &'static State = Box::leak(Box::new(good));
        let breaking: &'static State = Box::leak(Box::new(breaking));
        let entries = assess_profile(
            &spec,
            &facts,
            [
                as_facts("a", good),
                as_facts("b", breaking),
                as_facts("c", good),
            ],
        );
        let a10 = entries.iter().find(|e| e.id == "SYS.1.6.A10").unwrap();
        assert_eq!(a10.verdict, Verdict::NotMet);
        assert!(
            a10.reason.starts_with("b: 2 pods running break it"),
            "{}",
            a10.reason
        );
        assert!(
            a10.reason.ends_with("(1 of 3 namespaces)"),
            "{}",
            a10.reason
        );
        assert_eq!(
            a10.namespaces,
            Some(VerdictCounts {
                met: 2,
                partial: 0,
                not_met: 1
            })
        );
        assert_eq!(a10.evidence[0].namespace.as_deref(), Some("b"));
        assert_eq!(
            a10.catalogue,
            "BSI IT-Grundschutz SYS.1.6 Containerisierung"
        );
        assert_eq!(a10.edition, "2023");
        assert_eq!(a10.level, "S");
        // All namespaces alike: the reason as it is.
        let entries = assess_profile(&spec, &facts, [as_facts("a", good), as_facts("c", good)]);
        let a17 = entries.iter().find(|e| e.id == "SYS.1.6.A17").unwrap();
        assert_eq!(a17.verdict, Verdict::Partial);
        assert!(
            a17.reason.starts_with("containers run as non-root"),
            "{}",
            a17.reason
        );
        // No namespace: nothing to claim.
        let empty = assess_profile(&spec, &facts, []);
        assert_eq!(empty.len(), 47);
        assert!(
            empty
                .iter()
                .all(|e| matches!(e.verdict, Verdict::NotApplicable | Verdict::Organisational))
        );
    }

    #[test]
    fn the_examples_claim_what_their_comments_say() {
        use crate::fixtures::example;
        let verdicts = |file: &str| {
            let p = example(file);
            judged(
                &serde_yaml_ng::to_string(&p.spec).unwrap(),
                &State {
                    guardrails_enforced: Some(
                        p.spec.guardrails.is_some() && p.spec.mode == Mode::Enforce,
                    ),
                    ..clean()
                },
            )
            .into_iter()
            .filter(|(_, f)| f.requirement.assessed())
            .map(|(id, f)| (id, f.verdict))
            .collect::<BTreeMap<_, _>>()
        };
        let strict = verdicts("bsi-strict.yaml");
        let met: Vec<&str> = strict
            .iter()
            .filter(|(_, v)| **v == Met)
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(met, ["APP.4.4.A11", "SYS.1.6.A10", "SYS.1.6.A21"]);
        let not_met: Vec<&str> = strict
            .iter()
            .filter(|(_, v)| **v == NotMet)
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(not_met, ["APP.4.4.A18"], "allowSameNamespace: true");
        let baseline = verdicts("baseline.yaml");
        assert!(baseline.values().all(|v| *v != Met), "{baseline:?}");
        assert_eq!(baseline["SYS.1.6.A5"], Partial);
        assert_eq!(baseline["SYS.1.6.A17"], NotMet);
        let audit = verdicts("audit-only.yaml");
        assert!(audit.values().all(|v| *v != Met), "{audit:?}");
    }

    /// The profile's requirements with every namespace judged on its own (what
    /// `assess_profile`'s shortcuts must equal).
    fn judged_one_by_one<'a>(
        spec: &HardeningProfileSpec,
        facts: &ProfileFacts,
        namespaces: impl IntoIterator<Item = NamespaceFacts<'a>>,
    ) -> Vec<RequirementStatus> {
        let mut one_by_one = ProfileAssessment::new();
        for ns in namespaces {
            one_by_one.add(ns.name, assess_namespace(spec, facts, &ns));
        }
        one_by_one.finish()
    }

    #[test]
    fn judging_quiet_namespaces_once_gives_what_judging_each_gives() {
        let spec = spec(&s(&[RESTRICTED, DENY_BOTH, REGISTRIES]));
        let facts = ProfileFacts {
            pods_watched: true,
            guardrails_enforced: true,
            images_scanned: false,
        };
        let quiet = clean();
        let breaking = State {
            running: Some(pods("privileged")),
            ..clean()
        };
        let unjudged = State {
            running: None,
            ..clean()
        };
        let states = [&quiet, &unjudged, &quiet, &breaking, &quiet, &unjudged];
        let names = ["a", "b", "c", "d", "e", "f"];
        let facts_of = |i: usize| NamespaceFacts {
            exceptions: Vec::new(),
            name: names[i],
            state: states[i].state.unwrap(),
            message: None,
            drift: &states[i].drift,
            unconfined: states[i].unconfined.as_ref(),
            widening: states[i].widening.as_deref(),
            running: states[i].running.as_ref(),
            vulnerable: None,
        };
        let memo = assess_profile(&spec, &facts, (0..states.len()).map(facts_of));
        assert_eq!(
            memo,
            judged_one_by_one(&spec, &facts, (0..states.len()).map(facts_of))
        );
        let a10 = memo.iter().find(|e| e.id == "SYS.1.6.A10").unwrap();
        assert_eq!(
            a10.namespaces,
            Some(VerdictCounts {
                met: 3,
                partial: 2,
                not_met: 1
            })
        );
    }

    proptest::proptest! {
        /// Whatever the mix and order of namespaces (in sync, pending, drifted, failed, with
        /// or without each check, breaking something or not), judging the quiet ones once
        /// gives exactly what judging every namespace gives.
        #[test]
        fn judging_quiet_and_pending_namespaces_once_gives_what_judging_each_gives(
            parts in proptest::sample::subsequence(
                vec![RESTRICTED, BASELINE, DENY_BOTH, DENY_IN, CONFINED, REGISTRIES, LIMITS], 0..=7),
            pods_watched: bool,
            guardrails_enforced: bool,
            kinds in proptest::collection::vec((0usize..9, proptest::bool::ANY, proptest::bool::ANY), 0..24),
        ) {
            let spec = spec(&s(&parts));
            let facts = ProfileFacts { pods_watched, guardrails_enforced, images_scanned: false };
            let names: Vec<String> = (0..kinds.len()).map(|i| format!("ns-{i}")).collect();
            let states: Vec<State> = kinds
                .iter()
                .map(|&(kind, checked, tenants)| {
                    let base = if checked { clean() } else { State { state: Some(NamespaceState::InSync), ..State::default() } };
                    let base = if tenants { base } else { State { unconfined: None, widening: None, ..base } };
                    match kind {
                        0..=2 => base,
                        3 | 4 => State { state: Some(NamespaceState::Pending), ..base },
                        5 => State { running: Some(pods("privileged")), ..base },
                        6 => State { drift: vec![drift("NetworkPolicy", "hardening-default-deny", "spec.policyTypes")], state: Some(NamespaceState::Drifted), ..base },
                        7 => State { state: Some(NamespaceState::Failed), ..base },
                        _ => State { running: Some(guardrail("allowedRegistries")), ..base },
                    }
                })
                .collect();
            let facts_of = |i: usize| NamespaceFacts {
                exceptions: Vec::new(),
                name: &names[i],
                state: states[i].state.unwrap(),
                message: (states[i].state == Some(NamespaceState::Failed)).then_some("quota rejected"),
                drift: &states[i].drift,
                unconfined: states[i].unconfined.as_ref(),
                widening: states[i].widening.as_deref(),
                running: states[i].running.as_ref(),
                vulnerable: None,
            };
            let memo = assess_profile(&spec, &facts, (0..states.len()).map(facts_of));
            proptest::prop_assert_eq!(
                memo,
                judged_one_by_one(&spec, &facts, (0..states.len()).map(facts_of))
            );
        }
    }

    /// An exception in force, as the profile's status lists it.
    fn exception_in_force(
        name: &str,
        rules: &[&str],
        level: Option<PodSecurityLevel>,
    ) -> ActiveException {
        ActiveException {
            name: name.into(),
            rules: rules.iter().map(|r| r.to_string()).collect(),
            pod_security_level: level,
            namespaces: vec!["team".into()],
            expires: "2026-12-31T00:00:00Z".into(),
            owner: "team-a".into(),
            reason: "legacy vendor image (RISK-9)".into(),
            ..ActiveException::default()
        }
    }

    /// Issue 24: an exception in force weakens the requirements its rules or its Pod Security
    /// level serve; one otherwise met is "met except accepted deviations" (Partial, never Met),
    /// the others say the deviations after their reason; the rest are untouched.
    #[test]
    fn accepted_deviations_keep_a_requirement_from_being_met() {
        let strict = "podSecurity: {enforce: {level: restricted}}\nguardrails: {allowedRegistries: [registry.example], requireImageTag: true, requireReadOnlyRootFilesystem: true}\n";
        let spec = spec(strict);
        let facts = ProfileFacts {
            pods_watched: true,
            guardrails_enforced: true,
            images_scanned: false,
        };
        let s = clean();
        let judge_with = |exceptions: &[ActiveException]| -> BTreeMap<&'static str, Finding> {
            let ns = NamespaceFacts {
                exceptions: exceptions.iter().collect(),
                name: "team",
                state: NamespaceState::InSync,
                message: None,
                drift: &[],
                unconfined: s.unconfined.as_ref(),
                widening: s.widening.as_deref(),
                running: s.running.as_ref(),
                vulnerable: None,
            };
            assess_namespace(&spec, &facts, &ns)
                .into_iter()
                .map(|f| (f.requirement.id, f))
                .collect()
        };
        let without = judge_with(&[]);
        assert_eq!(without["SYS.1.6.A10"].verdict, Verdict::Met);
        let tag = exception_in_force("tag", &["requireImageTag"], None);
        let with = judge_with(std::slice::from_ref(&tag));
        let a10 = &with["SYS.1.6.A10"];
        assert_eq!(a10.verdict, Verdict::Partial);
        assert!(
        a10.reason.starts_with("met except accepted deviations: HardeningException tag (guardrail requireImageTag; owner team-a, until 2026-12-31T00:00:00Z): legacy vendor image (RISK-9)"),
        "{}",
        a10.reason
    );
        assert_eq!(a10.accepted.len(), 1);
        assert_eq!(a10.accepted[0].suspends, "guardrail requireImageTag");
        // A6 was Partial already: the deviation follows its reason.
        let a6 = &with["SYS.1.6.A6"];
        assert_eq!(a6.verdict, without["SYS.1.6.A6"].verdict);
        assert!(
            a6.reason
                .contains("; accepted deviations: HardeningException tag"),
            "{}",
            a6.reason
        );
        // Untouched: a requirement the rule does not serve.
        assert_eq!(with["SYS.1.6.A23"], without["SYS.1.6.A23"]);
        assert!(with["SYS.1.6.A17"].accepted.is_empty());
        // Organisational rows never carry deviations.
        assert!(with["SYS.1.6.A1"].accepted.is_empty());

        // A lower Pod Security level weakens what rests on the level.
        let level = exception_in_force("level", &[], Some(PodSecurityLevel::Baseline));
        let with = judge_with(std::slice::from_ref(&level));
        for id in ["SYS.1.6.A17", "SYS.1.6.A18", "SYS.1.6.A10", "APP.4.4.A4"] {
            assert_eq!(
                with[id].accepted.first().map(|d| d.suspends.as_str()),
                Some("Pod Security enforce baseline"),
                "{id}"
            );
            assert_ne!(with[id].verdict, Verdict::Met, "{id}");
        }
        assert!(with["SYS.1.6.A23"].accepted.is_empty());
        assert_eq!(
            exception_weakens(&["requireImageTag".into()], None),
            ["SYS.1.6.A6", "SYS.1.6.A10", "APP.4.4.A13"]
        );
        assert_eq!(
            exception_weakens(&["denyExec".into()], None),
            ["APP.4.4.A13"]
        );
    }

    /// The profile's verdict lists each accepted deviation once, with how many of its
    /// namespaces it covers; a namespace with an exception is never folded as a quiet one.
    #[test]
    fn the_profile_lists_each_deviation_once_with_its_namespaces() {
        let spec = spec(
            "podSecurity: {enforce: {level: restricted}}\nguardrails: {allowedRegistries: [registry.example], requireImageTag: true}\n",
        );
        let facts = ProfileFacts {
            pods_watched: true,
            guardrails_enforced: true,
            images_scanned: false,
        };
        let s = clean();
        let tag = [exception_in_force("tag", &["requireImageTag"], None)];
        let mut assessment = ProfileAssessment::new();
        for (name, exceptions) in [("a", &tag[..]), ("b", &tag[..]), ("c", &[][..])] {
            assessment.judge(
                &spec,
                &facts,
                &NamespaceFacts {
                    exceptions: exceptions.iter().collect(),
                    name,
                    state: NamespaceState::InSync,
                    message: None,
                    drift: &[],
                    unconfined: s.unconfined.as_ref(),
                    widening: s.widening.as_deref(),
                    running: s.running.as_ref(),
                    vulnerable: None,
                },
            );
        }
        let rows = assessment.finish();
        let a10 = rows.iter().find(|r| r.id == "SYS.1.6.A10").unwrap();
        assert_eq!(a10.verdict, Verdict::Partial, "{}", a10.reason);
        assert_eq!(a10.accepted_deviations.len(), 1);
        assert_eq!(a10.accepted_deviations[0].namespaces, 2);
        let counts = a10.namespaces.unwrap();
        assert_eq!((counts.met, counts.partial), (1, 2));

        // Among namespaces of the same verdict, the one the reason names is one with accepted
        // deviations, whatever the order: A6 is Partial everywhere, the reason says the
        // deviation.
        for order in [["c", "a"], ["a", "c"]] {
            let mut assessment = ProfileAssessment::new();
            for name in order {
                let exceptions = if name == "a" { &tag[..] } else { &[][..] };
                assessment.judge(
                    &spec,
                    &facts,
                    &NamespaceFacts {
                        exceptions: exceptions.iter().collect(),
                        name,
                        state: NamespaceState::InSync,
                        message: None,
                        drift: &[],
                        unconfined: s.unconfined.as_ref(),
                        widening: s.widening.as_deref(),
                        running: s.running.as_ref(),
                        vulnerable: None,
                    },
                );
            }
            let rows = assessment.finish();
            let a6 = rows.iter().find(|r| r.id == "SYS.1.6.A6").unwrap();
            assert_eq!(a6.verdict, Verdict::Partial, "{order:?}: {}", a6.reason);
            assert!(
                a6.reason.starts_with("a: ")
                    && a6
                        .reason
                        .contains("; accepted deviations: HardeningException tag"),
                "{order:?}: {}",
                a6.reason
            );
        }
    }

    /// Two namespaces whose pods differ only in their names: the second's kept findings are
    /// the requirements whose reasons name its pods, and read back whole they are its
    /// verdicts and reason digests, requirement by requirement.
    #[test]
    fn kept_findings_are_what_differs_from_the_first_namespace_and_read_back_whole() {
        let spec = spec(&s(&[RESTRICTED, CONFINED, REGISTRIES]));
        let facts = ProfileFacts {
            pods_watched: true,
            guardrails_enforced: true,
            images_scanned: false,
        };
        let preview = |pod: &str| {
            let mut p = pods("privileged");
            p.pod_security.findings[0].pod = pod.into();
            p.guardrails = vec![GuardrailFinding {
                pod: pod.into(),
                rule: "allowedRegistries",
                reason: "x".into(),
            }];
            p
        };
        let (a, b) = (preview("app-1"), preview("app-2"));
        let unconfined = UnconfinedPods::default();
        fn facts_of<'a>(
            name: &'a str,
            running: &'a NamespacePreview,
            unconfined: &'a UnconfinedPods,
        ) -> NamespaceFacts<'a> {
            NamespaceFacts {
                running: Some(running),
                unconfined: Some(unconfined),
                widening: Some(&[]),
                state: NamespaceState::InSync,
                ..NamespaceFacts::pending(name)
            }
        }
        let first = assess_namespace(&spec, &facts, &facts_of("a", &a, &unconfined));
        let second = assess_namespace(&spec, &facts, &facts_of("b", &b, &unconfined));
        let base = std::sync::Arc::new(Rows::of(&first));
        let judged = Judged::of(7, base.clone(), &second);
        let whole = Rows::of(&second);
        let read: Vec<(Verdict, u64)> = judged.rows().collect();
        let expected: Vec<(Verdict, u64)> = whole
            .verdicts
            .iter()
            .copied()
            .zip(whole.reasons.iter().copied())
            .collect();
        assert_eq!(read, expected);
        let differing = first
            .iter()
            .zip(&second)
            .filter(|(x, y)| x.verdict != y.verdict || x.reason != y.reason)
            .count();
        assert_eq!(judged.differs.len(), differing);
        assert!(
            differing > 0 && differing < REQUIREMENTS.len() / 4,
            "{differing} of {}",
            REQUIREMENTS.len()
        );
        // Against itself: nothing differs.
        assert!(Judged::of(7, base, &first).differs.is_empty());
    }
}
