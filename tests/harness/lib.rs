//! Test support: a real Kubernetes control plane shared by every test of one test binary,
//! a fresh namespace per test, and small polling helpers.
//!
//! By default the first test that calls [`cluster()`] starts a local control plane
//! (etcd + kube-apiserver + kube-controller-manager built by `tests/controlplane/build.sh`);
//! it is torn down when the test binary exits. Set `HARDENING_TEST_KUBECONFIG` to a
//! kubeconfig to run the same tests against an existing cluster (kind, a real cluster)
//! instead, like envtest's `USE_EXISTING_CLUSTER`.
//!
//! Tests that need pods to really run call [`node()`]: on the local control plane it starts
//! a node (containerd + kubelet + kube-scheduler, see [`node`]) once per test binary, on
//! first use; on an existing cluster it describes that cluster's nodes.
//!
//! Helpers the integration tests share: [`profiles`] (specs several tests use, a status's
//! conditions), [`objects`] (a namespace, its labels, a profile's Events), [`clients`]
//! (a ServiceAccount's client, impersonation, break-glass), [`requests`] (raw requests and
//! dry runs, with status code and warnings), [`reports`] (the report CRDs, the policy
//! reports the operator wrote), [`audit`] (writes in the audit log), [`scrape`]
//! (the operator's `/metrics` and health endpoints), [`seeds`] (a property test's seed),
//! [`helm`] (helm and the chart, rendered), [`on_node`] (pods that really run, the
//! operator's image and CLI, the chart installed, the node agent).

pub mod audit;
pub mod clients;
pub mod controlplane;
pub mod helm;
pub mod node;
pub mod objects;
pub mod oci;
pub mod on_node;
mod pki;
pub mod profiles;
pub mod promql;
pub mod reports;
pub mod requests;
pub mod scrape;
pub mod seeds;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

pub use controlplane::{ControlPlane, HarnessError, Options};
pub use node::{BUSYBOX_IMAGE, NO_PULL_PROXY, NODE_TAINT_KEY, Node, NodeError};

/// Environment variable naming the kubeconfig of an existing cluster to test against.
pub const EXISTING_CLUSTER_ENV: &str = "HARDENING_TEST_KUBECONFIG";

/// The cluster the tests of this binary share.
pub struct TestCluster {
    kubeconfig: PathBuf,
    audit_log: Option<PathBuf>,
}

impl TestCluster {
    /// A new client for the calling test's runtime (clients must not cross runtimes).
    pub async fn client(&self) -> Client {
        client_for(&self.kubeconfig)
            .await
            .unwrap_or_else(|e| panic!("client for {}: {e}", self.kubeconfig.display()))
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The API server's audit log of write requests; `None` on an existing cluster.
    pub fn audit_log(&self) -> Option<&Path> {
        self.audit_log.as_deref()
    }

    /// True when the tests run against the harness's own local control plane.
    pub fn is_local(&self) -> bool {
        self.audit_log.is_some()
    }
}

static CLUSTER: OnceLock<Result<TestCluster, String>> = OnceLock::new();
/// The local control plane's processes, taken and stopped at process exit.
static LOCAL: Mutex<Option<ControlPlane>> = Mutex::new(None);

extern "C" fn stop_local_control_plane() {
    let plane = LOCAL
        .lock()
        .map(|mut g| g.take())
        .unwrap_or_else(|p| p.into_inner().take());
    drop(plane);
}

/// The shared cluster: started on first use, stopped when the test binary exits.
/// Panics with the harness's message (naming the fix) when it cannot start.
pub fn cluster() -> &'static TestCluster {
    let result = CLUSTER.get_or_init(|| {
        if let Ok(path) = std::env::var(EXISTING_CLUSTER_ENV) {
            return Ok(TestCluster {
                kubeconfig: PathBuf::from(path),
                audit_log: None,
            });
        }
        let plane = ControlPlane::start().map_err(|e| e.to_string())?;
        let cluster = TestCluster {
            kubeconfig: plane.kubeconfig().to_path_buf(),
            audit_log: Some(plane.audit_log().to_path_buf()),
        };
        *LOCAL.lock().unwrap_or_else(|p| p.into_inner()) = Some(plane);
        // Statics are never dropped; exit handlers run on every normal exit of the test
        // binary, passing or failing. Abnormal deaths are covered by the reaper.
        // SAFETY: registers a plain `extern "C" fn` without arguments.
        unsafe { libc::atexit(stop_local_control_plane) };
        Ok(cluster)
    });
    match result {
        Ok(cluster) => cluster,
        Err(message) => panic!("the test control plane is not available:\n{message}"),
    }
}

