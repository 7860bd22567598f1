//! A real node beside a local control plane: containerd, a kubelet and kube-scheduler, so
//! pods really run (seccomp profiles confine real containers, the chart's Deployment and
//! DaemonSet run the operator's own image). Started only for tests that ask for one
//! ([`crate::node()`]); the other tests never pay for it.
//!
//! Everything of one node is named by one random suffix: its directory (containerd's root
//! and state, the kubelet's root, CNI configuration and IPAM state, pod logs), the node name,
//! the bridge, the CNI network and the kubelet's cgroup root. Ports are free ones; several
//! nodes (of parallel test runs, or a teardown test beside the shared node) share a machine.
//!
//! Network: a bridge of the node's own, with the host's address on it ([`PodNetwork`]);
//! the CNI configuration gives pods an address on that subnet and nothing else (no gateway
//! route, no masquerading), so pods reach each other and the host's address on the bridge,
//! and nothing else. Pods cannot use the `kubernetes` Service (no kube-proxy): the harness
//! forwards the host's bridge address, port [`Node::api_server_for_pods`], to the API
//! server on loopback, and the API server's serving certificate carries that address
//! (chosen with the control plane); pods are pointed at it with `KUBERNETES_SERVICE_HOST`
//! and `KUBERNETES_SERVICE_PORT` (the chart's `apiServer` values).
//!
//! Images are never pulled: busybox (Debian's busybox-static), a pause image of the same
//! layer and the operator's static binary are packed as OCI archives ([`crate::oci`]) and
//! imported with `ctr -n k8s.io images import`; pods use `imagePullPolicy: Never`.
//!
//! Teardown, as for the control plane: on `Drop` the scheduler stops (nothing new lands
//! here), every pod on the node is deleted (the kubelet stops its containers and removes
//! its volumes before the object goes), the kubelet and containerd stop, and the reaper
//! removes the rest. The reaper (`node-reaper.sh`, in its own process group) also does all
//! of it alone when the test process dies in any way, even SIGKILL: it kills the node's
//! processes, containerd's shims and whatever runs in the node's cgroups, unmounts what
//! lies under the directory, deletes the bridge and the cgroups, removes what containerd
//! 1.6 keeps outside its directories (shim sockets, the CNI cache), puts back the kernel
//! settings the kubelet changes at start-up, and removes the directory.

use std::fs;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node as NodeObject, Pod};
use kube::api::{Api, DeleteParams, ListParams};

use crate::controlplane::{
    ControlPlane, HarnessError, free_port, io, random_token, tail, write_private,
};
use crate::oci;

/// How long the node may take to report Ready (about 1 s here).
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a component gets to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How long teardown waits for the kubelet to stop and remove the node's pods.
const POD_CLEANUP_TIMEOUT: Duration = Duration::from_secs(30);

const REAPER_SCRIPT: &str = include_str!("node-reaper.sh");

/// Test images (`imagePullPolicy: Never`). `.invalid` (RFC 2606) names no registry that
/// could ever answer.
pub const BUSYBOX_IMAGE: &str = "hardening.invalid/busybox:test";
pub const PAUSE_IMAGE: &str = "hardening.invalid/pause:test";
/// Where containerd would send a pull (see `start_containerd`): port 9 (discard) on
/// loopback, where nothing listens.
pub const NO_PULL_PROXY: &str = "http://127.0.0.1:9";

/// The node's taint (effect NoSchedule): only pods that tolerate it run here, so the other
/// tests' pods (made-up images) stay unscheduled as they were without a node, and no
/// kubelet ever tries to pull them.
pub const NODE_TAINT_KEY: &str = "hardening.dev/test-node";

/// The operator's image: the repository the chart is given, tagged with the chart's
/// appVersion (the crate version), as the chart's default tag is.
pub const OPERATOR_REPOSITORY: &str = "hardening.invalid/hardening-operator";

/// Kernel settings the kubelet sets at start-up whatever the host says
/// (`setupKernelTunables` in pkg/kubelet/cm); the harness puts them back once the kubelet
/// is Ready (it does not look again), and the reaper if the test process dies before.
const KUBELET_SYSCTLS: [&str; 6] = [
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
];

/// Directories outside the node's own that containerd 1.6 and the kubelet create whatever
/// they are told, deepest first. Where one is missing, or marked by other test nodes, the
/// node creates it and puts its marker file (`.<node name>`) in it; at teardown it removes
/// its marker, and the directory when that leaves it empty. Directories others made (no
/// marker) are never removed. (`/run/containerd/runc` and `/var/lib/cni/networks` are not
/// among them: the node has its own runc root and IPAM directory.)
const HOST_DIRS: [&str; 6] = [
    "/run/containerd/s",
    "/run/containerd/fifo",
    "/run/containerd",
    "/var/lib/cni/results",
    "/var/lib/cni",
    "/var/log/containers",
];

