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

use crate::core::api::{ActiveException, HardeningProfile, PodSecurityLevel};
use crate::core::plural::count;
use crate::core::pod_security::{self, Version};
use crate::core::shared::SharedStr;

/// Most findings kept per namespace (the status lists fewer, see `MAX_LISTED_PREVIEW`).
pub const MAX_FINDINGS: usize = 50;
/// Most findings listed per namespace in the status.
pub const MAX_LISTED_PREVIEW: usize = 5;

/// Pods Pod Security rejects for one violation (the same reasons), as the API server's
/// warnings group them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PodSecurityFinding {
    /// The alphabetically first pod with this violation.
    pub pod: SharedStr,
    /// How many more pods have exactly this violation (their names are not given).
    pub other_pods: u32,
    /// What Pod Security forbids, e.g. `allowPrivilegeEscalation != false`.
    pub reason: SharedStr,
}

/// A pod one guardrail would reject.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GuardrailFinding {
    pub pod: SharedStr,
    /// The rule (`allowedRegistries`, ...); the requirements it serves are
    /// [`crate::core::compliance::guardrail_requirements`].
    pub rule: &'static str,
    pub reason: SharedStr,
}

/// What an exception in force lets a pod keep that the profile's rules reject: an accepted
/// deviation, not a finding.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AcceptedFinding {
    pub pod: SharedStr,
    /// `guardrail requireImageTag` or `Pod Security restricted:latest`.
    pub rule: SharedStr,
    pub reason: SharedStr,
    /// The HardeningException accepting it.
    pub exception: SharedStr,
}

/// What Pod Security says of a namespace's pods.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
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
    evaluate_guardrails_with(profile, pod, &[]).0
}

