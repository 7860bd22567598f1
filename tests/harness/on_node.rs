//! Support for the tests whose pods really run (on the harness's node, see
//! `tests/harness/node.rs`, or on an existing cluster's nodes): busybox pods and what a user
//! would look at by hand (phase, exit code, `kubectl logs`, the node's files and state), the
//! operator's image (its static binary, its CLI), `helm install` of the chart, the node
//! agent that the node tests share (what it wrote on the node) and the node agent run
//! in-process.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::profiles::condition;
use crate::{
    BUSYBOX_IMAGE, NODE_TAINT_KEY, TestNode, cleanup_in_drop, cluster, eventually,
    eventually_within, node, node_toleration, unique_name,
};
use hardening_operator::core::api::HardeningProfileStatus;
use hardening_operator::node_agent::{self, Agent, AppArmorSupport, NodeAgentArgs, Parser};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{DeleteParams, ListParams, LogParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// How long a pod may take to run to completion (a first start imports nothing: images are
/// there; this covers a loaded machine).
pub const POD_TIMEOUT: Duration = Duration::from_secs(60);

/// The statically linked operator binary (`tests/build-static.sh`): the one `tests/run.sh`
/// built, else built now.
pub fn static_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(build_or_take_static).clone()
}

/// The image's binary: the one `tests/run.sh` built with the same script before any test
/// started (`HARDENING_STATIC_BINARY`; a cargo build inside `cargo test` sees another
/// environment and would rebuild everything), else built now.
fn build_or_take_static() -> PathBuf {
    match std::env::var_os("HARDENING_STATIC_BINARY") {
        Some(path) => PathBuf::from(path),
        None => build_static(),
    }
}

/// Builds the image's binary with `tests/build-static.sh`, as the Dockerfile does, with the
/// release profile as `tests/run.sh` does (the image's `dist` adds LTO: minutes more).
fn build_static() -> PathBuf {
    // A target directory of its own: other flags, so it would rebuild the debug one.
    let target_dir = crate::target_tmpdir()
        .parent()
        .expect("the tmp dir lies in the target dir")
        .join("static");
    let started = std::time::Instant::now();
    // At the lowest priority: a release build takes both cores for minutes, and the
    // control-plane tests running beside it must not starve.
    let output = Command::new("nice")
        .args(["-n", "19", "bash"])
        .arg(crate::repo_root().join("tests/build-static.sh"))
        .args(["--profile", "release"])
        .env("CARGO_TARGET_DIR", &target_dir)
        .stdin(Stdio::null())
        // cargo's progress goes straight to the terminal.
        .stderr(Stdio::inherit())
        .output()
        .expect("running tests/build-static.sh");
    assert!(output.status.success(), "tests/build-static.sh failed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let binary = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
    eprintln!(
        "static build: {} in {:.0?}",
        binary.display(),
        started.elapsed()
    );
    binary
}

/// The node, with the operator's image imported (`hardening.invalid/hardening-operator`).
pub fn node_with_operator_image() -> (&'static TestNode, String) {
    let node = node();
    let image = node.operator_image(&static_binary());
    (node, image)
}

/// Container security context that passes Pod Security `restricted` (busybox runs as
/// nobody).
pub fn restricted_container() -> Value {
    json!({
        "allowPrivilegeEscalation": false,
        "capabilities": { "drop": ["ALL"] },
        "runAsNonRoot": true,
        "runAsUser": 65534,
        "runAsGroup": 65534,
    })
}

/// A busybox pod running `sh -c script` once, under `pod_security` (the pod's
/// securityContext, e.g. a profile's `status.workloadSecurityContext`), restricted-compliant.
pub fn busybox_pod(name: &str, script: &str, pod_security: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": { "name": name },
        "spec": {
            "restartPolicy": "Never",
            // A shell as PID 1 ignores SIGTERM: 30 s per deletion otherwise.
            "terminationGracePeriodSeconds": 1,
            "securityContext": pod_security,
            "tolerations": [node_toleration()],
            "containers": [{
                "name": "main",
                "image": BUSYBOX_IMAGE,
                "imagePullPolicy": "Never",
                "command": ["sh", "-c", script],
                "securityContext": restricted_container(),
            }],
        },
    }))
    .expect("pod manifest")
}

