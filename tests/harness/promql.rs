//! promql-check for the dashboard and alert tests: Prometheus' own PromQL parser, built once
//! per machine from the Go module proxy by `tests/controlplane/build-promql.sh` and cached
//! next to helm and the Kubernetes binaries.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde::Deserialize;

/// What the parser says about one expression.
#[derive(Clone, Debug, Deserialize)]
pub struct Parsed {
    pub expr: String,
    /// The parse error; `None` when the expression parses.
    #[serde(default)]
    pub error: Option<String>,
    /// The metric names its selectors name (`name{...}`, `{__name__="name"}`).
    pub metrics: Vec<String>,
}

/// Runs `tests/controlplane/build-promql.sh` (a no-op once built) once per process and
/// returns the path it prints. `HARDENING_PROMQL` names a promql-check binary and skips
/// the script.
pub fn promql_check_binary() -> Result<PathBuf, String> {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            crate::cached_by_script(
                "controlplane/build-promql.sh",
                "HARDENING_PROMQL",
                "building promql-check",
            )
        })
        .clone()
}

/// Parses every expression with Prometheus' parser, in order.
pub fn parse(exprs: &[String]) -> Result<Vec<Parsed>, String> {
    let binary = promql_check_binary()?;
    let mut child = Command::new(&binary)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running {}: {e}", binary.display()))?;
    let input = serde_json::to_vec(exprs).expect("strings serialise");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(&input)
        .map_err(|e| format!("writing to promql-check: {e}"))?;
    let output = child
        .wait_with_output()
        .map_err(|e| format!("waiting for promql-check: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "promql-check failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let parsed: Vec<Parsed> = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("reading promql-check's answer: {e}"))?;
    if parsed.len() != exprs.len() {
        return Err(format!(
            "promql-check answered {} for {}",
            hardening_operator::core::plural::count(parsed.len(), "time"),
            hardening_operator::core::plural::count(exprs.len(), "expression")
        ));
    }
    Ok(parsed)
}