/// The guardrails of `profile` that `pod` breaks, one finding per rule (the first container
/// breaking it that no exception of `exceptions`, those in force covering the pod's
/// namespace, suspends the rule for; for a rule judging the pod as a whole, the pod unless
/// an exception suspends the rule for it), and what those exceptions accept (a rule all of
/// whose breaking containers an exception covers), as the admission policy decides
/// (`core::guardrails`: `guardrail` and `container_guardrail`).
pub fn evaluate_guardrails_with(
    profile: &HardeningProfile,
    pod: &Pod,
    exceptions: &[ActiveException],
) -> (Vec<GuardrailFinding>, Vec<AcceptedFinding>) {
    let Some(guardrails) = profile.spec.guardrails.as_ref() else {
        return (Vec::new(), Vec::new());
    };
    let containers = containers(pod);
    let name = SharedStr::new(&pod.name_any());
    let labels = pod.labels().clone();
    let mut findings = Vec::new();
    let mut accepted = Vec::new();
    let mut judge = |rule: &'static str,
                     breaks: &dyn Fn(&(String, String, bool)) -> bool,
                     reason: &dyn Fn(&(String, String, bool)) -> String| {
        let breaking: Vec<&(String, String, bool)> =
            containers.iter().filter(|c| breaks(c)).collect();
        let exempt = |c: &(String, String, bool)| {
            exceptions
                .iter()
                .find(|e| crate::core::exceptions::suspends_rule(e, rule, &labels, Some(&c.0)))
        };
        match breaking.iter().find(|c| exempt(c).is_none()) {
            Some(first) => findings.push(GuardrailFinding {
                pod: name.clone(),
                rule,
                reason: reason(first).into(),
            }),
            None => {
                if let Some(first) = breaking.first() {
                    accepted.push(AcceptedFinding {
                        pod: name.clone(),
                        rule: format!("guardrail {rule}").into(),
                        reason: reason(first).into(),
                        exception: exempt(first)
                            .map(|e| SharedStr::new(&e.name))
                            .unwrap_or_default(),
                    });
                }
            }
        }
    };
    judge(
        "allowedRegistries",
        &|(_, image, _)| !from_allowed_registry(image, &guardrails.allowed_registries),
        &|(_, image, _)| {
            format!(
                "image {image} (pulled as {}) is not from an allowed registry",
                normalize_image(image)
            )
        },
    );
    judge(
        "requireImageTag",
        &|(_, image, _)| guardrails.require_image_tag && !tagged(image),
        &|(_, image, _)| format!("image {image} has no tag or the tag latest"),
    );
    judge(
        "requireImageDigest",
        &|(_, image, _)| guardrails.require_image_digest && !image.contains('@'),
        &|(_, image, _)| format!("image {image} is not pinned by digest"),
    );
    judge(
        "requireReadOnlyRootFilesystem",
        &|(_, _, read_only)| guardrails.require_read_only_root_filesystem && !read_only,
        &|(container, _, _)| {
            format!("container {container} does not set readOnlyRootFilesystem: true")
        },
    );
    let Some(spec) = pod.spec.as_ref() else {
        return (findings, accepted);
    };
    // The pod rules of issue 22, by the same exemptions: a container rule gives every
    // breaking container (in the admission policy's order: containers, init containers,
    // ephemeral containers), a rule judging the pod as a whole the pod's reason (no
    // container: only an exception naming no containers suspends it).
    let rules = pod_rules::PodRules::new(profile, guardrails, pod, spec);
    let mut decide = |rule: &'static str, breaking: Vec<(Option<String>, String)>| {
        let exempt = |container: &Option<String>| {
            exceptions.iter().find(|e| {
                crate::core::exceptions::suspends_rule(e, rule, &labels, container.as_deref())
            })
        };
        match breaking.iter().find(|(c, _)| exempt(c).is_none()) {
            Some((_, reason)) => findings.push(GuardrailFinding {
                pod: name.clone(),
                rule,
                reason: reason.into(),
            }),
            None => {
                if let Some((container, reason)) = breaking.first() {
                    accepted.push(AcceptedFinding {
                        pod: name.clone(),
                        rule: format!("guardrail {rule}").into(),
                        reason: reason.into(),
                        exception: exempt(container)
                            .map(|e| SharedStr::new(&e.name))
                            .unwrap_or_default(),
                    });
                }
            }
        }
    };
    let named = |breaking: Vec<(String, String)>| {
        breaking
            .into_iter()
            .map(|(c, reason)| (Some(c), reason))
            .collect::<Vec<_>>()
    };
    let whole = |reason: Option<String>| reason.map(|r| (None, r)).into_iter().collect();
    decide("requireProfiles", named(rules.unconfined()));
    decide("requireUserNamespaces", whole(rules.host_users()));
    decide("denySecretEnvLiterals", named(rules.secret_literals()));
    decide(
        "denyServiceAccountToken",
        whole(rules.service_account_token()),
    );
    decide(
        "denyDefaultServiceAccount",
        whole(rules.default_service_account()),
    );
    decide("oneServicePerContainer", named(rules.multi_service()));
    decide("requireController", whole(rules.bare()));
    decide("requireProbes", named(rules.unprobed()));
    decide("requireReadOnlyMounts", named(rules.writable_mounts()));
    decide("denyMountPropagation", named(rules.propagating_mounts()));
    (findings, accepted)
}

/// The profile's Pod Security `enforce` level and version, unless it sets none or
/// `privileged` (which rejects nothing). An unparsable version is judged as `latest`, as Pod
/// Security Admission does (the CRD refuses such versions anyway).
pub fn enforce_level(profile: &HardeningProfile) -> Option<(PodSecurityLevel, Version)> {
    enforce_level_any(profile).filter(|(level, _)| *level != PodSecurityLevel::Privileged)
}

/// The profile's Pod Security `enforce` level and version, `privileged` included.
fn enforce_level_any(profile: &HardeningProfile) -> Option<(PodSecurityLevel, Version)> {
    let enforce = profile.spec.pod_security.as_ref()?.enforce.as_ref()?;
    let version = enforce
        .version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(Version::Latest);
    Some((enforce.level, version))
}

/// What one pod breaks of `profile`'s admission rules.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PodVerdict {
    /// Pod Security's reasons (`allowPrivilegeEscalation != false, runAsNonRoot != true`),
    /// as its warnings about existing pods word them; `None` when it allows the pod.
    pub pod_security: Option<SharedStr>,
    pub guardrails: Vec<GuardrailFinding>,
    /// What exceptions in force accept of the pod.
    pub accepted: Vec<AcceptedFinding>,
}