/// Environment variable naming the kubelet root directory of an existing cluster's nodes
/// (default `/var/lib/kubelet`).
pub const EXISTING_KUBELET_ROOT_ENV: &str = "HARDENING_TEST_KUBELET_ROOT";

/// The node the tests of this binary run pods on.
pub struct TestNode {
    kubelet_root: PathBuf,
    api_server_for_pods: Option<(Ipv4Addr, u16)>,
    operator_image: OnceLock<Result<String, String>>,
    /// The local node's name and kubelet configuration file; `None` on an existing cluster.
    local: Option<(String, PathBuf)>,
}

impl TestNode {
    /// The local node's name and the KubeletConfiguration file its kubelet runs with;
    /// `None` on an existing cluster.
    pub fn local_kubelet(&self) -> Option<(&str, &Path)> {
        self.local.as_ref().map(|(n, p)| (n.as_str(), p.as_path()))
    }

    /// The kubelet's root directory on the node (the node agent's `--kubelet-root`).
    pub fn kubelet_root(&self) -> &Path {
        &self.kubelet_root
    }

    /// `KUBERNETES_SERVICE_HOST` and `KUBERNETES_SERVICE_PORT` for pods that talk to the API
    /// server: the local node has no kube-proxy, so the `kubernetes` Service does not
    /// work there; `None` on an existing cluster (the Service works).
    pub fn api_server_for_pods(&self) -> Option<(Ipv4Addr, u16)> {
        self.api_server_for_pods
    }

    /// The operator's image, `hardening.invalid/hardening-operator:<version>`: on the local
    /// node imported (once) from the static binary `binary`; on an existing cluster it must
    /// have been loaded (see the README).
    pub fn operator_image(&self, binary: &Path) -> String {
        let result = self.operator_image.get_or_init(|| {
            let mut guard = LOCAL_NODE.lock().unwrap_or_else(|p| p.into_inner());
            match guard.as_mut() {
                Some(node) => node
                    .import_operator_image(binary)
                    .map_err(|e| e.to_string()),
                None => Ok(format!(
                    "{}:{}",
                    node::OPERATOR_REPOSITORY,
                    env!("CARGO_PKG_VERSION")
                )),
            }
        });
        match result {
            Ok(name) => name.clone(),
            Err(message) => panic!("the operator's image is not available:\n{message}"),
        }
    }
}

static NODE: OnceLock<Result<TestNode, String>> = OnceLock::new();
/// The local node's processes, taken and stopped at process exit (before the control plane).
static LOCAL_NODE: Mutex<Option<Node>> = Mutex::new(None);