/// The Debian packages behind the programs the node runs.
const PACKAGES_FIX: &str = "run `tests/prerequisites.sh` as root (it installs the Debian packages \
     containerd, runc, containernetworking-plugins and busybox-static without starting any \
     service)";

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(
        "the test node needs root (it runs containerd and a kubelet, and creates a bridge and \
         cgroups): run the tests as root, or point HARDENING_TEST_KUBECONFIG at a cluster"
    )]
    NotRoot,
    #[error("the test node needs {what}, but {path} is missing: {fix}")]
    Missing {
        what: &'static str,
        path: String,
        fix: String,
    },
    #[error(transparent)]
    Harness(#[from] HarnessError),
    #[error("{command} failed: {message}")]
    Command { command: String, message: String },
    #[error("{component} exited during start-up ({status}); last lines of {log}:\n{tail}")]
    Exited {
        component: &'static str,
        status: String,
        log: String,
        tail: String,
    },
    #[error(
        "node {node} did not become Ready within {timeout:?}; last state: {last}\n\
         last lines of {log}:\n{tail}"
    )]
    NotReady {
        node: String,
        timeout: Duration,
        last: String,
        log: String,
        tail: String,
    },
}

/// The pods' subnet of one node, `10.a.b.0/24`; the host is `10.a.b.1` on the bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodNetwork {
    prefix: [u8; 3],
}

impl PodNetwork {
    /// A random /24 in 10.64.0.0/10 that overlaps no route of this machine but the default
    /// one (so no network it reaches directly, and no other test node's bridge).
    pub fn pick() -> Self {
        let routes: Vec<(u32, u32)> = routes()
            .into_iter()
            .filter(|(_, mask)| *mask != 0)
            .collect();
        loop {
            let random = random_token();
            let a = 64 + u8::from_str_radix(&random[0..2], 16).unwrap_or(0) % 64;
            let b = u8::from_str_radix(&random[2..4], 16).unwrap_or(0);
            let candidate = PodNetwork { prefix: [10, a, b] };
            let network = u32::from(candidate.address(0));
            let overlaps = routes.iter().any(|(dest, mask)| {
                let common = mask & 0xffff_ff00;
                dest & common == network & common
            });
            if !overlaps {
                return candidate;
            }
        }
    }

    fn address(&self, host: u8) -> Ipv4Addr {
        let [a, b, c] = self.prefix;
        Ipv4Addr::new(a, b, c, host)
    }

    /// The host's address on the bridge: the kubelet's node IP, and where pods reach the
    /// API server.
    pub fn host(&self) -> Ipv4Addr {
        self.address(1)
    }

    /// `10.a.b.0/24`.
    pub fn cidr(&self) -> String {
        format!("{}/24", self.address(0))
    }
}

/// (destination, mask) of every IPv4 route, from /proc/net/route (host byte order).
fn routes() -> Vec<(u32, u32)> {
    let text = fs::read_to_string("/proc/net/route").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // The kernel prints the address as the native u32 holding its network-order
            // bytes.
            let parse = |s: &str| {
                u32::from_str_radix(s, 16)
                    .ok()
                    .map(|raw| u32::from_be_bytes(raw.to_ne_bytes()))
            };
            Some((parse(fields.get(1)?)?, parse(fields.get(7)?)?))
        })
        .collect()
}

/// The programs a node runs, found before anything starts.
struct Programs {
    containerd: PathBuf,
    ctr: PathBuf,
    busybox: PathBuf,
    kubelet: PathBuf,
    scheduler: PathBuf,
}

impl Programs {
    fn find(bin: &Path) -> Result<Self, NodeError> {
        // SAFETY: a plain getter.
        if unsafe { libc::geteuid() } != 0 {
            return Err(NodeError::NotRoot);
        }
        let need = |what: &'static str, path: &str, fix: &str| -> Result<PathBuf, NodeError> {
            let path = PathBuf::from(path);
            if path.exists() {
                Ok(path)
            } else {
                Err(NodeError::Missing {
                    what,
                    path: path.display().to_string(),
                    fix: fix.to_owned(),
                })
            }
        };
        let build = "run `tests/controlplane/build.sh` (it builds kubelet and kube-scheduler \
                     with the control plane)";
        need("runc", "/usr/sbin/runc", PACKAGES_FIX)?;
        need(
            "containerd's runc shim",
            "/usr/bin/containerd-shim-runc-v2",
            PACKAGES_FIX,
        )?;
        for plugin in ["bridge", "host-local", "loopback"] {
            need(
                "the CNI plugins",
                &format!("/usr/lib/cni/{plugin}"),
                PACKAGES_FIX,
            )?;
        }
        need("ip (iproute2)", "/usr/sbin/ip", "apt-get install iproute2")
            .or_else(|_| need("ip (iproute2)", "/sbin/ip", "apt-get install iproute2"))?;
        Ok(Programs {
            containerd: need("containerd", "/usr/bin/containerd", PACKAGES_FIX)?,
            ctr: need("ctr (containerd)", "/usr/bin/ctr", PACKAGES_FIX)?,
            busybox: need("a static busybox", "/bin/busybox", PACKAGES_FIX)?,
            kubelet: need("kubelet", &bin.join("kubelet").display().to_string(), build)?,
            scheduler: need(
                "kube-scheduler",
                &bin.join("kube-scheduler").display().to_string(),
                build,
            )?,
        })
    }
}

