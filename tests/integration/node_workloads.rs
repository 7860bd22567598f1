//! Workloads on the node: the profile's pod report counts pods the kubelet really runs (and
//! stops counting those that really finished), and a LimitRange default lands in a real
//! container's cgroup limits.

use std::time::Instant;

use hardening_operator::core::api::HardeningProfileStatus;
use hardening_tests::profiles::condition;
use kube::ResourceExt;
use serde_json::json;

use crate::operator_env::OperatorEnv;
use hardening_tests::on_node::{
    busybox_pod, create_pod, delete_pod, finished, run_to_completion, running, runtime_default,
};

fn unconfined(status: &HardeningProfileStatus) -> Vec<String> {
    status
        .namespaces
        .iter()
        .flat_map(|n| n.pods.iter().map(|p| p.name.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pod_report_counts_pods_that_really_run() {
    hardening_tests::node();
    let mut env = OperatorEnv::start("node-pods").await;
    let client = env.client.clone();
    let ns = env.namespace(&[]).await;
    let name = env
        .create_profile(&env.profile("report", json!({ "seccomp": {} })))
        .await
        .unwrap()
        .name_any();
    // Two long-running pods and one that completes, none using the profile's seccomp file.
    let started = Instant::now();
    let sleeper = |name: &str| busybox_pod(name, "sleep 3600", runtime_default());
    create_pod(&client, &ns, &sleeper("sleeper-a")).await;
    running(&client, &ns, "sleeper-a").await;
    eprintln!(
        "pod created -> running and ready in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    create_pod(&client, &ns, &sleeper("sleeper-b")).await;
    create_pod(
        &client,
        &ns,
        &busybox_pod("done", "true", runtime_default()),
    )
    .await;
    running(&client, &ns, "sleeper-b").await;
    assert_eq!(finished(&client, &ns, "done").await.phase, "Succeeded");
    let status = env
        .status_where(&name, "the two running pods reported", |s| {
            if s.unconfined_pods == Some(2) && unconfined(s) == ["sleeper-a", "sleeper-b"] {
                Ok(())
            } else {
                Err("want sleeper-a and sleeper-b".into())
            }
        })
        .await;
    assert_eq!(
        condition(&status, "PodsConfined"),
        Some(("False".into(), "UnconfinedPods".into()))
    );
    // A deleted pod (the kubelet stops it first) no longer counts.
    delete_pod(&client, &ns, "sleeper-a").await;
    env.status_where(&name, "one running pod reported", |s| {
        if s.unconfined_pods == Some(1) && unconfined(s) == ["sleeper-b"] {
            Ok(())
        } else {
            Err("want sleeper-b alone".into())
        }
    })
    .await;
    env.finish().await;
}

/// cgroup v1 (this machine) or v2 (most current nodes): the container's memory limit in
/// bytes and its CPU quota and period in microseconds, read from inside the container.
const READ_LIMITS: &str = "if [ -e /sys/fs/cgroup/memory.max ]; then \
       echo memory $(cat /sys/fs/cgroup/memory.max); echo cpu $(cat /sys/fs/cgroup/cpu.max); \
     else \
       echo memory $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes); \
       echo cpu $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us); \
     fi";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_range_default_lands_in_the_containers_cgroup() {
    hardening_tests::node();
    let mut env = OperatorEnv::start("node-limits").await;
    let client = env.client.clone();
    let ns = env.namespace(&[]).await;
    let name = env
        .create_profile(&env.profile(
            "limits",
            json!({ "limitRange": { "limits": [{
                "type": "Container",
                "default": { "cpu": "250m", "memory": "96Mi" },
                "defaultRequest": { "cpu": "50m", "memory": "32Mi" },
            }]}}),
        ))
        .await
        .unwrap()
        .name_any();
    env.status_where(&name, "in sync", |s| {
        if s.in_sync_namespaces == 1 {
            Ok(())
        } else {
            Err("want 1 namespace in sync".into())
        }
    })
    .await;
    // A pod that sets no resources of its own.
    let outcome = run_to_completion(
        &client,
        &ns,
        &busybox_pod("limits", READ_LIMITS, runtime_default()),
    )
    .await;
    assert_eq!(outcome.phase, "Succeeded", "{outcome:?}");
    let lines: Vec<Vec<&str>> = outcome
        .logs
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    // 96Mi; 250m of a 100 ms period is 25 ms.
    assert_eq!(
        lines,
        [vec!["memory", "100663296"], vec!["cpu", "25000", "100000"]],
        "{outcome:?}"
    );
    env.finish().await;
}
