//! Tying profiles to workloads: the profile's status names the pods (per governed
//! namespace) that do not run under its seccomp and AppArmor profiles.
//!
//! No kubelet runs here, so pods stay unscheduled; a pod's phase is set through the status
//! subresource (as a kubelet would) to show that running pods count and finished ones not.

use hardening_operator::core::api::{HardeningProfileStatus, NamespaceState};
use hardening_tests::profiles::condition;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};

use crate::operator_env::OperatorEnv;

async fn create_pod(client: &Client, namespace: &str, name: &str, spec: Value) {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": { "name": name },
        "spec": spec,
    }))
    .unwrap();
    Api::<Pod>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &pod)
        .await
        .unwrap_or_else(|e| panic!("creating pod {namespace}/{name}: {e}"));
}

async fn set_phase(client: &Client, namespace: &str, name: &str, phase: &str) {
    Api::<Pod>::namespaced(client.clone(), namespace)
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": { "phase": phase } })),
        )
        .await
        .unwrap_or_else(|e| panic!("setting phase {phase} of {namespace}/{name}: {e}"));
}

async fn delete_pod(client: &Client, namespace: &str, name: &str) {
    Api::<Pod>::namespaced(client.clone(), namespace)
        .delete(name, &DeleteParams::default().grace_period(0))
        .await
        .unwrap_or_else(|e| panic!("deleting pod {namespace}/{name}: {e}"));
}

fn app(security_context: Value) -> Value {
    json!({
        "securityContext": security_context,
        "containers": [{ "name": "app", "image": "registry.invalid/app:1" }],
    })
}

/// The unconfined pods listed for `namespace`: (name, reason).
fn listed(status: &HardeningProfileStatus, namespace: &str) -> Vec<(String, String)> {
    status
        .namespaces
        .iter()
        .filter(|n| n.name == namespace)
        .flat_map(|n| n.pods.iter().map(|p| (p.name.clone(), p.reason.clone())))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_not_using_the_profiles_are_reported_per_namespace() {
    let mut env = OperatorEnv::start("pods").await;
    let client = env.client.clone();
    let ns = env.namespace(&[]).await;
    let unselected = env.unselected_namespace().await;
    let name = env
        .create_profile(&env.profile("confined", json!({ "seccomp": {}, "apparmor": {} })))
        .await
        .unwrap()
        .name_any();
    let seccomp = format!("hardening.dev/{name}.json");
    let apparmor = format!("hardening.dev-{name}");
    let confined = json!({
        "seccompProfile": { "type": "Localhost", "localhostProfile": seccomp },
        "appArmorProfile": { "type": "Localhost", "localhostProfile": apparmor },
    });

    // No pods yet: every pod (none) is confined, and the status says how to be.
    let status = env
        .status_where(
            &name,
            "PodsConfined=True with 0 unconfined pods",
            |s| match (condition(s, "PodsConfined"), s.unconfined_pods) {
                (Some((status, _)), Some(0)) if status == "True" => Ok(()),
                other => Err(format!("PodsConfined/unconfinedPods: {other:?}")),
            },
        )
        .await;
    assert_eq!(
        serde_json::to_value(&status.workload_security_context).unwrap(),
        confined
    );

    create_pod(&client, &ns, "confined", app(confined.clone())).await;
    create_pod(&client, &ns, "plain", app(json!({}))).await;
    create_pod(
        &client,
        &ns,
        "debug-sidecar",
        json!({
            "securityContext": confined,
            "containers": [
                { "name": "app", "image": "registry.invalid/app:1" },
                { "name": "debug", "image": "registry.invalid/debug:1",
                  "securityContext": { "seccompProfile": { "type": "RuntimeDefault" } } },
            ],
        }),
    )
    .await;
    create_pod(&client, &ns, "running", app(json!({}))).await;
    set_phase(&client, &ns, "running", "Running").await;
    create_pod(&client, &ns, "finished", app(json!({}))).await;
    set_phase(&client, &ns, "finished", "Succeeded").await;
    // Not selected by the profile: not its business.
    create_pod(&client, &unselected, "elsewhere", app(json!({}))).await;

    let status = env
        .status_where(&name, "3 unconfined pods listed for the namespace", |s| {
            if s.unconfined_pods == Some(3) && listed(s, &ns).len() == 3 {
                Ok(())
            } else {
                Err("want 3 unconfined pods".into())
            }
        })
        .await;
    let plain_reason = format!(
        "container app: seccompProfile not set, wants Localhost {seccomp}; \
         appArmorProfile not set, wants Localhost {apparmor}"
    );
    assert_eq!(
        listed(&status, &ns),
        [
            (
                "debug-sidecar".to_owned(),
                format!(
                    "container debug: seccompProfile RuntimeDefault, wants Localhost {seccomp}"
                )
            ),
            ("plain".to_owned(), plain_reason.clone()),
            ("running".to_owned(), plain_reason.clone()),
        ]
    );
    let entry = status.namespaces.iter().find(|n| n.name == ns).unwrap();
    assert_eq!(
        (entry.state, entry.unconfined_pods),
        (NamespaceState::InSync, 3)
    );
    assert!(status.namespaces.iter().all(|n| n.name != unselected));
    let pods_confined = status
        .conditions
        .iter()
        .find(|c| c.type_ == "PodsConfined")
        .unwrap();
    assert_eq!(
        (pods_confined.status.as_str(), pods_confined.reason.as_str()),
        ("False", "UnconfinedPods")
    );
    assert_eq!(
        pods_confined.message,
        format!(
            "3 pods in 1 namespace do not use the profile's workloadSecurityContext; \
             first: {ns}/debug-sidecar: container debug: seccompProfile RuntimeDefault, \
             wants Localhost {seccomp}"
        )
    );
    // Workloads are reported, not held against the operator's own work.
    assert_eq!(condition(&status, "Ready").unwrap().0, "True");

    // A pod that finishes or goes away no longer counts.
    set_phase(&client, &ns, "running", "Failed").await;
    delete_pod(&client, &ns, "plain").await;
    let status = env
        .status_where(&name, "1 unconfined pod left", |s| {
            if s.unconfined_pods == Some(1) {
                Ok(())
            } else {
                Err("want 1 unconfined pod".into())
            }
        })
        .await;
    assert_eq!(listed(&status, &ns)[0].0, "debug-sidecar");

    delete_pod(&client, &ns, "debug-sidecar").await;
    env.status_where(&name, "every pod confined again", |s| {
        match (condition(s, "PodsConfined"), s.unconfined_pods) {
            (Some((status, _)), Some(0)) if status == "True" && s.namespaces.is_empty() => Ok(()),
            other => Err(format!("PodsConfined/unconfinedPods: {other:?}")),
        }
    })
    .await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_pod_report_no_pods_are_watched_or_reported() {
    let config = hardening_operator::config::RunConfig {
        pod_report: false,
        ..Default::default()
    };
    let mut env = OperatorEnv::start_with("nopods", config).await;
    let ns = env.namespace(&[]).await;
    create_pod(&env.client, &ns, "plain", app(json!({}))).await;
    let name = env
        .create_profile(&env.profile("confined", json!({ "seccomp": {} })))
        .await
        .unwrap()
        .name_any();
    let status = env
        .status_where(&name, "Ready", |s| match condition(s, "Ready") {
            Some((ready, _)) if ready == "True" => Ok(()),
            other => Err(format!("Ready: {other:?}")),
        })
        .await;
    assert_eq!(status.unconfined_pods, None);
    assert!(condition(&status, "PodsConfined").is_none());
    assert!(status.workload_security_context.is_some());
    env.finish().await;
}