/// A running node. Dropping it stops everything and removes what it made.
pub struct Node {
    dir: PathBuf,
    name: String,
    bridge: String,
    network: PodNetwork,
    kubeconfig: PathBuf,
    socket: PathBuf,
    ctr: PathBuf,
    components: Vec<Component>,
    reaper: Option<(Child, ChildStdin)>,
    proxy: Option<ApiProxy>,
}

struct Component {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Node {
    /// Starts a node for `plane` with the binaries of `bin` (the control plane's, from
    /// `tests/controlplane/build.sh`), imports the busybox and pause images and waits until
    /// the node is Ready.
    pub fn start(plane: &ControlPlane, bin: &Path) -> Result<Self, NodeError> {
        Self::start_with(plane, bin, "")
    }

    /// [`Node::start`] with `kubelet_settings` (KubeletConfiguration YAML lines, such as
    /// `seccompDefault: true`) added to the kubelet's configuration.
    pub fn start_with(
        plane: &ControlPlane,
        bin: &Path,
        kubelet_settings: &str,
    ) -> Result<Self, NodeError> {
        // Free ports are picked, then bound by the kubelet: another process may take one
        // in between. A component that dies at start-up gets two more chances.
        let mut attempt = 1;
        loop {
            match Self::start_once(plane, bin, kubelet_settings) {
                Err(NodeError::Exited { .. }) if attempt < 3 => attempt += 1,
                other => return other,
            }
        }
    }

    fn start_once(
        plane: &ControlPlane,
        bin: &Path,
        kubelet_settings: &str,
    ) -> Result<Self, NodeError> {
        let programs = Programs::find(bin)?;
        let suffix = random_token()[..8].to_owned();
        let dir = run_dir(&suffix)?;
        let mut node = Node {
            socket: dir.join("containerd.sock"),
            kubeconfig: plane.kubeconfig().to_path_buf(),
            name: format!("hardening-node-{suffix}"),
            bridge: format!("hn-{suffix}"),
            network: plane.pod_network().clone(),
            ctr: programs.ctr.clone(),
            dir,
            components: Vec::new(),
            reaper: None,
            proxy: None,
        };
        node.start_reaper()?;
        let bridge = node.bridge.clone();
        let cgroup = node.cgroup_root().to_owned();
        node.tell_reaper(&format!("bridge {bridge}"))?;
        node.tell_reaper(&format!("cgroup {cgroup}"))?;
        node.tell_reaper(&format!("network {}", node.name))?;
        node.tell_reaper(&format!("address {}", node.socket.display()))?;
        let marker = format!(".{}", node.name);
        node.tell_reaper(&format!("marker {marker}"))?;
        let shared: Vec<&str> = HOST_DIRS
            .into_iter()
            .filter(|dir| test_nodes_only(Path::new(dir)))
            .collect();
        for dir in &shared {
            node.tell_reaper(&format!("host-dir {dir}"))?;
        }
        // Shallowest first.
        for dir in shared.iter().rev() {
            fs::create_dir_all(dir).map_err(io(format!("creating {dir}")))?;
            write_private(&Path::new(dir).join(&marker), "")?;
        }
        node.create_bridge(&bridge)?;
        create_cgroups(&cgroup)?;
        node.write_config_files(&bridge, &cgroup, &plane.ca_cert(), kubelet_settings)?;
        node.start_containerd(&programs)?;
        node.import_busybox_and_pause(&programs)?;
        // The API server for pods, on the host's bridge address.
        let target: SocketAddr = plane
            .server()
            .trim_start_matches("https://")
            .parse()
            .expect("the API server URL is https://127.0.0.1:<port>");
        node.proxy = Some(ApiProxy::start(node.network.host(), target)?);
        let tunables = KernelTunables::lock(bin)?;
        for (name, value) in tunables.saved() {
            node.tell_reaper(&format!("sysctl {name} {value}"))?;
        }
        node.start_kubelet(&programs)?;
        node.start_scheduler(&programs)?;
        let ready = node.wait_ready();
        // Once Ready, the kubelet does not look at them again.
        tunables.restore();
        node.tell_reaper("sysctls-restored")?;
        ready?;
        Ok(node)
    }

    /// The node's name (its Node object; not this machine's host name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pods' bridge link (`hn-<suffix>`).
    pub fn bridge(&self) -> &str {
        &self.bridge
    }

    /// The kubelet's cgroup root: `/<name>` in every cgroup hierarchy. Also the CNI
    /// network's name.
    pub fn cgroup_root(&self) -> &str {
        &self.name
    }

    /// containerd's socket.
    pub fn containerd_socket(&self) -> &Path {
        &self.socket
    }

    /// Directory holding everything of this node.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The kubelet's configuration file (`--config`).
    pub fn kubelet_config(&self) -> PathBuf {
        self.dir.join("kubelet.yaml")
    }

    /// The kubelet's `--root-dir`: seccomp profiles go to `<root>/seccomp`.
    pub fn kubelet_root(&self) -> PathBuf {
        self.dir.join("kubelet")
    }

