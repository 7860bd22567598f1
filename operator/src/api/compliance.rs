//! Which BSI IT-Grundschutz SYS.1.6 requirements a profile helps to meet
//! (IDs as in docs/requirements.md), reported in `status.compliance`.

use super::{HardeningProfileSpec, Mode, PodSecurityLevel, PolicyType};

/// Requirement IDs covered by `spec`, in the module's numeric order.
///
/// An `Audit` profile enforces nothing, so it only covers the audit and drift reporting
/// requirements (A21, A25).
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

    [
        ("A9", network_separated),
        ("A10", restricted),
        ("A16", restricted),
        ("A17", restricted),
        ("A20", resources_limited),
        ("A21", true),
        ("A23", restricted),
        ("A24", both_directions_denied),
        ("A25", true),
    ]
    .into_iter()
    .filter_map(|(id, covered)| covered.then_some(id))
    .collect()
}
