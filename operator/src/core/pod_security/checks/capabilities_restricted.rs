//! `check_capabilities_restricted.go` (restricted): containers must drop `ALL` and may add
//! only `NET_BIND_SERVICE`.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::core::pod_security::Forbidden;
use crate::core::pod_security::visit::{containers, containers_phrase, is_windows, join_quote};

/// `capabilitiesRestricted_1_22`.
pub(in crate::core::pod_security) fn v1_22(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut missing_drop_all = Vec::new();
    let mut adding_forbidden = Vec::new();
    let mut forbidden = BTreeSet::new();
    for container in containers(spec) {
        let Some(capabilities) = container
            .security_context
            .and_then(|s| s.capabilities.as_ref())
        else {
            missing_drop_all.push(container.name);
            continue;
        };
        if !capabilities.drop.iter().flatten().any(|c| c == "ALL") {
            missing_drop_all.push(container.name);
        }
        let mut added_forbidden = false;
        for capability in capabilities.add.iter().flatten() {
            if capability != "NET_BIND_SERVICE" {
                added_forbidden = true;
                forbidden.insert(capability.as_str());
            }
        }
        if added_forbidden {
            adding_forbidden.push(container.name);
        }
    }
    let mut details = Vec::new();
    if !missing_drop_all.is_empty() {
        details.push(format!(
            "{} must set securityContext.capabilities.drop=[\"ALL\"]",
            containers_phrase(&missing_drop_all)
        ));
    }
    if !adding_forbidden.is_empty() {
        details.push(format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&adding_forbidden),
            join_quote(&forbidden)
        ));
    }
    if details.is_empty() {
        return None;
    }
    Forbidden::new("unrestricted capabilities", details.join("; "))
}

/// `capabilitiesRestricted_1_25`: Windows pods are exempt.
pub(in crate::core::pod_security) fn v1_25(pod: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    if is_windows(spec) {
        return None;
    }
    v1_22(pod, spec)
}
