//! The harness leaves nothing behind: no process, no directory, however the test binary
//! ends (normal exit, Ctrl-C, SIGKILL).

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hardening_tests::ControlPlane;

/// Pids of live processes whose command line mentions `dir` (the components' flags do).
fn processes_using(dir: &Path) -> Vec<u32> {
    let needle = dir.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(&needle))
                .unwrap_or(false)
        })
        // A zombie has no command line left, so it does not match.
        .collect()
}

fn wait_until_gone(dir: &Path, within: Duration) -> Result<(), String> {
    let deadline = Instant::now() + within;
    loop {
        let procs = processes_using(dir);
        if procs.is_empty() && !dir.exists() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "after {within:?}: processes {procs:?} still running, directory exists: {}",
                dir.exists()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn dropping_the_control_plane_stops_everything_and_removes_its_directory() {
    let plane = ControlPlane::start().expect("control plane");
    let dir = plane.dir().to_path_buf();
    let pids = plane.pids();
    assert_eq!(
        pids.len(),
        3,
        "etcd, kube-apiserver, kube-controller-manager"
    );
    let alive = |pid: &u32| Path::new(&format!("/proc/{pid}")).exists();
    assert!(
        pids.iter().all(alive),
        "a component is not running: {pids:?}"
    );
    drop(plane);
    // Drop is synchronous: nothing may be left the moment it returns.
    assert!(!pids.iter().any(alive), "processes left: {pids:?}");
    assert!(
        processes_using(&dir).is_empty(),
        "processes left: {:?}",
        processes_using(&dir)
    );
    assert!(!dir.exists(), "{} still exists", dir.display());
}

/// Starts `hardening-controlplane` in its own process group and returns it with the
/// control plane's directory once the API server is ready.
fn start_cli() -> (std::process::Child, PathBuf) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hardening-controlplane"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start hardening-controlplane");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let kubeconfig = line
        .trim()
        .strip_prefix("export KUBECONFIG=")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
    let dir = Path::new(kubeconfig).parent().unwrap().to_path_buf();
    assert!(!processes_using(&dir).is_empty(), "no component running");
    (child, dir)
}

#[test]
fn ctrl_c_stops_everything_and_removes_the_directory() {
    let (mut child, dir) = start_cli();
    // What a terminal does on Ctrl-C: SIGINT to the whole foreground process group.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGINT) };
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
    wait_until_gone(&dir, Duration::from_secs(15)).unwrap();
}

#[test]
fn sigkill_of_the_owner_still_stops_everything_and_removes_the_directory() {
    let (mut child, dir) = start_cli();
    child.kill().unwrap(); // SIGKILL: no handler, no exit hook runs; the reaper must act.
    child.wait().unwrap();
    wait_until_gone(&dir, Duration::from_secs(15)).unwrap();
}
