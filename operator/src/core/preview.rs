//! The admission rules' verdict on existing pods: which pods of a namespace the profile's
//! Pod Security `enforce` level and its guardrails reject. In Audit mode that is the preview
//! before enforcing; in Enforce mode it finds pods admitted before the rules were in place
//! (before the namespace was hardened, or before the profile enforced). Pure: a pod is
//! judged by the port of Pod Security Admission (`crate::core::pod_security`), exactly as the
//! API server would judge it, and by the same rules as the generated admission policy
//! (`crate::core::guardrails`), one pod at a time ([`judge`]), so a pod whose spec changed
//! is judged again at the cost of that pod alone; [`namespace_preview`] sums a namespace up,
//! grouping pods with the same Pod Security violation as the API server's warnings do.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use serde::{Deserialize, Serialize};

use crate::core::api::{HardeningProfile, PodSecurityLevel};
use crate::core::plural::count;
use crate::core::pod_security::{self, Version};

/// Most findings kept per namespace (the status lists fewer, see `MAX_LISTED_PREVIEW`).
pub const MAX_FINDINGS: usize = 50;
/// Most findings listed per namespace in the status.
pub const MAX_LISTED_PREVIEW: usize = 5;

/// Pods Pod Security rejects for one violation (the same reasons), as the API server's
/// warnings group them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodSecurityFinding {
    /// The alphabetically first pod with this violation.
    pub pod: String,
    /// How many more pods have exactly this violation (their names are not given).
    pub other_pods: u32,
    /// What Pod Security forbids, e.g. `allowPrivilegeEscalation != false`.
    pub reason: String,
}

/// A pod one guardrail would reject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardrailFinding {
    pub pod: String,
    /// The rule (`allowedRegistries`, ...); the requirements it serves are
    /// [`crate::core::compliance::guardrail_requirements`].
    pub rule: &'static str,
    pub reason: String,
}

/// What Pod Security says of a namespace's pods.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodSecurityPreview {
    pub findings: Vec<PodSecurityFinding>,
    /// Set when some pods could not be judged, and why.
    pub incomplete: Option<String>,
}

impl PodSecurityPreview {
    /// Pods reported, the grouped ones included.
    pub fn pods(&self) -> u32 {
        self.findings.iter().map(|f| 1 + f.other_pods).sum()
    }
}

/// The images of a pod and whether each container's root file system is read-only, init
/// and ephemeral containers included.
fn containers(pod: &Pod) -> Vec<(String, String, bool)> {
    let Some(spec) = &pod.spec else {
        return Vec::new();
    };
    let read_only = |sc: Option<&k8s_openapi::api::core::v1::SecurityContext>| {
        sc.and_then(|s| s.read_only_root_filesystem)
            .unwrap_or(false)
    };
    let mut out: Vec<(String, String, bool)> = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .map(|c| {
            (
                c.name.clone(),
                c.image.clone().unwrap_or_default(),
                read_only(c.security_context.as_ref()),
            )
        })
        .collect();
    out.extend(spec.ephemeral_containers.iter().flatten().map(|c| {
        (
            c.name.clone(),
            c.image.clone().unwrap_or_default(),
            read_only(c.security_context.as_ref()),
        )
    }));
    out
}

/// `image` as container runtimes pull it (the Docker reference rules containerd and CRI-O
/// follow; the admission policy's CEL does the same, `core::guardrails`): a first path
/// component with a dot or a port, or `localhost`, is a registry; anything else is on
/// `docker.io`, where a name without a namespace is in `library`; `index.docker.io` is
/// `docker.io`. (`busybox:1` is `docker.io/library/busybox:1`, `harbor/app:1` is
/// `docker.io/harbor/app:1`.)
pub fn normalize_image(image: &str) -> String {
    let docker = |rest: &str| {
        let library = if rest.contains('/') { "" } else { "library/" };
        format!("docker.io/{library}{rest}")
    };
    match image.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            if first == "docker.io" || first == "index.docker.io" {
                docker(rest)
            } else {
                image.to_owned()
            }
        }
        _ => docker(image),
    }
}

/// Whether `image`, as the runtime pulls it, starts with one of `registries` followed by `/`
/// (the admission rule).
pub fn from_allowed_registry(image: &str, registries: &[String]) -> bool {
    let pulled = normalize_image(image);
    registries.is_empty()
        || registries
            .iter()
            .any(|r| pulled.starts_with(&format!("{r}/")))
}