    /// Where the node's pods reach the API server: the host's bridge address and a port
    /// forwarded to the API server (for `KUBERNETES_SERVICE_HOST`/`_PORT`).
    pub fn api_server_for_pods(&self) -> (Ipv4Addr, u16) {
        let port = self.proxy.as_ref().map(|p| p.port).unwrap_or_default();
        (self.network.host(), port)
    }

    /// The pods' subnet.
    pub fn pod_network(&self) -> &PodNetwork {
        &self.network
    }

    /// Packs `image` as an OCI archive and imports it into the node's containerd.
    pub fn import(&self, image: &oci::Image) -> Result<(), NodeError> {
        let archive = self.dir.join("image.tar");
        image
            .write_archive(&archive)
            .map_err(io(format!("writing {}", archive.display())))?;
        let result = self.ctr(&[
            "images",
            "import",
            "--snapshotter=overlayfs",
            &archive.display().to_string(),
        ]);
        let _ = fs::remove_file(&archive);
        result.map(|_| ())
    }

    /// Imports the operator's image (`hardening.invalid/hardening-operator:<version>`) made
    /// of `binary`, the statically linked `hardening-operator` (`tests/build-static.sh`).
    pub fn import_operator_image(&self, binary: &Path) -> Result<String, NodeError> {
        let image = operator_image(binary)?;
        self.import(&image)?;
        Ok(image.name)
    }

    /// Runs `ctr` against the node's containerd in the `k8s.io` namespace (the CRI's).
    fn ctr(&self, args: &[&str]) -> Result<String, NodeError> {
        let output = Command::new(&self.ctr)
            .arg(format!("--address={}", self.socket.display()))
            .arg("--namespace=k8s.io")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(io(format!("running {}", self.ctr.display())))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(NodeError::Command {
                command: format!("ctr {}", args.join(" ")),
                message: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            })
        }
    }

    fn start_reaper(&mut self) -> Result<(), NodeError> {
        let child = Command::new("sh")
            .arg("-c")
            .arg(REAPER_SCRIPT)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(io("starting the node's reaper (sh)"))?;
        let mut child = child;
        let stdin = child.stdin.take().expect("stdin is piped");
        self.reaper = Some((child, stdin));
        let line = format!("dir {}", self.dir.display());
        self.tell_reaper(&line)
    }

    /// One `key value` line for the reaper (see node-reaper.sh), before the thing exists.
    fn tell_reaper(&mut self, line: &str) -> Result<(), NodeError> {
        if let Some((_, stdin)) = self.reaper.as_mut() {
            writeln!(stdin, "{line}").map_err(io("telling the node's reaper"))?;
        }
        Ok(())
    }

    fn create_bridge(&self, bridge: &str) -> Result<(), NodeError> {
        let host = format!("{}/24", self.network.host());
        for args in [
            vec!["link", "add", "name", bridge, "type", "bridge"],
            vec!["address", "add", &host, "dev", bridge],
            vec!["link", "set", bridge, "up"],
        ] {
            run("ip", &args)?;
        }
        Ok(())
    }

    fn write_config_files(
        &self,
        bridge: &str,
        cgroup: &str,
        ca_cert: &Path,
        kubelet_settings: &str,
    ) -> Result<(), NodeError> {
        let d = |name: &str| self.dir.join(name).display().to_string();
        for sub in ["cni/net.d", "cni/ipam", "containerd", "kubelet", "pod-logs"] {
            fs::create_dir_all(self.dir.join(sub)).map_err(io(format!("creating {sub}")))?;
        }
        let containerd = format!(
            r#"version = 2
root = "{root}"
state = "{state}"
temp = "{temp}"
# Snapshotters and runtimes the node does not use (they would make directories of their own).
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{socket}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{opt}"

# Not used (the CRI runs runc through the v2 shim), but tasks-service needs it loaded.
[plugins."io.containerd.runtime.v1.linux"]
  runtime_root = "{runc_v1}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  # No AppArmor module on this kernel.
  disable_apparmor = true
  # root lacks CAP_SYS_RESOURCE here: runc cannot lower oom_score_adj (the sandbox's -998).
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # PID 1 is not systemd: cgroupfs, as the kubelet.
        SystemdCgroup = false
        Root = "{runc}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni}"
    max_conf_num = 1
"#,
            root = d("containerd/root"),
            state = d("containerd/state"),
            temp = d("containerd/tmp"),
            opt = d("containerd/opt"),
            runc = d("containerd/runc"),
            runc_v1 = d("containerd/runc-v1"),
            socket = self.socket.display(),
            pause = PAUSE_IMAGE,
            cni = d("cni/net.d"),
        );
        fs::create_dir_all(self.dir.join("containerd/tmp")).map_err(io("creating tmp"))?;
        write_private(&self.dir.join("containerd.toml"), &containerd)?;

        // Pods get an address on the bridge's subnet and an on-link route to it: no gateway
        // (isGateway false, no routes), no masquerading. The host's address is .1.
        let cni = serde_json::json!({
            "cniVersion": "1.0.0",
            "name": self.name,
            "plugins": [{
                "type": "bridge",
                "bridge": bridge,
                "isGateway": false,
                "ipMasq": false,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{
                        "subnet": self.network.cidr(),
                        "rangeStart": self.network.address(2).to_string(),
                        "rangeEnd": self.network.address(254).to_string(),
                    }]],
                    "dataDir": d("cni/ipam"),
                },
            }],
        });
        write_private(
            &self.dir.join("cni/net.d/10-hardening.conflist"),
            &serde_json::to_string_pretty(&cni).expect("serializable"),
        )?;
        // Pods get no DNS server: nothing of theirs resolves names, nor may send traffic off
        // the bridge.
        write_private(&self.dir.join("resolv.conf"), "")?;

        let kubelet_port = free_port()?;
        let kubelet = format!(
            r#"apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# Only on the node's bridge address; only the API server's client certificate is accepted.
address: "{host}"
port: {kubelet_port}
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: false}}
  x509: {{clientCAFile: "{ca}"}}