/// `{"seccompProfile": {"type": "RuntimeDefault"}}`: the usual restricted pod.
pub fn runtime_default() -> Value {
    json!({ "seccompProfile": { "type": "RuntimeDefault" } })
}

pub async fn create_pod(client: &Client, namespace: &str, pod: &Pod) {
    let name = pod.metadata.name.clone().unwrap_or_default();
    Api::<Pod>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), pod)
        .await
        .unwrap_or_else(|e| panic!("creating pod {namespace}/{name}: {e}"));
}

/// How a pod that ran to completion ended, as `kubectl get pod` and `kubectl logs` show it.
#[derive(Debug)]
pub struct Outcome {
    pub phase: String,
    pub exit_code: i32,
    pub logs: String,
}

/// Waits until the pod has finished (Succeeded or Failed) and returns how.
pub async fn finished(client: &Client, namespace: &str, name: &str) -> Outcome {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let (phase, exit_code) = eventually_within(
        POD_TIMEOUT,
        &format!("pod {namespace}/{name} to finish"),
        || async {
            let pod = pods.get(name).await.map_err(|e| e.to_string())?;
            let status = pod.status.unwrap_or_default();
            let phase = status.phase.clone().unwrap_or_default();
            let terminated = status
                .container_statuses
                .unwrap_or_default()
                .into_iter()
                .find_map(|c| c.state?.terminated);
            match (phase.as_str(), terminated) {
                ("Succeeded" | "Failed", Some(t)) => Ok((phase, t.exit_code)),
                _ => Err(format!("phase {phase}; {}", waiting(&pods, name).await)),
            }
        },
    )
    .await;
    let logs = logs(client, namespace, name).await;
    Outcome {
        phase,
        exit_code,
        logs,
    }
}

/// Runs `pod` in `namespace` to completion.
pub async fn run_to_completion(client: &Client, namespace: &str, pod: &Pod) -> Outcome {
    create_pod(client, namespace, pod).await;
    finished(client, namespace, pod.metadata.name.as_deref().unwrap()).await
}

/// Waits until every container of the pod runs and is ready.
pub async fn running(client: &Client, namespace: &str, name: &str) -> Pod {
    running_within(POD_TIMEOUT, client, namespace, name).await
}

pub async fn running_within(
    timeout: Duration,
    client: &Client,
    namespace: &str,
    name: &str,
) -> Pod {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    eventually_within(
        timeout,
        &format!("pod {namespace}/{name} to run"),
        || async {
            let pod = pods.get(name).await.map_err(|e| e.to_string())?;
            if is_running_and_ready(&pod) {
                Ok(pod)
            } else {
                Err(waiting(&pods, name).await)
            }
        },
    )
    .await
}

