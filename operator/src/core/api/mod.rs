//! The `HardeningProfile` custom resource (`hardening.dev/v1alpha1`): what users declare,
//! what the operator reports back, and the checks on it that the CRD schema cannot express.
//!
//! Doc comments on the spec types become the CRD field descriptions (`kubectl explain`).

mod confinement;
mod exception;
pub mod resource_names;
mod schema;
mod selection;
mod structural;
mod validation;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use confinement::{
    APPARMOR_PATH_PATTERN, AppArmorBaseline, AppArmorCapabilities, AppArmorNetwork, AppArmorPreset,
    AppArmorSpec, Capability, LocalhostProfile, SYSCALL_NAME_PATTERN, SeccompAction, SeccompArch,
    SeccompBaseline, SeccompDenyRule, SeccompSpec, WorkloadSecurityContext, apparmor_path_problem,
    is_syscall_name, workload_security_context,
};
pub use exception::{
    ActiveException, EXPIRES_NOT_BEFORE, EXPIRES_PATTERN, ExceptionNamespaces, ExceptionState,
    ExceptionsStatus, GUARDRAIL_RULES, GUARDRAIL_SETTINGS, HardeningException,
    HardeningExceptionSpec, HardeningExceptionStatus, MAX_ACTIVE_EXCEPTIONS, MAX_EXCEPTION_TEXT,
    PROFILE_NAME_PATTERN, RuleScope, rule_scope, rules_judging,
};
pub(crate) use selection::selector_matches;
pub use selection::{SYSTEM_NAMESPACES, Selection, outranks, selection, selects, winner};
pub use structural::{check_exception_manifest, check_manifest};
pub use validation::{ValidationError, expiry, validate, validate_exception};

/// Most namespaces listed one by one in the status; the rest are only counted.
pub const MAX_LISTED_NAMESPACES: usize = 20;
/// Most drift entries listed per namespace in the status.
pub const MAX_LISTED_DRIFT: usize = 10;
/// Longest `expected`/`actual`/`field` text kept in a status drift entry.
pub const MAX_DRIFT_TEXT_CHARS: usize = 256;
/// Most evidence entries listed per requirement in `status.compliance`.
pub const MAX_LISTED_EVIDENCE: usize = 3;

/// Hardening declared once and enforced in every selected namespace: Pod Security Admission
/// labels, NetworkPolicies, a ResourceQuota and a LimitRange (BSI IT-Grundschutz SYS.1.6 and
/// APP.4.4, edition 2023).
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "hardening.dev",
    version = "v1alpha1",
    kind = "HardeningProfile",
    status = "HardeningProfileStatus",
    shortname = "hp",
    category = "hardening",
    derive = "PartialEq",
    doc = "HardeningProfile declares Pod Security, network isolation and resource limits that the hardening operator enforces in every namespace it selects, and reports drift from them.",
    validation = Rule::new("size(self.metadata.name) <= 63")
        .message("metadata.name must be at most 63 characters: generated objects carry it as a label value"),
    printcolumn(name = "Mode", type_ = "string", json_path = ".spec.mode"),
    printcolumn(name = "Selected", type_ = "integer", json_path = ".status.selectedNamespaces"),
    printcolumn(name = "In-Sync", type_ = "integer", json_path = ".status.inSyncNamespaces"),
    printcolumn(name = "Drifted", type_ = "integer", json_path = ".status.driftedNamespaces"),
    printcolumn(name = "Conflicts", type_ = "integer", json_path = ".status.conflictingNamespaces"),
    printcolumn(name = "Unconfined-Pods", type_ = "integer", json_path = ".status.unconfinedPods"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct HardeningProfileSpec {
    /// Namespaces this profile applies to, by their labels. `{}` selects every namespace.
    /// When several profiles select a namespace, the one with the highest priority governs it
    /// (ties: the alphabetically first name); the others report it as a conflict.
    pub namespace_selector: LabelSelector,

    /// Namespaces never touched by this profile, even when the selector matches them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 256),
        inner(length(max = 63), regex(pattern = NAMESPACE_NAME_PATTERN)),
        extend("x-kubernetes-list-type" = "set")
    )]
    pub excluded_namespaces: Vec<String>,

    /// `Enforce` writes and repairs the generated objects; `Audit` only reports how selected
    /// namespaces differ from the profile and changes nothing.
    #[serde(default)]
    pub mode: Mode,

    /// Decides between several profiles selecting the same namespace: the highest wins, ties
    /// go to the alphabetically first profile name. -1000 to 1000.
    #[serde(default)]
    #[schemars(range(min = -1000, max = 1000))]
    pub priority: i32,

    /// What happens to generated objects and namespace labels when the profile is deleted or
    /// stops selecting a namespace: `Delete` removes them, `Orphan` leaves them in place.
    #[serde(default)]
    pub cleanup_policy: CleanupPolicy,

    /// Pod Security Admission levels set as namespace labels (BSI SYS.1.6 (2023) A5, A10, A16,
    /// A17, A18, A19; APP.4.4 (2023) A4, A7, A13).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_security: Option<PodSecurity>,

    /// NetworkPolicies generated in each namespace (BSI SYS.1.6 (2023) A5, A21; APP.4.4 (2023)
    /// A7, A18).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_policy: Option<NetworkPolicyRules>,

    /// A ResourceQuota generated in each namespace, named `hardening-quota` (caps the
    /// namespace as a whole; BSI SYS.1.6 (2023) A15 asks for limits per container: see
    /// `limitRange`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_quota: Option<ResourceQuotaSpec>,

    /// A LimitRange generated in each namespace, named `hardening-limits` (BSI SYS.1.6 (2023)
    /// A15: CPU and memory per container).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_range: Option<LimitRangeSpec>,

    /// A seccomp profile (allowed system calls) for the workloads of selected namespaces,
    /// rendered as the OCI/Docker JSON file a node loads as a `Localhost` profile
    /// (BSI SYS.1.6 (2023) A21).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<SeccompSpec>,

    /// An AppArmor profile (files, network, capabilities) for the workloads of selected
    /// namespaces, named `hardening.dev-<profile>` (BSI SYS.1.6 (2023) A21).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apparmor: Option<AppArmorSpec>,

    /// Admission rules beyond Pod Security, enforced by the API server itself through a
    /// generated ValidatingAdmissionPolicy and its binding (no webhook): `Deny` in
    /// `Enforce` mode, `Warn` and `Audit` in `Audit` mode (BSI SYS.1.6 (2023) A5, A6, A10,
    /// A23; APP.4.4 (2023) A7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrails: Option<Guardrails>,

    /// What every node must have (host hardening; BSI APP.4.4.A4, SYS.1.6.A17): the node
    /// agent publishes each node's kubelet configuration and `status.nodeInfo`, and the
    /// status says which nodes fall short of what is set here. Nothing is enforced on nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_baseline: Option<NodeBaseline>,
}

impl HardeningProfileSpec {
    /// What the nodes must have: `nodeBaseline`, with `userNamespaces` when the guardrails
    /// require user namespaces (pods with `hostUsers: false` run only where nodes support
    /// them).
    pub fn effective_node_baseline(&self) -> Option<NodeBaseline> {
        let user_namespaces = self
            .guardrails
            .as_ref()
            .is_some_and(|g| g.require_user_namespaces);
        match (&self.node_baseline, user_namespaces) {
            (None, false) => None,
            (Some(b), _) => Some(NodeBaseline {
                user_namespaces: b.user_namespaces || user_namespaces,
                ..b.clone()
            }),
            (None, true) => Some(NodeBaseline {
                user_namespaces: true,
                ..NodeBaseline::default()
            }),
        }
    }
}

/// The kubelet settings and versions nodes must have; each unset field is not checked.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NodeBaseline {
    /// The kubelet gives every container without a seccomp profile `RuntimeDefault`
    /// (`seccompDefault: true`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub seccomp_default: bool,
    /// The kubelet limits the processes of each pod (`podPidsLimit`) to at most this many
    /// (1 to 4194304).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4194304))]
    pub max_pod_pids: Option<i64>,
    /// Anonymous requests to the kubelet's API are refused
    /// (`authentication.anonymous.enabled: false`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_anonymous_auth: bool,
    /// The kubelet's unauthenticated read-only port is off (`readOnlyPort: 0`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_read_only_port: bool,
    /// The lowest kernel version allowed, compared number by number (`5.15` allows
    /// `6.1.0-28-amd64`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("self.matches('^[0-9]+(\\\\.[0-9]+)*$')").message("minKernelVersion must be numbers separated by dots, such as 5.15"))]
    pub min_kernel_version: Option<String>,
    /// The container runtimes allowed, each with its lowest version, by the name in
    /// `status.nodeInfo.containerRuntimeVersion` (`containerd://1.7.2`): e.g.
    /// `{containerd: "1.7", cri-o: "1.30"}`. A node with another runtime falls short.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::runtime_versions")]
    pub container_runtimes: BTreeMap<String, String>,
    /// The node can run pods with `hostUsers: false` (user namespaces): its container
    /// runtime says so in the Node's `status.runtimeHandlers` (containerd 2.0+, CRI-O 1.25+,
    /// with runc 1.2+ or crun 1.9+) and its kernel is Linux 6.3 or newer (idmap mounts on
    /// tmpfs). Implied by `guardrails.requireUserNamespaces`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub user_namespaces: bool,
}

