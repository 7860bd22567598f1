//! A real, local Kubernetes control plane: etcd, kube-apiserver and kube-controller-manager
//! on loopback, with free ports and one temporary directory.
//!
//! Teardown happens on `Drop`. A reaper process (`sh`, in its own process group so Ctrl-C
//! does not reach it) holds the read end of a pipe from this process; when this process
//! dies in any way, even SIGKILL, the pipe closes and the reaper kills the process groups
//! and removes the directory. No process or directory survives the test binary.

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::node::PodNetwork;
use crate::pki::Pki;

/// How long the API server may take to report `/readyz` ok (it takes about 4 s here).
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a component gets to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Kills the recorded process groups and removes the directory once stdin closes.
/// Reads the directory, then one process group id per line; at end of input it stops
/// those groups and removes the directory. (dash's `kill` takes no `--`: `-PGID` direct.)
const REAPER_SCRIPT: &str = r#"
trap '' INT HUP
read -r dir
pgids=""
while read -r pgid; do pgids="$pgids $pgid"; done
for p in $pgids; do kill -TERM "-$p" 2>/dev/null; done
i=0
while [ "$i" -lt 100 ]; do
  alive=""
  for p in $pgids; do kill -0 "-$p" 2>/dev/null && alive=1; done
  [ -z "$alive" ] && break
  sleep 0.1; i=$((i + 1))
done
for p in $pgids; do kill -KILL "-$p" 2>/dev/null; done
[ -n "$dir" ] && rm -rf "$dir"
"#;

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error(
        "building the Kubernetes binaries failed ({script}): {message}\n\
         Run `tests/controlplane/build.sh` by hand to see the full output."
    )]
    Build { script: String, message: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("generating certificates: {0}")]
    Pki(#[from] rcgen::Error),
    #[error("{component} exited during start-up ({status}); last lines of {log}:\n{tail}")]
    Exited {
        component: &'static str,
        status: String,
        log: String,
        tail: String,
    },
    #[error(
        "kube-apiserver did not report /readyz ok within {timeout:?}; last answer: {last}\n\
         last lines of {log}:\n{tail}"
    )]
    NotReady {
        timeout: Duration,
        last: String,
        log: String,
        tail: String,
    },
    #[error("kubeconfig {path}: {message}")]
    Kubeconfig { path: String, message: String },
}

pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> HarnessError {
    let context = context.into();
    move |source| HarnessError::Io { context, source }
}

/// A running control plane. Dropping it stops every process and removes its directory.
pub struct ControlPlane {
    dir: PathBuf,
    kubeconfig: PathBuf,
    audit_log: PathBuf,
    server: String,
    /// Where the binaries are, and the API server's port: a restart reuses both.
    bin: PathBuf,
    apiserver_port: u16,
    /// The pod network of a test node on this control plane: chosen here because the API
    /// server's serving certificate must carry the host's address on it (see node.rs).
    pod_network: PodNetwork,
    components: Vec<Component>,
    reaper: Option<(Child, ChildStdin)>,
    options: Options,
}

/// What a control plane may have beyond the defaults; the benchmark (`tests/bench`) needs
/// clients that its audit log can tell apart. The default is what the tests get.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// More users, each with a bearer token of its own, in group `system:masters`; their
    /// kubeconfigs are [`ControlPlane::user_kubeconfig`].
    pub users: Vec<String>,
    /// Further groups of some of those users, by user (the benchmark's break-glass
    /// administrator).
    pub groups: std::collections::BTreeMap<String, Vec<String>>,
    /// Users whose reads (get, list, watch) the audit log records too, at Metadata level
    /// (everybody's writes are recorded anyway).
    pub audit_reads_of: Vec<String>,
    /// kube-controller-manager's client rate (`--kube-api-qps`, burst twice that) instead of
    /// its default of 20 requests per second: the benchmark creates thousands of namespaces
    /// and pods, each asking it for a ServiceAccount, a ConfigMap and quota updates.
    pub controller_manager_qps: Option<u32>,
}

struct Component {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl ControlPlane {
    /// Builds the binaries if needed (`tests/controlplane/build.sh`, cached per machine),
    /// then starts the control plane and waits until the API server is ready.
    pub fn start() -> Result<Self, HarnessError> {
        let bin = binaries_dir()?;
        Self::start_with(&bin)
    }

    /// Starts the control plane from binaries in `bin` (kube-apiserver,
    /// kube-controller-manager, etcd).
    pub fn start_with(bin: &Path) -> Result<Self, HarnessError> {
        Self::start_with_options(bin, &Options::default())
    }

