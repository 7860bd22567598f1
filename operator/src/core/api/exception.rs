//! The `HardeningException` custom resource (`hardening.dev/v1alpha1`, cluster-scoped):
//! an accepted risk, documented. It names the profile whose rules it suspends, the
//! namespaces and workloads it covers, the guardrail rules it suspends (or a lower Pod
//! Security level for named namespaces), why, who answers for it, and until when.
//!
//! Cluster-scoped, so that only those who may write cluster-scoped objects of
//! `hardening.dev` (those who may write profiles) may grant one. Its `expires` is required
//! and bounded: at most the operator's `--max-exception-duration` after the exception's
//! creation. The API server's CEL has no clock, so whether `expires` lies in the future and
//! within that bound is judged by the operator (`core::exceptions`), not by `kubectl apply`.
//!
//! Doc comments on the spec types become the CRD field descriptions (`kubectl explain`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::{CustomResource, KubeSchema};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::{NAMESPACE_NAME_PATTERN, PodSecurityLevel};

/// How far an exception can narrow a guardrail rule: what the rule judges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleScope {
    /// Each container of a pod (its image, its root file system): an exception can name the
    /// pods (by label) and the containers (by name) it covers.
    Containers,
    /// A pod as a whole: an exception can name the pods it covers by label.
    Pods,
    /// A request that carries no pod labels (`exec`, `attach`, `port-forward`, the
    /// `pods/proxy` subresource; a NetworkPolicy): an exception covers whole namespaces.
    Requests,
}

/// Every guardrail rule an exception can suspend, by its field name in `spec.guardrails`
/// (the name the admission policy's messages and `core::compliance::guardrail_requirements`
/// use), with what it judges. The admission policy (`core::guardrails`) builds each rule's
/// validation through one helper keyed by this name; a unit test there checks that every
/// field of `Guardrails` is listed here (but the settings of [`GUARDRAIL_SETTINGS`]) and
/// every rule's validation honours exceptions.
///
/// `highAvailability` judges the pods of a workload: at admission a Deployment, StatefulSet
/// or ReplicaSet by its pod template's labels, on running pods by theirs.
pub const GUARDRAIL_RULES: [(&str, RuleScope); 19] = [
    ("allowedRegistries", RuleScope::Containers),
    ("requireImageTag", RuleScope::Containers),
    ("requireImageDigest", RuleScope::Containers),
    ("requireReadOnlyRootFilesystem", RuleScope::Containers),
    ("denyExec", RuleScope::Requests),
    ("denyPortForward", RuleScope::Requests),
    ("denyPodProxy", RuleScope::Requests),
    ("denyWideningNetworkPolicies", RuleScope::Requests),
    ("requireProfiles", RuleScope::Containers),
    ("requireUserNamespaces", RuleScope::Pods),
    ("denySecretEnvLiterals", RuleScope::Containers),
    ("denyServiceAccountToken", RuleScope::Pods),
    ("denyDefaultServiceAccount", RuleScope::Pods),
    ("oneServicePerContainer", RuleScope::Containers),
    ("requireController", RuleScope::Pods),
    ("requireProbes", RuleScope::Containers),
    ("highAvailability", RuleScope::Pods),
    ("requireReadOnlyMounts", RuleScope::Containers),
    ("denyMountPropagation", RuleScope::Containers),
];

/// The fields of `spec.guardrails` that are no rule but a setting of one
/// (`secretEnvNamePattern` of `denySecretEnvLiterals`, `scratchVolumes` of
/// `requireReadOnlyMounts`): an exception suspends the rule, not its setting.
pub const GUARDRAIL_SETTINGS: [&str; 2] = ["secretEnvNamePattern", "scratchVolumes"];

