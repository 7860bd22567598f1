//! `helm install` of the chart with the operator's own image on the node: both replicas
//! run in a namespace enforcing Pod Security `restricted`, one holds the leader Lease, the
//! other takes over when the leader pod is deleted, and a namespace labelled afterwards is
//! hardened by the new leader.
//!
//! The leader pod is deleted by scaling the Deployment down with the leader marked as the
//! pod to remove (`controller.kubernetes.io/pod-deletion-cost`): a deleted pod's
//! replacement would otherwise race the standby for the released Lease (and usually win,
//! as it tries at once while the standby looks again only when the lease it last saw
//! expires).

use std::time::Instant;

use hardening_operator::config::LEASE_NAME;
use hardening_tests::objects::labels_of;
use hardening_tests::profiles::condition;
use hardening_tests::{TestNamespace, eventually, eventually_within};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::operator_env::{OperatorEnv, SHARD_LABEL};
use hardening_tests::on_node::{POD_TIMEOUT, Release, is_running_and_ready};

/// The names of the release's running and ready operator pods.
async fn ready_operators(client: &Client, release: &Release) -> Result<Vec<String>, String> {
    let pods = release.pods(client, "operator").await;
    let ready: Vec<String> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none() && is_running_and_ready(p))
        .map(|p| p.name_any())
        .collect();
    if ready.len() == 2 {
        Ok(ready)
    } else {
        let phases: Vec<String> = pods
            .iter()
            .map(|p| {
                format!(
                    "{}: {:?}",
                    p.name_any(),
                    p.status.as_ref().and_then(|s| s.phase.clone())
                )
            })
            .collect();
        Err(format!("{} ready of {phases:?}", ready.len()))
    }
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get_opt(LEASE_NAME)
        .await
        .ok()
        .flatten()?
        .spec?
        .holder_identity
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_installed_operator_runs_restricted_with_a_leader_and_a_standby_that_takes_over() {
    let mut env = OperatorEnv::without_operator("chart-ha").await;
    let client = env.client.clone();
    let home = TestNamespace::create(
        &client,
        "chart-ha",
        &[
            ("pod-security.kubernetes.io/enforce", "restricted"),
            ("pod-security.kubernetes.io/enforce-version", "latest"),
        ],
    )
    .await;
    // Only this test's profiles; leader election as the chart sets it (15 s / 5 s).
    let release = Release::install(
        "ha",
        home.name(),
        &[format!("operator.profileSelector={}", env.selector())],
    );
    let started = Instant::now();
    let pods = eventually_within(POD_TIMEOUT, "both operator replicas ready", || {
        ready_operators(&client, &release)
    })
    .await;
    eprintln!(
        "helm install -> 2 operator replicas ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // PodSecurity admitted them: the namespace enforces restricted.
    let home_ns = Api::<Namespace>::all(client.clone())
        .get(home.name())
        .await
        .unwrap();
    assert_eq!(
        labels_of(&home_ns)
            .get("pod-security.kubernetes.io/enforce")
            .map(String::as_str),
        Some("restricted")
    );

    let leases: Api<Lease> = Api::namespaced(client.clone(), home.name());
    let leader = eventually("one replica to hold the Lease", || async {
        match holder(&leases).await {
            Some(h) if pods.contains(&h) => Ok(h),
            other => Err(format!("holder {other:?}, pods {pods:?}")),
        }
    })
    .await;
    let standby = pods.iter().find(|p| **p != leader).unwrap().clone();

    // The leader works: a profile is handled.
    let name = env
        .create_profile(&env.profile(
            "ha",
            json!({
                "podSecurity": { "enforce": { "level": "restricted" } },
                "networkPolicy": { "defaultDeny": ["Ingress", "Egress"] },
            }),
        ))
        .await
        .unwrap()
        .name_any();
    env.status_where(&name, "Ready", |s| match condition(s, "Ready") {
        Some((ready, _)) if ready == "True" => Ok(()),
        other => Err(format!("Ready: {other:?}")),
    })
    .await;

    // The leader pod is deleted (the Deployment scaled down to 1, the leader chosen to
    // go): it releases the Lease on SIGTERM and the standby takes over.
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), home.name());
    pods_api
        .patch(
            &leader,
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "annotations": {
                "controller.kubernetes.io/pod-deletion-cost": "-1000"
            }}})),
        )
        .await
        .unwrap();
    let deployment = Api::<Deployment>::namespaced(client.clone(), home.name())
        .list(&ListParams::default().labels(&release.selector("operator")))
        .await
        .unwrap()
        .items
        .remove(0)
        .name_any();
    let deleted = Instant::now();
    Api::<Deployment>::namespaced(client.clone(), home.name())
        .patch(
            &deployment,
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "replicas": 1 } })),
        )
        .await
        .unwrap();
    eventually("the standby to take over the Lease", || async {
        match holder(&leases).await {
            Some(h) if h == standby => Ok(()),
            other => Err(format!("holder {other:?}")),
        }
    })
    .await;
    let takeover = deleted.elapsed();
    let gone = pods_api
        .get_opt(&leader)
        .await
        .unwrap()
        .is_none_or(|p| p.metadata.deletion_timestamp.is_some());
    assert!(gone, "the leader pod {leader} is still there");
    eprintln!(
        "leader pod {leader} deleted -> standby {standby} holds the Lease after {:.2} s",
        takeover.as_secs_f64()
    );

    // A namespace labelled afterwards is hardened by the new leader.
    let labelled = Instant::now();
    let ns = env.namespace(&[]).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), &ns);
    eventually("the new namespace hardened", || async {
        let live = namespaces.get(&ns).await.map_err(|e| e.to_string())?;
        let level = labels_of(&live)
            .get("pod-security.kubernetes.io/enforce")
            .cloned();
        let count = policies
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?
            .items
            .len();
        if level.as_deref() == Some("restricted") && count > 0 {
            Ok(())
        } else {
            Err(format!("enforce {level:?}, {count} NetworkPolicies"))
        }
    })
    .await;
    eprintln!(
        "namespace labelled after the takeover hardened in {:.2} s",
        labelled.elapsed().as_secs_f64()
    );
    env.status_where(&name, "one namespace in sync", |s| {
        if s.selected_namespaces == 1 && s.in_sync_namespaces == 1 {
            Ok(())
        } else {
            Err("want 1 selected, 1 in sync".into())
        }
    })
    .await;
    assert_eq!(
        labels_of(&namespaces.get(&ns).await.unwrap()).get(SHARD_LABEL),
        Some(&env.shard)
    );
    // Profiles are deleted while the release's operator still runs (its finalizer).
    env.finish().await;
    drop(release);
}
