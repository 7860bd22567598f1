//! `check_seccompProfile_restricted.go` (restricted, from v1.19): the pod or every
//! container must set seccomp `RuntimeDefault` or `Localhost`; from v1.25 Windows pods are
//! exempt.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::seccomp_profile_baseline::valid_type;
use crate::core::pod_security::Forbidden;
use crate::core::pod_security::visit::{containers, containers_phrase, is_windows, join_quote};

/// `seccompProfileRestricted_1_19`.
pub(in crate::core::pod_security) fn v1_19(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut setters = Vec::new();
    let mut values = BTreeSet::new();
    let mut pod_set = false;
    if let Some(profile) = spec
        .security_context
        .as_ref()
        .and_then(|s| s.seccomp_profile.as_ref())
    {
        if valid_type(&profile.type_) {
            pod_set = true;
        } else {
            setters.push("pod".to_owned());
            values.insert(profile.type_.as_str());
        }
    }
    let mut explicitly_bad = Vec::new();
    let mut implicitly_bad = Vec::new();
    for container in containers(spec) {
        match container
            .security_context
            .and_then(|s| s.seccomp_profile.as_ref())
        {
            Some(profile) if !valid_type(&profile.type_) => {
                explicitly_bad.push(container.name);
                values.insert(profile.type_.as_str());
            }
            Some(_) => {}
            None if !pod_set => implicitly_bad.push(container.name),
            None => {}
        }
    }
    if !explicitly_bad.is_empty() {
        setters.push(containers_phrase(&explicitly_bad));
    }
    if !setters.is_empty() {
        return Forbidden::new(
            "seccompProfile",
            format!(
                "{} must not set securityContext.seccompProfile.type to {}",
                setters.join(" and "),
                join_quote(&values)
            ),
        );
    }
    if !implicitly_bad.is_empty() {
        return Forbidden::new(
            "seccompProfile",
            format!(
                "pod or {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"",
                containers_phrase(&implicitly_bad)
            ),
        );
    }
    None
}

/// `seccompProfileRestricted_1_25`.
pub(in crate::core::pod_security) fn v1_25(pod: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    if is_windows(spec) {
        return None;
    }
    v1_19(pod, spec)
}
