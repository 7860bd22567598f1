//! `check_capabilities_baseline.go` (baseline): containers may add only capabilities of the
//! default set.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::core::pod_security::Forbidden;
use crate::core::pod_security::visit::{containers, containers_phrase, join_quote};

/// `capabilities_allowed_1_0`.
const ALLOWED: [&str; 13] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// `capabilitiesBaseline_1_0`.
pub(in crate::core::pod_security) fn v1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut bad = Vec::new();
    let mut forbidden = BTreeSet::new();
    for container in containers(spec) {
        let added = container
            .security_context
            .and_then(|s| s.capabilities.as_ref())
            .and_then(|c| c.add.as_ref());
        let mut valid = true;
        for capability in added.into_iter().flatten() {
            if !ALLOWED.contains(&capability.as_str()) {
                valid = false;
                forbidden.insert(capability.as_str());
            }
        }
        if !valid {
            bad.push(container.name);
        }
    }
    if bad.is_empty() {
        return None;
    }
    Forbidden::new(
        "non-default capabilities",
        format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&bad),
            join_quote(&forbidden)
        ),
    )
}