/// Rules the API server checks for every pod, `kubectl exec`/`attach` and NetworkPolicy in
/// the namespaces the profile governs. Each rule is off unless set.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Guardrails {
    /// Registries images must come from (BSI SYS.1.6 (2023) A6, A10): an image is admitted
    /// when, read as container runtimes pull it, it starts with an entry followed by `/`, e.g.
    /// `registry.example.com` or `registry.example.com/team`. A short name is on docker.io:
    /// `busybox` is pulled as `docker.io/library/busybox`, `harbor/app` as
    /// `docker.io/harbor/app`; so every entry starts with a registry host (a name with a dot
    /// or a port, or `localhost`). Empty: any registry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 32),
        inner(length(min = 1, max = 253), regex(pattern = REGISTRY_PATTERN)),
        extend("x-kubernetes-list-type" = "set")
    )]
    #[x_kube(validation = Rule::new(REGISTRY_HOST_RULE).message(REGISTRY_HOST_MESSAGE))]
    pub allowed_registries: Vec<String>,
    /// Reject images without a tag or tagged `latest`, unless pinned by digest
    /// (`image@sha256:...`), so that every image carries a version (BSI SYS.1.6 (2023) A6).
    #[serde(default, skip_serializing_if = "is_false")]
    pub require_image_tag: bool,
    /// Reject images not pinned by digest (`image@sha256:...`) (BSI SYS.1.6 (2023) A6).
    #[serde(default, skip_serializing_if = "is_false")]
    pub require_image_digest: bool,
    /// Reject containers (init and ephemeral ones included) without
    /// `securityContext.readOnlyRootFilesystem: true` (BSI SYS.1.6 (2023) A23).
    #[serde(default, skip_serializing_if = "is_false")]
    pub require_read_only_root_filesystem: bool,
    /// Reject every way into a running container: `kubectl exec` and `kubectl attach` (the
    /// CONNECT requests on `pods/exec` and `pods/attach`) and ephemeral containers (`kubectl
    /// debug`, whatever their image). No BSI requirement asks for this (SYS.1.6 (2023) A16
    /// wants administration through the container runtime, which `kubectl exec` is): a rule
    /// of the profile's own.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deny_exec: bool,
    /// Reject `kubectl port-forward` (CONNECT on `pods/portforward`): it reaches container
    /// ports from outside the cluster past the NetworkPolicies. Leaving it allowed lets anyone
    /// with that right reach any container port of the namespace.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deny_port_forward: bool,
    /// Reject the `pods/proxy` subresource (the API server proxying HTTP to a container
    /// port), which likewise reaches container ports past the NetworkPolicies. Leaving it
    /// allowed lets anyone with that right send HTTP requests to any container port.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deny_pod_proxy: bool,
    /// Reject NetworkPolicies with a rule allowing traffic in a direction the profile's
    /// `networkPolicy` isolates, beyond what the profile itself allows (BSI SYS.1.6 (2023) A5;
    /// APP.4.4 (2023) A7: only selected administrators change network rules). The
    /// check is conservative: every peer and port of a rule must be one the profile allows
    /// (the same namespace with `allowSameNamespace`, the cluster DNS with `allowDns`, or a
    /// peer of one of its rules, as restrictive or more, on ports within that rule's).
    #[serde(default, skip_serializing_if = "is_false")]
    pub deny_widening_network_policies: bool,
    /// Reject containers (init and ephemeral ones included) that do not run under the
    /// profile's own seccomp profile (`Localhost hardening.dev/<profile>.json`, with
    /// `spec.seccomp`) and AppArmor profile (`Localhost hardening.dev-<profile>`, with
    /// `spec.apparmor`), set on the container or the pod (BSI SYS.1.6 (2023) A21). Needs
    /// `spec.seccomp` or `spec.apparmor`. Another Localhost profile is not accepted: its
    /// content is on the nodes, so the API server cannot tell whether it is stricter.
    #[serde(default, skip_serializing_if = "is_false")]
    pub require_profiles: bool,
    /// Reject pods without `hostUsers: false`: each pod then gets a user namespace, so a
    /// container's root is not the host's (BSI SYS.1.6 (2023) A18; APP.4.4 (2023) A4). Nodes
    /// need a container runtime that supports it (containerd 2.0+ or CRI-O 1.25+, with runc
    /// 1.2+ or crun 1.9+) and Linux 6.3+; the kubelet refuses such pods elsewhere. The node
    /// agent reports each node's support.
    #[serde(default, skip_serializing_if = "is_false")]
    pub require_user_namespaces: bool,
    /// Reject containers with a literal `env` value (not `valueFrom`) under a name matching
    /// `secretEnvNamePattern`: credentials belong in Secrets (BSI SYS.1.6 (2023) A8).
    #[serde(default, skip_serializing_if = "is_false")]
    pub deny_secret_env_literals: bool,
    /// The names `denySecretEnvLiterals` treats as secret-like (an RE2 regular expression,
    /// matched anywhere in the name). Unset: `(?i)(passw(or)?d|secret|token|api[-_]?key|private[-_]?key|credential|access[-_]?key)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub secret_env_name_pattern: Option<String>,
    /// Reject pods that get a service account token without asking for one: the pod must set
    /// `automountServiceAccountToken: false` and project no token, unless it carries the
    /// annotation `hardening.dev/service-account-token: "true"` (a pod that calls the
    /// Kubernetes API) (BSI APP.4.4 (2023) A9).
    #[serde(default, skip_serializing_if = "is_false")]
    pub deny_service_account_token: bool,
    /// Reject pods on the `default` service account (also when `serviceAccountName` is
    /// unset) (BSI APP.4.4 (2023) A9).
    #[serde(default, skip_serializing_if = "is_false")]
    pub deny_default_service_account: bool,
    /// Warn (never reject, in either mode) about containers that look like they run more than
    /// one service: more than one container port, or a process supervisor (`supervisord`,
    /// `s6-svscan`, `runsvdir`, ...) as command. A heuristic (BSI SYS.1.6 (2023) A11).
    #[serde(default, skip_serializing_if = "is_false")]
    pub one_service_per_container: bool,
    /// Reject pods no controller owns (no `ownerReferences` entry with `controller: true`):
    /// bare pods are not restarted elsewhere when their node fails (BSI SYS.1.6 (2023) A25).
    #[serde(default, skip_serializing_if = "is_false")]
    pub require_controller: bool,
    /// Reject containers without a `livenessProbe` and a `readinessProbe` (not init or
    /// ephemeral containers, nor pods a Job owns) (BSI APP.4.4 (2023) A11).
    #[serde(default, skip_serializing_if = "is_false")]
    pub require_probes: bool,
    /// Workloads whose pod template carries the label `hardening.dev/high-availability:
    /// "true"` are highly available: a Deployment, StatefulSet or ReplicaSet with fewer than 2
    /// replicas is rejected, and running pods with the label that no PodDisruptionBudget
    /// selects, or whose controller runs fewer than 2 of them, are reported (BSI SYS.1.6
    /// (2023) A25; APP.4.4 (2023) A19).
    #[serde(default, skip_serializing_if = "is_false")]
    pub high_availability: bool,
    /// Reject volume mounts without `readOnly: true`, but of the `scratchVolumes` (BSI SYS.1.6
    /// (2023) A19, A23).
    #[serde(default, skip_serializing_if = "is_false")]
    pub require_read_only_mounts: bool,
    /// Volumes a container may mount writable under `requireReadOnlyMounts`, by name, when
    /// they are `emptyDir` or `ephemeral` volumes (scratch space gone with the pod).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 32),
        inner(length(max = 63), regex(pattern = NAMESPACE_NAME_PATTERN)),
        extend("x-kubernetes-list-type" = "set")
    )]
    pub scratch_volumes: Vec<String>,
    /// Reject volume mounts with a `mountPropagation` other than `None`: mounts made on the
    /// host would appear in the container, or the container's on the host (BSI SYS.1.6
    /// (2023) A19).
    #[serde(default, skip_serializing_if = "is_false")]
    pub deny_mount_propagation: bool,
}

/// The secret-like `env` names `denySecretEnvLiterals` looks for when the profile sets no
/// `secretEnvNamePattern` (RE2, matched anywhere in the name).
pub const DEFAULT_SECRET_ENV_NAME_PATTERN: &str =
    "(?i)(passw(or)?d|secret|token|api[-_]?key|private[-_]?key|credential|access[-_]?key)";

/// The annotation with which a pod asks for a service account token under
/// `denyServiceAccountToken` (value `"true"`).
pub const SERVICE_ACCOUNT_TOKEN_ANNOTATION: &str = "hardening.dev/service-account-token";

/// The pod template label marking a highly available workload under `highAvailability`
/// (value `"true"`).
pub const HIGH_AVAILABILITY_LABEL: &str = "hardening.dev/high-availability";

impl Guardrails {
    /// The pattern `denySecretEnvLiterals` applies.
    pub fn secret_env_name_pattern(&self) -> &str {
        self.secret_env_name_pattern
            .as_deref()
            .unwrap_or(DEFAULT_SECRET_ENV_NAME_PATTERN)
    }
}

/// Every allow-list entry starts with a registry host, as container runtimes tell one from
/// a path: a first component with a dot or a port, or `localhost` (anything else is a
/// namespace on docker.io), and not `index.docker.io` (which runtimes call `docker.io`).
pub const REGISTRY_HOST_RULE: &str = "self.all(r, (r.split('/')[0].contains('.') || r.split('/')[0].contains(':') || r.split('/')[0] == 'localhost') && r.split('/')[0] != 'index.docker.io')";
pub const REGISTRY_HOST_MESSAGE: &str = "every entry must start with a registry host as container runtimes read image names: a name with a dot or a port (registry.example.com, registry:5000) or localhost; a first part without them is a namespace on docker.io (write docker.io/harbor for harbor), and index.docker.io is written docker.io";

/// A namespace name (a DNS label), as `excludedNamespaces` entries must be.
pub const NAMESPACE_NAME_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// A registry host (with an optional port) and optional path, without a trailing `/`.
pub const REGISTRY_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]([-a-z0-9._]*[a-z0-9])?)*$";

fn is_false(value: &bool) -> bool {
    !*value
}

