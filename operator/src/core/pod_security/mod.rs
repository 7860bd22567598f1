//! Pod Security Admission's judgement of one pod, ported from `k8s.io/pod-security-admission`
//! v0.36.2 (`policy/`): [`evaluate`] gives exactly the violations the API server's PodSecurity
//! plugin finds for a pod at a level and policy version, worded as it words them, so a pod
//! whose spec changed is judged at the cost of that pod alone.
//!
//! - [`Level`] (the profile API's [`crate::core::api::PodSecurityLevel`]) and [`Version`]
//!   (`latest` or `v1.N`, parsed as the plugin parses the namespace labels);
//! - `registry`: every check with its versions and the baseline checks a restricted check
//!   overrides (`policy/registry.go`, `policy/check_*.go`'s `Versions`); `checks/`: one
//!   module per Go file, each function naming the Go function it mirrors;
//! - [`Violation`]: one check's forbidden reason and detail; [`forbidden_detail`] and
//!   [`forbidden_reason`] join them as the plugin does in its rejection message
//!   ([`rejection_message`]) and in its namespace warnings.
//!
//! Judge pods as the API server stores them (as a pod read from it is): the plugin sees a pod
//! after defaulting and the API server's own changes, which can change the verdict (on the
//! host's network every container port is also a host port; an AppArmor annotation is copied
//! into the container's field).
//!
//! What the plugin does beyond the checks and this module does not: exemptions (users,
//! namespaces, runtime classes, from the API server's admission configuration) and the
//! short cut for updates that change nothing it reads. Pods in user namespaces
//! (`hostUsers: false`) and Windows pods (`spec.os.name: windows`) are judged as the checks
//! of each version judge them: from v1.35 `runAsNonRoot`, `runAsUser` and baseline
//! `procMount` accept any value for a pod with `hostUsers: false` (restricted keeps refusing
//! an unmasked `/proc` through `procMount_restricted`); from v1.25 a Windows pod needs no
//! `allowPrivilegeEscalation`, capability drop or seccomp profile.

mod checks;
mod registry;
mod version;
mod visit;

use std::fmt;

use k8s_openapi::api::core::v1::{Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

pub use crate::core::api::PodSecurityLevel as Level;
pub use registry::{CheckInfo, active_checks, checks, newest_policy, overridden_by};
pub use version::{Version, VersionError};

/// One check's verdict against a pod: the check's ID (`allowPrivilegeEscalation`), and what
/// it forbids as Pod Security words it: `reason` always (`allowPrivilegeEscalation != false`),
/// `detail` when the check names what it found (`container "app" must set
/// securityContext.allowPrivilegeEscalation=false`), else empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub check: &'static str,
    pub reason: String,
    pub detail: String,
}

/// `reason (detail)`, or `reason` without a detail: one item of the API server's message.
impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.detail.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{} ({})", self.reason, self.detail)
        }
    }
}

/// The violations of `pod`'s metadata and `spec` at `level` and policy `version`, in the
/// order Pod Security lists them (baseline checks, then restricted ones, each by ID); empty
/// when the pod is allowed. `privileged` allows everything; a version newer than the newest
/// policy (and `latest`) is judged by the newest ([`newest_policy`]).
/// (`checkRegistry.EvaluatePod` with `AggregateCheckResults` in `policy/`.)
pub fn evaluate(
    level: Level,
    version: Version,
    pod: &ObjectMeta,
    spec: &PodSpec,
) -> Vec<Violation> {
    registry::active(level, version)
        .filter_map(|(check, run)| {
            run(pod, spec).map(|forbidden| Violation {
                check,
                reason: forbidden.reason,
                detail: forbidden.detail,
            })
        })
        .collect()
}

/// [`evaluate`] for a whole Pod (a pod without a spec is judged as an empty spec).
pub fn evaluate_pod(level: Level, version: Version, pod: &Pod) -> Vec<Violation> {
    let empty = PodSpec::default();
    evaluate(
        level,
        version,
        &pod.metadata,
        pod.spec.as_ref().unwrap_or(&empty),
    )
}

/// The violations as the API server's rejection lists them: `reason (detail), reason, ...`
/// (`AggregateCheckResult.ForbiddenDetail`).
pub fn forbidden_detail(violations: &[Violation]) -> String {
    join(violations.iter().map(ToString::to_string))
}

/// The reasons alone, `reason, reason, ...`: what the API server's warnings about existing
/// pods say (`AggregateCheckResult.ForbiddenReason`).
pub fn forbidden_reason(violations: &[Violation]) -> String {
    join(violations.iter().map(|v| v.reason.clone()))
}

/// What the API server answers a pod create it rejects, after `pods "<name>" is forbidden: `:
/// `violates PodSecurity "restricted:latest": <forbidden detail>` (`Admission.EvaluatePod`).
pub fn rejection_message(level: Level, version: Version, violations: &[Violation]) -> String {
    format!(
        "violates PodSecurity \"{}:{version}\": {}",
        level.as_str(),
        forbidden_detail(violations)
    )
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

/// What a check forbids (Go's `CheckResult` with `Allowed: false`); `None` allows.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Forbidden {
    reason: String,
    detail: String,
}

impl Forbidden {
    fn new(reason: impl Into<String>, detail: impl Into<String>) -> Option<Self> {
        Some(Forbidden {
            reason: reason.into(),
            detail: detail.into(),
        })
    }
}

/// A check of one policy version (Go's `CheckPodFn`).
type CheckFn = fn(&ObjectMeta, &PodSpec) -> Option<Forbidden>;

#[cfg(test)]
mod tests;
