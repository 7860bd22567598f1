//! `check_appArmorProfile.go` (baseline): AppArmor profile types and the beta annotations
//! may only name the runtime's default or a localhost profile.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::core::pod_security::Forbidden;
use crate::core::pod_security::visit::{
    containers, containers_phrase, go_quote, join_quote, pluralize,
};

const ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

/// `allowedAnnotationValue`.
fn allowed_annotation(value: &str) -> bool {
    value.is_empty() || value == "runtime/default" || value.starts_with("localhost/")
}

/// `allowedProfileType`.
fn allowed_type(value: &str) -> bool {
    matches!(value, "RuntimeDefault" | "Localhost")
}

/// `appArmorProfile_1_0`.
pub(in crate::core::pod_security) fn v1_0(pod: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut setters = Vec::new();
    let mut values = BTreeSet::new();
    if let Some(profile) = spec
        .security_context
        .as_ref()
        .and_then(|s| s.app_armor_profile.as_ref())
        && !allowed_type(&profile.type_)
    {
        setters.push("pod".to_owned());
        values.insert(profile.type_.clone());
    }
    let mut bad_containers = Vec::new();
    for container in containers(spec) {
        if let Some(profile) = container
            .security_context
            .and_then(|s| s.app_armor_profile.as_ref())
            && !allowed_type(&profile.type_)
        {
            bad_containers.push(container.name);
            values.insert(profile.type_.clone());
        }
    }
    if !bad_containers.is_empty() {
        setters.push(containers_phrase(&bad_containers));
    }
    let mut annotations: Vec<String> = pod
        .annotations
        .iter()
        .flatten()
        .filter(|(key, value)| key.starts_with(ANNOTATION_PREFIX) && !allowed_annotation(value))
        .map(|(key, value)| format!("{key}={}", go_quote(value)))
        .collect();
    let mut values: Vec<String> = values.into_iter().collect();
    if !annotations.is_empty() {
        annotations.sort();
        setters.push(pluralize("annotation", "annotations", annotations.len()).to_owned());
        values.extend(annotations);
    }
    if setters.is_empty() {
        return None;
    }
    Forbidden::new(
        pluralize(
            "forbidden AppArmor profile",
            "forbidden AppArmor profiles",
            values.len(),
        ),
        format!(
            "{} must not set AppArmor profile type to {}",
            setters.join(" and "),
            join_quote(&values)
        ),
    )
}
