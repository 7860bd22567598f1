//! `check_seccompProfile_baseline.go` (baseline): a seccomp profile, if set, is the
//! runtime's default or a localhost one; before v1.19 judged on the alpha annotations, from
//! v1.19 on the `seccompProfile` fields.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::core::pod_security::Forbidden;
use crate::core::pod_security::visit::{
    containers, containers_phrase, go_quote, join_quote, pluralize,
};

const POD_ANNOTATION: &str = "seccomp.security.alpha.kubernetes.io/pod";
const CONTAINER_ANNOTATION_PREFIX: &str = "container.seccomp.security.alpha.kubernetes.io/";

/// `validSeccomp`.
pub(super) fn valid_type(kind: &str) -> bool {
    matches!(kind, "Localhost" | "RuntimeDefault")
}

/// `validSeccompAnnotationValue`.
fn valid_annotation(value: &str) -> bool {
    value == "runtime/default" || value == "docker/default" || value.starts_with("localhost/")
}

/// `seccompProfileBaseline_1_0`: the pod's and each container's alpha annotation.
pub(in crate::core::pod_security) fn v1_0(pod: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let annotations = pod.annotations.as_ref();
    let value = |key: &str| annotations.and_then(|a| a.get(key));
    let mut forbidden = BTreeSet::new();
    let mut judge = |key: String| {
        if let Some(v) = value(&key)
            && !valid_annotation(v)
        {
            forbidden.insert(format!("{key}={}", go_quote(v)));
        }
    };
    judge(POD_ANNOTATION.to_owned());
    for container in containers(spec) {
        judge(format!("{CONTAINER_ANNOTATION_PREFIX}{}", container.name));
    }
    if forbidden.is_empty() {
        return None;
    }
    Forbidden::new(
        "seccompProfile",
        format!(
            "forbidden {} {}",
            pluralize("annotation", "annotations", forbidden.len()),
            forbidden.into_iter().collect::<Vec<_>>().join(", ")
        ),
    )
}

/// `seccompProfileBaseline_1_19`: the `seccompProfile` fields that are set.
pub(in crate::core::pod_security) fn v1_19(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut setters = Vec::new();
    let mut values = BTreeSet::new();
    if let Some(profile) = spec
        .security_context
        .as_ref()
        .and_then(|s| s.seccomp_profile.as_ref())
        && !valid_type(&profile.type_)
    {
        setters.push("pod".to_owned());
        values.insert(profile.type_.as_str());
    }
    let mut bad = Vec::new();
    for container in containers(spec) {
        if let Some(profile) = container
            .security_context
            .and_then(|s| s.seccomp_profile.as_ref())
            && !valid_type(&profile.type_)
        {
            bad.push(container.name);
            values.insert(profile.type_.as_str());
        }
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    if setters.is_empty() {
        return None;
    }
    Forbidden::new(
        "seccompProfile",
        format!(
            "{} must not set securityContext.seccompProfile.type to {}",
            setters.join(" and "),
            join_quote(&values)
        ),
    )
}