extern "C" fn stop_local_node() {
    let node = LOCAL_NODE
        .lock()
        .map(|mut g| g.take())
        .unwrap_or_else(|p| p.into_inner().take());
    let Some(node) = node else { return };
    // The node's footprint after the tests, for the record (test output).
    let memory: Vec<String> = node
        .resident_memory_kib()
        .iter()
        .map(|(name, kib)| format!("{name} {} MiB", kib / 1024))
        .collect();
    eprintln!("test node {}: RSS {}", node.name(), memory.join(", "));
    let started = std::time::Instant::now();
    drop(node);
    eprintln!(
        "test node stopped in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The toleration pods need to run on the local test node (harmless elsewhere).
pub fn node_toleration() -> serde_json::Value {
    serde_json::json!({ "key": NODE_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule" })
}

/// The shared node: on the local control plane a node of its own, started on first use
/// and stopped when the test binary exits (before the control plane); on an existing
/// cluster its nodes. Panics with the harness's message (naming the fix) when it cannot
/// start.
pub fn node() -> &'static TestNode {
    let result = NODE.get_or_init(|| {
        let cluster = cluster();
        if !cluster.is_local() {
            return Ok(TestNode {
                kubelet_root: std::env::var_os(EXISTING_KUBELET_ROOT_ENV)
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("/var/lib/kubelet")),
                api_server_for_pods: None,
                operator_image: OnceLock::new(),
                local: None,
            });
        }
        let bin = controlplane::binaries_dir().map_err(|e| e.to_string())?;
        let started = std::time::Instant::now();
        let node = {
            let plane = LOCAL.lock().unwrap_or_else(|p| p.into_inner());
            let plane = plane
                .as_ref()
                .ok_or("the local control plane has stopped")?;
            Node::start(plane, &bin).map_err(|e| e.to_string())?
        };
        eprintln!(
            "test node {} Ready in {:.2} s",
            node.name(),
            started.elapsed().as_secs_f64()
        );
        let test_node = TestNode {
            kubelet_root: node.kubelet_root(),
            api_server_for_pods: Some(node.api_server_for_pods()),
            operator_image: OnceLock::new(),
            local: Some((node.name().to_owned(), node.kubelet_config())),
        };
        *LOCAL_NODE.lock().unwrap_or_else(|p| p.into_inner()) = Some(node);
        // Registered after the control plane's handler, so it runs before it: the node's
        // teardown still needs the API server.
        // SAFETY: registers a plain `extern "C" fn` without arguments.
        unsafe { libc::atexit(stop_local_node) };
        Ok(test_node)
    });
    match result {
        Ok(node) => node,
        Err(message) => panic!("the test node is not available:\n{message}"),
    }
}

/// Resident memory (KiB) of the local node's components; empty on an existing cluster.
pub fn node_resident_memory_kib() -> Vec<(String, u64)> {
    LOCAL_NODE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .map(Node::resident_memory_kib)
        .unwrap_or_default()
}

/// The repository's root (the parent of `tests/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The target directory's `tmp/`, where the tests may put files (what cargo names
/// `CARGO_TARGET_TMPDIR` when it builds a test, which it does not when it builds this
/// library): found from the running executable, which cargo puts below the target
/// directory (marked by its `CACHEDIR.TAG`).
pub fn target_tmpdir() -> PathBuf {
    let exe = std::env::current_exe().expect("the running executable's path");
    let target = exe
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .unwrap_or_else(|| panic!("{} does not lie in a cargo target directory", exe.display()));
    target.join("tmp")
}

/// The path a `tests/controlplane/` script (`script`, relative to `tests/`) prints on its
/// last line: it builds or fetches `what` once per machine and is a no-op when cached. The
/// environment variable `override_env` names the path instead and skips the script. The
/// script's progress goes straight to the terminal.
pub fn cached_by_script(script: &str, override_env: &str, what: &str) -> Result<PathBuf, String> {
    if let Ok(path) = std::env::var(override_env) {
        return Ok(PathBuf::from(path));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
    let output = std::process::Command::new("bash")
        .arg(&script)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("running {}: {e}", script.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{what} failed ({}: {}); run it by hand to see the full output",
            script.display(),
            output.status
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    Ok(PathBuf::from(
        stdout.lines().last().unwrap_or_default().trim(),
    ))
}

/// The Go module of Pod Security Admission the local API server is built with, whose checks
/// `hardening_operator::core::pod_security` ports.
pub const POD_SECURITY_MODULE: &str = "k8s.io/pod-security-admission@v0.36.2";

/// The fixture directories of [`POD_SECURITY_MODULE`], `test/testdata/<level>/v1.<N>` (each
/// with `pass/` and `fail/` pods), by minor, oldest first. The module is in the Go module
/// cache (`GOMODCACHE`, else `go env GOMODCACHE`, else `~/go/pkg/mod`) once
/// `tests/controlplane/build.sh` has built Kubernetes; panics naming that fix when it is not.
pub fn pod_security_fixtures(level: &str) -> Vec<(u64, PathBuf)> {
    let cache = std::env::var_os("GOMODCACHE")
        .map(PathBuf::from)
        .or_else(|| {
            let out = std::process::Command::new("go")
                .args(["env", "GOMODCACHE"])
                .output()
                .ok()?;
            Some(PathBuf::from(String::from_utf8(out.stdout).ok()?.trim()))
        })
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join("go/pkg/mod"));
    let dir = cache
        .join(POD_SECURITY_MODULE)
        .join("test/testdata")
        .join(level);
    let mut versions: Vec<(u64, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}: the Pod Security fixtures come with the Kubernetes build (tests/controlplane/build.sh)",
                dir.display()
            )
        })
        .filter_map(|e| {
            let path = e.ok()?.path();
            let minor = path.file_name()?.to_str()?.strip_prefix("v1.")?.parse().ok()?;
            Some((minor, path))
        })
        .collect();
    assert!(
        !versions.is_empty(),
        "{}: no v1.<N> fixture directories",
        dir.display()
    );
    versions.sort();
    versions
}

