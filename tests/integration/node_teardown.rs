//! The test node leaves nothing behind, however its owner ends (dropped, Ctrl-C, SIGKILL),
//! even with a pod running: no process (kubelet, containerd, shims, the pod's), no mount,
//! no bridge, no cgroup, none of containerd's files outside its directory, no link in
//! /var/log/containers, no iptables chain, and the kernel settings as they were.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hardening_tests::{BUSYBOX_IMAGE, ControlPlane, Node, client_for};
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::api::{Api, PostParams};
use serde_json::json;

/// On an existing cluster (`HARDENING_TEST_KUBECONFIG`) the tests use no local node, so
/// these tests of its teardown (which need root and the node's packages) say so and stop.
fn skipped_on_an_existing_cluster() -> bool {
    let existing = std::env::var_os(hardening_tests::EXISTING_CLUSTER_ENV).is_some();
    if existing {
        eprintln!("skipped: the tests run on an existing cluster and start no local node");
    }
    existing
}

/// What one node consists of on this machine.
struct Footprint {
    dir: PathBuf,
    name: String,
    bridge: String,
    socket: PathBuf,
}

/// The machine's state that a node changes while it runs.
#[derive(Debug, PartialEq, Eq)]
struct HostState {
    sysctls: Vec<String>,
    iptables: BTreeSet<String>,
}

fn host_state() -> HostState {
    let bin = hardening_tests::controlplane::binaries_dir().unwrap();
    let sysctls = hardening_tests::node::kubelet_kernel_settings(&bin).unwrap();
    let mut iptables = BTreeSet::new();
    for program in ["iptables", "ip6tables"] {
        for table in ["filter", "nat", "mangle"] {
            if let Ok(out) = Command::new(program).args(["-t", table, "-S"]).output() {
                for line in String::from_utf8_lossy(&out.stdout).lines() {
                    if line.contains("KUBE-") {
                        iptables.insert(format!("{program} {table}: {line}"));
                    }
                }
            }
        }
    }
    HostState { sysctls, iptables }
}

impl Footprint {
    fn of(node: &Node) -> Self {
        Footprint {
            dir: node.dir().to_path_buf(),
            name: node.name().to_owned(),
            bridge: node.bridge().to_owned(),
            socket: node.containerd_socket().to_path_buf(),
        }
    }

    /// Processes of the node: their command line names its directory (components, shims)
    /// or they live in its cgroups (containers).
    fn processes(&self) -> Vec<String> {
        let needle = format!("{}/", self.dir.display());
        let cgroup = format!(":/{}/", self.name);
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter_map(|pid| {
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
                let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
                (cmdline.contains(&needle) || cgroups.contains(&cgroup))
                    .then(|| format!("{pid} {cmdline}"))
            })
            .collect()
    }

