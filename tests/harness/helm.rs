//! helm for the chart tests: built once per machine from the Go module proxy by
//! `tests/controlplane/build-helm.sh` and cached next to the Kubernetes binaries.

use std::path::PathBuf;
use std::sync::OnceLock;

/// Runs `tests/controlplane/build-helm.sh` (a no-op once helm is cached) once per process
/// and returns the path it prints. `HARDENING_HELM` names a helm binary and skips the
/// script.
pub fn helm_binary() -> Result<PathBuf, String> {
    static HELM: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    HELM.get_or_init(|| {
        crate::cached_by_script(
            "controlplane/build-helm.sh",
            "HARDENING_HELM",
            "building helm",
        )
    })
    .clone()
}