/// Whether the operator changes namespaces or only reports on them.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Mode {
    /// Apply the generated objects and repair drift.
    #[default]
    Enforce,
    /// Report differences only; never write to selected namespaces.
    Audit,
}

/// What happens to generated objects when they are no longer wanted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum CleanupPolicy {
    /// Delete generated objects and remove the namespace labels the profile set.
    #[default]
    Delete,
    /// Leave generated objects and labels in place.
    Orphan,
}

/// Pod Security Admission modes; each one set becomes a pair of namespace labels
/// (`pod-security.kubernetes.io/<mode>` and `<mode>-version`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(validation = Rule::new("has(self.enforce) || has(self.audit) || has(self.warn)")
    .message("podSecurity must set at least one of enforce, audit or warn"))]
#[serde(rename_all = "camelCase")]
pub struct PodSecurity {
    /// Pods violating this level are rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforce: Option<PodSecurityStandard>,
    /// Violations are recorded in the API server audit log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<PodSecurityStandard>,
    /// Violations are returned to the client as warnings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<PodSecurityStandard>,
}

/// A Pod Security Standard level, optionally pinned to the policy of a Kubernetes minor version.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodSecurityStandard {
    /// `privileged`, `baseline` or `restricted`.
    pub level: PodSecurityLevel,
    /// Policy version: `latest` or a Kubernetes minor such as `v1.33` (no leading zeros, as
    /// Pod Security Admission parses it). Unset means `latest` (the operator still writes
    /// the `-version` label, so a changed label shows as drift).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = POD_SECURITY_VERSION_PATTERN))]
    pub version: Option<String>,
}

/// A Pod Security Admission policy version: `latest` or `v1.<minor>`, the minor without
/// leading zeros and small enough for the admission plugin's integer parsing.
pub const POD_SECURITY_VERSION_PATTERN: &str = r"^(latest|v1\.(0|[1-9][0-9]{0,17}))$";

/// Pod Security Standard levels, from least to most restrictive.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum PodSecurityLevel {
    /// No restrictions.
    Privileged,
    /// Prevents known privilege escalations (no host namespaces, no privileged containers).
    Baseline,
    /// Current hardening best practice: non-root, no privilege escalation, ALL capabilities
    /// dropped, seccomp RuntimeDefault.
    Restricted,
}

impl PodSecurityLevel {
    /// The label value Pod Security Admission expects.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Privileged => "privileged",
            Self::Baseline => "baseline",
            Self::Restricted => "restricted",
        }
    }
}

/// Network isolation for every pod of a selected namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("!has(self.sameNamespace) || size(self.sameNamespace) == 0 || !has(self.allowSameNamespace) || !self.allowSameNamespace")
    .message("sameNamespace narrows the traffic inside the namespace: set allowSameNamespace: false with it (true opens every port between every pod)"))]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicyRules {
    /// Directions denied unless an allow rule matches (policy `hardening-default-deny`).
    /// Defaults to both; `[]` generates no default-deny policy. Listing `ingress` or
    /// `egress` rules isolates pods in that direction anyway (NetworkPolicy semantics).
    #[serde(default = "both_directions")]
    #[schemars(length(max = 2), extend("x-kubernetes-list-type" = "set"))]
    pub default_deny: Vec<PolicyType>,

    /// Allow DNS (UDP and TCP port 53) to the cluster DNS pods (`k8s-app: kube-dns` in
    /// namespace `kube-system`). Generated only while egress is isolated
    /// (policy `hardening-allow-dns`).
    #[serde(default = "enabled")]
    pub allow_dns: bool,

    /// Allow traffic between pods of the same namespace in every isolated direction
    /// (policy `hardening-allow-same-namespace`).
    #[serde(default = "enabled")]
    pub allow_same_namespace: bool,

    /// The port- and label-scoped form of `allowSameNamespace` (micro-segmentation, BSI
    /// APP.4.4.A18): only these connections between pods of the namespace, in every
    /// isolated direction (policies `hardening-same-namespace-<n>-in` and `-out`). Needs
    /// `allowSameNamespace: false`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub same_namespace: Vec<SameNamespaceRule>,

    /// Allowed incoming connections (policy `hardening-allow-ingress`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub ingress: Vec<IngressRule>,

    /// Allowed outgoing connections (policy `hardening-allow-egress`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub egress: Vec<EgressRule>,

    /// Networks no pod of the namespace may reach (BSI SYS.1.6.A5, APP.4.4.A7: the
    /// administration of nodes and control plane, cloud metadata), in addition to the
    /// operator's `--protected-networks` (by default the cloud metadata addresses
    /// 169.254.169.254/32 and fd00:ec2::254/128). Every generated egress allow-list leaves
    /// them out (`ipBlock.except`, or the ports outside the protected ones), egress that
    /// the profile does not isolate is isolated to everything but them (policy
    /// `hardening-protect-networks`), a tenant NetworkPolicy rule reaching one is reported,
    /// and with `guardrails.denyWideningNetworkPolicies` rejected.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub protected_networks: Vec<ProtectedNetwork>,

    /// Also render the default deny and the protected networks as ClusterNetworkPolicies
    /// (`policy.networking.k8s.io/v1alpha2`, where the cluster's network plugin serves
    /// them): `hardening.dev-<profile>-admin` denies the protected networks in the Admin
    /// tier (no NetworkPolicy can allow them again), `hardening.dev-<profile>-baseline`
    /// denies the isolated directions in the Baseline tier; both select the governed
    /// namespaces by label, so they hold before a namespace's first pod.
    #[serde(default, skip_serializing_if = "is_false")]
    pub cluster_network_policy: bool,
}

/// Connections allowed between pods of the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SameNamespaceRule {
    /// The pods receiving, by label; unset: every pod of the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<LabelSelector>,
    /// The pods connecting, by label; unset: every pod of the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<LabelSelector>,
    /// Destination ports allowed; empty: every port.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub ports: Vec<Port>,
}

/// A network pods must not reach: an IP range, on every port or only on the given ones.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ProtectedNetwork {
    /// IP range in CIDR notation, a network address (`10.0.0.0/16`, `169.254.169.254/32`,
    /// `fd00:ec2::254/128`).
    #[schemars(length(max = 64))]
    #[x_kube(
        validation = Rule::new("isCIDR(self)").message("cidr must be a CIDR such as 10.0.0.0/16 or fd00:ec2::254/128"),
        validation = Rule::new("!isCIDR(self) || cidr(self) == cidr(self).masked()")
            .message(Message::Expression("'cidr ' + self + ' has bits set beyond its prefix length: give the network address, such as 10.0.0.0/16 rather than 10.0.0.1/16'".into()))
    )]
    pub cidr: String,
    /// Ports protected there (e.g. SSH 22 and the kubelet's 10250); empty: every port.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub ports: Vec<Port>,
}

impl NetworkPolicyRules {
    /// Directions in which pods end up isolated: denied by default or governed by an
    /// allow-list (a NetworkPolicy with rules isolates the pods it selects).
    pub fn isolated_directions(&self) -> Vec<PolicyType> {
        [
            (PolicyType::Ingress, !self.ingress.is_empty()),
            (PolicyType::Egress, !self.egress.is_empty()),
        ]
        .into_iter()
        .filter(|(direction, has_rules)| *has_rules || self.default_deny.contains(direction))
        .map(|(direction, _)| direction)
        .collect()
    }
}

fn both_directions() -> Vec<PolicyType> {
    vec![PolicyType::Ingress, PolicyType::Egress]
}

fn enabled() -> bool {
    true
}

/// A traffic direction, as in NetworkPolicy `policyTypes`.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
pub enum PolicyType {
    Ingress,
    Egress,
}

impl PolicyType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingress => "Ingress",
            Self::Egress => "Egress",
        }
    }
}

/// Incoming traffic allowed to every pod of the namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressRule {
    /// Sources allowed; empty allows every source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub from: Vec<Peer>,
    /// Destination ports allowed; empty allows every port.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub ports: Vec<Port>,
}

/// Pods chosen by label. `podSelector` alone means pods of the same namespace;
/// `namespaceSelector` alone means every pod of the matching namespaces; both means the
/// matching pods of the matching namespaces.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(validation = Rule::new("has(self.namespaceSelector) || has(self.podSelector)")
    .message("a peer must set namespaceSelector, podSelector or both"))]
#[serde(rename_all = "camelCase")]
pub struct Peer {
    /// Namespaces, by label (`kubernetes.io/metadata.name` holds a namespace's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Pods, by label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
}

/// Outgoing traffic allowed from every pod of the namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EgressRule {
    /// Destinations allowed; empty allows every destination.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub to: Vec<EgressPeer>,
    /// Destination ports allowed; empty allows every port.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub ports: Vec<Port>,
}