    fn mounts(&self) -> Vec<String> {
        let prefix = format!("{}/", self.dir.display());
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4))
            .filter(|m| m.starts_with(&prefix))
            .map(str::to_owned)
            .collect()
    }

    fn cgroups(&self) -> Vec<PathBuf> {
        std::fs::read_dir("/sys/fs/cgroup")
            .unwrap()
            .filter_map(|e| Some(e.ok()?.path().join(&self.name)))
            .filter(|p| p.exists())
            .collect()
    }

    /// containerd's files outside its directory: shim sockets of the node's tasks (named by
    /// the SHA-256 of `<address>/<namespace>/<id>`), CNI cache entries of its network, the
    /// kubelet's log links.
    fn host_files(&self, ids: &[String]) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = ids
            .iter()
            .map(|id| {
                let digest = hardening_tests::oci::sha256(
                    format!("{}/k8s.io/{id}", self.socket.display()).as_bytes(),
                );
                PathBuf::from(format!(
                    "/run/containerd/s/{}",
                    digest.trim_start_matches("sha256:")
                ))
            })
            .filter(|p| p.exists())
            .collect();
        let listed = |dir: &str| -> Vec<PathBuf> {
            std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .filter_map(|e| Some(e.ok()?.path()))
                .collect()
        };
        // The CNI cache of the pod network and of containerd's loopback network.
        files.extend(listed("/var/lib/cni/results").into_iter().filter(|p| {
            let file = p.display().to_string();
            file.contains(&self.name) || ids.iter().any(|id| file.contains(id.as_str()))
        }));
        // This node's markers in the shared directories.
        let marker = format!(".{}", self.name);
        for dir in [
            "/run/containerd/s",
            "/run/containerd/fifo",
            "/run/containerd",
            "/var/lib/cni/results",
            "/var/lib/cni",
            "/var/log/containers",
        ] {
            let path = Path::new(dir).join(&marker);
            if path.exists() {
                files.push(path);
            }
        }
        files.extend(
            listed("/var/log/containers").into_iter().filter(|p| {
                std::fs::read_link(p).is_ok_and(|target| target.starts_with(&self.dir))
            }),
        );
        files
    }

    /// Ids of the pod sandboxes containerd made.
    fn sandbox_ids(&self) -> Vec<String> {
        let dir = self
            .dir
            .join("containerd/root/io.containerd.grpc.v1.cri/sandboxes");
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect()
    }

    /// Ids of the running tasks (one per pod sandbox shim).
    fn task_ids(&self) -> Vec<String> {
        let dir = self
            .dir
            .join("containerd/state/io.containerd.runtime.v2.task/k8s.io");
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect()
    }

    fn bridge_exists(&self) -> bool {
        Path::new("/sys/class/net").join(&self.bridge).exists()
    }

    /// Asserts the node is really there, with a pod: processes, mounts, the bridge,
    /// cgroups, a shim socket, CNI cache entries. Returns the ids of its tasks and
    /// sandboxes.
    fn assert_present(&self) -> Vec<String> {
        // The pod is reported running while `runc init` may still be about to exec.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut processes = self.processes();
        while !processes.iter().any(|p| p.contains("sleep 3600")) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            processes = self.processes();
        }
        assert!(
            processes.iter().any(|p| p.contains("containerd-shim")),
            "no shim: {processes:?}"
        );
        assert!(
            processes.iter().any(|p| p.contains("sleep 3600")),
            "no container process: {processes:?}"
        );
        assert!(!self.mounts().is_empty(), "no mounts");
        assert!(self.bridge_exists(), "no bridge {}", self.bridge);
        assert!(!self.cgroups().is_empty(), "no cgroups");
        let tasks = self.task_ids();
        assert!(!tasks.is_empty(), "no tasks");
        let sandboxes = self.sandbox_ids();
        assert!(!sandboxes.is_empty(), "no sandboxes");
        let files = self.host_files(&tasks);
        assert!(
            files.iter().any(|f| f.starts_with("/run/containerd/s/")),
            "no shim socket in /run/containerd/s for {tasks:?}: {files:?}"
        );
        let mut ids = tasks;
        ids.extend(sandboxes);
        assert!(
            self.host_files(&ids)
                .iter()
                .any(|f| f.starts_with("/var/lib/cni/results")),
            "no CNI cache entry"
        );
        ids
    }

    /// What is left of the node; empty when nothing.
    fn left(&self, task_ids: &[String]) -> Vec<String> {
        let mut left: Vec<String> = self
            .processes()
            .into_iter()
            .map(|p| format!("process {p}"))
            .collect();
        left.extend(self.mounts().into_iter().map(|m| format!("mount {m}")));
        if self.bridge_exists() {
            left.push(format!("bridge {}", self.bridge));
        }
        left.extend(
            self.cgroups()
                .into_iter()
                .map(|c| format!("cgroup {}", c.display())),
        );
        left.extend(
            self.host_files(task_ids)
                .into_iter()
                .map(|f| format!("file {}", f.display())),
        );
        if self.dir.exists() {
            left.push(format!("directory {}", self.dir.display()));
        }
        left
    }

    fn wait_until_gone(&self, task_ids: &[String], within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        loop {
            let left = self.left(task_ids);
            if left.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("after {within:?}: {left:?}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Runs `sleep 3600` in a pod of the `default` namespace and waits until it runs.
fn run_a_pod(kubeconfig: &Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = client_for(kubeconfig).await.unwrap();
        hardening_tests::wait_until("the default ServiceAccount", || async {
            Api::<ServiceAccount>::namespaced(client.clone(), "default")
                .get_opt("default")
                .await
                .ok()
                .flatten()
                .is_some()
        })
        .await;
        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        let pod: Pod = serde_json::from_value(json!({
            "metadata": { "name": "sleeper" },
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "tolerations": [hardening_tests::node_toleration()],
                "containers": [{
                    "name": "main",
                    "image": BUSYBOX_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["sleep", "3600"],
                }],
            },
        }))
        .unwrap();
        pods.create(&PostParams::default(), &pod).await.unwrap();
        hardening_tests::eventually("the pod to run", || async {
            let pod = pods.get("sleeper").await.map_err(|e| e.to_string())?;
            let phase = pod.status.and_then(|s| s.phase).unwrap_or_default();
            if phase == "Running" {
                Ok(())
            } else {
                Err(phase)
            }
        })
        .await;
    });
}

