//! Preview before enforce: the existing pods of a namespace that the profile's Pod Security
//! `enforce` level and its guardrails would reject. Pure: the Pod Security part reads the
//! warnings the API server answers to a server-side dry-run of the namespace label change
//! (Pod Security Admission judges the existing pods itself, grouping pods with the same
//! violation as `name (and N other pods): reason`); the guardrails part evaluates pods with
//! the same rules as the generated admission policy (`crate::core::guardrails`).

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use serde::{Deserialize, Serialize};

use crate::core::api::Guardrails;
use crate::core::plural::count;

/// Most findings kept per namespace (the status lists fewer, see `MAX_LISTED_PREVIEW`).
pub const MAX_FINDINGS: usize = 50;
/// Most findings listed per namespace in the status.
pub const MAX_LISTED_PREVIEW: usize = 5;

/// Pods the API server's Pod Security check reported for one violation.
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

/// What the API server's answer to the Pod Security dry-run says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodSecurityPreview {
    pub findings: Vec<PodSecurityFinding>,
    /// Set when Pod Security checked only some of the pods (the API server's own limit).
    pub incomplete: Option<String>,
}

impl PodSecurityPreview {
    /// Pods reported, the grouped ones included.
    pub fn pods(&self) -> u32 {
        self.findings.iter().map(|f| 1 + f.other_pods).sum()
    }
}

/// Reads the warnings of a dry-run namespace update that set a stricter `enforce` level
/// (`admission.EvaluatePodsInNamespace` in k8s.io/pod-security-admission writes them).
pub fn parse_pod_security_warnings(warnings: &[String]) -> PodSecurityPreview {
    let mut preview = PodSecurityPreview::default();
    for warning in warnings {
        let warning = unquote(warning);
        if warning.starts_with("new PodSecurity enforce level only checked against") {
            preview.incomplete = Some(warning.to_owned());
            continue;
        }
        if warning.starts_with("existing pods in namespace") {
            continue;
        }
        let Some((who, reason)) = warning.split_once(": ") else {
            continue;
        };
        let (pod, other_pods) = match who.split_once(" (and ") {
            Some((pod, rest)) => {
                let count = rest.split(' ').next().and_then(|n| n.parse::<u32>().ok());
                match count {
                    Some(count) => (pod, count),
                    None => continue,
                }
            }
            None => (who, 0),
        };
        // A pod name is a DNS subdomain: anything else is another kind of warning.
        if pod.is_empty()
            || !pod
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        {
            continue;
        }
        preview.findings.push(PodSecurityFinding {
            pod: pod.to_owned(),
            other_pods,
            reason: reason.to_owned(),
        });
    }
    preview
}

/// A `Warning` header value is `299 - "text"`; kube hands some over already unwrapped.
fn unquote(warning: &str) -> &str {
    let text = warning.strip_prefix("299 - ").unwrap_or(warning);
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text)
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

/// Whether `image` starts with one of `registries` followed by `/` (the admission rule).
pub fn from_allowed_registry(image: &str, registries: &[String]) -> bool {
    registries.is_empty()
        || registries
            .iter()
            .any(|r| image.starts_with(&format!("{r}/")))
}

/// Whether `image` has a tag other than `latest`, or a digest.
pub fn tagged(image: &str) -> bool {
    if image.contains('@') {
        return true;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    last.contains(':') && !image.ends_with(":latest")
}

/// The guardrails `pod` breaks, one finding per rule (the first container breaking it).
pub fn evaluate_guardrails(guardrails: &Guardrails, pod: &Pod) -> Vec<GuardrailFinding> {
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
            .map(|(_, image, _)| format!("image {image} is not from an allowed registry")),
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
    findings
}

/// Whether `profile` has anything to preview: a Pod Security `enforce` level above
/// `privileged`, or guardrails.
pub fn applies(profile: &crate::core::api::HardeningProfile) -> bool {
    let enforce = profile
        .spec
        .pod_security
        .as_ref()
        .and_then(|ps| ps.enforce.as_ref())
        .is_some_and(|e| e.level != crate::core::api::PodSecurityLevel::Privileged);
    enforce || profile.spec.guardrails.is_some()
}

/// Whether a pod is still active (finished pods are not recreated by enforcement).
pub fn active(pod: &Pod) -> bool {
    !matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

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
            (
                f.pod.clone(),
                format!(
                    "guardrail {} ({}): {}",
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