/// A destination: either an IP range (`cidr`, optionally with `except`) or pods chosen by
/// label (`namespaceSelector` and/or `podSelector`, as for ingress peers).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(
    validation = Rule::new("has(self.cidr) != (has(self.namespaceSelector) || has(self.podSelector))")
        .message("an egress peer must set either cidr or namespaceSelector/podSelector, not both"),
    validation = Rule::new("!has(self.except) || has(self.cidr)")
        .message("except is only allowed together with cidr"),
    validation = Rule::new(
        "!has(self.cidr) || !has(self.except) || !isCIDR(self.cidr) || self.except.all(e, !isCIDR(e) || (cidr(self.cidr).containsCIDR(e) && cidr(e).prefixLength() > cidr(self.cidr).prefixLength()))"
    )
    .message("every except entry must be a strict subset of cidr")
)]
#[serde(rename_all = "camelCase")]
pub struct EgressPeer {
    /// IP range in CIDR notation, e.g. `10.0.0.0/8` or `2001:db8::/32`: a network address
    /// (no bits set beyond the prefix length, so `10.0.0.0/8`, not `10.0.0.1/8`), without
    /// leading zeros, not an IPv4-mapped IPv6 address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(
        validation = Rule::new("isCIDR(self)").message("cidr must be a CIDR such as 10.0.0.0/8 or 2001:db8::/32"),
        validation = Rule::new("!isCIDR(self) || cidr(self) == cidr(self).masked()")
            .message(Message::Expression("'cidr ' + self + ' has bits set beyond its prefix length: give the network address, such as 10.0.0.0/8 rather than 10.0.0.1/8'".into()))
    )]
    pub cidr: Option<String>,
    /// Ranges inside `cidr` that stay denied, network addresses as for `cidr`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(max = 64)))]
    #[x_kube(
        validation = Rule::new("self.all(e, isCIDR(e))").message("every except entry must be a CIDR such as 10.1.0.0/16"),
        validation = Rule::new("self.all(e, !isCIDR(e) || cidr(e) == cidr(e).masked())")
            .message("every except entry must be a network address without bits set beyond its prefix length, such as 10.1.0.0/16 rather than 10.1.2.3/16")
    )]
    pub except: Vec<String>,
    /// Namespaces, by label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Pods, by label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
}

/// A port or port range. Named ports are not supported: give the number.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[x_kube(validation = Rule::new("!has(self.endPort) || self.endPort >= self.port")
    .message("endPort must be greater than or equal to port"))]
#[serde(rename_all = "camelCase")]
pub struct Port {
    /// Port number, 1 to 65535.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// Last port of a range starting at `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub end_port: Option<i32>,
    /// `TCP` (default), `UDP` or `SCTP`.
    #[serde(default)]
    pub protocol: Protocol,
}

/// Transport protocol of a port.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
            Self::Sctp => "SCTP",
        }
    }
}

/// Namespace-wide caps (ResourceQuota `hard`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceQuotaSpec {
    /// Resource name to cap, e.g. `requests.cpu: "4"`, `limits.memory: 8Gi`, `pods: 50`.
    /// Names: `cpu`, `memory`, `ephemeral-storage`, `requests.`/`limits.` of those,
    /// `requests.storage`, object counts (`pods`, `services`, `secrets`, `configmaps`,
    /// `persistentvolumeclaims`, `replicationcontrollers`, `resourcequotas`,
    /// `services.nodeports`, `services.loadbalancers`), `hugepages-<size>`, or names with a
    /// domain (`count/deployments.apps`, `requests.example.com/gpu`). Object counts,
    /// `count/*` and extended resources are whole numbers.
    #[schemars(schema_with = "schema::quota_map")]
    pub hard: BTreeMap<String, Quantity>,
}

/// Per-container, per-pod and per-claim defaults and bounds (LimitRange `limits`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LimitRangeSpec {
    /// At most one entry per `type`.
    #[schemars(
        length(min = 1, max = 3),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"])
    )]
    pub limits: Vec<LimitItem>,
}

/// Bounds for one kind of object. Values are quantities per resource name: for `Container`
/// and `Pod` `cpu`, `memory`, `ephemeral-storage`, `hugepages-<size>` or extended resources
/// such as `example.com/gpu`; for `PersistentVolumeClaim` `storage` (or a name with a
/// domain). Hugepages and extended resources cannot be overcommitted: their
/// `defaultRequest` must equal the default limit.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(
    validation = Rule::new(schema::not_greater("min", "max"))
        .message("min must not exceed max for the same resource"),
    validation = Rule::new(schema::not_greater("defaultRequest", "default"))
        .message("defaultRequest must not exceed default for the same resource"),
    validation = Rule::new(schema::not_greater("default", "max"))
        .message("default must not exceed max for the same resource"),
    validation = Rule::new(schema::not_greater("defaultRequest", "max"))
        .message("defaultRequest must not exceed max for the same resource"),
    validation = Rule::new(schema::not_greater("min", "defaultRequest"))
        .message("min must not exceed defaultRequest for the same resource"),
    validation = Rule::new(schema::not_greater("min", "default"))
        .message("min must not exceed default for the same resource"),
    validation = Rule::new("self.type == 'Container' || (!has(self.default) && !has(self.defaultRequest))")
        .message("default and defaultRequest are only allowed for type Container (the LimitRanger applies them to containers only)"),
    validation = Rule::new("self.type != 'PersistentVolumeClaim' || (has(self.min) && 'storage' in self.min) || (has(self.max) && 'storage' in self.max)")
        .message("type PersistentVolumeClaim needs min.storage or max.storage"),
    validation = Rule::new(schema::limit_names())
        .message("resource names must suit the type: for Container and Pod cpu, memory, ephemeral-storage, hugepages-<size> or an extended resource such as example.com/gpu; for PersistentVolumeClaim storage or a name with a domain"),
    validation = Rule::new(schema::no_overcommit())
        .message("for hugepages and extended resources (which cannot be overcommitted) defaultRequest must equal default, or max when default is unset"),
    validation = Rule::new(schema::ratio_within_bounds())
        .message("maxLimitRequestRatio must not exceed max / min for the same resource")
)]
#[serde(rename_all = "camelCase")]
pub struct LimitItem {
    /// `Container`, `Pod` or `PersistentVolumeClaim`.
    #[serde(rename = "type")]
    pub type_: LimitType,
    /// Limits given to containers that set none (`Container` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::quantity_map")]
    pub default: Option<BTreeMap<String, Quantity>>,
    /// Requests given to containers that set none (`Container` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::quantity_map")]
    pub default_request: Option<BTreeMap<String, Quantity>>,
    /// Smallest request allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::quantity_map")]
    pub min: Option<BTreeMap<String, Quantity>>,
    /// Largest limit allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::quantity_map")]
    pub max: Option<BTreeMap<String, Quantity>>,
    /// Largest allowed limit/request ratio, at least 1 and at most `max / min`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::quantity_map")]
    #[x_kube(validation = Rule::new(schema::at_least_one("self")).message("maxLimitRequestRatio values must be at least 1"))]
    pub max_limit_request_ratio: Option<BTreeMap<String, Quantity>>,
}

/// The kind of object a LimitRange entry bounds.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
pub enum LimitType {
    Container,
    Pod,
    PersistentVolumeClaim,
}

impl LimitType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Container => "Container",
            Self::Pod => "Pod",
            Self::PersistentVolumeClaim => "PersistentVolumeClaim",
        }
    }
}

/// What the operator last observed and did. Written only by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HardeningProfileStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` and friends, each with its own observedGeneration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Namespaces the selector matches (minus excluded ones).
    #[serde(default)]
    #[schemars(schema_with = "schema::count")]
    pub selected_namespaces: u32,
    /// Selected namespaces matching the profile.
    #[serde(default)]
    #[schemars(schema_with = "schema::count")]
    pub in_sync_namespaces: u32,
    /// Selected namespaces where generated objects or labels differ from the profile.
    #[serde(default)]
    #[schemars(schema_with = "schema::count")]
    pub drifted_namespaces: u32,
    /// Selected namespaces governed by another profile with higher precedence.
    #[serde(default)]
    #[schemars(schema_with = "schema::count")]
    pub conflicting_namespaces: u32,
    /// Selected namespaces where applying the profile failed.
    #[serde(default)]
    #[schemars(schema_with = "schema::count")]
    pub failed_namespaces: u32,
    /// Drifted objects and labels repaired since the operator started.
    #[serde(default)]
    #[schemars(schema_with = "schema::count")]
    pub repairs_total: u64,
    /// Per-namespace details, at most 20, most urgent first; namespaces in sync are not listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub namespaces: Vec<NamespaceStatus>,
    /// Namespaces left out of `namespaces` because of its size limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(schema_with = "schema::count")]
    pub unlisted_namespaces: u32,
    /// Every requirement of BSI IT-Grundschutz SYS.1.6 "Containerisierung" and APP.4.4
    /// "Kubernetes" (edition 2023: IT-Grundschutz-Kompendium 2023), each with the verdict
    /// over the namespaces this profile governs (the worst of theirs): `Met`, `Partial`
    /// (what is missing), `NotMet` (why), `Organisational` (the operator neither generates
    /// nor checks anything for it) or `NotApplicable` (no namespace governed).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "lenient_compliance"
    )]
    #[schemars(length(max = 64))]
    pub compliance: Vec<RequirementStatus>,
    /// The `securityContext` fields with which pods use the seccomp and AppArmor profiles
    /// this profile declares (`Localhost` profiles a node must have installed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_security_context: Option<WorkloadSecurityContext>,
    /// Pods (not finished) in the namespaces this profile governs whose containers do not
    /// all use `workloadSecurityContext`; unset when the profile declares no seccomp or
    /// AppArmor profile or the operator does not watch pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::count")]
    pub unconfined_pods: Option<u32>,
    /// Rules of NetworkPolicies the operator did not generate, in the namespaces this
    /// profile governs, that allow traffic the profile denies; unset when the profile
    /// isolates no direction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::count")]
    pub widening_policies: Option<u32>,
    /// The newest rollout of this profile: the generation and how many namespaces the
    /// operator changed to bring them to it (setting up a namespace counts too). Changes
    /// undoing someone else's edits are repairs (`repairsTotal`), not rollouts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutStatus>,
    /// With a Pod Security `enforce` level or guardrails: existing pods in the governed
    /// namespaces that these rules reject. In Audit mode the preview of enforcing (condition
    /// `ReadyToEnforce`); in Enforce mode pods admitted before the rules were in place (before
    /// the namespace was hardened or the profile enforced), still running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::count")]
    pub would_reject_pods: Option<u32>,
    /// The generated admission objects: the ValidatingAdmissionPolicy and binding (the rules
    /// of `spec.guardrails`, and in Enforce mode the creation gate and the protection of what
    /// the operator generated) and in Enforce mode the MutatingAdmissionPolicy and binding
    /// setting Pod Security labels at namespace creation. Unset for an Audit profile without
    /// guardrails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrails: Option<GuardrailsStatus>,
    /// With `guardrails.denyExec`: who can reach containers past admission, through the
    /// kubelet's API (`get` or `create` on `nodes/proxy`, granted by a ClusterRoleBinding;
    /// the group `system:masters` left out): `denyExec` does not hold for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_proxy: Option<NodeProxySubjects>,
    /// With credential guardrails (`denySecretEnvLiterals`, `denyServiceAccountToken`,
    /// `denyDefaultServiceAccount`): who may read Secrets (`get`, `list` or `watch`) in the
    /// governed namespaces, everywhere through ClusterRoleBindings and per namespace through
    /// its RoleBindings (the group `system:masters` left out). To be reviewed: BSI SYS.1.6
    /// (2023) A8 wants only authorised persons and containers to reach access data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_readers: Option<SecretReaders>,
    /// How the nodes compare with `spec.nodeBaseline`, from what the node agent publishes;
    /// unset without a node baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_baseline: Option<NodeBaselineStatus>,
    /// Workload containers in the governed namespaces whose images have CRITICAL or HIGH
    /// vulnerabilities with a fix (BSI SYS.1.6 (2023) A6, A14), by the Trivy Operator's
    /// VulnerabilityReports; unset when the cluster has none (condition `ImagesPatched`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::count")]
    pub vulnerable_workloads: Option<u32>,
    /// The HardeningExceptions of this profile: those in force (which its admission policy
    /// reads from here), how many expire within a week, and those expired or not applied;
    /// unset when no exception names the profile (or the cluster does not serve them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exceptions: Option<ExceptionsStatus>,
}

