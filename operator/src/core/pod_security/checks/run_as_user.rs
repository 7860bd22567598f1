//! `check_runAsUser.go` (restricted, from v1.23): neither the pod nor a container may set
//! `runAsUser=0`; from v1.35 any value in a user namespace.

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::core::pod_security::Forbidden;
use crate::core::pod_security::visit::{containers, containers_phrase, in_user_namespace};

/// `runAsUser1_23`.
pub(in crate::core::pod_security) fn v1_23(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut setters = Vec::new();
    if spec.security_context.as_ref().and_then(|s| s.run_as_user) == Some(0) {
        setters.push("pod".to_owned());
    }
    let bad: Vec<&str> = containers(spec)
        .filter(|c| c.security_context.and_then(|s| s.run_as_user) == Some(0))
        .map(|c| c.name)
        .collect();
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    if setters.is_empty() {
        return None;
    }
    Forbidden::new(
        "runAsUser=0",
        format!("{} must not set runAsUser=0", setters.join(" and ")),
    )
}

/// `runAsUser1_35`.
pub(in crate::core::pod_security) fn v1_35(pod: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    if in_user_namespace(spec) {
        return None;
    }
    v1_23(pod, spec)
}