/// Pods alike (the same name in many namespaces, the same spec) have equal verdicts, held
/// once.
impl crate::core::shared::Interned for PodVerdict {
    fn pool() -> &'static crate::core::shared::PoolOf<Self> {
        static POOL: crate::core::shared::PoolOf<PodVerdict> = std::sync::Mutex::new(None);
        &POOL
    }
}

impl PodVerdict {
    pub fn rejected(&self) -> bool {
        self.pod_security.is_some() || !self.guardrails.is_empty()
    }
}

/// The Pod Security `enforce` level and version the namespace `namespace` gets from
/// `profile`: the profile's, or the lower one an exception in force of `exceptions`
/// gives it (with that exception's name).
pub fn namespace_level(
    profile: &HardeningProfile,
    namespace: &str,
    exceptions: &[ActiveException],
) -> Option<(PodSecurityLevel, Version, Option<String>)> {
    let (level, version) = enforce_level_any(profile)?;
    match crate::core::exceptions::lowered_level(exceptions, namespace) {
        Some((lowered, e)) if lowered < level => Some((lowered, version, Some(e.name.clone()))),
        _ => Some((level, version, None)),
    }
    .filter(|(level, _, _)| *level != PodSecurityLevel::Privileged)
}

/// Judges one pod (as the API server stores it) by `profile`'s Pod Security `enforce` level
/// and its guardrails, as they apply in the pod's namespace with `exceptions` (those in
/// force covering it): a lowered level judges the pod, and what only the profile's own
/// level or a suspended guardrail rejects is accepted.
pub fn judge(profile: &HardeningProfile, pod: &Pod, exceptions: &[ActiveException]) -> PodVerdict {
    let name = SharedStr::new(&pod.name_any());
    let namespace = pod.namespace().unwrap_or_default();
    let mut accepted = Vec::new();
    let pod_security = match (
        enforce_level(profile),
        namespace_level(profile, &namespace, exceptions),
    ) {
        (profile_level, Some((level, version, by))) => {
            let violations = pod_security::evaluate_pod(level, version, pod);
            if violations.is_empty() {
                if let (Some((own, own_version)), Some(by)) = (profile_level, by) {
                    let beyond = pod_security::evaluate_pod(own, own_version, pod);
                    if !beyond.is_empty() {
                        accepted.push(AcceptedFinding {
                            pod: name.clone(),
                            rule: format!("Pod Security {}:{own_version}", own.as_str()).into(),
                            reason: pod_security::forbidden_reason(&beyond).into(),
                            exception: by.into(),
                        });
                    }
                }
                None
            } else {
                Some(pod_security::forbidden_reason(&violations).into())
            }
        }
        (Some((own, own_version)), None) => {
            // Lowered to privileged: nothing is enforced; what the profile's level rejects
            // is accepted.
            let beyond = pod_security::evaluate_pod(own, own_version, pod);
            if !beyond.is_empty()
                && let Some((_, e)) = crate::core::exceptions::lowered_level(exceptions, &namespace)
            {
                accepted.push(AcceptedFinding {
                    pod: name.clone(),
                    rule: format!("Pod Security {}:{own_version}", own.as_str()).into(),
                    reason: pod_security::forbidden_reason(&beyond).into(),
                    exception: SharedStr::new(&e.name),
                });
            }
            None
        }
        (None, None) => None,
    };
    let (guardrails, more) = evaluate_guardrails_with(profile, pod, exceptions);
    accepted.extend(more);
    PodVerdict {
        pod_security,
        guardrails,
        accepted,
    }
}

