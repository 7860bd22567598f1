//! `hardening-controlplane`: runs the local test control plane in the foreground, for the
//! demo and for poking at it by hand. Prints `export KUBECONFIG=...` once the API server is
//! ready, then runs until Ctrl-C, SIGTERM or end of standard input; everything it started
//! is stopped and its directory removed on the way out (even on SIGKILL, by the reaper).
//! `--node` starts a node beside it (pods really run); `--write-images DIR` only writes the
//! test images as OCI archives (for loading them into another cluster).

use std::io::Read;
use std::path::PathBuf;
use std::time::Instant;

use hardening_tests::{ControlPlane, Node};
use tokio::signal::unix::{SignalKind, signal};

const USAGE: &str = "Usage: hardening-controlplane [--node]
       hardening-controlplane --write-images DIR [--operator-binary PATH]

Starts etcd, kube-apiserver and kube-controller-manager on loopback (building the
Kubernetes binaries on first use, see tests/controlplane/build.sh), prints
`export KUBECONFIG=<path>` when ready, and stops everything on Ctrl-C, SIGTERM
or end of standard input.

  --node          also start a node (containerd, kubelet, kube-scheduler; needs root and
                  the packages of tests/prerequisites.sh); once it is Ready, print
                  `node-name`, `node-dir`, `node-bridge` and `api-server-for-pods
                  <ip>:<port>` lines; its pods use the image hardening.invalid/busybox:test
                  (pull policy Never)
  --write-images DIR
                  write the test images as OCI archives into DIR (busybox.tar, pause.tar,
                  hardening-operator.tar) and exit, e.g. for `kind load image-archive`;
                  the operator's binary is --operator-binary, else $HARDENING_STATIC_BINARY
                  (build it with tests/build-static.sh)";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return;
    }
    let mut with_node = false;
    let mut images_dir = None;
    let mut operator_binary = std::env::var_os("HARDENING_STATIC_BINARY").map(PathBuf::from);
    let mut rest = args.into_iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--node" => with_node = true,
            "--write-images" => {
                images_dir = Some(PathBuf::from(rest.next().unwrap_or_else(|| usage())))
            }
            "--operator-binary" => {
                operator_binary = Some(PathBuf::from(rest.next().unwrap_or_else(|| usage())))
            }
            _ => usage(),
        }
    }
    if let Some(dir) = images_dir {
        let binary = operator_binary.unwrap_or_else(|| {
            fail("the operator's static binary: pass --operator-binary or set HARDENING_STATIC_BINARY (tests/build-static.sh prints it)")
        });
        match hardening_tests::node::write_test_images(&dir, &binary) {
            Ok(files) => files.iter().for_each(|f| println!("{}", f.display())),
            Err(e) => fail(e),
        }
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // Register the handlers before anything starts: a Ctrl-C during start-up must still
    // take the graceful path.
    let (mut interrupt, mut terminate) = runtime.block_on(async {
        (
            signal(SignalKind::interrupt()).expect("SIGINT handler"),
            signal(SignalKind::terminate()).expect("SIGTERM handler"),
        )
    });
    let bin = match hardening_tests::controlplane::binaries_dir() {
        Ok(bin) => bin,
        Err(e) => fail(e),
    };
    let started = Instant::now();
    let plane = ControlPlane::start_with(&bin).unwrap_or_else(|e| fail(e));
    eprintln!(
        "control plane ready in {:.2} s (etcd + kube-apiserver to /readyz; kube-controller-manager starting)",
        started.elapsed().as_secs_f64()
    );
    println!("export KUBECONFIG={}", plane.kubeconfig().display());
    let node = with_node.then(|| {
        let started = Instant::now();
        // On failure the reapers remove what started (this process exits).
        let node = Node::start(&plane, &bin).unwrap_or_else(|e| fail(e));
        eprintln!(
            "node {} Ready in {:.2} s",
            node.name(),
            started.elapsed().as_secs_f64()
        );
        let (ip, port) = node.api_server_for_pods();
        println!("node-name {}", node.name());
        println!("node-dir {}", node.dir().display());
        println!("node-bridge {}", node.bridge());
        println!("api-server-for-pods {ip}:{port}");
        node
    });
    runtime.block_on(async {
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        });
        let report_memory = async {
            // Idle memory once the controller manager has settled.
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            for (name, kib) in plane.resident_memory_kib() {
                eprintln!("  {name}: RSS {} MiB", kib / 1024);
            }
            for (name, kib) in node.iter().flat_map(|n| n.resident_memory_kib()) {
                eprintln!("  {name}: RSS {} MiB", kib / 1024);
            }
            std::future::pending::<()>().await
        };
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
            _ = stdin_closed => {}
            _ = report_memory => {}
        }
    });
    // The stdin reader may still block: do not wait for it.
    runtime.shutdown_background();
    if let Some(node) = node {
        eprintln!("stopping the node");
        drop(node);
    }
    eprintln!("stopping the control plane");
    drop(plane);
}

fn usage() -> ! {
    eprintln!("{USAGE}");
    std::process::exit(2);
}

fn fail(e: impl std::fmt::Display) -> ! {
    eprintln!("hardening-controlplane: {e}");
    std::process::exit(1);
}