/// The names of the rules of exactly `scope`, joined by `, `.
fn rules_of(scope: RuleScope) -> String {
    GUARDRAIL_RULES
        .iter()
        .filter(|(_, s)| *s == scope)
        .map(|(rule, _)| *rule)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why an exception with a `podSelector` cannot suspend a rule judging requests.
pub fn pod_selector_message() -> String {
    format!(
        "podSelector only narrows rules that judge pods ({}, {}): {} judge requests that carry no pod labels; suspend them in an exception of their own, without podSelector",
        rules_of(RuleScope::Containers),
        rules_of(RuleScope::Pods),
        rules_of(RuleScope::Requests)
    )
}

/// Why an exception naming `containers` cannot suspend a rule judging pods or requests.
pub fn containers_message() -> String {
    format!(
        "containers only narrows rules that judge containers ({}); suspend the others in an exception of their own, without containers",
        rules_of(RuleScope::Containers)
    )
}

/// What guardrail rule `name` judges; `None` for a name that is no rule.
pub fn rule_scope(name: &str) -> Option<RuleScope> {
    GUARDRAIL_RULES
        .iter()
        .find(|(rule, _)| *rule == name)
        .map(|(_, scope)| *scope)
}

/// The names of the rules judging at least `scope` (containers judge pods too).
pub fn rules_judging(scope: RuleScope) -> Vec<&'static str> {
    GUARDRAIL_RULES
        .iter()
        .filter(|(_, s)| match scope {
            RuleScope::Containers => *s == RuleScope::Containers,
            RuleScope::Pods => matches!(s, RuleScope::Containers | RuleScope::Pods),
            RuleScope::Requests => true,
        })
        .map(|(rule, _)| *rule)
        .collect()
}

/// `expires`: an RFC 3339 date and time with `Z` or a numeric offset
/// (`2026-12-31T23:59:59Z`, `2026-12-31T23:59:59+01:00`), the form CEL's `timestamp()`, Go
/// and the operator all read alike.
pub const EXPIRES_PATTERN: &str = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$";

/// A DNS subdomain of at most 63 characters: the name of a HardeningProfile.
pub const PROFILE_NAME_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// The earliest `expires` the CRD accepts (the CEL rule compares with it, which also makes
/// the API server parse the date: `2026-02-30T...` is refused).
pub const EXPIRES_NOT_BEFORE: &str = "2000-01-01T00:00:00Z";

/// Most exceptions a profile honours at once (`status.exceptions.active`); the admission
/// policy reads them at every request it judges, so they are bounded.
pub const MAX_ACTIVE_EXCEPTIONS: usize = 32;
/// Longest reason kept in a profile's status and the verdicts.
pub const MAX_EXCEPTION_TEXT: usize = 256;

/// An accepted risk: for a while, some namespaces or workloads governed by a
/// HardeningProfile do not have to follow some of its rules. Documented with its reason,
/// owner and expiry; shown in the profile's status, its policy reports and the compliance
/// report as an accepted deviation, and enforced by the API server through the profile's
/// admission policy until it expires.
// Several print columns of one type read as duplicated attributes to clippy.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "hardening.dev",
    version = "v1alpha1",
    kind = "HardeningException",
    status = "HardeningExceptionStatus",
    shortname = "hx",
    category = "hardening",
    derive = "PartialEq",
    doc = "HardeningException documents an accepted deviation from a HardeningProfile: the namespaces and workloads it covers, the rules it suspends, why, who owns it and until when. The operator honours it until it expires.",
    printcolumn(name = "Profile", type_ = "string", json_path = ".spec.profile"),
    printcolumn(name = "Owner", type_ = "string", json_path = ".spec.owner"),
    printcolumn(name = "Expires", type_ = "string", json_path = ".spec.expires"),
    printcolumn(name = "State", type_ = "string", json_path = ".status.state"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(
    validation = Rule::new("(has(self.rules) && size(self.rules) > 0) || has(self.podSecurityLevel)")
        .message("an exception suspends guardrail rules (rules), lowers the Pod Security level of named namespaces (podSecurityLevel), or both"),
    validation = Rule::new("!has(self.podSecurityLevel) || (has(self.namespaces.names) && size(self.namespaces.names) > 0 && !has(self.namespaces.selector))")
        .message("podSecurityLevel lowers the level of whole namespaces and is only allowed for namespaces given by name (namespaces.names, no namespaces.selector): Pod Security cannot exempt single pods"),
    validation = Rule::new("!has(self.podSecurityLevel) || (!has(self.podSelector) && (!has(self.containers) || size(self.containers) == 0))")
        .message("podSecurityLevel lowers the level of whole namespaces (Pod Security cannot exempt single pods): it takes no podSelector or containers; put the rules for single workloads in an exception of their own"),
    validation = Rule::new(pod_rules_only("podSelector", RuleScope::Pods))
        .message(Message::Message(pod_selector_message())),
    validation = Rule::new(pod_rules_only("containers", RuleScope::Containers))
        .message(Message::Message(containers_message()))
)]
#[serde(rename_all = "camelCase")]
pub struct HardeningExceptionSpec {
    /// The HardeningProfile whose rules this exception suspends.
    #[schemars(length(min = 1, max = 63), regex(pattern = PROFILE_NAME_PATTERN))]
    pub profile: String,

