//! The node agent in-process against the control plane, with a temporary directory as the
//! kubelet root: a profile's seccomp file appears, is repaired, and disappears with the
//! profile; the node's ConfigMap reports it.

use std::path::PathBuf;
use std::time::Duration;

use hardening_operator::node_agent::{self, Agent, AppArmorSupport, NodeAgentArgs, Parser};
use hardening_tests::{TestNamespace, eventually, wait_until};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams};
use serde_json::json;
use tokio::sync::oneshot;

use crate::operator_env::OperatorEnv;

#[tokio::test]
async fn node_agent_installs_repairs_and_removes_a_profiles_seccomp_file() {
    // A shard no operator watches: nothing adds a finalizer, deletion is immediate.
    let mut env = OperatorEnv::without_operator("agent").await;
    let home = TestNamespace::create(&env.client, "agent", &[]).await;
    let root: PathBuf = std::env::temp_dir().join(format!("kubelet-{}", env.shard));
    let _ = std::fs::remove_dir_all(&root);
    let node = env.shard.clone();
    let args = NodeAgentArgs {
        kubelet_root: root.clone(),
        apparmor_dir: root.join("apparmor"),
        check_period: Duration::from_millis(500),
        kubelet_config: root.join("config.yaml"),
        node_name: node.clone(),
        namespace: home.name().to_owned(),
        metrics_address: "127.0.0.1:0".parse().unwrap(),
        log: Default::default(),
    };
    // This machine's AppArmor is left alone: the agent is told it has none.
    let agent = Agent::new(
        &args.kubelet_root,
        &args.apparmor_dir,
        AppArmorSupport::Unavailable("disabled by the test".into()),
        Parser,
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(node_agent::run_agent(
        env.client.clone(),
        args,
        agent,
        async {
            let _ = stopped.await;
        },
    ));

    let profile = env.profile(
        "web",
        json!({"seccomp": {"baseline": "Strict"}, "apparmor": {}}),
    );
    let created = env.create_profile(&profile).await.unwrap();
    let name = kube::ResourceExt::name_any(&created);
    let file = root.join(format!("seccomp/hardening.dev/{name}.json"));
    let want = hardening_operator::core::seccomp::render(&created).unwrap();
    eventually("the seccomp file", || {
        let file = file.clone();
        let want = want.clone();
        async move {
            match std::fs::read_to_string(&file) {
                Ok(have) if have == want => Ok(()),
                Ok(_) => Err("different content".to_owned()),
                Err(e) => Err(e.to_string()),
            }
        }
    })
    .await;

    // The node's ConfigMap.
    let maps: Api<ConfigMap> = Api::namespaced(env.client.clone(), home.name());
    let map_name = node_agent::config_map_name(&node);
    eventually("the node's ConfigMap", || {
        let maps = maps.clone();
        let (map_name, name) = (map_name.clone(), name.clone());
        async move {
            let map = maps.get(&map_name).await.map_err(|e| e.to_string())?;
            let data = map.data.unwrap_or_default();
            let seccomp = data.get(&format!("{name}.seccomp")).cloned();
            let apparmor = data.get(&format!("{name}.apparmor")).cloned();
            if seccomp.as_deref() == Some("installed")
                && apparmor.is_some_and(|a| a.starts_with("failed: AppArmor unavailable"))
                && data
                    .get("apparmor")
                    .is_some_and(|a| a.starts_with("unavailable"))
            {
                Ok(())
            } else {
                Err(format!("{data:?}"))
            }
        }
    })
    .await;

    // Tampered: rewritten by the periodic check.
    std::fs::write(&file, "{}\n").unwrap();
    wait_until("the tampered file to be rewritten", || {
        let ok = std::fs::read_to_string(&file).is_ok_and(|have| have == want);
        async move { ok }
    })
    .await;

    // Deleted profile: the file goes.
    env.profiles_api()
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    wait_until("the file of the deleted profile to be removed", || {
        let gone = !file.exists();
        async move { gone }
    })
    .await;

    let _ = stop.send(());
    task.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&root);
    env.finish().await;
}