/// A namespace's preview from its pods' verdicts (by pod name): Pod Security findings
/// grouped by violation (the first pod by name, the others counted), then guardrail
/// findings, each list cut at [`MAX_FINDINGS`]; `namespace` and `exceptions` (those in
/// force covering it) say which Pod Security level was judged.
pub fn namespace_preview<'a>(
    profile: &HardeningProfile,
    namespace: &str,
    exceptions: &[ActiveException],
    verdicts: impl IntoIterator<Item = (&'a str, &'a PodVerdict)>,
) -> NamespacePreview {
    let mut by_reason: BTreeMap<&SharedStr, (&str, u32)> = BTreeMap::new();
    let mut guardrails = Vec::new();
    let mut accepted = Vec::new();
    let mut verdicts: Vec<(&str, &PodVerdict)> = verdicts.into_iter().collect();
    verdicts.sort_by_key(|(name, _)| *name);
    for (pod, verdict) in verdicts {
        if let Some(reason) = &verdict.pod_security {
            by_reason
                .entry(reason)
                .and_modify(|(_, others)| *others += 1)
                .or_insert((pod, 0));
        }
        guardrails.extend(verdict.guardrails.iter().cloned());
        accepted.extend(verdict.accepted.iter().cloned());
    }
    let mut findings: Vec<PodSecurityFinding> = by_reason
        .into_iter()
        .map(|(reason, (pod, other_pods))| PodSecurityFinding {
            pod: pod.into(),
            other_pods,
            reason: reason.clone(),
        })
        .collect();
    findings.sort_by(|a, b| a.pod.cmp(&b.pod));
    findings.truncate(MAX_FINDINGS);
    guardrails.truncate(MAX_FINDINGS);
    accepted.truncate(MAX_FINDINGS);
    NamespacePreview {
        level: namespace_level(profile, namespace, exceptions)
            .map(|(level, version, _)| format!("{}:{version}", level.as_str()).into()),
        pod_security: PodSecurityPreview {
            findings,
            incomplete: None,
        },
        guardrails,
        accepted,
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

/// Everything one namespace's preview found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct NamespacePreview {
    /// The `enforce` level judged (`restricted:latest`); `None` when the profile sets none
    /// (or `privileged`, which rejects nothing).
    pub level: Option<SharedStr>,
    pub pod_security: PodSecurityPreview,
    pub guardrails: Vec<GuardrailFinding>,
    /// What exceptions in force accept of the pods (not counted as rejected).
    pub accepted: Vec<AcceptedFinding>,
}

/// Namespaces whose pods are alike have equal previews, held once.
impl crate::core::shared::Interned for NamespacePreview {
    fn pool() -> &'static crate::core::shared::PoolOf<Self> {
        static POOL: crate::core::shared::PoolOf<NamespacePreview> = std::sync::Mutex::new(None);
        &POOL
    }
}

impl NamespacePreview {
    /// Adds findings on the namespace's pods as a whole that are reported, never rejected
    /// (`highAvailability`: see `core::availability`), within [`MAX_FINDINGS`].
    pub fn add_reported(&mut self, findings: Vec<GuardrailFinding>) {
        let room = MAX_FINDINGS.saturating_sub(self.guardrails.len());
        self.guardrails.extend(findings.into_iter().take(room));
    }

