//! How much memory the operator's pod index (`status.unconfinedPods`) holds per pod:
//! indexes N synthetic pods (two containers each, typical names) and prints the growth of
//! the process's resident memory.
//!
//!   cargo run --release -p hardening-operator --example pod_index_footprint [-- PODS]

use hardening_operator::core::workloads::{PodIndex, PodView};
use kube::runtime::watcher;

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn pod(i: usize) -> PodView {
    serde_json::from_value(serde_json::json!({
        "metadata": {
            "namespace": format!("team-{:04}", i % 2_000),
            "name": format!("checkout-service-7d9f8b6c5d-{i:06}"),
        },
        "spec": {
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {"name": "checkout-service"},
                {"name": "istio-proxy", "securityContext": {
                    "seccompProfile": {"type": "Localhost", "localhostProfile": "hardening.dev/strict.json"}}},
            ],
        },
    }))
    .expect("pod")
}

fn main() {
    let pods: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("PODS must be a number"))
        .unwrap_or(100_000);
    let mut index = PodIndex::default();
    let before = resident_bytes();
    index.apply(&watcher::Event::Init);
    for i in 0..pods {
        index.apply(&watcher::Event::InitApply(pod(i)));
    }
    index.apply(&watcher::Event::InitDone);
    let after = resident_bytes();
    let grown = after.saturating_sub(before);
    println!(
        "{} pods in 2,000 namespaces: resident memory grew {:.1} MiB, {} bytes per pod",
        index.len(),
        grown as f64 / (1024.0 * 1024.0),
        grown / pods.max(1) as u64
    );
}