    /// [`ControlPlane::start_with`], with [`Options`].
    pub fn start_with_options(bin: &Path, options: &Options) -> Result<Self, HarnessError> {
        // Free ports are picked, then bound by the components: another process may take
        // one in between. A component that dies at start-up gets two more chances.
        let mut attempt = 1;
        loop {
            match Self::start_once(bin, options) {
                Err(HarnessError::Exited { .. }) if attempt < 3 => attempt += 1,
                other => return other,
            }
        }
    }

    fn start_once(bin: &Path, options: &Options) -> Result<Self, HarnessError> {
        let dir = make_run_dir()?;
        let mut plane = ControlPlane {
            kubeconfig: dir.join("admin.kubeconfig"),
            audit_log: dir.join("audit.log"),
            server: String::new(),
            bin: bin.to_path_buf(),
            apiserver_port: free_port()?,
            pod_network: PodNetwork::pick(),
            dir,
            components: Vec::new(),
            reaper: None,
            options: options.clone(),
        };
        plane.start_reaper()?;
        plane.write_config_files()?;
        plane.start_etcd(bin)?;
        plane.start_apiserver()?;
        plane.wait_ready()?;
        plane.start_controller_manager(bin)?;
        Ok(plane)
    }

    /// Stops kube-apiserver (SIGTERM, like a node drain or a crash-looping control plane),
    /// waits `down`, starts it again with the same flags, port, certificates and etcd, and
    /// waits until it is ready. Clients keep their kubeconfig; every watch breaks.
    pub fn restart_apiserver(&mut self, down: Duration) -> Result<(), HarnessError> {
        if let Some(index) = self
            .components
            .iter()
            .position(|c| c.name == "kube-apiserver")
        {
            let mut apiserver = self.components.remove(index);
            stop_component(&mut apiserver);
        }
        std::thread::sleep(down);
        self.start_apiserver()?;
        self.wait_ready()
    }

    /// Kubeconfig of a cluster-admin user (bearer token, group `system:masters`).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The API server's audit log: one JSON event per line for every write request.
    pub fn audit_log(&self) -> &Path {
        &self.audit_log
    }

    /// Kubeconfig of `user`, one of [`Options::users`] (bearer token, group `system:masters`).
    pub fn user_kubeconfig(&self, user: &str) -> PathBuf {
        self.dir.join(format!("user-{user}.kubeconfig"))
    }

    /// The API server URL, `https://127.0.0.1:<port>`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Directory holding the logs, certificates and etcd data of this control plane.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The certificate authority's certificate (it signs the serving and client
    /// certificates).
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// Where a test node's pods live; its host address is in the serving certificate.
    pub fn pod_network(&self) -> &PodNetwork {
        &self.pod_network
    }

    fn start_reaper(&mut self) -> Result<(), HarnessError> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(REAPER_SCRIPT)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(io("starting the reaper (sh)"))?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        writeln!(stdin, "{}", self.dir.display())
            .map_err(io("telling the reaper the directory"))?;
        self.reaper = Some((child, stdin));
        Ok(())
    }

    fn write_config_files(&self) -> Result<(), HarnessError> {
        let pki = Pki::generate(&[self.pod_network.host().into()])?;
        let files = [
            ("ca.crt", pki.ca_cert.as_str()),
            ("ca.key", pki.ca_key.as_str()),
            ("apiserver.crt", pki.serving_cert.as_str()),
            ("apiserver.key", pki.serving_key.as_str()),
            (
                "apiserver-kubelet-client.crt",
                pki.kubelet_client_cert.as_str(),
            ),
            (
                "apiserver-kubelet-client.key",
                pki.kubelet_client_key.as_str(),
            ),
            ("sa.key", pki.service_account_key.as_str()),
            ("sa.pub", pki.service_account_public_key.as_str()),
        ];
        for (name, content) in files {
            write_private(&self.dir.join(name), content)?;
        }
        write_private(
            &self.dir.join("audit-policy.yaml"),
            &audit_policy(&self.options.audit_reads_of),
        )?;
        let admin_token = random_token();
        let kcm_token = random_token();
        let mut tokens = format!(
            "{admin_token},admin,admin-uid,\"system:masters\"\n\
             {kcm_token},system:kube-controller-manager,kcm-uid,\"system:masters\"\n"
        );
        for user in &self.options.users {
            let token = random_token();
            let groups: Vec<&str> = std::iter::once("system:masters")
                .chain(
                    self.options
                        .groups
                        .get(user)
                        .into_iter()
                        .flatten()
                        .map(String::as_str),
                )
                .collect();
            tokens.push_str(&format!(
                "{token},{user},{user}-uid,\"{}\"\n",
                groups.join(",")
            ));
            write_private(&self.dir.join(format!("user-{user}.token")), &token)?;
        }
        write_private(&self.dir.join("tokens.csv"), &tokens)?;
        // The server URL is known once the API server's port is chosen; write both
        // kubeconfigs then (see start_apiserver).
        write_private(&self.dir.join("admin.token"), &admin_token)?;
        write_private(&self.dir.join("kcm.token"), &kcm_token)?;
        Ok(())
    }