pub fn is_running_and_ready(pod: &Pod) -> bool {
    let status = pod.status.clone().unwrap_or_default();
    status.phase.as_deref() == Some("Running")
        && status
            .conditions
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// What the pod waits for, as `kubectl describe pod` would say: phase and each container's
/// waiting reason and message.
pub async fn waiting(pods: &Api<Pod>, name: &str) -> String {
    let Ok(pod) = pods.get(name).await else {
        return "not found".into();
    };
    let status = pod.status.unwrap_or_default();
    let mut out = format!("phase {}", status.phase.unwrap_or_default());
    for c in status.container_statuses.unwrap_or_default() {
        if let Some(w) = c.state.and_then(|s| s.waiting) {
            out.push_str(&format!(
                "; {}: {} {}",
                c.name,
                w.reason.unwrap_or_default(),
                w.message.unwrap_or_default()
            ));
        }
    }
    out
}

/// `kubectl logs` of the pod's first container.
pub async fn logs(client: &Client, namespace: &str, name: &str) -> String {
    Api::<Pod>::namespaced(client.clone(), namespace)
        .logs(name, &LogParams::default())
        .await
        .unwrap_or_else(|e| panic!("logs of {namespace}/{name}: {e}"))
}

pub async fn delete_pod(client: &Client, namespace: &str, name: &str) {
    let _ = Api::<Pod>::namespaced(client.clone(), namespace)
        .delete(name, &DeleteParams::default())
        .await;
}

/// A Helm release of the chart, uninstalled when dropped.
pub struct Release {
    pub name: String,
    pub namespace: String,
}

impl Release {
    /// `helm install <name> charts/hardening-operator --namespace <namespace>` with the
    /// operator's image (never pulled) and, where pods cannot use the `kubernetes` Service,
    /// `apiServer.host`/`port`; `sets` are further `--set` arguments.
    pub fn install(prefix: &str, namespace: &str, sets: &[String]) -> Self {
        let (node, image) = node_with_operator_image();
        let (repository, tag) = image.rsplit_once(':').expect("image has a tag");
        // The tests install the CRD themselves (operator_env::install_crd), before any
        // release: a release that installed it too would not own it and fail.
        let mut all = vec![
            format!("image.repository={repository},image.tag={tag},image.pullPolicy=Never"),
            "crds.install=false".to_owned(),
        ];
        if let Some((host, port)) = node.api_server_for_pods() {
            all.push(format!("apiServer.host={host},apiServer.port={port}"));
        }
        for pods in ["tolerations", "nodeAgent.tolerations"] {
            all.push(format!(
                "{pods}[0].key={NODE_TAINT_KEY},{pods}[0].operator=Exists,{pods}[0].effect=NoSchedule"
            ));
        }
        all.extend_from_slice(sets);
        let name = unique_name(prefix);
        let chart = crate::helm::chart_dir().display().to_string();
        let kubeconfig = cluster().kubeconfig().display().to_string();
        let mut args = vec![
            "install",
            &name,
            &chart,
            "--namespace",
            namespace,
            "--kubeconfig",
            &kubeconfig,
        ];
        for set in &all {
            args.extend(["--set", set]);
        }
        crate::helm::helm(&args).unwrap_or_else(|e| panic!("helm {args:?} failed:\n{e}"));
        Release {
            name,
            namespace: namespace.to_owned(),
        }
    }

    /// `app.kubernetes.io/instance=<release>,app.kubernetes.io/component=<component>`.
    pub fn selector(&self, component: &str) -> String {
        format!(
            "app.kubernetes.io/instance={},app.kubernetes.io/component={component}",
            self.name
        )
    }

    /// The release's pods of `component` (`operator` or `node-agent`).
    pub async fn pods(&self, client: &Client, component: &str) -> Vec<Pod> {
        Api::<Pod>::namespaced(client.clone(), &self.namespace)
            .list(&ListParams::default().labels(&self.selector(component)))
            .await
            .map(|l| l.items)
            .unwrap_or_default()
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        let kubeconfig = cluster().kubeconfig().display().to_string();
        let _ = crate::helm::helm(&[
            "uninstall",
            &self.name,
            "--namespace",
            &self.namespace,
            "--kubeconfig",
            &kubeconfig,
        ]);
    }
}

/// The node agent the node tests share: the chart's DaemonSet (its own image, the
/// operator's), installed once per test binary into a namespace labelled `privileged`,
/// writing into the node's kubelet root. Only one agent may write a node's files, so the
/// tests share it; it is uninstalled when the test binary exits.
pub struct SharedAgent {
    pub namespace: String,
    pub release: String,
    /// The node its pod runs on (its ConfigMap is `hardening-node-<node>`).
    pub node_name: String,
}

static AGENT: OnceLock<Result<SharedAgent, String>> = OnceLock::new();

extern "C" fn uninstall_shared_agent() {
    if let Some(Ok(agent)) = AGENT.get() {
        drop(Release {
            name: agent.release.clone(),
            namespace: agent.namespace.clone(),
        });
        let namespace = agent.namespace.clone();
        cleanup_in_drop(
            cluster().kubeconfig().to_path_buf(),
            move |client| async move {
                let _ = Api::<Namespace>::all(client)
                    .delete(&namespace, &DeleteParams::background())
                    .await;
            },
        );
    }
}

/// The shared node agent, installed on first use; it has written its node's ConfigMap
/// once.
pub fn shared_agent() -> &'static SharedAgent {
    let result = AGENT.get_or_init(|| {
        // Installed from a thread of its own: the caller's runtime may not block.
        std::thread::spawn(install_shared_agent)
            .join()
            .map_err(|_| "installing the node agent panicked (see above)".to_owned())
    });
    match result {
        Ok(agent) => agent,
        Err(message) => panic!("{message}"),
    }
}