authorization:
  mode: Webhook
containerRuntimeEndpoint: "unix://{socket}"
# This machine: PID 1 is not systemd, cgroup v1, swap allowed.
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
# The node's own cgroup root (several kubelets can share the machine; each removes only
# its own pods' cgroups).
cgroupRoot: "/{cgroup}"
podLogsDir: "{pod_logs}"
resolvConf: "{resolv}"
# No iptables chains in the host's tables (KUBE-FIREWALL and the canaries).
makeIPTablesUtilChains: false
# Only pods that ask for this node.
registerWithTaints:
  - {{key: "{taint}", effect: NoSchedule}}
# The kubelet's own oom_score_adj stays as it is (lowering it needs CAP_SYS_RESOURCE).
oomScoreAdj: 0
# A shared test machine: never evict test pods for the host's disk or memory, never collect
# the imported images (they cannot be pulled back).
evictionHard: {{memory.available: "0%"}}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
"#,
            host = self.network.host(),
            ca = ca_cert.display(),
            socket = self.socket.display(),
            pod_logs = d("pod-logs"),
            resolv = d("resolv.conf"),
            taint = NODE_TAINT_KEY,
        );
        write_private(
            &self.dir.join("kubelet.yaml"),
            &format!("{kubelet}{kubelet_settings}"),
        )?;
        Ok(())
    }

    fn start_containerd(&mut self, programs: &Programs) -> Result<(), NodeError> {
        let mut cmd = Command::new(&programs.containerd);
        cmd.arg(format!(
            "--config={}",
            self.dir.join("containerd.toml").display()
        ));
        // Images are imported, never pulled; should a pod ask for a pull all the same, it
        // goes to a proxy on loopback where nothing listens (the registry's name is not even
        // looked up), so it fails at once and no traffic leaves the machine.
        for (name, value) in [
            ("HTTPS_PROXY", NO_PULL_PROXY),
            ("HTTP_PROXY", NO_PULL_PROXY),
        ] {
            cmd.env(name, value);
        }
        for name in [
            "https_proxy",
            "http_proxy",
            "NO_PROXY",
            "no_proxy",
            "ALL_PROXY",
            "all_proxy",
        ] {
            cmd.env_remove(name);
        }
        self.spawn("containerd", cmd)?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            self.check_alive()?;
            match self.ctr(&["version"]) {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    fn import_busybox_and_pause(&self, programs: &Programs) -> Result<(), NodeError> {
        let (busybox, pause) = busybox_and_pause_images(&programs.busybox)?;
        self.import(&busybox)?;
        self.import(&pause)
    }

    fn start_kubelet(&mut self, programs: &Programs) -> Result<(), NodeError> {
        let d = |name: &str| self.dir.join(name).display().to_string();
        let mut cmd = Command::new(&programs.kubelet);
        cmd.arg(format!("--config={}", d("kubelet.yaml")))
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .arg(format!("--root-dir={}", d("kubelet")))
            .arg(format!("--cert-dir={}", d("kubelet-pki")))
            .arg(format!("--hostname-override={}", self.name))
            // Not loopback (the node would get no address): the host's bridge address.
            .arg(format!("--node-ip={}", self.network.host()))
            .arg("--v=1");
        self.spawn("kubelet", cmd)
    }

    fn start_scheduler(&mut self, programs: &Programs) -> Result<(), NodeError> {
        let mut cmd = Command::new(&programs.scheduler);
        cmd.arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .arg("--leader-elect=false")
            // No serving endpoint: nothing scrapes it, and it avoids a port race.
            .arg("--secure-port=0")
            .arg("--v=1");
        self.spawn("kube-scheduler", cmd)
    }

    fn spawn(&mut self, name: &'static str, mut cmd: Command) -> Result<(), NodeError> {
        let log = self.dir.join(format!("{name}.log"));
        let out = fs::File::create(&log).map_err(io(format!("creating {}", log.display())))?;
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
        let line = format!("pgid {}", child.id());
        self.components.push(Component { name, child, log });
        self.tell_reaper(&line)
    }

    fn check_alive(&mut self) -> Result<(), NodeError> {
        for c in &mut self.components {
            if let Ok(Some(status)) = c.child.try_wait() {
                return Err(NodeError::Exited {
                    component: c.name,
                    status: status.to_string(),
                    tail: tail(&c.log, 30),
                    log: c.log.display().to_string(),
                });
            }
        }
        Ok(())
    }

    /// Polls the Node object until its Ready condition is True.
    fn wait_ready(&mut self) -> Result<(), NodeError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last = String::from("not registered yet");
        while Instant::now() < deadline {
            self.check_alive()?;
            let (kubeconfig, name) = (self.kubeconfig.clone(), self.name.clone());
            match block_on(async move {
                let client = crate::client_for(&kubeconfig)
                    .await
                    .map_err(|e| e.to_string())?;
                let node = Api::<NodeObject>::all(client)
                    .get_opt(&name)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or("not registered yet")?;
                let ready = node
                    .status
                    .and_then(|s| s.conditions)
                    .unwrap_or_default()
                    .into_iter()
                    .find(|c| c.type_ == "Ready");
                match ready {
                    Some(c) if c.status == "True" => Ok(()),
                    Some(c) => Err(format!(
                        "Ready={}: {}",
                        c.status,
                        c.message.unwrap_or_default()
                    )),
                    None => Err("no Ready condition yet".to_owned()),
                }
            }) {
                Ok(()) => return Ok(()),
                Err(why) => last = why,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = self.dir.join("kubelet.log");
        Err(NodeError::NotReady {
            node: self.name.clone(),
            timeout: READY_TIMEOUT,
            last,
            tail: tail(&log, 30),
            log: log.display().to_string(),
        })
    }

    /// Deletes every pod bound to this node (grace period 1 s) and waits until the kubelet
    /// has stopped them and removed the objects; then the Node object.
    fn delete_pods(&self) -> Result<(), String> {
        let (kubeconfig, name) = (self.kubeconfig.clone(), self.name.clone());
        block_on(async move {
            let client = crate::client_for(&kubeconfig)
                .await
                .map_err(|e| e.to_string())?;
            let pods: Api<Pod> = Api::all(client.clone());
            let on_node = ListParams::default().fields(&format!("spec.nodeName={name}"));
            let deadline = tokio::time::Instant::now() + POD_CLEANUP_TIMEOUT;
            loop {
                let list = pods.list(&on_node).await.map_err(|e| e.to_string())?;
                if list.items.is_empty() {
                    break;
                }
                if tokio::time::Instant::now() > deadline {
                    return Err(format!(
                        "{} still on the node",
                        hardening_operator::core::plural::count(list.items.len(), "pod")
                    ));
                }
                for pod in list.items {
                    let (Some(ns), Some(pod_name)) = (pod.metadata.namespace, pod.metadata.name)
                    else {
                        continue;
                    };
                    if pod.metadata.deletion_timestamp.is_none() {
                        let _ = Api::<Pod>::namespaced(client.clone(), &ns)
                            .delete(&pod_name, &DeleteParams::default().grace_period(1))
                            .await;
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let _ = Api::<NodeObject>::all(client)
                .delete(&name, &DeleteParams::default())
                .await;
            Ok(())
        })
    }

    fn stop_component(&mut self, name: &str) {
        for c in self.components.iter_mut().filter(|c| c.name == name) {
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
    }

    fn stop(&mut self) {
        // Nothing new is bound to the node, then the kubelet empties it.
        self.stop_component("kube-scheduler");
        let kubelet_alive = self
            .components
            .iter_mut()
            .any(|c| c.name == "kubelet" && matches!(c.child.try_wait(), Ok(None)));
        if kubelet_alive && let Err(e) = self.delete_pods() {
            eprintln!("test node {}: {e}; the reaper removes the rest", self.name);
        }
        self.stop_component("kubelet");
        self.stop_component("containerd");
        self.components.clear();
        self.proxy = None;
        if let Ok(keep) = std::env::var("HARDENING_TEST_LOG_DIR") {
            let to = Path::new(&keep).join(&self.name);
            let _ = fs::create_dir_all(&to);
            for name in ["containerd.log", "kubelet.log", "kube-scheduler.log"] {
                let _ = fs::copy(self.dir.join(name), to.join(name));
            }
        }
        // The reaper removes what is left (mounts, bridge, cgroups, ...) and the directory.
        if let Some((mut reaper, stdin)) = self.reaper.take() {
            drop(stdin);
            let _ = reaper.wait();
        }
    }

    /// Resident memory of each component in KiB, and of all containerd shims together.
    pub fn resident_memory_kib(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = self
            .components
            .iter()
            .filter_map(|c| Some((c.name.to_owned(), rss_kib(c.child.id())?)))
            .collect();
        let needle = self.socket.display().to_string();
        let shims: Vec<u64> = processes()
            .filter(|(_, cmdline)| cmdline.contains("containerd-shim") && cmdline.contains(&needle))
            .filter_map(|(pid, _)| rss_kib(pid))
            .collect();
        out.push((
            format!("containerd-shim x{}", shims.len()),
            shims.iter().sum(),
        ));
        out
    }

    /// Process ids of the running components (for tests of the teardown).
    pub fn pids(&self) -> Vec<u32> {
        self.components.iter().map(|c| c.child.id()).collect()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The busybox image (`/bin/<applet>` for every applet of `busybox`, a static binary) and
/// the pause image made of the same layer.
pub fn busybox_and_pause_images(busybox: &Path) -> Result<(oci::Image, oci::Image), NodeError> {
    let binary = fs::read(busybox).map_err(|_| NodeError::Missing {
        what: "a static busybox",
        path: busybox.display().to_string(),
        fix: PACKAGES_FIX.into(),
    })?;
    let list = Command::new(busybox)
        .arg("--list")
        .output()
        .map_err(io("running busybox --list"))?;
    let applets: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    let entries = oci::busybox_entries(binary, &applets);
    let busybox = oci::Image {
        name: BUSYBOX_IMAGE.into(),
        entries: entries.clone(),
        entrypoint: vec![],
        cmd: vec!["sh".into()],
        user: String::new(),
    };
    // The sandbox's process only holds the pod's namespaces; containerd stops it with
    // SIGKILL.
    let pause = oci::Image {
        name: PAUSE_IMAGE.into(),
        entries,
        entrypoint: vec!["/bin/sleep".into(), "2147483647".into()],
        cmd: vec![],
        user: String::new(),
    };
    Ok((busybox, pause))
}

/// Writes the test images as OCI archives into `dir` (`busybox.tar`, `pause.tar`, and
/// `hardening-operator.tar` from `operator_binary`): to load them into another cluster,
/// e.g. `kind load image-archive`.
pub fn write_test_images(dir: &Path, operator_binary: &Path) -> Result<Vec<PathBuf>, NodeError> {
    fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    let (busybox, pause) = busybox_and_pause_images(Path::new("/bin/busybox"))?;
    let operator = operator_image(operator_binary)?;
    let mut written = Vec::new();
    for (file, image) in [
        ("busybox.tar", busybox),
        ("pause.tar", pause),
        ("hardening-operator.tar", operator),
    ] {
        let path = dir.join(file);
        image
            .write_archive(&path)
            .map_err(io(format!("writing {}", path.display())))?;
        written.push(path);
    }
    Ok(written)
}

/// The operator's image made of `binary`: the binary alone, run as 65532, like the
/// Dockerfile's distroless image.
pub fn operator_image(binary: &Path) -> Result<oci::Image, NodeError> {
    let data = fs::read(binary).map_err(|_| NodeError::Missing {
        what: "the operator's static binary",
        path: binary.display().to_string(),
        fix: "build it with `tests/build-static.sh` (tests/run.sh does, and sets \
              HARDENING_STATIC_BINARY)"
            .into(),
    })?;
    Ok(oci::Image {
        name: format!("{OPERATOR_REPOSITORY}:{}", env!("CARGO_PKG_VERSION")),
        entries: oci::operator_entries(data),
        entrypoint: vec!["/hardening-operator".into()],
        cmd: vec!["run".into()],
        user: "65532:65532".into(),
    })
}

/// `/dev/shm/hardening-node-<pid>-<suffix>` (tmpfs where there is one, like the control
/// plane's).
fn run_dir(suffix: &str) -> Result<PathBuf, NodeError> {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("hardening-node-{}-{suffix}", std::process::id()));
    fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    Ok(dir)
}

/// Whether `dir` is missing or holds another test node's marker (`.hardening-node-*`): then
/// only test nodes use it.
fn test_nodes_only(dir: &Path) -> bool {
    match fs::read_dir(dir) {
        Err(_) => !dir.exists(),
        Ok(entries) => entries.filter_map(|e| e.ok()).any(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(".hardening-node-"))
        }),
    }
}

/// `/<name>` in every cgroup hierarchy: the kubelet's `cgroupRoot` must exist. cpuset
/// needs its CPUs and memory nodes set before a process can join.
fn create_cgroups(name: &str) -> Result<(), NodeError> {
    for mount in cgroup_mounts() {
        let dir = mount.join(name);
        fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        for file in ["cpuset.cpus", "cpuset.mems"] {
            if let Ok(value) = fs::read_to_string(mount.join(file)) {
                let _ = fs::write(dir.join(file), value.trim());
            }
        }
    }
    Ok(())
}

/// Mount points of the cgroup (v1 and v2) hierarchies.
fn cgroup_mounts() -> Vec<PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let dash = fields.iter().position(|f| *f == "-")?;
            let fstype = fields.get(dash + 1)?;
            (*fstype == "cgroup" || *fstype == "cgroup2").then(|| PathBuf::from(fields[4]))
        })
        .collect()
}

/// Runs a short command; its stderr is the error.
fn run(program: &str, args: &[&str]) -> Result<String, NodeError> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(io(format!("running {program}")))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(NodeError::Command {
            command: format!("{program} {}", args.join(" ")),
            message: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

/// Runs `future` to completion on a thread of its own with its own runtime: the caller may
/// be inside a runtime already, or in an exit handler.
fn block_on<T: Send + 'static>(
    future: impl std::future::Future<Output = Result<T, String>> + Send + 'static,
) -> Result<T, String> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?
            .block_on(future)
    })
    .join()
    .unwrap_or_else(|_| Err("panicked".into()))
}

