//! `check_sysctls.go` (baseline): only the safe, namespaced sysctls; the list grows in
//! v1.27, v1.29 and v1.32.

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::core::pod_security::Forbidden;

/// `sysctlsAllowedV1Dot0`.
const V1_0: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
];
/// Added to the allowed sysctls in v1.27 (`sysctlsAllowedV1Dot27`).
const V1_27: &[&str] = &["net.ipv4.ip_local_reserved_ports"];
/// Added in v1.29 (`sysctlsAllowedV1Dot29`).
const V1_29: &[&str] = &[
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];
/// Added in v1.32 (`sysctlsAllowedV1Dot32`).
const V1_32: &[&str] = &["net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"];

/// `sysctlsV1Dot0`.
pub(in crate::core::pod_security) fn v1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    check(spec, &[V1_0])
}

/// `sysctlsV1Dot27`.
pub(in crate::core::pod_security) fn v1_27(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    check(spec, &[V1_0, V1_27])
}

/// `sysctlsV1Dot29`.
pub(in crate::core::pod_security) fn v1_29(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    check(spec, &[V1_0, V1_27, V1_29])
}

/// `sysctlsV1Dot32`.
pub(in crate::core::pod_security) fn v1_32(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    check(spec, &[V1_0, V1_27, V1_29, V1_32])
}

/// `sysctls`: the forbidden names in the order the pod lists them.
fn check(spec: &PodSpec, allowed: &[&[&str]]) -> Option<Forbidden> {
    let forbidden: Vec<&str> = spec
        .security_context
        .iter()
        .flat_map(|s| s.sysctls.iter().flatten())
        .map(|s| s.name.as_str())
        .filter(|name| !allowed.iter().any(|set| set.contains(name)))
        .collect();
    if forbidden.is_empty() {
        return None;
    }
    Forbidden::new("forbidden sysctls", forbidden.join(", "))
}
