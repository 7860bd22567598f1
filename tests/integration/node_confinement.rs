//! Seccomp profiles confining real containers on the node: the chart's node agent
//! DaemonSet (the operator's own image) writes a profile's file, a pod using the profile's
//! `status.workloadSecurityContext` runs with a denied call failing inside it, a change
//! reaches the node and a deleted profile's file goes; a pod that references a profile not
//! written yet starts once it is; a profile learned with `hardening-operator learn` lets its
//! program run while a call it never made is denied.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams};
use serde_json::{Value, json};

use crate::operator_env::OperatorEnv;
use hardening_tests::on_node::{
    POD_TIMEOUT, busybox_pod, context_of, create_pod, finished, is_running_and_ready,
    node_with_operator_image, ready_with_context, run_to_completion, running_within,
    runtime_default, shared_agent, wait_for_node_file, waiting,
};
use hardening_tests::{eventually, eventually_within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_agent_daemonset_installs_profiles_that_confine_real_containers() {
    let agent = shared_agent();
    let mut env = OperatorEnv::start("agent-e2e").await;
    let client = env.client.clone();
    // The agent is the chart's DaemonSet, running the operator's own image.
    let (_, image) = node_with_operator_image();
    let agents = Api::<Pod>::namespaced(client.clone(), &agent.namespace)
        .list(&ListParams::default().labels("app.kubernetes.io/component=node-agent"))
        .await
        .unwrap()
        .items;
    assert!(!agents.is_empty(), "no node agent pod");
    for pod in &agents {
        let container = &pod.spec.as_ref().unwrap().containers[0];
        assert_eq!(container.image.as_deref(), Some(image.as_str()));
        assert_eq!(container.args.as_ref().unwrap()[0], "node-agent");
        assert!(is_running_and_ready(pod));
    }
    let ns = env.namespace(&[]).await;
    let created = env
        .create_profile(&env.profile(
            "nomkdir",
            json!({
                "podSecurity": { "enforce": { "level": "restricted" } },
                "seccomp": { "deny": [{ "names": ["mkdir", "mkdirat"] }] },
            }),
        ))
        .await
        .unwrap();
    let name = created.name_any();
    let status = env
        .status_where(
            &name,
            "Ready with a workloadSecurityContext",
            ready_with_context,
        )
        .await;
    let confined = context_of(&status);
    assert_eq!(
        confined,
        json!({ "seccompProfile": { "type": "Localhost", "localhostProfile": format!("hardening.dev/{name}.json") } })
    );
    // The DaemonSet's agent writes the renderer's bytes on the node.
    let rendered = hardening_operator::core::seccomp::render(&created).unwrap();
    wait_for_node_file(&client, &name, &rendered).await;

    // Pods using the profile: the denied call fails inside the container, an allowed
    // program completes; the same call under RuntimeDefault works.
    let mkdir = "mkdir /tmp/made && echo made";
    for pod in [
        busybox_pod("denied", mkdir, confined.clone()),
        busybox_pod(
            "allowed",
            "sha256sum /bin/busybox >/dev/null && grep Seccomp: /proc/self/status",
            confined.clone(),
        ),
        busybox_pod("runtime-default", mkdir, runtime_default()),
    ] {
        create_pod(&client, &ns, &pod).await;
    }
    let denied = finished(&client, &ns, "denied").await;
    assert_eq!(
        (denied.phase.as_str(), denied.exit_code),
        ("Failed", 1),
        "{denied:?}"
    );
    assert!(
        denied.logs.contains("Operation not permitted"),
        "{denied:?}"
    );
    let allowed = finished(&client, &ns, "allowed").await;
    assert_eq!(allowed.phase, "Succeeded", "{allowed:?}");
    // Seccomp mode 2: a filter is loaded.
    assert_eq!(
        allowed.logs.split_whitespace().collect::<Vec<_>>(),
        ["Seccomp:", "2"]
    );
    let control = finished(&client, &ns, "runtime-default").await;
    assert_eq!(
        (control.phase.as_str(), control.logs.trim()),
        ("Succeeded", "made"),
        "{control:?}"
    );

    // A change reaches the running node: mkdir allowed now, chmod denied.
    env.patch_spec(
        &name,
        json!({ "seccomp": { "deny": [{ "names": ["chmod", "fchmodat"] }] } }),
    )
    .await;
    let changed = env.profiles_api().get(&name).await.unwrap();
    let rendered_now = hardening_operator::core::seccomp::render(&changed).unwrap();
    assert_ne!(rendered_now, rendered);
    wait_for_node_file(&client, &name, &rendered_now).await;
    let after = run_to_completion(
        &client,
        &ns,
        &busybox_pod(
            "after-change",
            "mkdir /tmp/made && echo made && chmod 700 /tmp/made && echo chmodded",
            confined.clone(),
        ),
    )
    .await;
    assert_eq!(after.exit_code, 1, "{after:?}");
    // stdout and stderr reach the log through separate pipes: in either order.
    assert!(after.logs.lines().any(|l| l == "made"), "{after:?}");
    assert!(after.logs.contains("Operation not permitted"), "{after:?}");
    assert!(!after.logs.contains("chmodded"), "{after:?}");

    // A deleted profile's file goes from the node, and from the node's state.
    env.profiles_api()
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    let file = format!("hardening.dev/{name}.json");
    eventually_within(POD_TIMEOUT, "the deleted profile's file to go", || async {
        match agent.node_file_digest(&client, &file).await {
            None => Ok(()),
            Some(digest) => Err(format!("still there: {digest}")),
        }
    })
    .await;
    eventually("the node's state to forget the profile", || async {
        match agent.seccomp_state(&client, &name).await {
            None => Ok(()),
            Some(state) => Err(state),
        }
    })
    .await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_waiting_for_its_profile_starts_once_the_agent_writes_it() {
    let agent = shared_agent();
    let mut env = OperatorEnv::start("agent-late").await;
    let client = env.client.clone();
    let ns = env.namespace(&[]).await;
    let profile = env.profile("late", json!({ "seccomp": {} }));
    let name = profile.name_any();
    let context = json!({
        "seccompProfile": { "type": "Localhost", "localhostProfile": format!("hardening.dev/{name}.json") }
    });
    // The pod comes first: its profile is not on the node yet.
    let mut pod = busybox_pod("early", "sleep 3600", context);
    pod.spec.as_mut().unwrap().restart_policy = Some("Always".into());
    create_pod(&client, &ns, &pod).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    // What is missing, as `kubectl describe pod` and the node's state say it.
    let why = eventually("the pod to wait for its seccomp profile", || async {
        let why = waiting(&pods, "early").await;
        if why.contains("CreateContainerError") && why.contains(&format!("{name}.json")) {
            Ok(why)
        } else {
            Err(why)
        }
    })
    .await;
    assert!(why.contains("seccomp"), "{why}");
    assert_eq!(agent.seccomp_state(&client, &name).await, None);

    let written = Instant::now();
    env.create_profile(&profile).await.unwrap();
    eventually("the node's state to say installed", || async {
        match agent.seccomp_state(&client, &name).await {
            Some(state) if state == "installed" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let installed = written.elapsed();
    // The kubelet retries with a back-off (10 s, 20 s, ...).
    running_within(Duration::from_secs(90), &client, &ns, "early").await;
    eprintln!(
        "profile created -> file installed {:.1} s -> pod running {:.1} s",
        installed.as_secs_f64(),
        written.elapsed().as_secs_f64()
    );
    env.finish().await;
}

/// The program the learn test records and then runs in a pod: writes and reads a file in
/// the directory `$1`; with a second argument it also lists the network links (a netlink
/// socket: a call the recorded run never made).
const LEARNED_PROGRAM: &str =
    "echo learned > \"$1/out\" && cat \"$1/out\" && if [ -n \"$2\" ]; then ip link; fi";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learned_profile_runs_its_program_in_a_restricted_pod_and_denies_what_it_never_did() {
    // Record on this machine, with the same busybox the image holds.
    let scratch = std::env::temp_dir().join(hardening_tests::unique_name("learn"));
    std::fs::create_dir_all(&scratch).unwrap();
    let learned = hardening_tests::on_node::operator_cli(&[
        "learn",
        "--",
        "/bin/busybox",
        "sh",
        "-c",
        LEARNED_PROGRAM,
        "sh",
        &scratch.display().to_string(),
    ]);
    let _ = std::fs::remove_dir_all(&scratch);
    let section: Value = serde_yaml_ng::from_str(&learned).expect("learn prints YAML");
    assert_eq!(section["seccomp"]["baseline"], "Strict", "{learned}");

    let mut env = OperatorEnv::start("learned").await;
    let client = env.client.clone();
    let ns = env.namespace(&[]).await;
    let mut spec = json!({ "podSecurity": { "enforce": { "level": "restricted" } } });
    spec["seccomp"] = section["seccomp"].clone();
    let name = env
        .create_profile(&env.profile("learned", spec))
        .await
        .unwrap()
        .name_any();
    let status = env
        .status_where(
            &name,
            "Ready with a workloadSecurityContext",
            ready_with_context,
        )
        .await;
    let confined = context_of(&status);

    // The namespace enforces `restricted`: a privileged pod is rejected at admission.
    let mut privileged = busybox_pod("privileged", "true", json!({}));
    privileged.spec.as_mut().unwrap().containers[0].security_context =
        Some(serde_json::from_value(json!({ "privileged": true })).unwrap());
    match Api::<Pod>::namespaced(client.clone(), &ns)
        .create(&Default::default(), &privileged)
        .await
    {
        Err(kube::Error::Api(s)) if s.message.contains("violates PodSecurity") => {}
        other => panic!("a privileged pod must be rejected in a restricted namespace: {other:?}"),
    }

    let profile = env.profiles_api().get(&name).await.unwrap();
    wait_for_node_file(
        &client,
        &name,
        &hardening_operator::core::seccomp::render(&profile).unwrap(),
    )
    .await;
    let program = |pod: &str, context: Value, extra: &str| {
        let script = LEARNED_PROGRAM.to_owned();
        let mut pod = busybox_pod(pod, &script, context);
        let container = &mut pod.spec.as_mut().unwrap().containers[0];
        // `sh -c SCRIPT sh /tmp [x]`, as recorded (plus the extra argument).
        let mut command = vec![
            "sh".to_owned(),
            "-c".into(),
            script,
            "sh".into(),
            "/tmp".into(),
        ];
        if !extra.is_empty() {
            command.push(extra.into());
        }
        container.command = Some(command);
        pod
    };
    for pod in [
        program("as-recorded", confined.clone(), ""),
        program("never-made", confined.clone(), "x"),
        program("never-made-runtime-default", runtime_default(), "x"),
    ] {
        create_pod(&client, &ns, &pod).await;
    }
    let recorded = finished(&client, &ns, "as-recorded").await;
    assert_eq!(
        (recorded.phase.as_str(), recorded.logs.trim()),
        ("Succeeded", "learned"),
        "{recorded:?}"
    );
    let never = finished(&client, &ns, "never-made").await;
    assert_ne!(never.exit_code, 0, "{never:?}");
    assert!(never.logs.lines().any(|l| l == "learned"), "{never:?}");
    assert!(never.logs.contains("Operation not permitted"), "{never:?}");
    let control = finished(&client, &ns, "never-made-runtime-default").await;
    assert_eq!(control.exit_code, 0, "{control:?}");
    assert!(control.logs.contains("lo:"), "{control:?}");
    env.finish().await;
}