/// (pid, command line with spaces) of every process.
fn processes() -> impl Iterator<Item = (u32, String)> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            Some((pid, String::from_utf8_lossy(&raw).replace('\0', " ")))
        })
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The kernel settings of [`KUBELET_SYSCTLS`] as they were, saved under a machine-wide lock
/// (two nodes starting at once must not save each other's kubelet's values) and put back by
/// [`KernelTunables::restore`].
struct KernelTunables {
    saved: Vec<(&'static str, String)>,
    _lock: fs::File,
}

impl KernelTunables {
    fn lock(bin: &Path) -> Result<Self, NodeError> {
        let path = bin.join(".node-kernel-tunables.lock");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(format!("opening {}", path.display())))?;
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a file we own; released when the file is closed.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(
                io(format!("locking {}", path.display()))(std::io::Error::last_os_error()).into(),
            );
        }
        let saved = KUBELET_SYSCTLS
            .iter()
            .filter_map(|name| {
                let value = fs::read_to_string(format!("/proc/sys/{name}")).ok()?;
                Some((*name, value.trim().to_owned()))
            })
            .collect();
        Ok(KernelTunables { saved, _lock: lock })
    }

    fn saved(&self) -> &[(&'static str, String)] {
        &self.saved
    }

    fn restore(self) {
        for (name, value) in &self.saved {
            let path = format!("/proc/sys/{name}");
            if fs::read_to_string(&path).is_ok_and(|now| now.trim() != value) {
                let _ = fs::write(&path, format!("{value}\n"));
            }
        }
    }
}

