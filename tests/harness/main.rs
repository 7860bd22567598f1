//! `hardening-controlplane`: runs the local test control plane in the foreground, for the
//! demo and for poking at it by hand. Prints `export KUBECONFIG=...` once the API server is
//! ready, then runs until Ctrl-C, SIGTERM or end of standard input; everything it started
//! is stopped and its directory removed on the way out (even on SIGKILL, by the reaper).

use std::io::Read;
use std::time::Instant;

use hardening_tests::ControlPlane;
use tokio::signal::unix::{SignalKind, signal};

fn main() {
    if std::env::args().any(|a| a == "-h" || a == "--help") {
        println!(
            "Usage: hardening-controlplane\n\n\
             Starts etcd, kube-apiserver and kube-controller-manager on loopback (building the\n\
             Kubernetes binaries on first use, see tests/controlplane/build.sh), prints\n\
             `export KUBECONFIG=<path>` when ready, and stops everything on Ctrl-C, SIGTERM\n\
             or end of standard input."
        );
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
    eprintln!("stopping the control plane");
    drop(plane);
}

fn fail(e: impl std::fmt::Display) -> ! {
    eprintln!("hardening-controlplane: {e}");
    std::process::exit(1);
}
