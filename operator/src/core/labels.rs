//! Names the operator writes onto cluster objects. One place, so the controller, the renderer
//! and the tests cannot disagree about a spelling.

/// Field manager for every server-side apply the operator sends.
pub const FIELD_MANAGER: &str = "hardening-operator";

/// Standard label marking objects the operator manages (children are watched by it).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_VALUE: &str = "hardening-operator";

/// Label on every generated object naming the `HardeningProfile` it came from.
pub const PROFILE_LABEL: &str = "hardening.dev/profile";

/// Annotation on a namespace naming the `HardeningProfile` that currently governs it.
pub const PROFILE_ANNOTATION: &str = "hardening.dev/profile";

/// Annotation on a governed namespace: the fingerprint of everything its profile rendered
/// there (`render::fingerprint`), written once all of it is applied.
pub const RENDERED_ANNOTATION: &str = "hardening.dev/rendered";

/// Finalizer on a profile while its generated objects may still need cleaning up.
pub const CLEANUP_FINALIZER: &str = "hardening.dev/cleanup";

/// Pod Security Admission namespace labels.
pub mod pod_security {
    pub const ENFORCE: &str = "pod-security.kubernetes.io/enforce";
    pub const ENFORCE_VERSION: &str = "pod-security.kubernetes.io/enforce-version";
    pub const AUDIT: &str = "pod-security.kubernetes.io/audit";
    pub const AUDIT_VERSION: &str = "pod-security.kubernetes.io/audit-version";
    pub const WARN: &str = "pod-security.kubernetes.io/warn";
    pub const WARN_VERSION: &str = "pod-security.kubernetes.io/warn-version";

    /// Every Pod Security label key, so callers can tell ours from other labels.
    pub const ALL: [&str; 6] = [
        ENFORCE,
        ENFORCE_VERSION,
        AUDIT,
        AUDIT_VERSION,
        WARN,
        WARN_VERSION,
    ];
}

/// Label the API server sets on every namespace to its own name (since Kubernetes 1.21).
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";
