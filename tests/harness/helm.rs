//! helm for the chart tests: built once per machine from the Go module proxy by
//! `tests/controlplane/build-helm.sh` and cached next to the Kubernetes binaries.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// Runs `tests/controlplane/build-helm.sh` (a no-op once helm is cached) once per process
/// and returns the path it prints. `HARDENING_HELM` names a helm binary and skips the
/// script.
pub fn helm_binary() -> Result<PathBuf, String> {
    static HELM: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    HELM.get_or_init(|| {
        if let Ok(path) = std::env::var("HARDENING_HELM") {
            return Ok(PathBuf::from(path));
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/controlplane/build-helm.sh");
        let output = Command::new("bash")
            .arg(script)
            .stdin(Stdio::null())
            // Progress of a first build goes straight to the terminal.
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("running {script}: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "building helm failed ({script}: {}); run it by hand to see the full output",
                output.status
            ));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let path = stdout.lines().last().unwrap_or_default().trim();
        Ok(PathBuf::from(path))
    })
    .clone()
}