    /// The namespaces it covers: by name, by label, or both (a namespace named or selected
    /// is covered). Only namespaces the profile governs are affected.
    pub namespaces: ExceptionNamespaces,

    /// The pods it covers, by label; unset: every pod of the covered namespaces. Only for
    /// rules that judge pods or containers. Pod labels are set by whoever creates the pod:
    /// anyone who may create pods in a covered namespace can give a pod these labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,

    /// The containers it covers, by name (init and ephemeral containers too); empty: every
    /// container of the covered pods. Only for rules that judge containers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 16),
        inner(length(max = 63), regex(pattern = NAMESPACE_NAME_PATTERN)),
        extend("x-kubernetes-list-type" = "set")
    )]
    pub containers: Vec<String>,

    /// The guardrail rules suspended, by their name in the profile's `spec.guardrails`
    /// (`allowedRegistries`, `requireImageTag`, `requireImageDigest`,
    /// `requireReadOnlyRootFilesystem`, `denyExec`, `denyPortForward`, `denyPodProxy`,
    /// `denyWideningNetworkPolicies`, `requireProfiles`, `requireUserNamespaces`,
    /// `denySecretEnvLiterals`, `denyServiceAccountToken`, `denyDefaultServiceAccount`,
    /// `oneServicePerContainer`, `requireController`, `requireProbes`, `highAvailability`,
    /// `requireReadOnlyMounts`, `denyMountPropagation`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "rule_names")]
    pub rules: Vec<String>,

    /// A Pod Security `enforce` level lower than the profile's, for the namespaces given by
    /// name (Pod Security judges whole namespaces and cannot exempt single pods). The
    /// profile's `audit` and `warn` labels stay, so the pods below its level are still
    /// audited and warned about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_security_level: Option<PodSecurityLevel>,

    /// Why the deviation is accepted, e.g. the ticket of the risk assessment and what
    /// compensates for it.
    #[schemars(length(min = 1, max = 1024))]
    pub reason: String,

    /// Who answers for it (a team, a person, a contact address).
    #[schemars(length(min = 1, max = 256))]
    pub owner: String,

    /// When the exception ends: an RFC 3339 date and time (`2026-12-31T23:59:59Z`). At most
    /// the operator's `--max-exception-duration` (default 90 days) after the exception's
    /// creation; a longer deviation needs a new exception, a new decision. The operator
    /// removes it from the profile's admission policy at this time: while the operator is
    /// not running, an expired exception keeps applying until it is back.
    #[schemars(length(max = 64), regex(pattern = EXPIRES_PATTERN))]
    #[x_kube(validation = Rule::new(expires_rule()).message("expires must be a valid date and time after 2000-01-01T00:00:00Z"))]
    pub expires: String,
}

/// CEL: `field` is only set when every rule suspended judges at least `scope`.
fn pod_rules_only(field: &str, scope: RuleScope) -> String {
    let names = rules_judging(scope)
        .iter()
        .map(|r| format!("'{r}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let set = if field == "containers" {
        "has(self.containers) && size(self.containers) > 0".to_owned()
    } else {
        format!("has(self.{field})")
    };
    format!("!({set}) || !has(self.rules) || self.rules.all(r, r in [{names}])")
}

fn expires_rule() -> String {
    format!(
        "!self.matches(r'{EXPIRES_PATTERN}') || timestamp(self) > timestamp('{EXPIRES_NOT_BEFORE}')"
    )
}

/// The `rules` list: a set of the rule names of [`GUARDRAIL_RULES`].
fn rule_names(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<&str> = GUARDRAIL_RULES.iter().map(|(name, _)| *name).collect();
    json_schema!({
        "type": "array",
        "maxItems": GUARDRAIL_RULES.len(),
        "x-kubernetes-list-type": "set",
        "items": { "type": "string", "enum": names },
    })
}

/// The namespaces an exception covers.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(validation = Rule::new("has(self.selector) || (has(self.names) && size(self.names) > 0)")
    .message("name the namespaces (names), select them by label (selector), or both"))]