/// The kernel settings the kubelet changes at start-up, `name=value`, read under the same
/// machine-wide lock as nodes hold while their kubelet starts (so never a starting
/// kubelet's values): for tests that nothing stays changed.
pub fn kubelet_kernel_settings(bin: &Path) -> Result<Vec<String>, NodeError> {
    let tunables = KernelTunables::lock(bin)?;
    Ok(tunables
        .saved()
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect())
}

/// Forwards TCP connections from the host's bridge address to the API server on loopback
/// (TLS passes through untouched). Stops when dropped.
struct ApiProxy {
    port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ApiProxy {
    fn start(listen: Ipv4Addr, target: SocketAddr) -> Result<Self, NodeError> {
        let listener = std::net::TcpListener::bind((listen, 0)).map_err(io(format!(
            "listening on {listen} for the pods' API server"
        )))?;
        let port = listener.local_addr().map_err(io("proxy address"))?.port();
        listener
            .set_nonblocking(true)
            .map_err(io("proxy listener"))?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let serve = async {
                    loop {
                        let Ok((mut inbound, _)) = listener.accept().await else {
                            // Out of file descriptors, say: try again in a moment.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        };
                        tokio::spawn(async move {
                            if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound)
                                    .await;
                            }
                        });
                    }
                };
                tokio::select! {
                    _ = stopped => {}
                    _ = serve => {}
                }
            });
        });
        Ok(ApiProxy {
            port,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for ApiProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_picked_pod_network_overlaps_no_route() {
        for _ in 0..20 {
            let network = PodNetwork::pick();
            let base = u32::from(network.address(0));
            assert_eq!(base >> 22, u32::from(Ipv4Addr::new(10, 64, 0, 0)) >> 22);
            for (dest, mask) in routes().into_iter().filter(|(_, mask)| *mask != 0) {
                let common = mask & 0xffff_ff00;
                assert_ne!(dest & common, base & common, "{network:?} overlaps a route");
            }
        }
    }

    #[test]
    fn a_missing_program_is_named_with_its_fix() {
        let empty = std::env::temp_dir().join(format!("no-kubelet-{}", random_token()));
        fs::create_dir_all(&empty).unwrap();
        let result = Programs::find(&empty);
        let _ = fs::remove_dir_all(&empty);
        let message = match result {
            Ok(_) => panic!("found a kubelet in an empty directory"),
            Err(e) => e.to_string(),
        };
        // SAFETY: a plain getter.
        let root = unsafe { libc::geteuid() } == 0;
        let packages = [
            "/usr/sbin/runc",
            "/usr/bin/containerd-shim-runc-v2",
            "/usr/lib/cni/bridge",
            "/usr/lib/cni/host-local",
            "/usr/lib/cni/loopback",
            "/usr/bin/containerd",
            "/usr/bin/ctr",
            "/bin/busybox",
        ]
        .iter()
        .all(|p| Path::new(p).exists());
        let fix = match (root, packages) {
            (false, _) => "run the tests as root",
            (true, false) => "tests/prerequisites.sh",
            (true, true) => "tests/controlplane/build.sh",
        };
        assert!(message.contains(fix), "{message}");
        if root && packages {
            assert!(message.contains("needs kubelet"), "{message}");
        }
    }

    #[test]
    fn routes_include_the_default_route_where_there_is_one() {
        let text = fs::read_to_string("/proc/net/route").unwrap_or_default();
        let has_default = text.lines().skip(1).any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(1) == Some(&"00000000") && f.get(7) == Some(&"00000000")
        });
        assert_eq!(routes().contains(&(0, 0)), has_default);
    }
}
