//! Which BSI IT-Grundschutz SYS.1.6 requirements a profile helps to meet
//! (IDs as in docs/requirements.md), reported in `status.compliance`.

use super::{HardeningProfileSpec, Mode, PodSecurityLevel, PolicyType};

/// Requirements only `spec.guardrails` serves: the status claims them only while the API
/// server enforces the guardrails (see `status`).
pub const GUARDRAIL_REQUIREMENTS: [&str; 5] = ["A7", "A10", "A11", "A13", "A22"];

/// Requirement IDs covered by `spec`, in the module's numeric order.
///
/// An `Audit` profile enforces nothing, so it only covers the audit and drift reporting
/// requirements (A21, A25). A7, A11, A13 and A22 need the guardrails serving them, A10
/// both Pod Security `restricted` and the read-only root filesystem guardrail. A24
/// (network, filesystem and syscall policies) needs default deny in both directions, a
/// seccomp and an AppArmor profile.
pub fn covered_requirements(spec: &HardeningProfileSpec) -> Vec<&'static str> {
    let enforcing = spec.mode == Mode::Enforce;
    let restricted = enforcing
        && spec
            .pod_security
            .as_ref()
            .and_then(|ps| ps.enforce.as_ref())
            .is_some_and(|enforce| enforce.level == PodSecurityLevel::Restricted);
    let denied = spec
        .network_policy
        .as_ref()
        .filter(|_| enforcing)
        .map(|np| np.default_deny.as_slice())
        .unwrap_or_default();
    let network_separated = !denied.is_empty();
    let both_directions_denied =
        denied.contains(&PolicyType::Ingress) && denied.contains(&PolicyType::Egress);
    let resources_limited =
        enforcing && spec.resource_quota.is_some() && spec.limit_range.is_some();
    // Profiles for the workloads to use; pods that do not are reported in the status.
    let seccomp = enforcing && spec.seccomp.is_some();
    let apparmor = enforcing && spec.apparmor.is_some();
    let guardrails = spec.guardrails.as_ref().filter(|_| enforcing);
    let registries = guardrails.is_some_and(|g| !g.allowed_registries.is_empty());
    let no_exec = guardrails.is_some_and(|g| g.deny_exec);
    let pinned_images = guardrails.is_some_and(|g| g.require_image_tag || g.require_image_digest);
    let read_only_root = guardrails.is_some_and(|g| g.require_read_only_root_filesystem);

    [
        ("A4", seccomp || apparmor),
        // Images only from the listed registries (trusted, A7; the organisation's own, A22).
        ("A7", registries),
        ("A9", network_separated),
        // Only the volumes a container needs (restricted: no hostPath), and a read-only root
        // filesystem where writes are not needed.
        ("A10", restricted && read_only_root),
        // No `kubectl exec`/`attach` into containers.
        ("A11", no_exec),
        // No `:latest` or untagged images: updates are deliberate redeployments.
        ("A13", pinned_images),
        ("A16", restricted),
        ("A17", restricted),
        ("A20", resources_limited),
        ("A21", true),
        ("A22", registries),
        ("A23", restricted),
        // Network connections, filesystem access and system calls: all three.
        ("A24", both_directions_denied && seccomp && apparmor),
        ("A25", true),
    ]
    .into_iter()
    .filter_map(|(id, covered)| covered.then_some(id))
    .collect()
}
