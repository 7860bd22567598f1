//! Leader election against the real control plane: two operators of one shard compete for
//! the Lease `hardening-operator` in a namespace of the test; only the holder reconciles
//! and writes, the standby is ready with warm caches, and takes over when the leader
//! dies.

use std::time::{Duration, Instant};

use hardening_operator::config::{LEASE_NAME, LeaderElection, RunConfig};
use hardening_operator::run::Running;
use hardening_tests::clients::admin_config;
use hardening_tests::profiles::quota_spec;
use hardening_tests::scrape::{get, scrape};
use hardening_tests::{eventually, wait_until};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ResourceQuota;
use kube::{Api, ResourceExt};
use serde_json::json;
use tokio::sync::oneshot;

use crate::operator_env::{OperatorEnv, SHARD_LABEL, operator_config};

/// Short timings keep the test fast; production defaults are 15 s and 5 s.
const LEASE_DURATION: Duration = Duration::from_secs(4);
const RENEW_PERIOD: Duration = Duration::from_secs(2);

async fn start(
    env: &OperatorEnv,
    lease_namespace: &str,
    identity: &str,
) -> (Running, oneshot::Sender<()>) {
    let config = RunConfig {
        leader_election: LeaderElection::On,
        leader_election_namespace: Some(lease_namespace.to_owned()),
        leader_election_identity: Some(format!("{}-{identity}", env.shard)),
        leader_election_lease_duration: LEASE_DURATION,
        leader_election_renew_period: RENEW_PERIOD,
        ..operator_config(env)
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let running = hardening_operator::run::start(admin_config().await, config, async {
        let _ = stopped.await;
    })
    .await
    .expect("the operator starts");
    (running, stop)
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get_opt(LEASE_NAME)
        .await
        .ok()
        .flatten()
        .and_then(|l| l.spec?.holder_identity)
}

#[tokio::test]
async fn only_the_leader_writes_and_a_standby_takes_over() {
    let mut env = OperatorEnv::without_operator("leader").await;
    let lease_namespace = env.unselected_namespace().await;
    let leases: Api<Lease> = Api::namespaced(env.client.clone(), &lease_namespace);

    // The first operator takes the Lease; the second starts once it has.
    let (a, _stop_a) = start(&env, &lease_namespace, "a").await;
    let a_identity = a.identity.clone().expect("an identity");
    wait_until("the first operator to hold the Lease", || async {
        holder(&leases).await.as_ref() == Some(&a_identity)
    })
    .await;
    let (b, stop_b) = start(&env, &lease_namespace, "b").await;
    let b_identity = b.identity.clone().expect("an identity");
    // Both are ready: the standby has its caches synced, and could take over at once.
    for operator in [&a, &b] {
        let address = operator.metrics_address;
        wait_until("/readyz to answer 200", || async {
            get(address, "/readyz").await.status == 200
        })
        .await;
    }

    let ns = env.namespace(&[]).await;
    let profile = env
        .create_profile(&env.profile("quota", quota_spec()))
        .await
        .unwrap();
    let name = profile.name_any();
    env.status_where(&name, "the namespace in sync", |s| {
        (s.in_sync_namespaces == 1)
            .then_some(())
            .ok_or_else(|| "not in sync".to_owned())
    })
    .await;

    let leader = scrape(a.metrics_address).await;
    let standby = scrape(b.metrics_address).await;
    assert!(leader.reconciles() > 0.0, "{}", leader.text);
    assert!(leader.writes() > 0.0, "{}", leader.text);
    assert_eq!(
        (standby.reconciles(), standby.writes()),
        (0.0, 0.0),
        "the standby reconciles and writes nothing:\n{}",
        standby.text
    );
    assert_eq!(holder(&leases).await, Some(a_identity.clone()));
    assert!(!b.is_finished());

    // The leader dies (no graceful shutdown: its Lease is not released).
    let died = Instant::now();
    a.abort();
    wait_until("the standby to hold the Lease", || async {
        holder(&leases).await.as_ref() == Some(&b_identity)
    })
    .await;
    let takeover = died.elapsed();
    println!(
        "leader election: the standby took over {takeover:.1?} after the leader died \
         (lease duration {LEASE_DURATION:?}, renew period {RENEW_PERIOD:?})"
    );
    assert!(
        takeover < LEASE_DURATION + Duration::from_secs(5),
        "takeover took {takeover:?}"
    );

    // A namespace labelled after the takeover is hardened by the new leader.
    let later = env.unselected_namespace().await;
    env.set_namespace_labels(&later, json!({ SHARD_LABEL: env.shard }))
        .await;
    let quotas: Api<ResourceQuota> = Api::namespaced(env.client.clone(), &later);
    eventually("the new leader to harden the namespace", || async {
        quotas
            .get_opt("hardening-quota")
            .await
            .map_err(|e| e.to_string())?
            .map(|_| ())
            .ok_or_else(|| "no hardening-quota yet".to_owned())
    })
    .await;
    env.status_where(&name, "both namespaces in sync", |s| {
        (s.in_sync_namespaces == 2)
            .then_some(())
            .ok_or_else(|| "not both in sync".to_owned())
    })
    .await;
    let new_leader = scrape(b.metrics_address).await;
    assert!(new_leader.reconciles() > 0.0 && new_leader.writes() > 0.0);
    let _ = ns;

    // A graceful stop gives the Lease up.
    env.finish().await;
    let _ = stop_b.send(());
    b.wait().await.expect("a clean stop");
    assert_eq!(holder(&leases).await, None);
}