fn install_shared_agent() -> SharedAgent {
    let node = node();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = runtime.block_on(cluster().client());
    let namespace = unique_name("node-agent");
    runtime.block_on(async {
        let ns: Namespace = serde_json::from_value(json!({
            "metadata": {
                "name": namespace,
                "labels": { "pod-security.kubernetes.io/enforce": "privileged" },
            }
        }))
        .unwrap();
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("creating namespace {namespace}: {e}"));
    });
    // The operator of this release stays at 0 replicas: each test runs its own operator.
    let release = Release::install(
        "agent",
        &namespace,
        &[
            "replicaCount=0".into(),
            "nodeAgent.enabled=true,nodeAgent.checkPeriod=2s".into(),
            format!("nodeAgent.kubeletRoot={}", node.kubelet_root().display()),
            match node.local_kubelet() {
                Some((_, config)) => format!("nodeAgent.kubeletConfig={}", config.display()),
                None => "nodeAgent.kubeletConfig=/var/lib/kubelet/config.yaml".to_owned(),
            },
        ],
    );
    // SAFETY: registers a plain `extern "C" fn` without arguments; it runs before the
    // node's and the control plane's (registered earlier).
    unsafe { libc::atexit(uninstall_shared_agent) };
    let node_name = runtime.block_on(async {
        let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
        let selector = release.selector("node-agent");
        let pod = eventually_within(POD_TIMEOUT, "the node agent pod to run", || async {
            let list = pods
                .list(&ListParams::default().labels(&selector))
                .await
                .map_err(|e| e.to_string())?;
            match list.items.into_iter().next() {
                Some(pod) if is_running_and_ready(&pod) => Ok(pod),
                Some(pod) => Err(waiting(&pods, &pod.metadata.name.unwrap_or_default()).await),
                None => Err("no pod yet".into()),
            }
        })
        .await;
        let node_name = pod
            .spec
            .and_then(|s| s.node_name)
            .expect("a running pod has a node");
        let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
        let map = hardening_operator::node_agent::config_map_name(&node_name);
        eventually("the node agent's first ConfigMap", || async {
            maps.get(&map).await.map(|_| ()).map_err(|e| e.to_string())
        })
        .await;
        node_name
    });
    let agent = SharedAgent {
        namespace: namespace.clone(),
        release: release.name.clone(),
        node_name,
    };
    // Uninstalled at exit, not now.
    std::mem::forget(release);
    agent
}

impl SharedAgent {
    /// The node's state for `profile`'s seccomp file (`installed`, `failed: ...`), from the
    /// agent's ConfigMap `hardening-node-<node>`.
    pub async fn seccomp_state(&self, client: &Client, profile: &str) -> Option<String> {
        let map = hardening_operator::node_agent::config_map_name(&self.node_name);
        Api::<ConfigMap>::namespaced(client.clone(), &self.namespace)
            .get(&map)
            .await
            .ok()?
            .data?
            .get(&format!("{profile}.seccomp"))
            .cloned()
    }

