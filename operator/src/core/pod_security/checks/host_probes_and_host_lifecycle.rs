//! `check_hostProbesAndhostLifecycle.go` (baseline, from v1.34): probes and lifecycle
//! handlers must not set `host` (an HTTP or TCP check of another host).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{HTTPGetAction, PodSpec, TCPSocketAction};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::core::pod_security::Forbidden;
use crate::core::pod_security::visit::{containers, join_quote, pluralize};

/// The non-empty hosts of a probe's or handler's HTTP and TCP actions
/// (`getForbiddenHostProbes`, `getForbiddenHostLifecycle`).
fn hosts<'a>(
    http: Option<&'a HTTPGetAction>,
    tcp: Option<&'a TCPSocketAction>,
) -> impl Iterator<Item = &'a str> {
    let http = http.and_then(|a| a.host.as_deref());
    let tcp = tcp.and_then(|a| a.host.as_deref());
    [http, tcp].into_iter().flatten().filter(|h| !h.is_empty())
}

/// `hostProbesAndHostLifecycleV1Dot34`. Containers and hosts are sets: sorted, each once.
pub(in crate::core::pod_security) fn v1_34(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut bad = BTreeSet::new();
    let mut forbidden = BTreeSet::new();
    for container in containers(spec) {
        let probes = container
            .probes
            .into_iter()
            .flatten()
            .flat_map(|p| hosts(p.http_get.as_ref(), p.tcp_socket.as_ref()));
        let handlers = container
            .lifecycle
            .into_iter()
            .flat_map(|l| [l.post_start.as_ref(), l.pre_stop.as_ref()])
            .flatten()
            .flat_map(|h| hosts(h.http_get.as_ref(), h.tcp_socket.as_ref()));
        for host in probes.chain(handlers) {
            bad.insert(container.name);
            forbidden.insert(host);
        }
    }
    if bad.is_empty() {
        return None;
    }
    Forbidden::new(
        "probe or lifecycle host",
        format!(
            "{} {} {} {} {}",
            pluralize("container", "containers", bad.len()),
            join_quote(&bad),
            pluralize("uses", "use", bad.len()),
            pluralize(
                "probe or lifecycle host",
                "probe or lifecycle hosts",
                forbidden.len()
            ),
            join_quote(&forbidden)
        ),
    )
}