#[test]
fn dropping_the_node_stops_and_removes_everything_of_it() {
    if skipped_on_an_existing_cluster() {
        return;
    }
    let before = host_state();
    let plane = ControlPlane::start().expect("control plane");
    let bin = hardening_tests::controlplane::binaries_dir().unwrap();
    let node = Node::start(&plane, &bin).unwrap_or_else(|e| panic!("{e}"));
    let footprint = Footprint::of(&node);
    assert_eq!(node.pids().len(), 3, "containerd, kubelet, kube-scheduler");
    run_a_pod(plane.kubeconfig());
    let tasks = footprint.assert_present();
    drop(node);
    // Drop is synchronous: nothing may be left the moment it returns.
    assert_eq!(footprint.left(&tasks), Vec::<String>::new());
    assert_eq!(host_state(), before);
    drop(plane);
}

/// Starts `hardening-controlplane --node` in its own process group, runs a pod, and
/// returns the process with the node's footprint and task ids.
fn start_cli() -> (std::process::Child, Footprint, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hardening-controlplane"))
        .arg("--node")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start hardening-controlplane --node");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = |prefix: &str| -> String {
        let line = lines.next().expect("a line").unwrap();
        line.strip_prefix(prefix)
            .unwrap_or_else(|| panic!("expected {prefix:?}, got {line:?}"))
            .to_owned()
    };
    let kubeconfig = PathBuf::from(next("export KUBECONFIG="));
    let name = next("node-name ");
    let dir = PathBuf::from(next("node-dir "));
    let bridge = next("node-bridge ");
    let footprint = Footprint {
        socket: dir.join("containerd.sock"),
        dir,
        name,
        bridge,
    };
    run_a_pod(&kubeconfig);
    let tasks = footprint.assert_present();
    (child, footprint, tasks)
}

#[test]
fn ctrl_c_stops_the_node_and_removes_everything_of_it() {
    if skipped_on_an_existing_cluster() {
        return;
    }
    let before = host_state();
    let (mut child, footprint, tasks) = start_cli();
    // What a terminal does on Ctrl-C: SIGINT to the whole foreground process group.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGINT) };
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
    footprint
        .wait_until_gone(&tasks, Duration::from_secs(30))
        .unwrap();
    assert_eq!(host_state(), before);
}

#[test]
fn sigkill_of_the_owner_still_removes_everything_of_the_node() {
    if skipped_on_an_existing_cluster() {
        return;
    }
    let before = host_state();
    let (mut child, footprint, tasks) = start_cli();
    child.kill().unwrap(); // SIGKILL: no handler, no exit hook runs; the reapers must act.
    child.wait().unwrap();
    footprint
        .wait_until_gone(&tasks, Duration::from_secs(30))
        .unwrap();
    assert_eq!(host_state(), before);
}