    /// The SHA-256 (hex) of `<kubelet-root>/seccomp/<relative>` on the agent's node, or
    /// `None` when there is no such file: read by a pod that mounts the node's seccomp
    /// directory (as a user would check with `kubectl debug node/...`).
    pub async fn node_file_digest(&self, client: &Client, relative: &str) -> Option<String> {
        let name = unique_name("read-node");
        let pod: Pod = serde_json::from_value(json!({
            "metadata": { "name": name },
            "spec": {
                "nodeName": self.node_name,
                "tolerations": [node_toleration()],
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 1,
                "containers": [{
                    "name": "main",
                    "image": BUSYBOX_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["sh", "-c",
                        "if [ -e \"/node/$0\" ]; then sha256sum \"/node/$0\"; else echo absent; fi",
                        relative],
                    "volumeMounts": [{ "name": "seccomp", "mountPath": "/node", "readOnly": true }],
                }],
                "volumes": [{
                    "name": "seccomp",
                    "hostPath": {
                        "path": format!("{}/seccomp", node().kubelet_root().display()),
                        "type": "Directory",
                    },
                }],
            },
        }))
        .unwrap();
        let outcome = run_to_completion(client, &self.namespace, &pod).await;
        delete_pod(client, &self.namespace, &name).await;
        assert_eq!(outcome.exit_code, 0, "{outcome:?}");
        let first = outcome.logs.split_whitespace().next().unwrap_or_default();
        (first != "absent").then(|| first.to_owned())
    }
}

/// Hex SHA-256 of `text`, as `sha256sum` prints it.
pub fn sha256_hex(text: &str) -> String {
    crate::oci::sha256(text.as_bytes())
        .trim_start_matches("sha256:")
        .to_owned()
}

/// Runs the operator's CLI (the static binary) with `args`; its stdout.
pub fn operator_cli(args: &[&str]) -> String {
    let output = Command::new(static_binary())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running hardening-operator {args:?}: {e}"));
    assert!(
        output.status.success(),
        "hardening-operator {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The profile is handled (Ready) and says how pods use it.
pub fn ready_with_context(s: &HardeningProfileStatus) -> Result<(), String> {
    match (condition(s, "Ready"), &s.workload_security_context) {
        (Some((ready, _)), Some(_)) if ready == "True" => Ok(()),
        other => Err(format!("Ready/workloadSecurityContext: {other:?}")),
    }
}

/// The profile's `status.workloadSecurityContext`, as a pod's securityContext.
pub fn context_of(status: &HardeningProfileStatus) -> Value {
    serde_json::to_value(&status.workload_security_context).unwrap()
}

/// Waits until the node's seccomp file of `profile` holds exactly `want` (checked on the
/// node) and the node's ConfigMap says `installed`.
pub async fn wait_for_node_file(client: &Client, profile: &str, want: &str) {
    let agent = shared_agent();
    let file = format!("hardening.dev/{profile}.json");
    let digest = sha256_hex(want);
    eventually("the node's state to say installed", || async {
        match agent.seccomp_state(client, profile).await {
            Some(state) if state == "installed" => Ok(()),
            other => Err(format!("{profile}.seccomp: {other:?}")),
        }
    })
    .await;
    eventually_within(
        POD_TIMEOUT,
        &format!("{file} on the node to be the rendered profile"),
        || async {
            match agent.node_file_digest(client, &file).await {
                Some(have) if have == digest => Ok(()),
                other => Err(format!("sha256 {other:?}, want {digest}")),
            }
        },
    )
    .await;
}

/// Runs the node agent in-process for `node`, reading `config`, publishing into `namespace`.
pub fn agent(
    client: &Client,
    node: &str,
    config: &Path,
    namespace: &str,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>, PathBuf) {
    let root = std::env::temp_dir().join(format!("kubelet-baseline-{namespace}"));
    let args = NodeAgentArgs {
        kubelet_root: root.clone(),
        apparmor_dir: root.join("apparmor"),
        check_period: Duration::from_millis(500),
        kubelet_config: config.to_path_buf(),
        node_name: node.to_owned(),
        namespace: namespace.to_owned(),
        metrics_address: "127.0.0.1:0".parse().unwrap(),
        log: Default::default(),
    };
    let agent = Agent::new(
        &args.kubelet_root,
        &args.apparmor_dir,
        AppArmorSupport::Unavailable("disabled by the test".into()),
        Parser,
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn({
        let client = client.clone();
        async move {
            node_agent::run_agent(client, args, agent, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        }
    });
    (stop, task, root)
}
