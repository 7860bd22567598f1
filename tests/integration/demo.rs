//! `./demo.sh` as a newcomer runs it, on a busy machine: port 8080 taken (as by another
//! service), and once with an operator that cannot start, whose own words must reach the
//! screen. The demo starts a control plane of its own (free loopback ports) and removes it.

use std::path::Path;
use std::process::Command;

fn demo(envs: &[(&str, &str)]) -> (bool, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut command = Command::new("timeout");
    command
        .arg("600")
        .arg(root.join("demo.sh"))
        .current_dir(&root)
        .env_remove("HARDENING_CONFIG");
    for (key, value) in envs {
        command.env(key, value);
    }
    let output = command.output().expect("demo.sh runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // Without the terminal's colours.
    let mut plain = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    (output.status.success(), plain)
}

#[test]
fn the_demo_runs_with_port_8080_taken_and_says_which_kubectl_to_use() {
    // Held for the whole demo, if nothing holds it already.
    let _busy = std::net::TcpListener::bind("0.0.0.0:8080").ok();
    assert!(
        std::net::TcpListener::bind("127.0.0.1:8080").is_err(),
        "port 8080 is busy during the demo"
    );
    let (ok, out) = demo(&[]);
    assert!(ok, "the demo failed:\n{out}");
    for expected in [
        "export KUBECONFIG=",
        "alias kubectl=",
        "ready: http://127.0.0.1:",
        "violates PodSecurity \"restricted:latest\"",
        "is not from an allowed registry",
        "pods quota now: 20",
        "guardrail requireProfiles (BSI SYS.1.6 (2023) A21): container app does not run under the profile's seccomp profile",
    ] {
        assert!(
            out.contains(expected),
            "the demo did not show {expected:?}:\n{out}"
        );
    }
}

#[test]
fn the_demo_shows_the_operators_own_words_when_it_cannot_start() {
    let (ok, out) = demo(&[("HARDENING_CONFIG", "/nonexistent/operator.yaml")]);
    assert!(!ok, "the demo succeeded without an operator:\n{out}");
    assert!(
        out.contains("demo.sh: the operator stopped (its log is below)"),
        "{out}"
    );
    assert!(
        out.contains("--- last lines of operator.log ---")
            && out.contains("/nonexistent/operator.yaml: cannot read"),
        "the operator's log is not shown:\n{out}"
    );
}
