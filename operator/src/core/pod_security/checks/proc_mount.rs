//! `check_procMount_baseline.go` and `check_procMount_restricted.go`: `/proc` keeps its
//! default masks (`procMount` unset or `Default`). From v1.35 baseline allows any value in a
//! user namespace (`hostUsers: false`); restricted (`procMount_restricted`) runs the v1.0
//! check there instead.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::core::pod_security::Forbidden;
use crate::core::pod_security::visit::{
    containers, containers_phrase, in_user_namespace, join_quote,
};

/// `procMount_1_0` (also `procMount_restricted` from v1.35).
pub(in crate::core::pod_security) fn v1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut bad = Vec::new();
    let mut types = BTreeSet::new();
    for container in containers(spec) {
        if let Some(proc_mount) = container
            .security_context
            .and_then(|s| s.proc_mount.as_deref())
            && proc_mount != "Default"
        {
            bad.push(container.name);
            types.insert(proc_mount);
        }
    }
    if bad.is_empty() {
        return None;
    }
    Forbidden::new(
        "procMount",
        format!(
            "{} must not set securityContext.procMount to {}",
            containers_phrase(&bad),
            join_quote(&types)
        ),
    )
}

/// `procMount1_35baseline`.
pub(in crate::core::pod_security) fn v1_35_baseline(
    pod: &ObjectMeta,
    spec: &PodSpec,
) -> Option<Forbidden> {
    if in_user_namespace(spec) {
        return None;
    }
    v1_0(pod, spec)
}