/// Whether `image` has a tag other than `latest`, or a digest.
pub fn tagged(image: &str) -> bool {
    if image.contains('@') {
        return true;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    last.contains(':') && !image.ends_with(":latest")
}

/// The guardrails of `profile` that `pod` breaks, one finding per rule (the first container
/// breaking it), judged as the generated admission policy judges a new pod
/// (`crate::core::guardrails`); the rules that only warn (`oneServicePerContainer`) too.
pub fn evaluate_guardrails(profile: &HardeningProfile, pod: &Pod) -> Vec<GuardrailFinding> {
    let Some(guardrails) = profile.spec.guardrails.as_ref() else {
        return Vec::new();
    };
    let containers = containers(pod);
    let name = pod.name_any();
    let mut findings = Vec::new();
    let mut first = |rule: &'static str, reason: Option<String>| {
        if let Some(reason) = reason {
            findings.push(GuardrailFinding {
                pod: name.clone(),
                rule,
                reason,
            });
        }
    };
    first(
        "allowedRegistries",
        containers
            .iter()
            .find(|(_, image, _)| !from_allowed_registry(image, &guardrails.allowed_registries))
            .map(|(_, image, _)| {
                format!(
                    "image {image} (pulled as {}) is not from an allowed registry",
                    normalize_image(image)
                )
            }),
    );
    first(
        "requireImageTag",
        containers
            .iter()
            .filter(|_| guardrails.require_image_tag)
            .find(|(_, image, _)| !tagged(image))
            .map(|(_, image, _)| format!("image {image} has no tag or the tag latest")),
    );
    first(
        "requireImageDigest",
        containers
            .iter()
            .filter(|_| guardrails.require_image_digest)
            .find(|(_, image, _)| !image.contains('@'))
            .map(|(_, image, _)| format!("image {image} is not pinned by digest")),
    );
    first(
        "requireReadOnlyRootFilesystem",
        containers
            .iter()
            .filter(|_| guardrails.require_read_only_root_filesystem)
            .find(|(_, _, read_only)| !read_only)
            .map(|(container, _, _)| {
                format!("container {container} does not set readOnlyRootFilesystem: true")
            }),
    );
    let Some(spec) = pod.spec.as_ref() else {
        return findings;
    };
    let rules = pod_rules::PodRules::new(profile, guardrails, pod, spec);
    first("requireProfiles", rules.unconfined());
    first("requireUserNamespaces", rules.host_users());
    first("denySecretEnvLiterals", rules.secret_literal());
    first("denyServiceAccountToken", rules.service_account_token());
    first("denyDefaultServiceAccount", rules.default_service_account());
    first("oneServicePerContainer", rules.multi_service());
    first("requireController", rules.bare());
    first("requireProbes", rules.unprobed());
    first("requireReadOnlyMounts", rules.writable_mount());
    first("denyMountPropagation", rules.propagating_mount());
    findings
}

/// The profile's Pod Security `enforce` level and version, unless it sets none or
/// `privileged` (which rejects nothing). An unparsable version is judged as `latest`, as Pod
/// Security Admission does (the CRD refuses such versions anyway).
pub fn enforce_level(profile: &HardeningProfile) -> Option<(PodSecurityLevel, Version)> {
    let enforce = profile.spec.pod_security.as_ref()?.enforce.as_ref()?;
    if enforce.level == PodSecurityLevel::Privileged {
        return None;
    }
    let version = enforce
        .version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(Version::Latest);
    Some((enforce.level, version))
}

/// What one pod breaks of `profile`'s admission rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodVerdict {
    /// Pod Security's reasons (`allowPrivilegeEscalation != false, runAsNonRoot != true`),
    /// as its warnings about existing pods word them; `None` when it allows the pod.
    pub pod_security: Option<String>,
    pub guardrails: Vec<GuardrailFinding>,
}

impl PodVerdict {
    pub fn rejected(&self) -> bool {
        self.pod_security.is_some() || !self.guardrails.is_empty()
    }
}

/// Judges one pod (as the API server stores it) by `profile`'s Pod Security `enforce` level
/// and its guardrails.
pub fn judge(profile: &HardeningProfile, pod: &Pod) -> PodVerdict {
    let pod_security = enforce_level(profile).and_then(|(level, version)| {
        let violations = pod_security::evaluate_pod(level, version, pod);
        (!violations.is_empty()).then(|| pod_security::forbidden_reason(&violations))
    });
    let guardrails = evaluate_guardrails(profile, pod);
    PodVerdict {
        pod_security,
        guardrails,
    }
}