    fn start_etcd(&mut self, bin: &Path) -> Result<(), HarnessError> {
        let client = format!("http://127.0.0.1:{}", free_port()?);
        let peer = format!("http://127.0.0.1:{}", free_port()?);
        let data = self.dir.join("etcd");
        let mut cmd = Command::new(bin.join("etcd"));
        cmd.arg("--name=default")
            .arg(format!("--data-dir={}", data.display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=default={peer}"))
            .arg("--log-level=warn")
            .arg("--logger=zap");
        self.spawn("etcd", cmd)?;
        fs::write(self.dir.join("etcd.url"), &client).map_err(io("writing etcd.url"))?;
        Ok(())
    }

    fn start_apiserver(&mut self) -> Result<(), HarnessError> {
        let port = self.apiserver_port;
        let bin = self.bin.clone();
        self.server = format!("https://127.0.0.1:{port}");
        let dir = self.dir.clone();
        let d = |name: &str| dir.join(name).display().to_string();
        let etcd = fs::read_to_string(self.dir.join("etcd.url")).map_err(io("reading etcd.url"))?;
        let mut cmd = Command::new(bin.join("kube-apiserver"));
        cmd.arg(format!("--etcd-servers={etcd}"))
            .arg("--bind-address=127.0.0.1")
            .arg("--advertise-address=127.0.0.1")
            .arg(format!("--secure-port={port}"))
            .arg(format!("--tls-cert-file={}", d("apiserver.crt")))
            .arg(format!("--tls-private-key-file={}", d("apiserver.key")))
            .arg(format!("--client-ca-file={}", d("ca.crt")))
            .arg(format!("--token-auth-file={}", d("tokens.csv")))
            .arg("--authorization-mode=RBAC")
            .arg("--service-account-issuer=https://kubernetes.default.svc.cluster.local")
            .arg(format!("--service-account-key-file={}", d("sa.pub")))
            .arg(format!(
                "--service-account-signing-key-file={}",
                d("sa.key")
            ))
            .arg("--service-cluster-ip-range=10.96.0.0/16")
            .arg("--allow-privileged=true")
            // `kubectl logs`/`exec` on a test node: the kubelet listens on the node's
            // InternalIP only and accepts this client certificate (node.rs).
            .arg(format!(
                "--kubelet-client-certificate={}",
                d("apiserver-kubelet-client.crt")
            ))
            .arg(format!(
                "--kubelet-client-key={}",
                d("apiserver-kubelet-client.key")
            ))
            .arg("--kubelet-preferred-address-types=InternalIP")
            .arg(format!("--audit-policy-file={}", d("audit-policy.yaml")))
            .arg(format!("--audit-log-path={}", d("audit.log")))
            // Never rotated (0 would mean lumberjack's 100 MB): readers follow the one file,
            // and a benchmark of 10,000 namespaces with the full profile writes more.
            .arg("--audit-log-maxsize=100000")
            .arg(format!("--cert-dir={}", d("certs")))
            .arg("--v=1");
        self.spawn("kube-apiserver", cmd)?;
        let ca = d("ca.crt");
        let admin =
            fs::read_to_string(self.dir.join("admin.token")).map_err(io("reading token"))?;
        let kcm = fs::read_to_string(self.dir.join("kcm.token")).map_err(io("reading token"))?;
        write_private(
            &self.kubeconfig,
            &kubeconfig(&self.server, &ca, "admin", &admin),
        )?;
        write_private(
            &self.dir.join("kcm.kubeconfig"),
            &kubeconfig(&self.server, &ca, "kube-controller-manager", &kcm),
        )?;
        for user in &self.options.users {
            let token = fs::read_to_string(self.dir.join(format!("user-{user}.token")))
                .map_err(io("reading token"))?;
            write_private(
                &self.user_kubeconfig(user),
                &kubeconfig(&self.server, &ca, user, &token),
            )?;
        }
        Ok(())
    }

    fn start_controller_manager(&mut self, bin: &Path) -> Result<(), HarnessError> {
        let dir = self.dir.clone();
        let d = |name: &str| dir.join(name).display().to_string();
        let mut cmd = Command::new(bin.join("kube-controller-manager"));
        cmd.arg(format!("--kubeconfig={}", d("kcm.kubeconfig")))
            .arg(format!(
                "--authentication-kubeconfig={}",
                d("kcm.kubeconfig")
            ))
            .arg(format!(
                "--authorization-kubeconfig={}",
                d("kcm.kubeconfig")
            ))
            .arg("--leader-elect=false")
            // No serving endpoint: nothing here scrapes it, and it avoids a port race.
            .arg("--secure-port=0")
            .arg(format!(
                "--service-account-private-key-file={}",
                d("sa.key")
            ))
            .arg(format!("--root-ca-file={}", d("ca.crt")))
            .arg(format!("--cluster-signing-cert-file={}", d("ca.crt")))
            .arg(format!("--cluster-signing-key-file={}", d("ca.key")))
            .arg("--v=1");
        if let Some(qps) = self.options.controller_manager_qps {
            cmd.arg(format!("--kube-api-qps={qps}"))
                .arg(format!("--kube-api-burst={}", 2 * qps));
        }
        self.spawn("kube-controller-manager", cmd)
    }

    fn spawn(&mut self, name: &'static str, mut cmd: Command) -> Result<(), HarnessError> {
        let log = self.dir.join(format!("{name}.log"));
        // Appended: a restarted component keeps its earlier log.
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(io(format!("creating {}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(io("duplicating a log file handle"))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Own process group: Ctrl-C reaches the test binary only; the reaper stops these.
            .process_group(0)
            .spawn()
            .map_err(io(format!("starting {name} ({:?})", cmd.get_program())))?;
        if let Some((_, stdin)) = self.reaper.as_mut() {
            writeln!(stdin, "{}", child.id()).map_err(io("telling the reaper a pid"))?;
        }
        self.components.push(Component { name, child, log });
        Ok(())
    }

    /// Polls `/readyz` with the admin token until it answers `ok`.
    fn wait_ready(&mut self) -> Result<(), HarnessError> {
        let kubeconfig = self.kubeconfig.clone();
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last = String::from("no answer yet");
        // A separate thread: the caller may be inside a tokio runtime already.
        let probe = move || -> Result<String, String> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let client = crate::client_for(&kubeconfig)
                    .await
                    .map_err(|e| e.to_string())?;
                let req = http::Request::get("/readyz").body(Vec::new()).unwrap();
                client.request_text(req).await.map_err(|e| e.to_string())
            })
        };
        while Instant::now() < deadline {
            self.check_alive()?;
            let probe = probe.clone();
            match std::thread::spawn(probe).join() {
                Ok(Ok(body)) if body.trim() == "ok" => return Ok(()),
                Ok(Ok(body)) => last = body,
                Ok(Err(e)) => last = e,
                Err(_) => last = "the readiness probe panicked".into(),
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let log = self.dir.join("kube-apiserver.log");
        Err(HarnessError::NotReady {
            timeout: READY_TIMEOUT,
            last,
            tail: tail(&log, 30),
            log: log.display().to_string(),
        })
    }

    fn check_alive(&mut self) -> Result<(), HarnessError> {
        for c in &mut self.components {
            if let Ok(Some(status)) = c.child.try_wait() {
                return Err(HarnessError::Exited {
                    component: c.name,
                    status: status.to_string(),
                    tail: tail(&c.log, 30),
                    log: c.log.display().to_string(),
                });
            }
        }
        Ok(())
    }

    fn stop(&mut self) {
        // Stop in reverse start order, so the API server never loses etcd under it.
        for c in self.components.iter_mut().rev() {
            stop_component(c);
        }
        self.components.clear();
        if let Ok(keep) = std::env::var("HARDENING_TEST_LOG_DIR") {
            copy_logs(&self.dir, Path::new(&keep));
        }
        let _ = fs::remove_dir_all(&self.dir);
        if let Some((mut reaper, stdin)) = self.reaper.take() {
            drop(stdin);
            let _ = reaper.wait();
        }
    }
}

/// SIGTERM to the component's process group, SIGKILL after [`STOP_GRACE`].
fn stop_component(c: &mut Component) {
    let pgid = c.child.id() as i32;
    // SAFETY: plain syscall on a process group we created.
    unsafe { libc::kill(-pgid, libc::SIGTERM) };
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = c.child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    let _ = c.child.wait();
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `tests/controlplane/build.sh` (a no-op once the binaries are cached) and returns
/// the directory it prints. `HARDENING_K8S_BIN_DIR` skips the script.
pub fn binaries_dir() -> Result<PathBuf, HarnessError> {
    if let Ok(dir) = std::env::var("HARDENING_K8S_BIN_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/controlplane/build.sh");
    let output = Command::new("bash")
        .arg(script)
        .stdin(Stdio::null())
        // Progress of a first build goes straight to the terminal.
        .stderr(Stdio::inherit())
        .output()
        .map_err(io(format!("running {script}")))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(HarnessError::Build {
            script: script.into(),
            message: format!("exit status {}", output.status),
        });
    }
    let dir = stdout.lines().last().unwrap_or_default().trim();
    Ok(PathBuf::from(dir))
}

const AUDIT_POLICY: &str = r#"apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  # Writes only: the tests count them to prove the operator is quiet in steady state.
  - level: Metadata
    verbs: ["create", "update", "patch", "delete", "deletecollection"]
  - level: None
"#;

/// [`AUDIT_POLICY`], plus the reads of `readers` when there are any.
fn audit_policy(readers: &[String]) -> String {
    if readers.is_empty() {
        return AUDIT_POLICY.to_owned();
    }
    let users = serde_json::to_string(readers).expect("names serialize to JSON");
    AUDIT_POLICY.replacen(
        "rules:\n",
        &format!(
            "rules:\n  # The measured clients' reads too (Options::audit_reads_of).\n  \
             - level: Metadata\n    users: {users}\n    verbs: [\"get\", \"list\", \"watch\"]\n"
        ),
        1,
    )
}

fn kubeconfig(server: &str, ca: &str, user: &str, token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: {server}\n    \
         certificate-authority: {ca}\nusers:\n- name: {user}\n  user:\n    token: {token}\n\
         contexts:\n- name: local\n  context:\n    cluster: local\n    user: {user}\n\
         current-context: local\n"
    )
}

/// One directory per control plane, on tmpfs where there is one: etcd fsyncs every
/// write, and Debian's etcd 3.4 has no `--unsafe-no-fsync`.
fn make_run_dir() -> Result<PathBuf, HarnessError> {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!(
        "hardening-controlplane-{}-{}",
        std::process::id(),
        random_token()[..8].to_owned()
    ));
    fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    Ok(dir)
}

pub(crate) fn write_private(path: &Path, content: &str) -> Result<(), HarnessError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io(format!("writing {}", path.display())))?;
    f.write_all(content.as_bytes())
        .map_err(io(format!("writing {}", path.display())))
}