/// The nodes against `spec.nodeBaseline`: counts, and the first that fall short.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeBaselineStatus {
    /// Nodes whose node agent published their state.
    #[schemars(schema_with = "schema::count")]
    pub nodes: u32,
    /// Of them, those that fall short of the baseline.
    #[schemars(schema_with = "schema::count")]
    pub short: u32,
    /// The first of those by name, at most 5, each with what it lacks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    pub failing: Vec<NodeShortfall>,
}

/// One node and what it lacks.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeShortfall {
    pub node: String,
    /// E.g. `seccompDefault is false; podPidsLimit is -1 (unlimited), wants at most 4096`.
    #[schemars(length(max = 1024))]
    pub missing: String,
}

/// How far the namespaces a profile governs meet one requirement.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum Verdict {
    /// Every condition holds, as far as the cluster's objects show it.
    Met,
    /// What the operator generates or checks holds; `reason` says what is missing.
    Partial,
    /// `reason` says why not.
    NotMet,
    /// Organisational, or outside what the operator generates or checks: to be assessed
    /// elsewhere; never counted as met.
    Organisational,
    /// The profile governs no namespace.
    NotApplicable,
}

impl Verdict {
    /// How bad, for the worst of several: NotMet over Partial over Met.
    pub fn severity(self) -> u8 {
        match self {
            Self::NotMet => 2,
            Self::Partial => 1,
            _ => 0,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Met => "Met",
            Self::Partial => "Partial",
            Self::NotMet => "NotMet",
            Self::Organisational => "Organisational",
            Self::NotApplicable => "NotApplicable",
        }
    }
}

/// Governed namespaces by verdict.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerdictCounts {
    #[schemars(schema_with = "schema::count")]
    pub met: u32,
    #[schemars(schema_with = "schema::count")]
    pub partial: u32,
    #[schemars(schema_with = "schema::count")]
    pub not_met: u32,
}

impl VerdictCounts {
    pub fn of(&self, verdict: Verdict) -> u32 {
        match verdict {
            Verdict::Met => self.met,
            Verdict::Partial => self.partial,
            Verdict::NotMet => self.not_met,
            _ => 0,
        }
    }
}

/// One requirement and its verdict over the namespaces a profile governs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequirementStatus {
    /// The catalogue, e.g. `BSI IT-Grundschutz SYS.1.6 Containerisierung`.
    pub catalogue: String,
    /// Its edition: the year of the IT-Grundschutz-Kompendium, `2023`.
    pub edition: String,
    /// The requirement's ID in that edition, e.g. `SYS.1.6.A5`.
    pub id: String,
    /// The requirement's title.
    pub title: String,
    /// `B` basic (MUST), `S` standard (SHOULD), `H` for elevated protection needs.
    pub level: String,
    /// `Met`, `Partial`, `NotMet`, `Organisational` or `NotApplicable`.
    pub verdict: Verdict,
    /// Why, in words: what holds, what is missing (`Partial`), why not (`NotMet`); with the
    /// first namespace and how many share the verdict when they differ.
    pub reason: String,
    /// Governed namespaces by verdict (requirements the operator assesses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<VerdictCounts>,
    /// Where it shows (namespace, object, field), at most 3.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 3))]
    pub evidence: Vec<ComplianceEvidence>,
    /// The HardeningExceptions in force that weaken this requirement in the governed
    /// namespaces, at most 5: accepted deviations, documented with owner, reason and expiry.
    /// With any, the verdict is never `Met` ("met except accepted deviations" is `Partial`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    pub accepted_deviations: Vec<AcceptedDeviation>,
}

/// A deviation from a requirement, accepted by a HardeningException.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcceptedDeviation {
    /// The HardeningException.
    pub exception: String,
    pub owner: String,
    /// Why it is accepted (cut at 256 characters).
    pub reason: String,
    /// When it ends (RFC 3339).
    pub expires: String,
    /// What it suspends: `guardrail requireReadOnlyRootFilesystem`, `Pod Security enforce
    /// baseline`.
    pub suspends: String,
    /// Governed namespaces it covers.
    #[schemars(schema_with = "schema::count")]
    pub namespaces: u32,
}

/// An object (or a field of the profile) a verdict rests on.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComplianceEvidence {
    /// The namespace; unset for the profile itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Kind of the object, e.g. `NetworkPolicy`, `Pod`, `HardeningProfile`.
    pub kind: String,
    /// Its name; unset for the profile itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The field, e.g. `spec.policyTypes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What it shows.
    pub note: String,
}

/// `status.compliance` as an older operator wrote it (a list of IDs) reads as empty, so a
/// profile with such a status stays readable until its status is rewritten.
fn lenient_compliance<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<RequirementStatus>, D::Error> {
    let values: Vec<serde_json::Value> = Vec::deserialize(deserializer)?;
    Ok(values
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect())
}

/// Most subjects listed in `status.nodeProxy`.
pub const MAX_LISTED_SUBJECTS: usize = 5;

/// Subjects that reach containers past admission (`status.nodeProxy`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeProxySubjects {
    #[schemars(schema_with = "schema::count")]
    pub count: u32,
    /// The first, sorted: `User alice`, `Group ops`, `ServiceAccount tools/ci`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5), inner(length(max = 256)))]
    pub listed: Vec<String>,
}

/// Who may read Secrets in the governed namespaces (`status.secretReaders`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretReaders {
    /// In every namespace, through a ClusterRoleBinding.
    pub cluster_wide: NodeProxySubjects,
    /// Governed namespaces whose RoleBindings let more subjects read their Secrets, the
    /// first 20 by name, each with those subjects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub namespaces: Vec<NamespaceSecretReaders>,
    /// Such namespaces beyond those listed.
    #[serde(default)]
    #[schemars(schema_with = "schema::count")]
    pub unlisted_namespaces: u32,
}

/// The subjects a namespace's RoleBindings let read its Secrets.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSecretReaders {
    #[schemars(length(max = 63))]
    pub name: String,
    #[schemars(schema_with = "schema::count")]
    pub count: u32,
    /// The first, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5), inner(length(max = 256)))]
    pub listed: Vec<String>,
}

impl NodeProxySubjects {
    /// The count and the first [`MAX_LISTED_SUBJECTS`] of `subjects`.
    pub fn of(subjects: &[String]) -> Self {
        Self {
            count: subjects.len() as u32,
            listed: subjects
                .iter()
                .take(MAX_LISTED_SUBJECTS)
                .map(|s| truncate_text(s))
                .collect(),
        }
    }
}

/// The state of a profile's admission objects (named after their policy).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GuardrailsStatus {
    /// Name of the ValidatingAdmissionPolicy and of its binding.
    pub policy: String,
    /// What the API server does with a violation: `[Deny]` (Enforce) or `[Warn, Audit]`.
    #[schemars(length(max = 3))]
    pub validation_actions: Vec<String>,
    /// `InSync`, `Drifted` (someone changed them; repaired in Enforce mode), `Failed` or
    /// `Pending`.
    pub state: NamespaceState,
    /// Why, for `Failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Differences found (Audit mode), at most 10.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub drift: Vec<DriftEntry>,
}

