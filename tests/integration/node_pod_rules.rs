//! The pod rules of issue 22 where pods must really run: on the test node, a pod without the
//! profile's seccomp profile is rejected under `guardrails.requireProfiles` while one with it
//! runs, confined (a denied call fails inside it); and user namespaces need what the node
//! does not have (containerd 1.6 reports no runtime handlers): the node agent says so, the
//! status of a profile with `requireUserNamespaces` lists the node, and the kubelet refuses a
//! pod with `hostUsers: false` with the message the README quotes. (AppArmor: this kernel has
//! no AppArmor module, so only seccomp is declared here; see README "The test node".)

use hardening_operator::config::RunConfig;
use hardening_operator::node_agent;
use hardening_tests::TestNamespace;
use hardening_tests::profiles::condition;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Pod};
use kube::ResourceExt;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

use crate::operator_env::OperatorEnv;
use hardening_tests::on_node::{
    busybox_pod, context_of, create_pod, finished, ready_with_context, runtime_default,
    shared_agent, wait_for_node_file,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_require_profiles_rejects_unconfined_pods_and_runs_confined_ones() {
    let _agent = shared_agent();
    let mut env = OperatorEnv::start("require-profiles").await;
    let client = env.client.clone();
    let ns = env.namespace(&[]).await;
    let created = env
        .create_profile(&env.profile(
            "confined",
            json!({
                "podSecurity": { "enforce": { "level": "restricted" } },
                "seccomp": { "deny": [{ "names": ["mkdir", "mkdirat"] }] },
                "guardrails": { "requireProfiles": true },
            }),
        ))
        .await
        .unwrap();
    let name = created.name_any();
    let status = env
        .status_where(&name, "Ready, guardrails enforced", |s| {
            ready_with_context(s)?;
            match condition(s, "GuardrailsEnforced") {
                Some(c) if c.0 == "True" => Ok(()),
                other => Err(format!("GuardrailsEnforced {other:?}")),
            }
        })
        .await;
    let confined = context_of(&status);
    let rendered = hardening_operator::core::seccomp::render(&created).unwrap();
    wait_for_node_file(&client, &name, &rendered).await;

    // Without the profile (RuntimeDefault, which Pod Security restricted accepts): rejected
    // by the API server, naming the rule, the requirement and the profile to use.
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let unconfined = busybox_pod(
        "unconfined",
        "mkdir /tmp/made && echo made",
        runtime_default(),
    );
    let rejection = hardening_tests::eventually("the rule in force", || {
        let pods = pods.clone();
        let pod = unconfined.clone();
        async move {
            match pods.create(&PostParams::default(), &pod).await {
                Err(kube::Error::Api(status)) => Ok(status.message),
                Err(e) => Err(e.to_string()),
                Ok(_) => {
                    let _ = pods.delete("unconfined", &Default::default()).await;
                    Err("admitted".to_owned())
                }
            }
        }
    })
    .await;
    assert!(
        rejection.contains("guardrail requireProfiles (BSI SYS.1.6 (2023) A21)")
            && rejection.contains(&format!("localhostProfile: hardening.dev/{name}.json")),
        "{rejection}"
    );
    // With it: admitted, runs on the node, and the profile confines it.
    create_pod(
        &client,
        &ns,
        &busybox_pod(
            "confined",
            "grep Seccomp: /proc/self/status; mkdir /tmp/made && echo made",
            confined,
        ),
    )
    .await;
    let outcome = finished(&client, &ns, "confined").await;
    assert_eq!(
        (outcome.phase.as_str(), outcome.exit_code),
        ("Failed", 1),
        "{outcome:?}"
    );
    assert!(
        outcome
            .logs
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["Seccomp:", "2"]),
        "{outcome:?}"
    );
    assert!(
        outcome.logs.contains("Operation not permitted") && !outcome.logs.contains("made\n"),
        "{outcome:?}"
    );
    // Nothing unconfined runs: A21 holds as far as the cluster shows (Met needs NetworkPolicies
    // and AppArmor too, which this profile leaves out).
    let status = env
        .status_where(&name, "the pod judged", |s| match s.unconfined_pods {
            Some(0) => Ok(()),
            other => Err(format!("unconfinedPods {other:?}")),
        })
        .await;
    let a21 = status
        .compliance
        .iter()
        .find(|c| c.id == "SYS.1.6.A21")
        .unwrap();
    assert!(
        !a21.reason.contains("requireProfiles"),
        "the rule counts: {}",
        a21.reason
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_user_namespaces_need_a_runtime_that_supports_them() {
    let node = hardening_tests::node();
    let Some((node_name, config)) = node.local_kubelet() else {
        eprintln!(
            "skipped: needs the local test node (its containerd 1.6 cannot run user namespaces)"
        );
        return;
    };
    let mut env = OperatorEnv::without_operator("userns").await;
    let home = TestNamespace::create(&env.client, "agent", &[]).await;
    env.start_operator(RunConfig {
        node_agent_namespace: Some(home.name().to_owned()),
        ..RunConfig::default()
    });
    let (stop, task, root) =
        hardening_tests::on_node::agent(&env.client, node_name, config, home.name());
    let profile = env.profile(
        "userns",
        json!({ "guardrails": { "requireUserNamespaces": true } }),
    );
    let name = profile.name_any();
    env.create_profile(&profile).await.unwrap();
    // The node agent's word on the node.
    let maps: Api<ConfigMap> = Api::namespaced(env.client.clone(), home.name());
    let support = hardening_tests::eventually("the node's user namespace support", || {
        let maps = maps.clone();
        async move {
            let map = maps
                .get(&node_agent::config_map_name(node_name))
                .await
                .map_err(|e| e.to_string())?;
            map.data
                .unwrap_or_default()
                .remove("node.userNamespaces")
                .ok_or_else(|| "not published yet".to_owned())
        }
    })
    .await;
    assert!(
        support.starts_with("unsupported: the container runtime (containerd://1.6")
            && support.contains("reports no runtime handlers"),
        "{support}"
    );
    // The profile's status: the node cannot run the pods the profile requires.
    let status = env
        .status_where(
            &name,
            "the node reported short of user namespaces",
            |s| match s.node_baseline.as_ref() {
                Some(n)
                    if n.short == 1 && n.failing[0].missing.starts_with("no user namespaces") =>
                {
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            },
        )
        .await;
    let failing = &status.node_baseline.unwrap().failing[0];
    assert_eq!(failing.node, node_name);
    assert!(
        failing
            .missing
            .starts_with("no user namespaces (the container runtime"),
        "{}",
        failing.missing
    );
    // And the kubelet refuses such a pod (in a namespace no profile governs).
    let free = TestNamespace::create(&env.client, "userns-pod", &[]).await;
    let mut pod = busybox_pod("userns", "id", runtime_default());
    pod.spec.as_mut().unwrap().host_users = Some(false);
    create_pod(&env.client, free.name(), &pod).await;
    let events: Api<Event> = Api::namespaced(env.client.clone(), free.name());
    let message = hardening_tests::eventually("the kubelet's refusal", || {
        let events = events.clone();
        async move {
            let list = events
                .list(&ListParams::default().fields("involvedObject.name=userns"))
                .await
                .map_err(|e| e.to_string())?;
            list.items
                .into_iter()
                .find(|e| e.reason.as_deref() == Some("FailedCreatePodSandBox"))
                .and_then(|e| e.message)
                .ok_or_else(|| "no FailedCreatePodSandBox event yet".to_owned())
        }
    })
    .await;
    assert!(
        message.contains(
            "can't set `spec.hostUsers: false`, runtime does not support user namespaces"
        ),
        "{message}"
    );
    let _ = stop.send(());
    task.await.unwrap();
    let _ = std::fs::remove_dir_all(root);
    env.finish().await;
}
