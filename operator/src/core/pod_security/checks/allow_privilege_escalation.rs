//! `check_allowPrivilegeEscalation.go` (restricted): containers must set
//! `securityContext.allowPrivilegeEscalation=false`.

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::core::pod_security::Forbidden;
use crate::core::pod_security::visit::{containers, containers_phrase, is_windows};

/// `allowPrivilegeEscalation_1_8`.
pub(in crate::core::pod_security) fn v1_8(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let bad: Vec<&str> = containers(spec)
        .filter(|c| {
            c.security_context
                .and_then(|s| s.allow_privilege_escalation)
                .unwrap_or(true)
        })
        .map(|c| c.name)
        .collect();
    if bad.is_empty() {
        return None;
    }
    Forbidden::new(
        "allowPrivilegeEscalation != false",
        format!(
            "{} must set securityContext.allowPrivilegeEscalation=false",
            containers_phrase(&bad)
        ),
    )
}

/// `allowPrivilegeEscalation_1_25`: Windows pods are exempt (validation forbids the field
/// there).
pub(in crate::core::pod_security) fn v1_25(pod: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    if is_windows(spec) {
        return None;
    }
    v1_8(pod, spec)
}