/// How far a profile generation has been rolled out.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// The profile generation rolled out.
    pub generation: i64,
    /// Namespaces the operator changed for this generation (objects, labels or both).
    #[schemars(schema_with = "schema::count")]
    pub updated_namespaces: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The state of one selected namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceStatus {
    /// Namespace name.
    pub name: String,
    /// `InSync`, `Drifted`, `Conflict`, `Failed` or `Pending`.
    pub state: NamespaceState,
    /// Why the namespace is in state `Failed`, as a stable reason (`ForeignObject`,
    /// `NotConverging`, `Forbidden`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why the namespace is in this state, for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Differences found, at most 10.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub drift: Vec<DriftEntry>,
    /// Pods here that do not use the profile's seccomp or AppArmor profile.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(schema_with = "schema::count")]
    pub unconfined_pods: u32,
    /// The first of them by name, at most 5.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    pub pods: Vec<UnconfinedPod>,
    /// Rules of NetworkPolicies here, not generated by the operator, that allow traffic the
    /// profile denies.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(schema_with = "schema::count")]
    pub widening_policies: u32,
    /// The first of them by policy name, at most 5.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    pub policies: Vec<WideningPolicy>,
    /// Existing pods here that the profile's Pod Security `enforce` level or its guardrails
    /// reject (Audit mode: once it enforces; Enforce mode: pods admitted before).
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(schema_with = "schema::count")]
    pub would_reject_pods: u32,
    /// The first findings of the preview, at most 5.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    pub would_reject: Vec<WouldReject>,
    /// Audit mode: what the profile's Enforce mode left here that still acts (its Pod
    /// Security enforce label, the objects it generated), at most 8; Audit mode neither
    /// repairs nor removes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8), inner(length(max = 256)))]
    pub enforced: Vec<String>,
    /// Workload containers here whose images have CRITICAL or HIGH vulnerabilities with a
    /// fix, by the Trivy Operator's VulnerabilityReports.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(schema_with = "schema::count")]
    pub vulnerable_workloads: u32,
    /// The first of them, most CRITICAL first, at most 5, e.g. `ReplicaSet/web-7d9f8
    /// container app (registry.example/web:1.2): 2 CRITICAL vulnerabilities with a fix`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5), inner(length(max = 260)))]
    pub vulnerabilities: Vec<String>,
}

/// An existing pod (or group of pods) that enforcing the profile would reject.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WouldReject {
    /// The pod, e.g. `web-0`, or `web-0 (and 2 other pods)` where Pod Security groups pods
    /// with the same violation.
    pub pod: String,
    /// What rejects it, e.g. `Pod Security restricted:latest: runAsNonRoot != true` or
    /// `guardrail allowedRegistries (BSI SYS.1.6 (2023) A6, A10): image ... is not from an
    /// allowed registry`.
    pub reason: String,
}

/// A NetworkPolicy rule that allows traffic the profile denies.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WideningPolicy {
    /// NetworkPolicy name.
    pub name: String,
    /// `Ingress` or `Egress`.
    pub direction: PolicyType,
    /// What the rule opens, e.g. `from anywhere on all ports, to all pods`.
    pub opens: String,
}

/// A pod whose containers do not all run under the profile's seccomp or AppArmor profile.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnconfinedPod {
    /// Pod name.
    pub name: String,
    /// What is missing, e.g. `container app: seccompProfile RuntimeDefault, wants Localhost
    /// hardening.dev/strict.json`.
    pub reason: String,
}

/// How a selected namespace relates to the profile.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum NamespaceState {
    /// Everything generated matches the profile.
    InSync,
    /// Something generated differs from the profile (repaired in `Enforce` mode).
    Drifted,
    /// Another profile with higher precedence governs this namespace (not a failure).
    Conflict,
    /// The namespace cannot be brought to the profile: see `reason` and `message` (for
    /// example an object with a generated name that someone else created).
    Failed,
    /// Not yet processed.
    Pending,
}

/// One difference between a generated object (or namespace label) and the live cluster.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriftEntry {
    /// Kind of the object, e.g. `NetworkPolicy` or `Namespace`.
    pub kind: String,
    /// Name of the object.
    pub name: String,
    /// Path of the differing field, e.g. `spec.hard["limits.cpu"]`.
    pub field: String,
    /// Value the profile asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// Value found; unset when the field or object is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// Field manager that last wrote the differing field, when known (e.g. `kubectl-edit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
}

impl DriftEntry {
    /// A status entry for a drift of object `kind`/`name`, texts cut to
    /// [`MAX_DRIFT_TEXT_CHARS`] characters.
    pub fn new(kind: &str, name: &str, drift: &crate::core::diff::Drift) -> Self {
        Self {
            kind: kind.to_owned(),
            name: name.to_owned(),
            field: truncate(&drift.field),
            expected: drift.expected.as_deref().map(truncate),
            actual: drift.actual.as_deref().map(truncate),
            manager: drift.manager.as_deref().map(truncate),
        }
    }
}

