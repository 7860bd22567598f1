//! The caches behind `status.nodeProxy`: every ClusterRole and ClusterRoleBinding (few in a
//! cluster), watched; a change asks for the status of every profile with `denyExec`, which
//! reads who can reach containers past admission (`crate::core::access`).

use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::sync::mpsc::UnboundedSender;

use super::managed::{drive, watch_backoff};
use crate::core::api::HardeningProfile;

pub struct AccessCaches {
    roles: Store<ClusterRole>,
    bindings: Store<ClusterRoleBinding>,
}

impl AccessCaches {
    pub async fn wait_until_ready(&self) {
        let _ = self.roles.wait_until_ready().await;
        let _ = self.bindings.wait_until_ready().await;
    }

    /// Subjects a ClusterRoleBinding gives `nodes/proxy`, as `core::access` names them.
    pub fn node_proxy_subjects(&self) -> Vec<String> {
        let roles = self.roles.state();
        let bindings = self.bindings.state();
        crate::core::access::node_proxy_subjects(
            roles.iter().map(|r| r.as_ref()),
            bindings.iter().map(|b| b.as_ref()),
        )
    }
}

/// The caches and the futures filling them; a change asks `status` for every profile with
/// `denyExec` (from `profiles`).
pub fn caches(
    client: &Client,
    profiles: Store<HardeningProfile>,
    status: UnboundedSender<String>,
) -> (AccessCaches, Vec<BoxFuture<'static, ()>>) {
    let notify = move || {
        for profile in profiles.state() {
            if profile
                .spec
                .guardrails
                .as_ref()
                .is_some_and(|g| g.deny_exec)
            {
                let _ = status.send(profile.name_any());
            }
        }
    };
    let (roles, role_writer) = reflector::store();
    let (bindings, binding_writer) = reflector::store();
    let on_role = notify.clone();
    let role_events = watcher(Api::<ClusterRole>::all(client.clone()), Default::default())
        .backoff(watch_backoff())
        .reflect(role_writer)
        .inspect(move |event| {
            if matches!(
                event,
                Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_))
            ) {
                on_role();
            }
        });
    let binding_events = watcher(
        Api::<ClusterRoleBinding>::all(client.clone()),
        Default::default(),
    )
    .backoff(watch_backoff())
    .reflect(binding_writer)
    .inspect(move |event| {
        if matches!(
            event,
            Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_))
        ) {
            notify();
        }
    });
    (
        AccessCaches { roles, bindings },
        vec![
            drive("ClusterRole", role_events.map(|e| e.map(|_| ()))),
            drive("ClusterRoleBinding", binding_events.map(|e| e.map(|_| ()))),
        ],
    )
}
