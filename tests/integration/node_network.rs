//! The node's network rule: pods reach each other on the node's bridge and nothing else
//! (no route off the bridge, so no packet is ever sent to test it), and an image pull
//! never leaves the machine. Only on the local node: an existing cluster has a network of
//! its own.

use hardening_tests::{NO_PULL_PROXY, cluster, node, node_toleration};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use serde_json::json;

use crate::operator_env::OperatorEnv;
use hardening_tests::on_node::{
    busybox_pod, create_pod, finished, run_to_completion, running, runtime_default, waiting,
};

/// An address of TEST-NET-3 (RFC 5737): never anyone's.
const OFF_THE_BRIDGE: &str = "203.0.113.7";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_reach_each_other_on_the_bridge_and_nothing_else() {
    if !cluster().is_local() {
        eprintln!("skipped: an existing cluster's network is its own");
        return;
    }
    let (host, _) = node().api_server_for_pods().expect("the local node");
    let mut env = OperatorEnv::without_operator("node-net").await;
    let client = env.client.clone();
    let ns = env.namespace(&[]).await;

    // The routing table of a pod: the bridge's subnet, nothing more. `ip route get` only
    // looks a route up.
    let routes = run_to_completion(
        &client,
        &ns,
        &busybox_pod(
            "routes",
            &format!(
                "ip route; ip route get {host} >/dev/null && echo host reachable; \
                 ip route get {OFF_THE_BRIDGE} 2>&1; true"
            ),
            runtime_default(),
        ),
    )
    .await;
    let lines: Vec<&str> = routes.logs.lines().collect();
    assert_eq!(lines.len(), 3, "{routes:?}");
    let subnet = format!("{}.0/24", host.to_string().rsplit_once('.').unwrap().0);
    assert!(
        lines[0].starts_with(&format!("{subnet} dev eth0")),
        "only the bridge's subnet: {routes:?}"
    );
    assert_eq!(lines[1], "host reachable", "{routes:?}");
    assert!(
        lines[2].contains("Network unreachable") || lines[2].contains("Network is unreachable"),
        "{routes:?}"
    );

    // Pod to pod over the bridge.
    create_pod(
        &client,
        &ns,
        &busybox_pod("server", "echo hello | nc -l -p 7000", runtime_default()),
    )
    .await;
    let server = running(&client, &ns, "server").await;
    let ip = server.status.and_then(|s| s.pod_ip).expect("a pod IP");
    let reply = run_to_completion(
        &client,
        &ns,
        &busybox_pod("client", &format!("nc {ip} 7000"), runtime_default()),
    )
    .await;
    assert_eq!(
        (reply.phase.as_str(), reply.logs.trim()),
        ("Succeeded", "hello"),
        "{reply:?}"
    );
    assert_eq!(finished(&client, &ns, "server").await.phase, "Succeeded");

    // A pod that asks for a pull: it fails at containerd's loopback proxy.
    let pull: Pod = serde_json::from_value(json!({
        "metadata": { "name": "pull" },
        "spec": {
            "tolerations": [node_toleration()],
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "main",
                "image": "docker.io/library/busybox:1.36",
                "imagePullPolicy": "Always",
            }],
        },
    }))
    .unwrap();
    create_pod(&client, &ns, &pull).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let proxy = NO_PULL_PROXY.trim_start_matches("http://");
    hardening_tests::eventually("the pull to fail at the loopback proxy", || async {
        let why = waiting(&pods, "pull").await;
        if why.contains("ErrImagePull") && why.contains(proxy) {
            Ok(())
        } else {
            Err(why)
        }
    })
    .await;
    env.finish().await;
}