#[serde(rename_all = "camelCase")]
pub struct ExceptionNamespaces {
    /// Namespaces by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 64),
        inner(length(max = 63), regex(pattern = NAMESPACE_NAME_PATTERN)),
        extend("x-kubernetes-list-type" = "set")
    )]
    pub names: Vec<String>,
    /// Namespaces by label (`kubernetes.io/metadata.name` holds a namespace's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

/// Where an exception stands. Written only by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HardeningExceptionStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Active` (in force), `Expired`, `Invalid` (never applied: see `message`) or `Pending`
    /// (not applied: its profile does not exist, or holds too many exceptions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ExceptionState>,
    /// A stable reason: `Active`, `ExpiringSoon`, `Expired`, `InvalidSpec`,
    /// `ExpiryNotAfterCreation`, `TooLong`, `LevelNotLower`, `ProfileNotFound`,
    /// `TooManyExceptions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The requirements the exception weakens, with catalogue and edition, e.g.
    /// `BSI SYS.1.6 (2023) A6, A10; BSI APP.4.4 (2023) A13`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weakens: Option<String>,
    /// `Ready` (True while in force), each with its own observedGeneration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// Where an exception stands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum ExceptionState {
    /// In force: the profile's admission policy, Pod Security labels and verdicts honour it.
    Active,
    /// Its expiry passed: the profile's rules apply again.
    Expired,
    /// Never applied: see `message`.
    Invalid,
    /// Not applied (yet): its profile does not exist or holds too many exceptions.
    Pending,
}

impl ExceptionState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Expired => "Expired",
            Self::Invalid => "Invalid",
            Self::Pending => "Pending",
        }
    }
}

/// The exceptions of a profile, in its status.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionsStatus {
    /// The exceptions in force (valid, unexpired; at most 32, by name): the profile's
    /// admission policy reads them from here at every request it judges, the operator
    /// renders the Pod Security labels and judges the verdicts with them. The operator
    /// removes an exception at its expiry: while it is not running, an expired exception
    /// stays here and keeps applying.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub active: Vec<ActiveException>,
    /// Of them, those expiring within a week.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(schema_with = "super::schema::count")]
    pub expiring_soon: u32,
    /// Exceptions of this profile whose expiry passed (they no longer apply).
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(schema_with = "super::schema::count")]
    pub expired: u32,
    /// Exceptions of this profile not applied: invalid, or beyond the 32 in force.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(schema_with = "super::schema::count")]
    pub not_applied: u32,
    /// The first expired and not applied exceptions by name, at most 10, e.g. `legacy-db:
    /// expired at 2026-06-30T00:00:00Z`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10), inner(length(max = 512)))]
    pub inactive: Vec<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// An exception in force, as the admission policy reads it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActiveException {
    /// The HardeningException's name.
    pub name: String,
    /// The guardrail rules it suspends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8), inner(length(max = 64)))]
    pub rules: Vec<String>,
    /// The lower Pod Security enforce level of the namespaces in `namespaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_security_level: Option<PodSecurityLevel>,
    /// Namespaces covered by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 63)))]
    pub namespaces: Vec<String>,
    /// Namespaces covered by label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Pods covered, by label; unset: every pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
    /// Containers covered, by name; empty: every container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(max = 63)))]
    pub containers: Vec<String>,
    /// When it expires (RFC 3339).
    pub expires: String,
    pub owner: String,
    /// Why (cut at 256 characters).
    pub reason: String,
}

impl ActiveException {
    /// One line for people: `legacy-shop (owner team-shop, until 2026-12-31T00:00:00Z):
    /// reason`.
    pub fn describe(&self) -> String {
        format!(
            "HardeningException {} (owner {}, until {}): {}",
            self.name, self.owner, self.expires, self.reason
        )
    }
}