    /// Adds what exceptions in force accept of those findings, within [`MAX_FINDINGS`].
    pub fn add_accepted(&mut self, accepted: Vec<AcceptedFinding>) {
        let room = MAX_FINDINGS.saturating_sub(self.accepted.len());
        self.accepted.extend(accepted.into_iter().take(room));
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
                    0 => f.pod.to_string(),
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
                f.pod.to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn image_rules_match_the_admission_policy() {
        let registries = vec![
            "registry.example.com".to_owned(),
            "r.example/team".to_owned(),
        ];
        for (image, allowed) in [
            ("registry.example.com/app:1", true),
            ("registry.example.com:5000/app:1", false),
            ("registry.example.comx/app:1", false),
            ("r.example/team/app@sha256:00", true),
            ("r.example/teamx/app:1", false),
            ("busybox", false),
        ] {
            assert_eq!(
                from_allowed_registry(image, &registries),
                allowed,
                "{image}"
            );
        }
        assert!(from_allowed_registry("anything", &[]));
        for (image, ok) in [
            ("busybox", false),
            ("busybox:latest", false),
            ("busybox:1.36", true),
            ("registry:5000/busybox", false),
            ("registry:5000/busybox:1.0", true),
            ("busybox:latest@sha256:00", true),
            ("busybox@sha256:00", true),
        ] {
            assert_eq!(tagged(image), ok, "{image}");
        }
    }

    #[test]
    fn a_pod_is_judged_by_every_rule_on_every_kind_of_container() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": { "name": "web" },
            "spec": {
                "containers": [{ "name": "app", "image": "registry.example.com/app:1.0",
                                 "securityContext": { "readOnlyRootFilesystem": true } }],
                "initContainers": [{ "name": "setup", "image": "busybox:latest" }],
            },
        }))
        .unwrap();
        let profile = crate::fixtures::profile("p")
            .spec(json!({"guardrails": {
                "allowedRegistries": ["registry.example.com"],
                "requireImageTag": true,
                "requireImageDigest": true,
                "requireReadOnlyRootFilesystem": true,
            }}))
            .build();
        let rules: Vec<&str> = evaluate_guardrails(&profile, &pod)
            .iter()
            .map(|f| f.rule)
            .collect();
        assert_eq!(
            rules,
            [
                "allowedRegistries",
                "requireImageTag",
                "requireImageDigest",
                "requireReadOnlyRootFilesystem"
            ]
        );
        let none = crate::fixtures::profile("p")
            .spec(json!({"guardrails": {}}))
            .build();
        assert!(evaluate_guardrails(&none, &pod).is_empty());
    }

    /// A restricted pod but for its image, for the namespace tests.
    fn restricted_pod(name: &str, image: &str, extra: serde_json::Value) -> Pod {
        let mut container = json!({
            "name": "app", "image": image,
            "securityContext": {
                "allowPrivilegeEscalation": false, "runAsNonRoot": true,
                "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}
            }
        });
        if let Some(extra) = extra.as_object() {
            for (k, v) in extra {
                container[k] = v.clone();
            }
        }
        serde_json::from_value(
            json!({"metadata": {"name": name}, "spec": {"containers": [container]}}),
        )
        .unwrap()
    }

    #[test]
    fn pods_are_judged_one_by_one_and_grouped_by_violation() {
        let profile = crate::fixtures::profile("p")
            .spec(json!({
                "podSecurity": {"enforce": {"level": "restricted", "version": "latest"}},
                "guardrails": {"requireImageTag": true}
            }))
            .build();
        let root = json!({"securityContext": {"allowPrivilegeEscalation": false,
        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}});
        let pods = [
            restricted_pod("a", "app:1", root.clone()),
            restricted_pod("a2", "app:1", root.clone()),
            restricted_pod("a3", "app:1", root),
            restricted_pod(
                "b",
                "app",
                json!({"ports": [{"containerPort": 80, "hostPort": 80}]}),
            ),
            restricted_pod("c", "app", json!({})),
            restricted_pod("ok", "app:1", json!({})),
        ];
        let verdicts: Vec<(String, PodVerdict)> = pods
            .iter()
            .map(|pod| (pod.name_any(), judge(&profile, pod, &[])))
            .collect();
        assert!(!verdicts[5].1.rejected(), "{:?}", verdicts[5]);
        assert_eq!(
            verdicts[0].1.pod_security.as_deref(),
            Some("runAsNonRoot != true")
        );
        assert!(verdicts[4].1.pod_security.is_none());
        assert_eq!(verdicts[4].1.guardrails[0].rule, "requireImageTag");
        let preview = namespace_preview(
            &profile,
            "team",
            &[],
            verdicts.iter().map(|(n, v)| (n.as_str(), v)),
        );
        assert_eq!(preview.level.as_deref(), Some("restricted:latest"));
        assert_eq!(
            preview
                .pod_security
                .findings
                .iter()
                .map(|f| (f.pod.as_str(), f.other_pods))
                .collect::<Vec<_>>(),
            [("a", 2), ("b", 0)]
        );
        // a, a2, a3 and b by Pod Security; c by the guardrail only (b's guardrail finding is
        // the same pod).
        assert_eq!(preview.rejected_pods(), 3 + 1 + 1);
        assert_eq!(
            preview.lines()[0],
            (
                "a (and 2 other pods)".to_owned(),
                "Pod Security restricted:latest: runAsNonRoot != true".to_owned()
            )
        );
        // Without an enforce level or guardrails there is nothing to judge.
        let nothing = crate::fixtures::profile("n").spec(json!({})).build();
        assert!(!applies(&nothing));
        assert_eq!(judge(&nothing, &pods[0], &[]), PodVerdict::default());
    }

    /// Issue 24: what an exception in force covers is accepted, not rejected: a suspended rule
    /// for the containers (and pods) it names, the profile's own level where it lowers it; the
    /// rest is judged as before, at the level the namespace gets.
    #[test]
    fn exceptions_in_force_are_accepted_deviations_not_rejections() {
        let profile = crate::fixtures::profile("p")
            .spec(json!({
                "podSecurity": { "enforce": { "level": "restricted" } },
                "guardrails": { "requireImageTag": true, "requireReadOnlyRootFilesystem": true },
            }))
            .build();
        let pod: Pod = serde_json::from_value(json!({
        "metadata": { "name": "legacy", "namespace": "shop", "labels": { "app": "legacy" } },
        "spec": {
            "containers": [
                { "name": "app", "image": "legacy", "securityContext": { "readOnlyRootFilesystem": true } },
                { "name": "sidecar", "image": "side:1", "securityContext": { "readOnlyRootFilesystem": true } },
            ],
        },
    }))
    .unwrap();
        let exception = |spec: serde_json::Value| {
            crate::core::exceptions::active_entry(
                &crate::fixtures::exception("x", "p", "shop", "2026-12-31T00:00:00Z")
                    .spec(spec)
                    .build(),
            )
        };
        let before = judge(&profile, &pod, &[]);
        assert_eq!(before.guardrails[0].rule, "requireImageTag");
        assert!(
            before.pod_security.is_some(),
            "restricted rejects it (runs as root)"
        );

        // The image rule suspended for the app container of app=legacy pods.
        let tag = exception(json!({
            "rules": ["requireImageTag"],
            "podSelector": { "matchLabels": { "app": "legacy" } },
            "containers": ["app"],
        }));
        let verdict = judge(&profile, &pod, std::slice::from_ref(&tag));
        assert!(verdict.guardrails.is_empty(), "{verdict:?}");
        assert_eq!(verdict.accepted.len(), 1);
        assert_eq!(verdict.accepted[0].rule, "guardrail requireImageTag");
        assert_eq!(verdict.accepted[0].exception, "x");
        // Naming another container: the app container's image is still rejected.
        let sidecar = exception(json!({ "rules": ["requireImageTag"], "containers": ["sidecar"] }));
        assert_eq!(
            judge(&profile, &pod, std::slice::from_ref(&sidecar)).guardrails[0].rule,
            "requireImageTag"
        );

        // Pod Security lowered to baseline in shop: judged at baseline, the restricted
        // violations accepted.
        let level = exception(json!({ "podSecurityLevel": "baseline" }));
        let verdict = judge(&profile, &pod, std::slice::from_ref(&level));
        assert_eq!(verdict.pod_security, None, "{verdict:?}");
        assert!(
            verdict
                .accepted
                .iter()
                .any(|a| a.rule == "Pod Security restricted:latest"
                    && a.reason.contains("runAsNonRoot")),
            "{verdict:?}"
        );
        let preview = namespace_preview(
            &profile,
            "shop",
            std::slice::from_ref(&level),
            [("legacy", &verdict)],
        );
        assert_eq!(preview.level.as_deref(), Some("baseline:latest"));
        // The image rule is not suspended by the level exception: still one rejected pod.
        assert_eq!(preview.rejected_pods(), 1);
        assert!(!preview.accepted.is_empty());
        // In another namespace the exception does not apply.
        let mut elsewhere = pod.clone();
        elsewhere.metadata.namespace = Some("other".into());
        assert!(
            judge(&profile, &elsewhere, std::slice::from_ref(&level))
                .pod_security
                .is_some()
        );
    }

    /// The preview of `requireUserNamespaces` says what the nodes need, as the rejection does.
    #[test]
    fn a_pod_sharing_the_hosts_users_is_told_what_the_nodes_need() {
        let profile = crate::fixtures::profile("p")
            .spec(json!({"guardrails": {"requireUserNamespaces": true}}))
            .build();
        let pod = |host_users: Option<bool>| -> Pod {
            serde_json::from_value(json!({
            "metadata": {"name": "app"},
            "spec": {"hostUsers": host_users, "containers": [{"name": "app", "image": "app:1"}]},
        }))
        .unwrap()
        };
        for host_users in [None, Some(true)] {
            let findings = evaluate_guardrails(&profile, &pod(host_users));
            assert_eq!(findings.len(), 1, "{findings:?}");
            assert_eq!(findings[0].rule, "requireUserNamespaces");
            assert!(
                findings[0]
                    .reason
                    .contains(crate::core::nodes::USER_NAMESPACES_NODE_NEEDS),
                "{}",
                findings[0].reason
            );
        }
        assert!(evaluate_guardrails(&profile, &pod(Some(false))).is_empty());
        let objects = crate::core::guardrails::render(
            &profile,
            &Default::default(),
            &[],
            &Default::default(),
        )
        .unwrap();
        assert!(
            objects
                .policy
                .to_string()
                .contains(crate::core::nodes::USER_NAMESPACES_NODE_NEEDS)
        );
    }

    /// Issue 22's rules under the exceptions, as the admission policy judges them: a container
    /// rule suspended for the containers an exception names (the others still judged, the first
    /// of them named), a pod rule for the pods it selects; what they cover accepted.
    #[test]
    fn exceptions_suspend_the_pod_rules_per_container_and_per_pod() {
        let profile = crate::fixtures::profile("p")
            .spec(json!({ "guardrails": { "requireProbes": true, "requireController": true } }))
            .build();
        let pod: Pod = serde_json::from_value(json!({
        "metadata": { "name": "legacy", "namespace": "shop", "labels": { "app": "legacy" } },
        "spec": { "containers": [{ "name": "a", "image": "a:1" }, { "name": "b", "image": "b:1" }] },
    }))
    .unwrap();
        let exception = |spec: serde_json::Value| {
            crate::core::exceptions::active_entry(
                &crate::fixtures::exception("x", "p", "shop", "2026-12-31T00:00:00Z")
                    .spec(spec)
                    .build(),
            )
        };
        let findings = |exceptions: &[ActiveException]| {
            judge(&profile, &pod, exceptions)
                .guardrails
                .into_iter()
                .map(|f| (f.rule, f.reason))
                .collect::<Vec<_>>()
        };
        let before = findings(&[]);
        assert_eq!(before.len(), 2, "{before:?}");
        assert!(
            before[0].1.starts_with("the pod has no controller"),
            "{before:?}"
        );
        assert!(before[1].1.starts_with("container a "), "{before:?}");

        // requireProbes for container a: container b is named instead.
        let a = exception(json!({ "rules": ["requireProbes"], "containers": ["a"] }));
        let with_a = findings(std::slice::from_ref(&a));
        assert_eq!(with_a[1].0, "requireProbes");
        assert!(with_a[1].1.starts_with("container b "), "{with_a:?}");
        // Both containers: accepted; requireController is another rule.
        let both = exception(json!({ "rules": ["requireProbes"], "containers": ["a", "b"] }));
        let verdict = judge(&profile, &pod, std::slice::from_ref(&both));
        assert_eq!(
            verdict
                .guardrails
                .iter()
                .map(|f| f.rule)
                .collect::<Vec<_>>(),
            ["requireController"]
        );
        assert_eq!(verdict.accepted[0].rule, "guardrail requireProbes");
        // requireController for app=legacy pods, and not for others.
        let bare = exception(json!({
            "rules": ["requireController"],
            "podSelector": { "matchLabels": { "app": "legacy" } },
        }));
        let verdict = judge(&profile, &pod, std::slice::from_ref(&bare));
        assert_eq!(
            verdict
                .guardrails
                .iter()
                .map(|f| f.rule)
                .collect::<Vec<_>>(),
            ["requireProbes"]
        );
        assert_eq!(verdict.accepted[0].rule, "guardrail requireController");
        let mut web = pod.clone();
        web.metadata.labels = Some([("app".to_owned(), "web".to_owned())].into());
        assert_eq!(
            judge(&profile, &web, std::slice::from_ref(&bare))
                .guardrails
                .len(),
            2
        );
    }
}