/// A local control plane of the calling test's own, with a client, for a test that changes
/// what every other test would see (CRDs, the API server itself). `None`, after saying why
/// the test is skipped, against an existing cluster (`HARDENING_TEST_KUBECONFIG`): `need`
/// says what the test does there (e.g. "installing report CRDs").
pub async fn own_control_plane(need: &str) -> Option<(ControlPlane, Client)> {
    if std::env::var(EXISTING_CLUSTER_ENV).is_ok() {
        eprintln!("skipped: {need} needs a local control plane of the test's own");
        return None;
    }
    let plane = tokio::task::spawn_blocking(ControlPlane::start)
        .await
        .expect("starting the control plane")
        .expect("a control plane of this test's own");
    let client = client_for(plane.kubeconfig())
        .await
        .expect("a client of the test's own control plane");
    Some((plane, client))
}

/// A client from a kubeconfig file.
pub async fn client_for(kubeconfig: &Path) -> Result<Client, HarnessError> {
    let err = |message: String| HarnessError::Kubeconfig {
        path: kubeconfig.display().to_string(),
        message,
    };
    let file = Kubeconfig::read_from(kubeconfig).map_err(|e| err(e.to_string()))?;
    let config = Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
        .await
        .map_err(|e| err(e.to_string()))?;
    Client::try_from(config).map_err(|e| err(e.to_string()))
}

/// A namespace that belongs to one test: unique name, deleted when dropped.
pub struct TestNamespace {
    name: String,
    kubeconfig: PathBuf,
}

impl TestNamespace {
    /// Creates `<prefix>-<random>` with `labels` and waits for its `default`
    /// ServiceAccount (Pods are rejected until the controller manager made it).
    pub async fn create(client: &Client, prefix: &str, labels: &[(&str, &str)]) -> Self {
        let name = unique_name(prefix);
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": name,
                "labels": labels.iter().map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>(),
            }
        }))
        .expect("namespace manifest");
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
        let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &name);
        wait_until(&format!("ServiceAccount default in {name}"), || async {
            accounts.get_opt("default").await.ok().flatten().is_some()
        })
        .await;
        TestNamespace {
            name,
            kubeconfig: cluster().kubeconfig().to_path_buf(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let name = self.name.clone();
        cleanup_in_drop(self.kubeconfig.clone(), move |client| async move {
            let _ = Api::<Namespace>::all(client)
                .delete(&name, &DeleteParams::background())
                .await;
        });
    }
}

/// Runs `work` with a fresh client on a helper thread with its own runtime and waits for
/// it: cleanup for `Drop`, which cannot await (and may run outside any runtime).
pub fn cleanup_in_drop<F, Fut>(kubeconfig: PathBuf, work: F)
where
    F: FnOnce(Client) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let _ = std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async move {
            if let Ok(client) = client_for(&kubeconfig).await {
                work(client).await;
            }
        });
    })
    .join();
}

/// `prefix-` plus 8 random hex digits: unique across tests and runs.
pub fn unique_name(prefix: &str) -> String {
    let mut bytes = [0u8; 4];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut bytes);
    }
    let suffix: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}-{suffix}")
}

/// How long [`wait_until`] and [`eventually`] wait by default.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Polls `check` every 100 ms until it returns true; panics after [`WAIT_TIMEOUT`].
pub async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT_TIMEOUT;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out after {WAIT_TIMEOUT:?} waiting for {what}");
}

/// Polls `probe` until it returns `Ok(value)`; panics after [`WAIT_TIMEOUT`] with the
/// last `Err` it saw, so a failing test says what was still wrong.
pub async fn eventually<T, F, Fut>(what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    eventually_within(WAIT_TIMEOUT, what, probe).await
}

/// [`eventually`] with another timeout (e.g. for a kubelet's back-off between retries).
pub async fn eventually_within<T, F, Fut>(timeout: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = String::from("never probed");
    while tokio::time::Instant::now() < deadline {
        match probe().await {
            Ok(value) => return value,
            Err(why) => last = why,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out after {timeout:?} waiting for {what}; last state: {last}");
}
