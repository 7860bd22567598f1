//! The local control plane's audit log of writes (`ControlPlane::audit_log`), read by the
//! tests that count what the operator writes.

use std::path::Path;

use serde_json::Value;

/// How many lines the audit log at `path` has now: the mark to count writes from.
pub fn audit_lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .count()
}

/// Write requests after line `from` that touch `namespace` (or objects in it) or `profile`.
pub fn writes_since(path: &Path, from: usize, namespace: &str, profile: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .skip(from)
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|e| e["stage"] == "ResponseComplete")
        // A server-side dry-run (the operator's admission check) changes nothing.
        .filter(|e| {
            !e["requestURI"]
                .as_str()
                .is_some_and(|uri| uri.contains("dryRun="))
        })
        .filter(|e| {
            let obj = &e["objectRef"];
            obj["namespace"] == namespace
                || (obj["resource"] == "namespaces" && obj["name"] == namespace)
                || (obj["resource"] == "hardeningprofiles" && obj["name"] == profile)
        })
        .map(|e| {
            format!(
                "{} {} {}/{} {}",
                e["verb"],
                e["objectRef"]["resource"],
                e["objectRef"]["namespace"],
                e["objectRef"]["name"],
                e["objectRef"]["subresource"]
            )
        })
        .collect()
}