/// Cuts `text` to [`MAX_DRIFT_TEXT_CHARS`] characters, marking the cut with `…`.
pub fn truncate_text(text: &str) -> String {
    truncate(text)
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(MAX_DRIFT_TEXT_CHARS - 1) {
        Some((cut, _)) if text.chars().count() > MAX_DRIFT_TEXT_CHARS => {
            format!("{}…", &text[..cut])
        }
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::core::diff::Drift;
    use crate::fixtures::{from_manifest, profile};
    use crate::test_support::strings;

    fn spec(yaml: &str) -> HardeningProfileSpec {
        serde_yaml_ng::from_str(yaml)
            .unwrap_or_else(|e| panic!("test spec does not parse: {e}\n{yaml}"))
    }

    #[test]
    fn minimal_spec_gets_documented_defaults() {
        let spec = spec("namespaceSelector: {}\nnetworkPolicy: {}\n");
        assert_eq!(spec.mode, Mode::Enforce);
        assert_eq!(spec.priority, 0);
        assert_eq!(spec.cleanup_policy, CleanupPolicy::Delete);
        assert!(spec.excluded_namespaces.is_empty());
        assert_eq!(
            spec.network_policy,
            Some(NetworkPolicyRules {
                default_deny: vec![PolicyType::Ingress, PolicyType::Egress],
                allow_dns: true,
                allow_same_namespace: true,
                same_namespace: vec![],
                ingress: vec![],
                egress: vec![],
                protected_networks: vec![],
                cluster_network_policy: false,
            })
        );
        assert_eq!(spec.pod_security, None);
    }

    #[test]
    fn spec_serializes_camel_case_without_empty_fields() {
        let spec = spec(
            "namespaceSelector: {matchLabels: {a: b}}\n\
         podSecurity: {enforce: {level: restricted}}\n\
         networkPolicy: {defaultDeny: [], ingress: [{ports: [{port: 80}]}]}\n",
        );
        assert_eq!(
            serde_json::to_value(&spec).unwrap(),
            json!({
                "namespaceSelector": {"matchLabels": {"a": "b"}},
                "mode": "Enforce",
                "priority": 0,
                "cleanupPolicy": "Delete",
                "podSecurity": {"enforce": {"level": "restricted"}},
                "networkPolicy": {
                    "defaultDeny": [],
                    "allowDns": true,
                    "allowSameNamespace": true,
                    "ingress": [{"ports": [{"port": 80, "protocol": "TCP"}]}],
                },
            })
        );
    }

    #[test]
    fn empty_status_keeps_only_the_counters() {
        assert_eq!(
            serde_json::to_value(HardeningProfileStatus::default()).unwrap(),
            json!({
                "selectedNamespaces": 0,
                "inSyncNamespaces": 0,
                "driftedNamespaces": 0,
                "conflictingNamespaces": 0,
                "failedNamespaces": 0,
                "repairsTotal": 0,
            })
        );
    }

    #[test]
    fn isolated_directions_include_allow_lists() {
        let rules = |yaml: &str| {
            spec(&format!("namespaceSelector: {{}}\nnetworkPolicy: {yaml}\n"))
                .network_policy
                .unwrap()
        };
        assert_eq!(
            rules("{}").isolated_directions(),
            vec![PolicyType::Ingress, PolicyType::Egress]
        );
        assert_eq!(
            rules("{defaultDeny: [Egress]}").isolated_directions(),
            vec![PolicyType::Egress]
        );
        assert_eq!(rules("{defaultDeny: []}").isolated_directions(), vec![]);
        assert_eq!(
            rules("{defaultDeny: [], ingress: [{}]}").isolated_directions(),
            vec![PolicyType::Ingress]
        );
        assert_eq!(
            rules("{defaultDeny: [Ingress], egress: [{}]}").isolated_directions(),
            vec![PolicyType::Ingress, PolicyType::Egress]
        );
    }

    mod selection {
        use super::*;

        fn selects_ns(selector: &str, name: &str, ns_labels: &[(&str, &str)]) -> bool {
            selects(&spec(selector), name, &strings(ns_labels))
        }

        #[test]
        fn empty_selector_selects_every_namespace() {
            assert!(selects_ns("namespaceSelector: {}", "default", &[]));
            assert!(selects_ns("namespaceSelector: {}", "team-a", &[("x", "y")]));
        }

        #[test]
        fn match_labels_need_every_pair() {
            let s = "namespaceSelector: {matchLabels: {tier: strict, team: a}}";
            assert!(selects_ns(
                s,
                "n",
                &[("tier", "strict"), ("team", "a"), ("other", "x")]
            ));
            assert!(!selects_ns(s, "n", &[("tier", "strict")]));
            assert!(!selects_ns(s, "n", &[("tier", "strict"), ("team", "b")]));
            assert!(!selects_ns(s, "n", &[]));
        }

        #[test]
        fn operator_in() {
            let s = "namespaceSelector: {matchExpressions: [{key: tier, operator: In, values: [a, b]}]}";
            assert!(selects_ns(s, "n", &[("tier", "a")]));
            assert!(selects_ns(s, "n", &[("tier", "b")]));
            assert!(!selects_ns(s, "n", &[("tier", "c")]));
            assert!(!selects_ns(s, "n", &[]));
        }

        #[test]
        fn operator_not_in_matches_missing_labels() {
            let s = "namespaceSelector: {matchExpressions: [{key: tier, operator: NotIn, values: [a, b]}]}";
            assert!(!selects_ns(s, "n", &[("tier", "a")]));
            assert!(selects_ns(s, "n", &[("tier", "c")]));
            assert!(selects_ns(s, "n", &[]));
        }

        #[test]
        fn operators_exists_and_does_not_exist() {
            let exists = "namespaceSelector: {matchExpressions: [{key: tier, operator: Exists}]}";
            assert!(selects_ns(exists, "n", &[("tier", "")]));
            assert!(!selects_ns(exists, "n", &[("other", "x")]));
            let absent =
                "namespaceSelector: {matchExpressions: [{key: tier, operator: DoesNotExist}]}";
            assert!(!selects_ns(absent, "n", &[("tier", "a")]));
            assert!(selects_ns(absent, "n", &[("other", "x")]));
        }

        #[test]
        fn labels_and_expressions_are_anded() {
            let s = "namespaceSelector:\n  matchLabels: {env: prod}\n  matchExpressions:\n    \
                 - {key: tier, operator: In, values: [strict]}\n    \
                 - {key: legacy, operator: DoesNotExist}";
            assert!(selects_ns(s, "n", &[("env", "prod"), ("tier", "strict")]));
            assert!(!selects_ns(s, "n", &[("env", "dev"), ("tier", "strict")]));
            assert!(!selects_ns(
                s,
                "n",
                &[("env", "prod"), ("tier", "baseline")]
            ));
            assert!(!selects_ns(
                s,
                "n",
                &[("env", "prod"), ("tier", "strict"), ("legacy", "yes")]
            ));
        }

        #[test]
        fn malformed_selectors_select_nothing() {
            let unknown = "namespaceSelector: {matchExpressions: [{key: tier, operator: Equals, values: [a]}]}";
            assert!(!selects_ns(unknown, "n", &[("tier", "a")]));
            let in_without_values =
                "namespaceSelector: {matchExpressions: [{key: tier, operator: In}]}";
            assert!(!selects_ns(in_without_values, "n", &[("tier", "a")]));
        }

        #[test]
        fn excluded_namespaces_are_never_selected() {
            let s = "namespaceSelector: {}\nexcludedNamespaces: [kube-system, kube-public]";
            assert!(!selects_ns(s, "kube-system", &[]));
            assert!(!selects_ns(s, "kube-public", &[]));
            assert!(selects_ns(s, "kube-node-lease", &[]));
        }

        fn named(name: &str, priority: i32) -> HardeningProfile {
            profile(name).spec(json!({ "priority": priority })).build()
        }

        #[test]
        fn highest_priority_wins_then_first_name() {
            let low = named("a-low", -5);
            let high = named("z-high", 10);
            let tie_b = named("b", 0);
            let tie_a = named("a", 0);
            assert!(outranks(&high, &low));
            assert!(!outranks(&low, &high));
            assert!(outranks(&tie_a, &tie_b));
            assert!(!outranks(&tie_a, &tie_a));

            let all = [low.clone(), tie_b.clone(), high.clone(), tie_a.clone()];
            assert_eq!(winner(&all).map(|p| p.name_any()), Some("z-high".into()));
            assert_eq!(
                winner([&tie_b, &tie_a, &low]).map(|p| p.name_any()),
                Some("a".into())
            );
            assert_eq!(winner(std::iter::empty()), None);
        }

        use kube::ResourceExt;
    }

    mod validation {
        use super::*;

        fn errors(yaml: &str) -> Vec<String> {
            match validate(&from_manifest(yaml)) {
                Ok(()) => vec![],
                Err(errors) => errors.iter().map(ToString::to_string).collect(),
            }
        }

        const HEADER: &str =
            "apiVersion: hardening.dev/v1alpha1\nkind: HardeningProfile\nmetadata: {name: p}\n";

        #[test]
        fn a_sound_profile_passes() {
            let yaml = format!(
                "{HEADER}spec:\n  namespaceSelector:\n    matchLabels: {{hardening.dev/tier: strict}}\n    \
             matchExpressions: [{{key: env, operator: NotIn, values: [dev]}}, {{key: legacy, operator: DoesNotExist}}]\n  \
             networkPolicy:\n    egress: [{{to: [{{cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}], ports: [{{port: 443, endPort: 444}}]}}]\n  \
             limitRange:\n    limits: [{{type: Container, min: {{cpu: 100m}}, max: {{cpu: 1}}, maxLimitRequestRatio: {{cpu: 2}}}}]\n"
            );
            assert_eq!(errors(&yaml), Vec::<String>::new());
        }

        #[test]
        fn selector_problems_name_their_field() {
            let yaml = format!(
                "{HEADER}spec:\n  namespaceSelector:\n    matchLabels: {{\"bad key!\": x, ok: \"bad value\"}}\n    matchExpressions:\n      \
             - {{key: a, operator: In}}\n      \
             - {{key: b, operator: Exists, values: [x]}}\n      \
             - {{key: c, operator: Equals, values: [x]}}\n      \
             - {{key: Example.com/d, operator: NotIn, values: [\"-x\"]}}\n"
            );
            assert_eq!(
                errors(&yaml),
                [
                    r#"spec.namespaceSelector.matchLabels["bad key!"]: invalid label key "bad key!": the name must be 1-63 characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit"#,
                    r#"spec.namespaceSelector.matchLabels["ok"]: invalid label value "bad value": must be letters, digits, '-', '_' or '.', starting and ending with a letter or digit"#,
                    "spec.namespaceSelector.matchExpressions[0].values: must be non-empty for operator In",
                    "spec.namespaceSelector.matchExpressions[1].values: must be empty for operator Exists",
                    r#"spec.namespaceSelector.matchExpressions[2].operator: unknown operator "Equals" (use In, NotIn, Exists or DoesNotExist)"#,
                    r#"spec.namespaceSelector.matchExpressions[3].key: invalid label key "Example.com/d": the prefix must be a DNS subdomain such as example.com"#,
                    r#"spec.namespaceSelector.matchExpressions[3].values[0]: invalid label value "-x": must be letters, digits, '-', '_' or '.', starting and ending with a letter or digit"#,
                ]
            );
        }

        #[test]
        fn network_policy_problems_name_their_field() {
            let yaml = format!(
                "{HEADER}spec:\n  namespaceSelector: {{}}\n  networkPolicy:\n    ingress:\n      \
             - {{from: [{{podSelector: {{}}}}], ports: [{{port: 80}}]}}\n      \
             - {{from: [{{}}], ports: [{{port: 90, endPort: 89}}]}}\n      \
             - {{from: [{{podSelector: {{}}}}], ports: [{{port: 80, protocol: TCP}}]}}\n    \
             egress:\n      \
             - {{to: [{{cidr: 10.0.0.0/8, podSelector: {{}}}}]}}\n      \
             - {{to: [{{cidr: 10.0.0.0/8, except: [192.168.0.0/16, 10.0.0.0/8, nonsense, 10.2.0.0/16]}}]}}\n      \
             - {{to: [{{cidr: 10.0.0.0/33}}, {{except: [10.0.0.0/9]}}, {{podSelector: {{matchExpressions: [{{key: k, operator: In}}]}}}}]}}\n"
            );
            assert_eq!(
                errors(&yaml),
                [
                    "spec.networkPolicy.ingress[1].from[0]: a peer must set namespaceSelector, podSelector or both",
                    "spec.networkPolicy.ingress[1].ports[0].endPort: must be greater than or equal to port 90",
                    "spec.networkPolicy.ingress[2]: duplicates spec.networkPolicy.ingress[0]",
                    "spec.networkPolicy.egress[0].to[0]: an egress peer must set either cidr or namespaceSelector/podSelector, not both",
                    "spec.networkPolicy.egress[1].to[0].except[0]: 192.168.0.0/16 is not a strict subset of cidr 10.0.0.0/8",
                    "spec.networkPolicy.egress[1].to[0].except[1]: 10.0.0.0/8 is not a strict subset of cidr 10.0.0.0/8",
                    r#"spec.networkPolicy.egress[1].to[0].except[2]: "nonsense" is not a CIDR such as 10.1.0.0/16"#,
                    r#"spec.networkPolicy.egress[2].to[0].cidr: "10.0.0.0/33" is not a CIDR such as 10.0.0.0/8"#,
                    "spec.networkPolicy.egress[2].to[1]: an egress peer must set either cidr or namespaceSelector/podSelector",
                    "spec.networkPolicy.egress[2].to[2].podSelector.matchExpressions[0].values: must be non-empty for operator In",
                ]
            );
        }

        #[test]
        fn duplicate_egress_rules_are_reported() {
            let yaml = format!(
                "{HEADER}spec:\n  namespaceSelector: {{}}\n  networkPolicy:\n    egress:\n      \
             - {{to: [{{cidr: 10.0.0.0/8}}]}}\n      - {{to: [{{cidr: 10.0.0.0/9}}]}}\n      - {{to: [{{cidr: 10.0.0.0/8}}]}}\n"
            );
            assert_eq!(
                errors(&yaml),
                ["spec.networkPolicy.egress[2]: duplicates spec.networkPolicy.egress[0]"]
            );
        }

        #[test]
        fn quantity_problems_compare_exactly() {
            let yaml = format!(
                "{HEADER}spec:\n  namespaceSelector: {{}}\n  resourceQuota:\n    hard: {{limits.cpu: abc, pods: \"-1\"}}\n  \
             limitRange:\n    limits:\n      \
             - type: Container\n        min: {{cpu: \"2\", memory: 1Gi}}\n        max: {{cpu: 1500m, memory: 1024Mi}}\n        \
             default: {{cpu: 3}}\n        defaultRequest: {{cpu: 4}}\n        maxLimitRequestRatio: {{cpu: 500m}}\n      \
             - type: Pod\n        default: {{cpu: 1}}\n      \
             - type: PersistentVolumeClaim\n        max: {{cpu: 1}}\n      \
             - type: Pod\n"
            );
            assert_eq!(
                errors(&yaml),
                [
                    r#"spec.resourceQuota.hard["limits.cpu"]: quantity "abc" does not start with a number"#,
                    r#"spec.resourceQuota.hard["pods"]: -1 is negative"#,
                    r#"spec.limitRange.limits[0].min["cpu"]: min 2 must not exceed max 1500m"#,
                    r#"spec.limitRange.limits[0].defaultRequest["cpu"]: defaultRequest 4 must not exceed max 1500m"#,
                    r#"spec.limitRange.limits[0].defaultRequest["cpu"]: defaultRequest 4 must not exceed default 3"#,
                    r#"spec.limitRange.limits[0].default["cpu"]: default 3 must not exceed max 1500m"#,
                    r#"spec.limitRange.limits[0].maxLimitRequestRatio["cpu"]: 0.5 is less than 1"#,
                    r#"spec.limitRange.limits[0].maxLimitRequestRatio["cpu"]: the default limit 3 over the default request 4 is a ratio of 0.75, above 500m: every pod without explicit cpu resources would be rejected"#,
                    "spec.limitRange.limits[1].default: only allowed for type Container, not Pod",
                    "spec.limitRange.limits[2]: type PersistentVolumeClaim needs min.storage or max.storage",
                    "spec.limitRange.limits[3].type: duplicate type Pod",
                ]
            );
        }

        #[test]
        fn defaults_must_respect_the_max_limit_request_ratio() {
            // The API server accepts this, then rejects every pod relying on the defaults:
            // 500m / 100m = 5 > 4 (seen with an earlier version of examples/bsi-strict.yaml).
            let yaml = "apiVersion: hardening.dev/v1alpha1\nkind: HardeningProfile\nmetadata: {name: p}\n\
             spec:\n  namespaceSelector: {}\n  limitRange:\n    limits:\n    - type: Container\n      \
             default: {cpu: 500m, memory: 256Mi}\n      defaultRequest: {cpu: 100m}\n      \
             max: {memory: 1Gi}\n      maxLimitRequestRatio: {cpu: 4, memory: 2}\n";
            let profile = from_manifest(yaml);
            let errors: Vec<String> = validate(&profile)
                .unwrap_err()
                .iter()
                .map(ToString::to_string)
                .collect();
            // memory: no default request, so it defaults to the limit (ratio 1): fine.
            assert_eq!(
                errors,
                vec![
                    r#"spec.limitRange.limits[0].maxLimitRequestRatio["cpu"]: the default limit 500m over the default request 100m is a ratio of 5.00, above 4: every pod without explicit cpu resources would be rejected"#
                ]
            );
        }

        #[test]
        fn rules_of_the_generated_objects_are_checked_with_the_profiles_field() {
            let yaml = format!(
                "{HEADER}spec:\n  namespaceSelector: {{}}\n  podSecurity: {{enforce: {{level: baseline, version: v1.01}}, warn: {{level: restricted, version: v1.0}}}}\n  \
             networkPolicy:\n    egress: [{{to: [{{cidr: 10.0.0.1/8, except: [10.1.2.3/16]}}, {{cidr: 10.0.0.0/08}}, {{cidr: '2001:db8::1/32'}}]}}]\n  \
             resourceQuota:\n    hard: {{pods: '1.5', count/pods: 2, services: 1e3, gpu: 1, storage: 1Gi, example.com/gpu: 500m, requests.example.com/gpu: 500m, secrets: 1e16}}\n  \
             limitRange:\n    limits:\n      \
             - type: Container\n        min: {{cpu: 1, example.com/gpu: 1}}\n        max: {{cpu: 2, example.com/gpu: 2, storage: 1Gi}}\n        \
             defaultRequest: {{example.com/gpu: 1}}\n        maxLimitRequestRatio: {{cpu: 3}}\n      \
             - type: PersistentVolumeClaim\n        min: {{storage: 1Gi, iops: 1}}\n"
            );
            assert_eq!(
                errors(&yaml),
                [
                    r#"spec.podSecurity.enforce.version: "v1.01" is not a Pod Security version: use latest or v1.<minor> such as v1.33 (no leading zeros)"#,
                    "spec.networkPolicy.egress[0].to[0].cidr: 10.0.0.1/8 has bits set beyond its prefix length: give the network address 10.0.0.0/8",
                    "spec.networkPolicy.egress[0].to[0].except[0]: 10.1.2.3/16 has bits set beyond its prefix length: give the network address 10.1.0.0/16",
                    r#"spec.networkPolicy.egress[0].to[1].cidr: "10.0.0.0/08" is not a CIDR such as 10.0.0.0/8"#,
                    "spec.networkPolicy.egress[0].to[2].cidr: 2001:db8::1/32 has bits set beyond its prefix length: give the network address 2001:db8::/32",
                    r#"spec.resourceQuota.hard["example.com/gpu"]: example.com/gpu is counted in whole units, so it must be a whole number up to 9223372036854775, not 500m"#,
                    r#"spec.resourceQuota.hard["gpu"]: "gpu" is not a resource a ResourceQuota can cap: use a standard name (cpu, memory, ephemeral-storage, requests.cpu, requests.memory, requests.storage, requests.ephemeral-storage, limits.cpu, limits.memory, limits.ephemeral-storage, pods, resourcequotas, services, replicationcontrollers, secrets, persistentvolumeclaims, configmaps, services.nodeports, services.loadbalancers, hugepages-<size>, requests.hugepages-<size>) or a name with a domain such as count/deployments.apps or example.com/gpu"#,
                    r#"spec.resourceQuota.hard["pods"]: pods is counted in whole units, so it must be a whole number up to 9223372036854775, not 1.5"#,
                    r#"spec.resourceQuota.hard["secrets"]: secrets is counted in whole units, so it must be a whole number up to 9223372036854775, not 10000000000000000"#,
                    r#"spec.resourceQuota.hard["storage"]: "storage" is not a resource a ResourceQuota can cap: use a standard name (cpu, memory, ephemeral-storage, requests.cpu, requests.memory, requests.storage, requests.ephemeral-storage, limits.cpu, limits.memory, limits.ephemeral-storage, pods, resourcequotas, services, replicationcontrollers, secrets, persistentvolumeclaims, configmaps, services.nodeports, services.loadbalancers, hugepages-<size>, requests.hugepages-<size>) or a name with a domain such as count/deployments.apps or example.com/gpu"#,
                    r#"spec.limitRange.limits[0].max["storage"]: "storage" is not a resource a Container can request: use cpu, memory, ephemeral-storage, hugepages-<size> or an extended resource such as example.com/gpu"#,
                    r#"spec.limitRange.limits[0].maxLimitRequestRatio["cpu"]: 3 is greater than max / min = 2.000 (min 1, max 2)"#,
                    r#"spec.limitRange.limits[0].defaultRequest["example.com/gpu"]: example.com/gpu cannot be overcommitted, so defaultRequest 1 must equal the default limit (max 2)"#,
                    r#"spec.limitRange.limits[1].min["iops"]: "iops" is not a standard resource (such as storage) nor a name with a domain such as example.com/iops"#,
                ]
            );
        }

        #[test]
        fn ratios_are_judged_in_the_api_servers_milli_units() {
            let ratio = |min: &str, max: &str, ratio: &str| {
                let yaml = format!(
                    "{HEADER}spec:\n  namespaceSelector: {{}}\n  limitRange:\n    limits: [{{type: Pod, min: {{cpu: '{min}'}}, max: {{cpu: '{max}'}}, maxLimitRequestRatio: {{cpu: '{ratio}'}}}}]\n"
                );
                errors(&yaml)
            };
            assert_eq!(ratio("1", "2", "2"), Vec::<String>::new());
            // 0.0015 and 0.003 are 2m and 3m to the API server: max / min is 1.5, not 2.
            assert_eq!(
                ratio("0.0015", "0.003", "2"),
                [
                    r#"spec.limitRange.limits[0].maxLimitRequestRatio["cpu"]: 2 is greater than max / min = 1.500 (min 0.0015, max 0.003)"#
                ]
            );
            // 1.0004 becomes 1.001, as does 1.0006: within the bound once rounded.
            assert_eq!(ratio("1", "1.0006", "1.0004"), Vec::<String>::new());
            // A zero min puts no bound on the ratio (max / 0 is infinite to the API server too).
            assert_eq!(ratio("0", "2", "5"), Vec::<String>::new());
        }

        #[test]
        fn long_names_cannot_be_label_values() {
            let yaml = format!(
                "apiVersion: hardening.dev/v1alpha1\nkind: HardeningProfile\nmetadata: {{name: {}}}\nspec: {{namespaceSelector: {{}}}}\n",
                "x".repeat(64)
            );
            assert_eq!(
                errors(&yaml),
                [
                    "metadata.name: must be at most 63 characters: generated objects carry it as a label value"
                ]
            );
        }
    }

    #[test]
    fn drift_entries_are_cut_to_the_status_limit() {
        let long = "é".repeat(300);
        let drift = Drift {
            field: "spec.ingress".into(),
            path: vec!["spec".into(), "ingress".into()],
            expected: Some(long.clone()),
            actual: None,
            manager: Some("kubectl-edit".into()),
            change: crate::core::diff::Change::Removed,
        };
        let entry = DriftEntry::new("NetworkPolicy", "hardening-allow-ingress", &drift);
        assert_eq!(entry.kind, "NetworkPolicy");
        assert_eq!(entry.name, "hardening-allow-ingress");
        assert_eq!(entry.field, "spec.ingress");
        assert_eq!(entry.expected, Some(format!("{}…", "é".repeat(255))));
        assert_eq!(
            entry.expected.as_ref().unwrap().chars().count(),
            MAX_DRIFT_TEXT_CHARS
        );
        assert_eq!(entry.actual, None);
        assert_eq!(entry.manager.as_deref(), Some("kubectl-edit"));
        assert_eq!(truncate(&"a".repeat(256)), "a".repeat(256));
    }
}
