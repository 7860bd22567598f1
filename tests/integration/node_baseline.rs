//! Node baseline (issue 23 item 2) on real nodes: the node agent reads the kubelet's
//! configuration file and the Node's `status.nodeInfo` and publishes them in the node's
//! ConfigMap; the operator reads the ConfigMaps and a profile's `nodeBaseline` status says
//! which node falls short of what. The shared test node's kubelet runs with the file
//! defaults for seccomp and pids (no `seccompDefault`, `podPidsLimit` -1) and misses the
//! baseline; a node of the test's own, started with `seccompDefault: true` and
//! `podPidsLimit: 1024`, meets it.

use hardening_operator::config::RunConfig;
use hardening_operator::core::api::{HardeningProfile, HardeningProfileStatus};
use hardening_operator::node_agent;
use hardening_tests::TestNamespace;
use hardening_tests::on_node::agent;
use kube::ResourceExt;
use kube::api::{Api, PostParams};
use serde_json::json;
use tokio::sync::oneshot;

use crate::operator_env::OperatorEnv;

/// Everything the baseline can ask; this machine's kernel and Debian's containerd 1.6 pass
/// the version checks.
fn baseline() -> serde_json::Value {
    json!({
        "seccompDefault": true,
        "maxPodPids": 4096,
        "noAnonymousAuth": true,
        "noReadOnlyPort": true,
        "minKernelVersion": "4.0",
        "containerRuntimes": { "containerd": "1.6" },
    })
}

async fn node_baseline_where(
    profiles: &Api<HardeningProfile>,
    name: &str,
    what: &str,
    check: impl Fn(&HardeningProfileStatus) -> bool,
) -> HardeningProfileStatus {
    hardening_tests::eventually(what, || async {
        let status = profiles
            .get(name)
            .await
            .map_err(|e| e.to_string())?
            .status
            .unwrap_or_default();
        if check(&status) {
            Ok(status)
        } else {
            Err(serde_json::to_string(&(&status.node_baseline, &status.conditions)).unwrap())
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_baseline_the_shared_node_falls_short_of_seccomp_and_pids() {
    let node = hardening_tests::node();
    let Some((node_name, config)) = node.local_kubelet() else {
        eprintln!("skipped: needs the local test node's kubelet configuration");
        return;
    };
    let mut env = OperatorEnv::without_operator("nodebase").await;
    let home = TestNamespace::create(&env.client, "agent", &[]).await;
    env.start_operator(RunConfig {
        node_agent_namespace: Some(home.name().to_owned()),
        ..RunConfig::default()
    });
    let (stop, task, root) = agent(&env.client, node_name, config, home.name());
    let profile = env.profile("nodes", json!({ "nodeBaseline": baseline() }));
    let name = profile.name_any();
    env.create_profile(&profile).await.unwrap();
    let status = node_baseline_where(&env.profiles_api(), &name, "the node reported short", |s| {
        s.node_baseline.as_ref().is_some_and(|n| n.short == 1)
    })
    .await;
    let nodes = status.node_baseline.unwrap();
    assert_eq!(nodes.nodes, 1);
    assert_eq!(nodes.failing.len(), 1);
    assert_eq!(nodes.failing[0].node, node_name);
    assert_eq!(
        nodes.failing[0].missing,
        "seccompDefault is false; podPidsLimit is -1 (unlimited), wants at most 4096"
    );
    let condition = status
        .conditions
        .iter()
        .find(|c| c.type_ == "NodesMeetBaseline")
        .unwrap();
    assert_eq!(
        (condition.status.as_str(), condition.reason.as_str()),
        ("False", "NodesFallShort")
    );
    // The compliance report says it per node.
    let args = hardening_operator::cli::report::ReportArgs {
        format: hardening_operator::cli::report::Format::Markdown,
        output: None,
        profile_selector: Some(env.selector()),
        namespace_selector: None,
        exclusions: Default::default(),
        cluster: Default::default(),
    };
    let report = hardening_operator::cli::report::read(
        &env.client,
        &args,
        hardening_operator::core::compliance_report::ClusterIdentity::default(),
    )
    .await
    .expect("the report");
    let text = hardening_operator::cli::report::render(
        &report,
        hardening_operator::cli::report::Format::Markdown,
    );
    assert!(
        text.contains(&format!(
            "| {name} | 1 of 1 node fall short; {node_name}: seccompDefault is false; podPidsLimit is -1 (unlimited), wants at most 4096 |"
        )),
        "{text}"
    );
    // What the agent published, as an administrator reads it.
    let map =
        Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(env.client.clone(), home.name())
            .get(&node_agent::config_map_name(node_name))
            .await
            .unwrap();
    let data = map.data.unwrap_or_default();
    assert_eq!(data["kubelet.seccompDefault"], "false");
    assert_eq!(data["kubelet.readOnlyPort"], "0");
    assert_eq!(data["kubelet.anonymousAuth"], "false");
    assert!(
        data["node.containerRuntimeVersion"].starts_with("containerd://"),
        "{data:?}"
    );
    assert!(!data["node.kernelVersion"].is_empty());
    let _ = stop.send(());
    task.await.unwrap();
    let _ = std::fs::remove_dir_all(root);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_baseline_a_node_started_with_a_hardened_kubelet_meets_it() {
    let Some((plane, client)) = hardening_tests::own_control_plane("a node of its own").await
    else {
        return;
    };
    let bin = hardening_tests::controlplane::binaries_dir().unwrap();
    let (plane, node) = tokio::task::spawn_blocking(move || {
        let node = hardening_tests::Node::start_with(
            &plane,
            &bin,
            "seccompDefault: true\npodPidsLimit: 1024\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        (plane, node)
    })
    .await
    .unwrap();
    crate::operator_env::install_crd(&client).await;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({ "metadata": { "name": "node-agent" } })).unwrap(),
        )
        .await
        .unwrap();
    let (stop_operator, stopped) = oneshot::channel::<()>();
    let operator = tokio::spawn(hardening_operator::controller::run(
        client.clone(),
        RunConfig {
            node_agent_namespace: Some("node-agent".into()),
            ..RunConfig::default()
        },
        async {
            let _ = stopped.await;
        },
    ));
    let (stop, task, root) = agent(&client, node.name(), &node.kubelet_config(), "node-agent");
    let profiles: Api<HardeningProfile> = Api::all(client.clone());
    profiles
        .create(
            &PostParams::default(),
            &hardening_operator::fixtures::profile("nodes")
                .spec(json!({ "namespaceSelector": {}, "nodeBaseline": baseline() }))
                .build(),
        )
        .await
        .unwrap();
    let status = node_baseline_where(&profiles, "nodes", "the node reported meeting it", |s| {
        s.node_baseline.as_ref().is_some_and(|n| n.nodes == 1)
    })
    .await;
    let nodes = status.node_baseline.unwrap();
    assert_eq!((nodes.nodes, nodes.short), (1, 0), "{:?}", nodes.failing);
    let condition = status
        .conditions
        .iter()
        .find(|c| c.type_ == "NodesMeetBaseline")
        .unwrap();
    assert_eq!(
        (condition.status.as_str(), condition.reason.as_str()),
        ("True", "AllNodesMeetBaseline")
    );
    let _ = stop.send(());
    task.await.unwrap();
    let _ = stop_operator.send(());
    operator.await.unwrap();
    let _ = std::fs::remove_dir_all(root);
    tokio::task::spawn_blocking(move || drop(node))
        .await
        .unwrap();
    drop(plane);
}