pub(crate) fn free_port() -> Result<u16, HarnessError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io("finding a free port"))?;
    Ok(listener
        .local_addr()
        .map_err(io("finding a free port"))?
        .port())
}

pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 16];
    if let Ok(mut f) = fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut bytes);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    // `--v=1` logs every flag at start-up; they would hide the actual error.
    let all: Vec<&str> = text.lines().filter(|l| !l.contains("FLAG: --")).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn copy_logs(from: &Path, to: &Path) {
    let _ = fs::create_dir_all(to);
    for name in [
        "etcd.log",
        "kube-apiserver.log",
        "kube-controller-manager.log",
        "audit.log",
    ] {
        let _ = fs::copy(from.join(name), to.join(name));
    }
}

impl ControlPlane {
    /// Resident memory of each component in KiB, read from `/proc/<pid>/status`.
    pub fn resident_memory_kib(&self) -> Vec<(&'static str, u64)> {
        self.components
            .iter()
            .filter_map(|c| {
                let status = fs::read_to_string(format!("/proc/{}/status", c.child.id())).ok()?;
                let kib = status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .ok()?;
                Some((c.name, kib))
            })
            .collect()
    }

    /// Process ids of the running components (for tests of the teardown).
    pub fn pids(&self) -> Vec<u32> {
        self.components.iter().map(|c| c.child.id()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tests_audit_policy_records_writes_only() {
        assert_eq!(audit_policy(&[]), AUDIT_POLICY);
    }

    #[test]
    fn audited_readers_get_a_rule_before_the_others() {
        let policy: serde_json::Value =
            serde_yaml_ng::from_str(&audit_policy(&["bench".to_owned()])).unwrap();
        let rules = policy["rules"].as_array().unwrap();
        assert_eq!(
            rules[0],
            serde_json::json!({
                "level": "Metadata", "users": ["bench"], "verbs": ["get", "list", "watch"],
            })
        );
        // The tests' rules follow unchanged: writes of everybody, then nothing.
        let default: serde_json::Value = serde_yaml_ng::from_str(AUDIT_POLICY).unwrap();
        assert_eq!(rules[1..], default["rules"].as_array().unwrap()[..]);
        assert_eq!(policy["omitStages"], default["omitStages"]);
    }
}