/// A namespace's preview from its pods' verdicts (by pod name): Pod Security findings
/// grouped by violation (the first pod by name, the others counted), then guardrail
/// findings, each list cut at [`MAX_FINDINGS`].
pub fn namespace_preview<'a>(
    profile: &HardeningProfile,
    verdicts: impl IntoIterator<Item = (&'a str, &'a PodVerdict)>,
) -> NamespacePreview {
    let mut by_reason: BTreeMap<&str, (&str, u32)> = BTreeMap::new();
    let mut guardrails = Vec::new();
    let mut verdicts: Vec<(&str, &PodVerdict)> = verdicts.into_iter().collect();
    verdicts.sort_by_key(|(name, _)| *name);
    for (pod, verdict) in verdicts {
        if let Some(reason) = &verdict.pod_security {
            by_reason
                .entry(reason.as_str())
                .and_modify(|(_, others)| *others += 1)
                .or_insert((pod, 0));
        }
        guardrails.extend(verdict.guardrails.iter().cloned());
    }
    let mut findings: Vec<PodSecurityFinding> = by_reason
        .into_iter()
        .map(|(reason, (pod, other_pods))| PodSecurityFinding {
            pod: pod.to_owned(),
            other_pods,
            reason: reason.to_owned(),
        })
        .collect();
    findings.sort_by(|a, b| a.pod.cmp(&b.pod));
    findings.truncate(MAX_FINDINGS);
    guardrails.truncate(MAX_FINDINGS);
    NamespacePreview {
        level: enforce_level(profile)
            .map(|(level, version)| format!("{}:{version}", level.as_str())),
        pod_security: PodSecurityPreview {
            findings,
            incomplete: None,
        },
        guardrails,
    }
}

/// Whether `profile` has anything to preview: a Pod Security `enforce` level above
/// `privileged`, or guardrails.
pub fn applies(profile: &HardeningProfile) -> bool {
    enforce_level(profile).is_some() || profile.spec.guardrails.is_some()
}

/// Whether a pod is still active (finished pods are not recreated by enforcement).
pub fn active(pod: &Pod) -> bool {
    !matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

mod pod_rules;
#[cfg(test)]
mod tests;

/// Everything one namespace's preview found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamespacePreview {
    /// The `enforce` level judged (`restricted:latest`); `None` when the profile sets none
    /// (or `privileged`, which rejects nothing).
    pub level: Option<String>,
    pub pod_security: PodSecurityPreview,
    pub guardrails: Vec<GuardrailFinding>,
}

impl NamespacePreview {
    /// Adds findings on the namespace's pods as a whole that are reported, never rejected
    /// (`highAvailability`: see `core::availability`), within [`MAX_FINDINGS`].
    pub fn add_reported(&mut self, findings: Vec<GuardrailFinding>) {
        let room = MAX_FINDINGS.saturating_sub(self.guardrails.len());
        self.guardrails.extend(findings.into_iter().take(room));
    }

    /// Pods that would be rejected, counted once each where names are known: every pod
    /// Pod Security reports (grouped ones included) and every other pod a guardrail rejects.
    pub fn rejected_pods(&self) -> u32 {
        let named: std::collections::BTreeSet<&str> = self
            .pod_security
            .findings
            .iter()
            .map(|f| f.pod.as_str())
            .collect();
        let guardrail_only: std::collections::BTreeSet<&str> = self
            .guardrails
            .iter()
            .filter(|f| crate::core::guardrails::rejects(f.rule))
            .map(|f| f.pod.as_str())
            .filter(|p| !named.contains(p))
            .collect();
        self.pod_security.pods() + guardrail_only.len() as u32
    }

    /// One line per finding, Pod Security first: `pod (and 2 other pods): Pod Security
    /// restricted:latest: runAsNonRoot != true`, `pod: guardrail allowedRegistries (BSI
    /// SYS.1.6 (2023) A6, A10): image ... is not from an allowed registry`.
    pub fn lines(&self) -> Vec<(String, String)> {
        let level = self.level.as_deref().unwrap_or_default();
        let mut lines: Vec<(String, String)> = self
            .pod_security
            .findings
            .iter()
            .map(|f| {
                let who = match f.other_pods {
                    0 => f.pod.clone(),
                    n => format!("{} (and {})", f.pod, count(n, "other pod")),
                };
                (who, format!("Pod Security {level}: {}", f.reason))
            })
            .collect();
        lines.extend(self.guardrails.iter().map(|f| {
            let kind = if crate::core::guardrails::rejects(f.rule) {
                ""
            } else {
                ", reported, not rejected"
            };
            (
                f.pod.clone(),
                format!(
                    "guardrail {} ({}{kind}): {}",
                    f.rule,
                    crate::core::compliance::guardrail_citation(f.rule),
                    f.reason
                ),
            )
        }));
        if let Some(note) = &self.pod_security.incomplete {
            lines.push(("(Pod Security)".to_owned(), note.clone()));
        }
        lines
    }
}
