//! `check_hostNamespaces.go` (baseline): no host network, PID or IPC namespace.

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::core::pod_security::Forbidden;

/// `hostNamespaces_1_0`.
pub(in crate::core::pod_security) fn v1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let shared: Vec<&str> = [
        (spec.host_network, "hostNetwork=true"),
        (spec.host_pid, "hostPID=true"),
        (spec.host_ipc, "hostIPC=true"),
    ]
    .into_iter()
    .filter(|(set, _)| *set == Some(true))
    .map(|(_, what)| what)
    .collect();
    if shared.is_empty() {
        return None;
    }
    Forbidden::new("host namespaces", shared.join(", "))
}
