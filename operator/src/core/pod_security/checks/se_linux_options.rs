//! `check_seLinuxOptions.go` (baseline): SELinux type only a container type, no user, no
//! role.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{PodSpec, SELinuxOptions};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::core::pod_security::Forbidden;
use crate::core::pod_security::visit::{containers, containers_phrase, join_quote, pluralize};

/// `selinuxAllowedTypes1_0`.
const TYPES_1_0: &[&str] = &["", "container_t", "container_init_t", "container_kvm_t"];
/// `selinuxAllowedTypes1_31`.
const TYPES_1_31: &[&str] = &[
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

/// `seLinuxOptions1_0`.
pub(in crate::core::pod_security) fn v1_0(pod: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    check(pod, spec, TYPES_1_0)
}

/// `seLinuxOptions1_31`: also `container_engine_t`.
pub(in crate::core::pod_security) fn v1_31(pod: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    check(pod, spec, TYPES_1_31)
}

/// `seLinuxOptions`.
fn check(_: &ObjectMeta, spec: &PodSpec, allowed_types: &[&str]) -> Option<Forbidden> {
    let mut bad_types = BTreeSet::new();
    let (mut set_user, mut set_role) = (false, false);
    let mut valid = |options: &SELinuxOptions| {
        let kind = options.type_.as_deref().unwrap_or_default();
        let type_ok = allowed_types.contains(&kind);
        if !type_ok {
            bad_types.insert(kind.to_owned());
        }
        let user = options.user.as_deref().is_some_and(|u| !u.is_empty());
        let role = options.role.as_deref().is_some_and(|r| !r.is_empty());
        set_user |= user;
        set_role |= role;
        type_ok && !user && !role
    };
    let mut setters = Vec::new();
    if let Some(options) = spec
        .security_context
        .as_ref()
        .and_then(|s| s.se_linux_options.as_ref())
        && !valid(options)
    {
        setters.push("pod".to_owned());
    }
    let mut bad = Vec::new();
    for container in containers(spec) {
        if let Some(options) = container
            .security_context
            .and_then(|s| s.se_linux_options.as_ref())
            && !valid(options)
        {
            bad.push(container.name);
        }
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    if setters.is_empty() {
        return None;
    }
    let mut data = Vec::new();
    if !bad_types.is_empty() {
        data.push(format!(
            "{} {}",
            pluralize("type", "types", bad_types.len()),
            join_quote(&bad_types)
        ));
    }
    if set_user {
        data.push("user may not be set".to_owned());
    }
    if set_role {
        data.push("role may not be set".to_owned());
    }
    Forbidden::new(
        "seLinuxOptions",
        format!(
            "{} set forbidden securityContext.seLinuxOptions: {}",
            setters.join(" and "),
            data.join("; ")
        ),
    )
}
