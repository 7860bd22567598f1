//! A profile's admission rules as the API server's own admission, without a webhook: one
//! ValidatingAdmissionPolicy and one binding per profile, and in Enforce mode one
//! MutatingAdmissionPolicy and binding, cluster-scoped, pure and deterministic like `render`.
//!
//! The validating policy holds two kinds of rules:
//! - `spec.guardrails` (images, read-only root file systems, exec and its kin, widening
//!   NetworkPolicies): `Deny` in Enforce mode, `Warn` and `Audit` in Audit mode; a
//!   matchCondition skips the pod requests that break none of them (see `may_break_a_rule`);
//! - protection (Enforce mode): only the operator's own identity (and the break-glass group,
//!   and the system controllers that delete objects with their owners or namespaces) may
//!   change or delete what the operator generated in a namespace, or the namespace's Pod
//!   Security labels and hardening annotations.
//!
//! The creation gate (Enforce mode) has a policy of its own, `hardening.dev-<profile>-gate`:
//! no pod and no ephemeral container in a governed namespace until the operator has applied
//! every object there and stamped the namespace (its `hardening.dev/profile` annotation,
//! written last), so nothing runs before the namespace is hardened, even while the operator
//! is down. It reads the namespace, which a matchCondition cannot. The rules that only warn
//! have a policy of their own too (`-warnings`).
//!
//! The stamp itself has a policy of its own too (Enforce mode, the operator's identity
//! known), `hardening.dev-<profile>-stamp`, bound to every namespace: only the operator (and
//! the break-glass group) may create a namespace carrying the stamp of the profile, add or
//! change it, or bring a namespace still carrying it from before it left the profile back
//! into the profile's namespaces; otherwise whoever may write Namespace objects could stamp
//! a namespace themselves and pass the gate before the operator hardened it.
//!
//! The mutating policy sets the profile's Pod Security labels on a namespace the moment it is
//! created (or labelled into the profile), so even the first request in it is judged by Pod
//! Security.
//!
//! The validating policy's CEL reads the rule settings from its parameter, the
//! HardeningProfile itself (`paramKind`); it only matches the requests of the rules the
//! profile turns on. The bindings select exactly the namespaces the profile governs, in both
//! modes: the profile's own `namespaceSelector`, minus (by the `kubernetes.io/metadata.name`
//! label the API server sets, or by name) the namespaces it excludes, those the operator
//! always excludes, and those a profile of higher precedence governs. Their cost is per
//! profile, not per namespace; the exclusion lists grow only with conflicts.

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kube::{Resource, ResourceExt};

use serde_json::{Value, json};

use crate::core::api::{HardeningProfile, Mode, ProtectedNetwork, RuleScope};
use crate::core::labels::{
    MANAGED_BY_LABEL, MANAGED_BY_VALUE, NAMESPACE_NAME_LABEL, PROFILE_LABEL, RENDERED_ANNOTATION,
};

pub const POLICY_API_VERSION: &str = "admissionregistration.k8s.io/v1";
pub const POLICY_KIND: &str = "ValidatingAdmissionPolicy";
pub const BINDING_KIND: &str = "ValidatingAdmissionPolicyBinding";
pub const MUTATING_POLICY_KIND: &str = "MutatingAdmissionPolicy";
pub const MUTATING_BINDING_KIND: &str = "MutatingAdmissionPolicyBinding";
/// Every kind of object a profile's admission rules are made of, in the order they are
/// applied (a binding names its policy).
pub const KINDS: [&str; 4] = [
    MUTATING_POLICY_KIND,
    MUTATING_BINDING_KIND,
    POLICY_KIND,
    BINDING_KIND,
];

/// The group whose members may change what the operator generated, the break-glass for
/// cluster administrators (`kubectl --as=<you> --as-group=hardening.dev:break-glass ...`).
pub const DEFAULT_BREAK_GLASS_GROUP: &str = "hardening.dev:break-glass";
/// The operator's identity as the chart and `config/rbac` install it.
pub const DEFAULT_OPERATOR_IDENTITY: &str =
    "system:serviceaccount:hardening-system:hardening-operator";
/// The controllers of kube-controller-manager that delete what the operator generated:
/// the garbage collector (objects of a deleted profile) and the namespace controller
/// (everything in a deleted namespace), by their own service accounts or as
/// kube-controller-manager itself.
pub const SYSTEM_IDENTITIES: [&str; 3] = [
    "system:kube-controller-manager",
    "system:serviceaccount:kube-system:generic-garbage-collector",
    "system:serviceaccount:kube-system:namespace-controller",
];

/// What the admission rules need to know of the cluster and the operator: who the operator
/// is (`None`: unknown, then nothing is protected: the operator could not repair what it
/// protects), the break-glass group, and whether the API server serves
/// MutatingAdmissionPolicy (`admissionregistration.k8s.io/v1`, Kubernetes 1.36).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdmissionEnv {
    pub operator: Option<String>,
    pub break_glass_group: String,
    pub mutating_policies: bool,
}

impl Default for AdmissionEnv {
    fn default() -> Self {
        Self {
            operator: Some(DEFAULT_OPERATOR_IDENTITY.to_owned()),
            break_glass_group: DEFAULT_BREAK_GLASS_GROUP.to_owned(),
            mutating_policies: true,
        }
    }
}

/// What the names of every profile's policy and binding start with.
pub const OBJECT_NAME_PREFIX: &str = "hardening.dev-";

/// Name of the policy and of its binding for `profile`: `hardening.dev-<profile>`.
pub fn object_name(profile: &str) -> String {
    format!("{OBJECT_NAME_PREFIX}{profile}")
}

/// The admission objects of a profile: the validating policy and binding, and (Enforce
/// mode, Pod Security labels, a cluster serving it) the mutating policy and binding.
#[derive(Clone, Debug, PartialEq)]
pub struct GuardrailObjects {
    pub policy: Value,
    pub binding: Value,
    pub mutating: Option<(Value, Value)>,
    /// The rules that only ever warn (`oneServicePerContainer`), in a policy of their own,
    /// `hardening.dev-<profile>-warnings`, bound with `[Warn, Audit]` in either mode: a
    /// binding's actions apply to every rule of its policy.
    pub warnings: Option<(Value, Value)>,
    /// The creation gate (Enforce mode), in a policy of its own, `hardening.dev-<profile>-gate`:
    /// it reads the namespace (`namespaceObject`), which the main policy's matchConditions
    /// cannot, so the main policy can skip the pods that break none of its rules.
    pub gate: Option<(Value, Value)>,
    /// The protection of the gate's stamp (Enforce mode, the operator's identity known), in
    /// a policy of its own, `hardening.dev-<profile>-stamp`, bound to every namespace (a
    /// namespace stamped outside the profile's namespaces could be relabelled into them).
    pub stamp: Option<(Value, Value)>,
}

impl GuardrailObjects {
    /// Every object with its kind, in the order they are applied: the mutating policy and
    /// binding, the gate's, the main ones, the warnings'.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Value)> {
        let mutating = self.mutating.iter().flat_map(|(policy, binding)| {
            [
                (MUTATING_POLICY_KIND, policy),
                (MUTATING_BINDING_KIND, binding),
            ]
        });
        let warnings = self
            .warnings
            .iter()
            .flat_map(|(policy, binding)| [(POLICY_KIND, policy), (BINDING_KIND, binding)]);
        let gate = self
            .gate
            .iter()
            .chain(&self.stamp)
            .flat_map(|(policy, binding)| [(POLICY_KIND, policy), (BINDING_KIND, binding)]);
        // The gate (and its stamp's protection) before the main policy: on an upgrade from a
        // version whose main policy held the gate, the gate is in place before the main
        // policy drops it.
        mutating
            .chain(gate)
            .chain([(POLICY_KIND, &self.policy), (BINDING_KIND, &self.binding)])
            .chain(warnings)
    }
}

/// Name of the policy and binding of the rules that only warn: `hardening.dev-<profile>-warnings`.
pub fn warnings_name(profile: &str) -> String {
    format!("{OBJECT_NAME_PREFIX}{profile}{WARNINGS_SUFFIX}")
}

/// What the names of the warnings policy and binding end with.
pub const WARNINGS_SUFFIX: &str = "-warnings";

/// Name of the creation gate's policy and binding: `hardening.dev-<profile>-gate`.
pub fn gate_name(profile: &str) -> String {
    format!("{OBJECT_NAME_PREFIX}{profile}{GATE_SUFFIX}")
}

/// What the names of the creation gate's policy and binding end with.
pub const GATE_SUFFIX: &str = "-gate";

/// Name of the policy and binding protecting the gate's stamp: `hardening.dev-<profile>-stamp`.
pub fn stamp_name(profile: &str) -> String {
    format!("{OBJECT_NAME_PREFIX}{profile}{STAMP_SUFFIX}")
}

/// What the names of the stamp's policy and binding end with.
pub const STAMP_SUFFIX: &str = "-stamp";

/// The names of every admission object a profile may have (each a policy and a binding of
/// that name).
pub fn object_names(profile: &str) -> [String; 4] {
    [
        object_name(profile),
        warnings_name(profile),
        gate_name(profile),
        stamp_name(profile),
    ]
}

/// The profile whose generated admission object has the name `name`
/// (`hardening.dev-<profile>`, `...-warnings`, `...-gate` or `...-stamp`; a profile named
/// `x-warnings`, `x-gate` or `x-stamp` is then read as `x`).
pub fn profile_of_name(name: &str) -> Option<&str> {
    let profile = name.strip_prefix(OBJECT_NAME_PREFIX)?;
    let profile = profile
        .strip_suffix(WARNINGS_SUFFIX)
        .or_else(|| profile.strip_suffix(GATE_SUFFIX))
        .or_else(|| profile.strip_suffix(STAMP_SUFFIX))
        .unwrap_or(profile);
    (!profile.is_empty()).then_some(profile)
}

/// The rules that never reject, in either mode: they only warn (a heuristic).
pub const WARNING_RULES: [&str; 1] = ["oneServicePerContainer"];

/// The rules judged on running pods that admission cannot judge, or only warns about: their
/// findings are reported, never counted as pods enforcing would reject.
pub fn rejects(rule: &str) -> bool {
    !WARNING_RULES.contains(&rule) && rule != AVAILABILITY_RULE
}

/// The name of `highAvailability`'s findings on running pods (too few replicas, no
/// PodDisruptionBudget): reported, not denied (admission judges the workloads' replicas).
pub const AVAILABILITY_RULE: &str = "highAvailability";

/// The rule a validation of the policy belongs to, read from its message (every message of a
/// rule starts with its `prefix`: `... guardrail <rule> (...`).
fn rule_of(validation: &Value) -> Option<&str> {
    let message = validation["messageExpression"].as_str()?;
    let (_, rest) = message.split_once(" guardrail ")?;
    rest.split_once(" (").map(|(rule, _)| rule)
}

/// `validationActions` of the binding in `mode`.
pub fn validation_actions(mode: Mode) -> Vec<&'static str> {
    match mode {
        Mode::Enforce => vec!["Deny"],
        Mode::Audit => vec!["Warn", "Audit"],
    }
}

/// The admission objects `profile` asks for: with `spec.guardrails` or in Enforce mode (the
/// creation gate and the protection of what it generates); `None` for an Audit profile
/// without guardrails. `not_governed` are names of namespaces its selector may match that it
/// does not govern (excluded by the operator or outranked by another profile).
pub fn render(
    profile: &HardeningProfile,
    not_governed: &BTreeSet<String>,
    protected: &[ProtectedNetwork],
    env: &AdmissionEnv,
) -> Option<GuardrailObjects> {
    let enforcing = profile.spec.mode == Mode::Enforce;
    if profile.spec.guardrails.is_none() && !enforcing {
        return None;
    }
    let guardrails = profile.spec.guardrails.clone().unwrap_or_default();
    let profile_name = profile.name_any();
    let name = object_name(&profile_name);
    let image_rules = !guardrails.allowed_registries.is_empty()
        || guardrails.require_image_tag
        || guardrails.require_image_digest
        || guardrails.require_read_only_root_filesystem;
    let pod_rules = guardrails.require_profiles
        || guardrails.require_user_namespaces
        || guardrails.deny_secret_env_literals
        || guardrails.deny_service_account_token
        || guardrails.deny_default_service_account
        || guardrails.require_controller
        || guardrails.require_probes
        || guardrails.require_read_only_mounts
        || guardrails.deny_mount_propagation;
    let mut rules = Vec::new();
    let pods_rule = || {
        resource_rule(
            "",
            &["CREATE", "UPDATE"],
            &["pods", "pods/ephemeralcontainers"],
        )
    };
    if image_rules || pod_rules || guardrails.deny_exec {
        rules.push(pods_rule());
    }
    let connect: Vec<&str> = [
        (guardrails.deny_exec, "pods/attach"),
        (guardrails.deny_exec, "pods/exec"),
        (guardrails.deny_port_forward, "pods/portforward"),
        (guardrails.deny_pod_proxy, "pods/proxy"),
    ]
    .into_iter()
    .filter_map(|(on, resource)| on.then_some(resource))
    .collect();
    if !connect.is_empty() {
        rules.push(resource_rule("", &["CONNECT"], &connect));
    }
    let protect = enforcing && env.operator.is_some();
    let mut policy_operations = Vec::new();
    if guardrails.deny_widening_network_policies {
        policy_operations.extend(["CREATE", "UPDATE"]);
    }
    if protect {
        policy_operations.extend(["UPDATE", "DELETE"]);
    }
    policy_operations.dedup();
    if !policy_operations.is_empty() {
        let mut operations = policy_operations.clone();
        operations.sort_unstable();
        operations.dedup();
        rules.push(resource_rule(
            "networking.k8s.io",
            &operations,
            &["networkpolicies"],
        ));
    }
    if guardrails.high_availability {
        rules.push(resource_rule(
            "apps",
            &["CREATE", "UPDATE"],
            &["deployments", "replicasets", "statefulsets"],
        ));
    }
    if protect {
        rules.push(resource_rule(
            "",
            &["UPDATE", "DELETE"],
            &["limitranges", "resourcequotas"],
        ));
        // The status and finalize subresources change a namespace's metadata too.
        rules.push(resource_rule(
            "",
            &["UPDATE"],
            &["namespaces", "namespaces/finalize", "namespaces/status"],
        ));
    }
    if rules.is_empty() {
        // Enforce mode without guardrails and without the operator's identity: only the
        // gate judges (in its own policy); this one matches pods and skips them all.
        rules.push(pods_rule());
    }
    // The rules that only warn go into a policy of their own (see `warnings`).
    let (warning, denying): (Vec<Value>, Vec<Value>) =
        match with_protected_networks_rule(validations(env)) {
            Value::Array(all) => all
                .into_iter()
                .partition(|v| rule_of(v).is_some_and(|r| WARNING_RULES.contains(&r))),
            _ => (Vec::new(), Vec::new()),
        };
    let metadata = || {
        json!({
            "name": name,
            "labels": {
                MANAGED_BY_LABEL: MANAGED_BY_VALUE,
                PROFILE_LABEL: profile_name,
            },
            "ownerReferences": owner_reference(profile),
        })
    };
    let mut policy = json!({
        "apiVersion": POLICY_API_VERSION,
        "kind": POLICY_KIND,
        "metadata": metadata(),
        "spec": {
            "failurePolicy": "Fail",
            "paramKind": {
                "apiVersion": HardeningProfile::api_version(&()),
                "kind": HardeningProfile::kind(&()),
            },
            "matchConstraints": {
                "matchPolicy": "Equivalent",
                "namespaceSelector": {},
                "objectSelector": {},
                "resourceRules": rules,
            },
            "matchConditions": [{
                "name": "mayBreakARule",
                "expression": may_break_a_rule(),
            }],
            "variables": with_protected_networks(variables(env), protected),
            "validations": denying.clone(),
        },
    });
    let mut binding = json!({
        "apiVersion": POLICY_API_VERSION,
        "kind": BINDING_KIND,
        "metadata": metadata(),
        "spec": {
            "policyName": name,
            "paramRef": { "name": profile_name, "parameterNotFoundAction": "Deny" },
            "validationActions": validation_actions(profile.spec.mode),
            "matchResources": {
                "matchPolicy": "Equivalent",
                "namespaceSelector": binding_selector(profile, not_governed),
                "objectSelector": {},
            },
        },
    });
    let labels = crate::core::render::pod_security_labels(profile);
    let mut mutating = (enforcing && env.mutating_policies && !labels.is_empty())
        .then(|| mutating_policy(profile, &name, metadata(), not_governed, env));
    let mut warnings = guardrails.one_service_per_container.then(|| {
        let warnings = warnings_name(&profile_name);
        let mut policy = policy.clone();
        policy["metadata"]["name"] = json!(warnings);
        policy["spec"]["matchConstraints"]["resourceRules"] = json!([resource_rule(
            "",
            &["CREATE", "UPDATE"],
            &["pods", "pods/ephemeralcontainers"]
        )]);
        policy["spec"]["validations"] = Value::Array(warning.clone());
        policy["spec"]["matchConditions"] = json!([{
            "name": "mayWarn",
            "expression": may_warn(),
        }]);
        let mut binding = binding.clone();
        binding["metadata"]["name"] = json!(warnings);
        binding["spec"]["policyName"] = json!(warnings);
        binding["spec"]["validationActions"] = json!(validation_actions(Mode::Audit));
        (policy, binding)
    });
    let mut gate = enforcing.then(|| gate_policy(&profile_name, &policy, &binding, env));
    let mut stamp = protect.then(|| stamp_policy(profile, &policy, &binding, not_governed, env));
    // Like a namespace's `hardening.dev/rendered`: a live object carrying the fingerprint of
    // what is rendered now and differing anyway was changed by someone else (a repair), one
    // with another fingerprint is due a rollout.
    let mutating_objects = mutating.iter_mut().flat_map(|(p, b)| [p, b]);
    let warning_objects = warnings.iter_mut().flat_map(|(p, b)| [p, b]);
    let gate_objects = gate.iter_mut().flat_map(|(p, b)| [p, b]);
    let stamp_objects = stamp.iter_mut().flat_map(|(p, b)| [p, b]);
    for object in [&mut policy, &mut binding]
        .into_iter()
        .chain(mutating_objects)
        .chain(warning_objects)
        .chain(gate_objects)
        .chain(stamp_objects)
    {
        let print = fingerprint(object);
        object["metadata"]["annotations"] = json!({ RENDERED_ANNOTATION: print });
    }
    Some(GuardrailObjects {
        policy,
        binding,
        mutating,
        warnings,
        gate,
        stamp,
    })
}

/// The creation gate's policy and binding (Enforce mode): in the namespaces of the main
/// binding, no new pod and no new ephemeral container until the operator has stamped the
/// namespace (its `hardening.dev/profile` annotation names the profile), but for the
/// break-glass group; nothing while the profile is being deleted. No exception suspends it.
fn gate_policy(profile: &str, main: &Value, binding: &Value, env: &AdmissionEnv) -> (Value, Value) {
    let name = gate_name(profile);
    let mut policy = main.clone();
    policy["metadata"]["name"] = json!(name);
    let spec = json!({
        "failurePolicy": "Fail",
        "paramKind": main["spec"]["paramKind"],
        "matchConstraints": {
            "matchPolicy": "Equivalent",
            "namespaceSelector": {},
            "objectSelector": {},
            "resourceRules": [
                resource_rule("", &["CREATE"], &["pods"]),
                resource_rule("", &["UPDATE"], &["pods/ephemeralcontainers"]),
            ],
        },
        "matchConditions": [
            {
                "name": "enforcing",
                "expression": "params.spec.?mode.orValue('Enforce') == 'Enforce' && !has(params.metadata.deletionTimestamp)",
            },
            {
                "name": "notBreakGlass",
                "expression": format!(
                    "!({} in request.userInfo.?groups.orValue([]))",
                    cel_string(&env.break_glass_group)
                ),
            },
        ],
        "validations": [{
            "expression": format!(
                "namespaceObject != null && namespaceObject.metadata.?annotations[?'{STAMP}'].orValue('') == params.metadata.name"
            ),
            "messageExpression": GATE_MESSAGE,
            "reason": "Forbidden",
        }],
    });
    policy["spec"] = spec;
    let mut binding = binding.clone();
    binding["metadata"]["name"] = json!(name);
    binding["spec"]["policyName"] = json!(name);
    binding["spec"]["validationActions"] = json!(validation_actions(Mode::Enforce));
    (policy, binding)
}

/// The protection of the gate's stamp (Enforce mode, the operator's identity known), bound to
/// every namespace: but for the operator and the break-glass group, nobody
/// - creates a namespace carrying `hardening.dev/profile: <profile>`, or adds it, or changes
///   it to name this profile (`forgedProfile`);
/// - writes `hardening.dev/rendered` (adds or changes its value) on a namespace whose
///   `hardening.dev/profile` names this profile or nothing (`forgedRendered`: it tells the
///   operator what is in place);
/// - brings a namespace that still carries this profile's stamp from before it left the
///   profile's namespaces back into them (`staleStamp`): while outside, the protection did not
///   cover what the operator generated there, so the stamp no longer says it is in place.
///   The operator removes the stamp of a namespace that leaves the profile (usually within a
///   second); while it is down, the stamp must be removed (outside the profile's namespaces,
///   where the protection does not hold it) before the namespace is brought in.
///
/// Removing the stamp, and every request that leaves it as it is (a GitOps tool re-applying
/// a manifest without the annotations, `kubectl label`), pass: without the stamp the gate
/// stays closed. Judged in Enforce mode, also while the profile is being deleted (the
/// operator removes stamps then, which passes); without the profile (deleted, its objects
/// not yet collected) nothing is judged (`parameterNotFoundAction: Allow`: the binding covers
/// every namespace of the cluster). The `namespaces/status` and `namespaces/finalize`
/// subresources are matched too: they change metadata as well.
fn stamp_policy(
    profile: &HardeningProfile,
    main: &Value,
    binding: &Value,
    not_governed: &BTreeSet<String>,
    env: &AdmissionEnv,
) -> (Value, Value) {
    let name = stamp_name(&profile.name_any());
    let mut excluded: BTreeSet<String> = not_governed.clone();
    excluded.extend(profile.spec.excluded_namespaces.iter().cloned());
    let excluded = excluded
        .iter()
        .map(|n| cel_string(n))
        .collect::<Vec<_>>()
        .join(", ");
    // The namespace `o` (its labels and name) is one of the profile's, as the main binding
    // selects them.
    let selected = |o: &str| {
        format!(
            "!({o}.metadata.name in [{excluded}]) && {}",
            selector_matches(
                "params.spec.namespaceSelector",
                &format!("{o}.metadata.?labels.orValue({{}})")
            )
        )
    };
    let annotation = |o: &str, key: &str| {
        format!(
            "{o}.metadata.?annotations[?{}].orValue('')",
            cel_string(key)
        )
    };
    let old_annotation =
        |key: &str| format!("oldObject == null ? '' : {}", annotation("oldObject", key));
    let break_glass = cel_string(&format!(
        "; in an emergency act with the group {} (kubectl --as=<you> --as-group={})",
        env.break_glass_group, env.break_glass_group
    ));
    let stamp_is = "'the stamp of HardeningProfile ' + params.metadata.name + ', which only hardening-operator may write, once it has applied the profile there (the creation gate admits pods where it is)'";
    let variables = json!([
        { "name": "newProfile", "expression": annotation("object", STAMP) },
        { "name": "oldProfile", "expression": old_annotation(STAMP) },
        { "name": "newRendered", "expression": annotation("object", RENDERED_ANNOTATION) },
        { "name": "oldRendered", "expression": old_annotation(RENDERED_ANNOTATION) },
        {
            "name": "forgedProfile",
            "expression": "variables.newProfile == params.metadata.name && variables.oldProfile != variables.newProfile",
        },
        {
            "name": "forgedRendered",
            "expression": "variables.newRendered != '' && variables.newRendered != variables.oldRendered && (variables.newProfile == params.metadata.name || variables.newProfile == '')",
        },
        {
            "name": "staleStamp",
            "expression": format!(
                "oldObject != null && variables.oldProfile == params.metadata.name && variables.newProfile == params.metadata.name && ({}) && !({})",
                selected("object"),
                selected("oldObject")
            ),
        },
    ]);
    let forbidden = |expression: &str, message: String| json!({ "expression": expression, "messageExpression": message, "reason": "Forbidden" });
    let validations = json!([
        forbidden(
            "!variables.forgedProfile",
            format!(
                "'annotation {STAMP}=' + params.metadata.name + ' on namespace ' + object.metadata.name + ' is ' + {stamp_is} + ': create or update the namespace without it, the operator stamps the namespaces the profile governs' + {break_glass}"
            ),
        ),
        forbidden(
            "!variables.forgedRendered",
            format!(
                "'annotation {RENDERED_ANNOTATION} on namespace ' + object.metadata.name + ' is part of ' + {stamp_is} + ': create or update the namespace without it' + {break_glass}"
            ),
        ),
        forbidden(
            "!variables.staleStamp",
            format!(
                "'namespace ' + object.metadata.name + ' carries the stamp of HardeningProfile ' + params.metadata.name + ' (annotation {STAMP}) from before it left the profile\\'s namespaces, and only hardening-operator may bring it back stamped: what the profile generated there was not protected meanwhile. Remove the annotations {STAMP} and {RENDERED_ANNOTATION} first, while it is outside (the operator stamps it again once it has applied the profile), or let hardening-operator remove them (it does within a second of a namespace leaving the profile, when it runs)' + {break_glass}"
            ),
        ),
    ]);
    let mut policy = main.clone();
    policy["metadata"]["name"] = json!(name);
    policy["spec"] = json!({
        "failurePolicy": "Fail",
        "paramKind": main["spec"]["paramKind"],
        "matchConstraints": {
            "matchPolicy": "Equivalent",
            "namespaceSelector": {},
            "objectSelector": {},
            "resourceRules": [
                resource_rule("", &["CREATE", "UPDATE"], &["namespaces"]),
                resource_rule("", &["UPDATE"], &["namespaces/finalize", "namespaces/status"]),
            ],
        },
        "matchConditions": [
            {
                "name": "enforcing",
                "expression": "params.spec.?mode.orValue('Enforce') == 'Enforce'",
            },
            {
                "name": "notOperatorOrBreakGlass",
                "expression": format!(
                    "!(request.userInfo.username in [{}] || {} in request.userInfo.?groups.orValue([]))",
                    env.operator.iter().map(|o| cel_string(o)).collect::<Vec<_>>().join(", "),
                    cel_string(&env.break_glass_group)
                ),
            },
        ],
        "variables": variables,
        "validations": validations,
    });
    let mut binding = binding.clone();
    binding["metadata"]["name"] = json!(name);
    binding["spec"]["policyName"] = json!(name);
    binding["spec"]["paramRef"]["parameterNotFoundAction"] = json!("Allow");
    binding["spec"]["validationActions"] = json!(validation_actions(Mode::Enforce));
    binding["spec"]["matchResources"]["namespaceSelector"] = json!({});
    (policy, binding)
}

/// The creation gate's refusal.
const GATE_MESSAGE: &str = "'namespace ' + request.namespace + ' is not hardened yet by HardeningProfile ' + params.metadata.name + ': no pod or ephemeral container is admitted before the operator has applied the profile there and stamped the namespace, usually within a second of its creation. This is temporary: retry (controllers do on their own); if it lasts, check that hardening-operator runs'";

/// CEL: the request's pod's container list `list` (`containers`, `initContainers`,
/// `ephemeralContainers`; only the first is never absent).
fn container_list(list: &str) -> String {
    if list == "containers" {
        "object.spec.containers".to_owned()
    } else {
        format!("object.spec.?{list}.orValue([])")
    }
}

/// CEL: container `c` runs under the profile's seccomp profile: its own, else the pod's.
/// One text for the main policy's validation and its matchCondition, so they cannot drift.
const SECCOMP_OK: &str = "!has(params.spec.seccomp) || (c.?securityContext.?seccompProfile.?type.or(object.spec.?securityContext.?seccompProfile.?type).orValue('') == 'Localhost' && c.?securityContext.?seccompProfile.?localhostProfile.or(object.spec.?securityContext.?seccompProfile.?localhostProfile).orValue('') == 'hardening.dev/' + params.metadata.name + '.json')";

/// CEL: container `c` runs under the profile's AppArmor profile (named by `profile`, a CEL
/// string): its own field, else the pre-1.30 annotation (which the API server copies into
/// the container's field), else the pod's field.
fn apparmor_ok(profile: &str) -> String {
    format!(
        "!has(params.spec.apparmor) || (c.?securityContext.?appArmorProfile.?type.hasValue() ? (c.securityContext.appArmorProfile.type == 'Localhost' && c.securityContext.appArmorProfile.?localhostProfile.orValue('') == {profile}) : (object.metadata.?annotations[?('{APPARMOR_ANNOTATION_PREFIX}' + c.name)].hasValue() ? object.metadata.annotations['{APPARMOR_ANNOTATION_PREFIX}' + c.name] == 'localhost/' + {profile} : (object.spec.?securityContext.?appArmorProfile.?type.orValue('') == 'Localhost' && object.spec.securityContext.appArmorProfile.?localhostProfile.orValue('') == {profile})))"
    )
}

/// CEL: volume mount `m` writes, but to a declared scratch volume (emptyDir or ephemeral).
const WRITABLE_MOUNT: &str = "!m.?readOnly.orValue(false) && !(m.name in params.spec.guardrails.?scratchVolumes.orValue([]) && object.spec.?volumes.orValue([]).exists(v, v.name == m.name && (has(v.emptyDir) || has(v.ephemeral))))";

/// CEL: container `c` starts a known process supervisor.
fn supervisor() -> String {
    format!(
        "size(c.?command.orValue([])) > 0 && c.command[0].substring(c.command[0].lastIndexOf('/') + 1) in [{}]",
        SUPERVISORS.map(cel_string).join(", ")
    )
}

/// CEL over one container list of the request's pod: `list.exists(c, cond)`, for the
/// regular, init and ephemeral containers (lists of different types: one `exists` each).
fn any_container(lists: &[&str], cond: &str) -> String {
    lists
        .iter()
        .map(|list| format!("{}.exists(c, {cond})", container_list(list)))
        .collect::<Vec<_>>()
        .join(" || ")
}

/// The request is a pod, or ephemeral containers of one, created or updated (what the pod
/// rules judge), as `variables.isPod` says.
const IS_POD: &str = "request.resource.?group.orValue('') == '' && request.resource.resource == 'pods' && (request.?subResource.orValue('') == '' || request.?subResource.orValue('') == 'ephemeralcontainers') && request.operation != 'CONNECT'";

/// The main policy's matchCondition: false only for a pod request that breaks none of the
/// rules the profile (the parameter) turns on, judged on every container of the pod (not
/// only those the request adds) and without exceptions (which only relax). A superset of
/// what the validations can refuse or warn about: a request it lets through is judged by
/// them in full, exceptions included; one it skips none of them could have refused. (The
/// matchConditions see no `variables`, hence the expressions written out; the creation gate
/// has a policy of its own.) Every other request (CONNECT, NetworkPolicies, workloads, the
/// protection) is judged in full.
fn may_break_a_rule() -> String {
    const ALL: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];
    let on = |field: &str| format!("params.spec.?guardrails.?{field}.orValue(false)");
    let created = "oldObject == null && request.?subResource.orValue('') == ''";
    let apparmor_profile = "'hardening.dev-' + params.metadata.name";
    let seccomp_ok = SECCOMP_OK;
    let apparmor_ok = apparmor_ok(apparmor_profile);
    let secret_pattern = format!(
        "params.spec.?guardrails.?secretEnvNamePattern.orValue({})",
        cel_string(crate::core::api::DEFAULT_SECRET_ENV_NAME_PATTERN)
    );
    let writable_mount = WRITABLE_MOUNT;
    let broken = [
        format!(
            "(size(params.spec.?guardrails.?allowedRegistries.orValue([])) > 0 && ({}))",
            any_container(
                &ALL,
                &format!(
                    "!params.spec.guardrails.allowedRegistries.exists(r, {}.startsWith(r + '/'))",
                    normalized("c.image")
                )
            )
        ),
        format!(
            "({} && ({}))",
            on("requireImageTag"),
            any_container(
                &ALL,
                "!c.image.contains('@') && (!c.image.substring(c.image.lastIndexOf('/') + 1).contains(':') || c.image.endsWith(':latest'))"
            )
        ),
        format!(
            "({} && ({}))",
            on("requireImageDigest"),
            any_container(&ALL, "!c.image.contains('@')")
        ),
        format!(
            "({} && ({}))",
            on("requireReadOnlyRootFilesystem"),
            any_container(
                &ALL,
                "!c.?securityContext.?readOnlyRootFilesystem.orValue(false)"
            )
        ),
        format!(
            "({} && request.?subResource.orValue('') == 'ephemeralcontainers')",
            on("denyExec")
        ),
        format!(
            "({} && ({}))",
            on("requireProfiles"),
            any_container(&ALL, &format!("!({seccomp_ok}) || !({apparmor_ok})"))
        ),
        format!(
            "({created} && {} && object.spec.?hostUsers.orValue(true) != false)",
            on("requireUserNamespaces")
        ),
        format!(
            "({} && ({}))",
            on("denySecretEnvLiterals"),
            any_container(
                &ALL,
                &format!(
                    "c.?env.orValue([]).exists(e, e.?value.orValue('') != '' && e.name.matches({secret_pattern}))"
                )
            )
        ),
        format!(
            "({created} && {} && !(object.metadata.?annotations[?{annotation}].orValue('') == 'true' || (object.spec.?automountServiceAccountToken.orValue(true) == false && !object.spec.?volumes.orValue([]).exists(v, v.?projected.?sources.orValue([]).exists(s, has(s.serviceAccountToken))))))",
            on("denyServiceAccountToken"),
            annotation = cel_string(crate::core::api::SERVICE_ACCOUNT_TOKEN_ANNOTATION)
        ),
        format!(
            "({created} && {} && object.spec.?serviceAccountName.orValue('') in ['', 'default'])",
            on("denyDefaultServiceAccount")
        ),
        format!(
            "({created} && {} && !object.metadata.?ownerReferences.orValue([]).exists(o, o.?controller.orValue(false)))",
            on("requireController")
        ),
        format!(
            "({} && !object.metadata.?ownerReferences.orValue([]).exists(o, o.?controller.orValue(false) && o.kind == 'Job' && o.apiVersion.startsWith('batch/')) && ({}))",
            on("requireProbes"),
            any_container(
                &["containers"],
                "!has(c.livenessProbe) || !has(c.readinessProbe)"
            )
        ),
        format!(
            "({} && ({}))",
            on("requireReadOnlyMounts"),
            any_container(
                &ALL,
                &format!("c.?volumeMounts.orValue([]).exists(m, {writable_mount})")
            )
        ),
        format!(
            "({} && ({}))",
            on("denyMountPropagation"),
            any_container(
                &ALL,
                "c.?volumeMounts.orValue([]).exists(m, m.?mountPropagation.orValue('None') != 'None')"
            )
        ),
    ];
    format!("!({IS_POD}) || {}", broken.join(" || "))
}

/// The warnings policy's matchCondition: false for a pod request none of whose regular or
/// init containers exposes several ports or starts a process supervisor (ephemeral
/// containers have no ports), judged on every container and without exceptions, a superset
/// of what `oneServicePerContainer` warns about.
fn may_warn() -> String {
    let supervisor = supervisor();
    format!(
        "!({IS_POD}) || ({}) && ({})",
        "params.spec.?guardrails.?oneServicePerContainer.orValue(false)",
        any_container(
            &["containers", "initContainers"],
            &format!(
                "c.?ports.orValue([]).map(p, p.containerPort).exists(p, p != c.ports[0].containerPort) || ({supervisor})"
            )
        )
    )
}

/// The mutating policy and binding that set the profile's Pod Security labels on a namespace
/// the moment it is created or labelled into the profile's selector (the binding selects
/// namespaces by their own labels; the policy leaves out `not_governed` and the profile's
/// exclusions by name, the only mark a namespace has at creation). The labels are read from
/// the profile (the parameter) at admission, so they follow a change of the profile at once,
/// and are only ever set, never removed: when the profile drops a mode, the operator's own
/// write removes its label without the policy putting it back.
fn mutating_policy(
    profile: &HardeningProfile,
    name: &str,
    metadata: Value,
    not_governed: &BTreeSet<String>,
    env: &AdmissionEnv,
) -> (Value, Value) {
    let mut excluded: BTreeSet<String> = not_governed.clone();
    excluded.extend(profile.spec.excluded_namespaces.iter().cloned());
    let excluded_list = excluded
        .iter()
        .map(|n| cel_string(n))
        .collect::<Vec<_>>()
        .join(", ");
    use crate::core::labels::pod_security::{
        AUDIT, AUDIT_VERSION, ENFORCE, ENFORCE_VERSION, WARN, WARN_VERSION,
    };
    let label_map = [
        ("enforce", ENFORCE, ENFORCE_VERSION),
        ("audit", AUDIT, AUDIT_VERSION),
        ("warn", WARN, WARN_VERSION),
    ]
    .map(|(mode, level, version)| {
        // The enforce level a HardeningException in force lowers for this namespace (named
        // in it), else the profile's.
        let value = if mode == "enforce" {
            "params.spec.?podSecurity.?enforce.hasValue() ? optional.of(variables.lowered.exists(l, l == 'privileged') ? 'privileged' : (variables.lowered.exists(l, l == 'baseline') ? 'baseline' : params.spec.podSecurity.enforce.level)) : optional.none()".to_owned()
        } else {
            format!("params.spec.?podSecurity.?{mode}.?level")
        };
        format!(
            "?{level}: {value}, ?{version}: params.spec.?podSecurity.?{mode}.hasValue() ? optional.of(params.spec.podSecurity.{mode}.?version.orValue('latest')) : optional.none()",
            level = cel_string(level),
            version = cel_string(version),
        )
    })
    .join(", ");
    let policy = json!({
        "apiVersion": POLICY_API_VERSION,
        "kind": MUTATING_POLICY_KIND,
        "metadata": metadata,
        "spec": {
            "failurePolicy": "Fail",
            "reinvocationPolicy": "Never",
            "paramKind": {
                "apiVersion": HardeningProfile::api_version(&()),
                "kind": HardeningProfile::kind(&()),
            },
            "matchConstraints": {
                "matchPolicy": "Equivalent",
                "namespaceSelector": {},
                "objectSelector": {},
                "resourceRules": [resource_rule("", &["CREATE", "UPDATE"], &["namespaces"])],
            },
            // Not while the profile is being deleted or no longer enforces: the operator then
            // gives the labels up, and must not see them come back.
            "matchConditions": [
                {
                    "name": "governed",
                    "expression": format!("!(object.metadata.name in [{excluded_list}])"),
                },
                {
                    "name": "enforcing",
                    "expression": "!has(params.metadata.deletionTimestamp) && params.spec.?mode.orValue('Enforce') == 'Enforce'",
                },
                // The break-glass group's changes stand as made (the operator repairs them,
                // as every other generated field), rather than being undone unseen.
                {
                    "name": "notBreakGlass",
                    "expression": format!(
                        "!({} in request.userInfo.?groups.orValue([]))",
                        cel_string(&env.break_glass_group)
                    ),
                },
                // A namespace the operator has hardened (stamped) keeps the labels the
                // operator writes: set here again from a parameter that is a moment old,
                // they could undo the operator's own write (an exception just expired).
                {
                    "name": "notYetHardened",
                    "expression": format!("request.operation == 'CREATE' || object.metadata.?annotations[?{}].orValue('') != params.metadata.name", cel_string(STAMP)),
                },
            ],
            "variables": [{
                "name": "lowered",
                "expression": "params.?status.?exceptions.?active.orValue([]).filter(e, has(e.podSecurityLevel) && object.metadata.name in e.?namespaces.orValue([])).map(e, e.podSecurityLevel)",
            }],
            "mutations": [{
                "patchType": "ApplyConfiguration",
                "applyConfiguration": {
                    "expression": format!("Object{{metadata: Object.metadata{{labels: {{{label_map}}}}}}}"),
                },
            }],
        },
    });
    let mut binding_metadata = policy["metadata"].clone();
    binding_metadata["name"] = json!(name);
    let binding = json!({
        "apiVersion": POLICY_API_VERSION,
        "kind": MUTATING_BINDING_KIND,
        "metadata": binding_metadata,
        "spec": {
            "policyName": name,
            "paramRef": { "name": profile.name_any(), "parameterNotFoundAction": "Allow" },
            "matchResources": {
                "matchPolicy": "Equivalent",
                "namespaceSelector": {},
                "objectSelector": selector_value(profile.spec.namespace_selector.clone()),
            },
        },
    });
    (policy, binding)
}

/// 16 hex digits of a SHA-256 of the object as rendered (without annotations), less its
/// ownerReferences, which an offline render cannot know: `render` and the cluster then
/// agree on the policy's fingerprint (see [`crate::core::render::fingerprint`]).
fn fingerprint(object: &Value) -> String {
    let mut object = object.clone();
    if let Some(meta) = object["metadata"].as_object_mut() {
        meta.remove("ownerReferences");
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, object.to_string().as_bytes());
    digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn owner_reference(profile: &HardeningProfile) -> Vec<Value> {
    crate::core::render::owner_reference(profile)
        .map(|owner| vec![serde_json::to_value(owner).expect("an OwnerReference serializes")])
        .unwrap_or_default()
}

fn resource_rule(group: &str, operations: &[&str], resources: &[&str]) -> Value {
    json!({
        "apiGroups": [group],
        "apiVersions": ["v1"],
        "operations": operations,
        "resources": resources,
        "scope": "*",
    })
}

/// The namespaces `profile` governs as one label selector (its own, minus `not_governed`
/// and its exclusions by name): the binding's, and the ClusterNetworkPolicies' subject.
pub fn namespace_selector(profile: &HardeningProfile, not_governed: &BTreeSet<String>) -> Value {
    binding_selector(profile, not_governed)
}

/// The profile's selector, and the namespaces it does not govern excluded by name. The
/// selector's requirements are kept as they are (the API server matches them as
/// `api::selects` does).
fn binding_selector(profile: &HardeningProfile, not_governed: &BTreeSet<String>) -> Value {
    let mut selector: LabelSelector = profile.spec.namespace_selector.clone();
    let mut excluded: BTreeSet<String> = not_governed.clone();
    excluded.extend(profile.spec.excluded_namespaces.iter().cloned());
    if !excluded.is_empty() {
        selector
            .match_expressions
            .get_or_insert_with(Vec::new)
            .push(LabelSelectorRequirement {
                key: NAMESPACE_NAME_LABEL.to_owned(),
                operator: "NotIn".to_owned(),
                values: Some(excluded.into_iter().collect()),
            });
    }
    selector_value(selector)
}

fn selector_value(selector: LabelSelector) -> Value {
    let mut value = serde_json::to_value(selector).expect("a LabelSelector serializes");
    // The API server stores `{}` for an empty selector; the diff compares maps by key.
    if value.is_null() {
        value = json!({});
    }
    value
}

/// CEL normalising the image reference `image` as container runtimes pull it (the Docker
/// reference rules containerd and CRI-O follow): a first path component with a dot or a
/// port, or `localhost`, is a registry; anything else is on `docker.io`, and a name with
/// no namespace there is in `library` (`busybox` is `docker.io/library/busybox`,
/// `harbor/app:1` is `docker.io/harbor/app:1`); `index.docker.io` is `docker.io`.
fn normalized(image: &str) -> String {
    let first = format!("{image}.split('/')[0]");
    let rest = format!("{image}.substring({image}.indexOf('/') + 1)");
    format!(
        "(({image}.contains('/') && ({first}.contains('.') || {first}.contains(':') || {first} == 'localhost')) ? (({first} == 'docker.io' || {first} == 'index.docker.io') ? 'docker.io/' + ({rest}.contains('/') ? '' : 'library/') + {rest} : {image}) : 'docker.io/' + ({image}.contains('/') ? '' : 'library/') + {image})"
    )
}

/// The operator's own annotation naming the profile that governs a namespace: written last,
/// after every object is in place, it is the stamp the creation gate waits for.
const STAMP: &str = crate::core::labels::PROFILE_ANNOTATION;

/// Who asks: what a rule looks at, as CEL variables (evaluated lazily, once per request).
fn variables(env: &AdmissionEnv) -> Value {
    let containers = |object: &str, field: &str| {
        format!(
            "{object}.spec.containers.map(c, c.{field}) + {object}.spec.?initContainers.orValue([]).map(c, c.{field}) + {object}.spec.?ephemeralContainers.orValue([]).map(c, c.{field})"
        )
    };
    // Containers as `{name, image}` (init and ephemeral ones are of other types, so they
    // meet as maps), optionally only those with a writable root file system.
    let named = |object: &str, filter: &str| {
        [
            "spec.containers",
            "spec.?initContainers.orValue([])",
            "spec.?ephemeralContainers.orValue([])",
        ]
        .map(|list| format!("{object}.{list}{filter}.map(c, {{'name': c.name, 'image': c.image}})"))
        .join(" + ")
    };
    let writable_filter = ".filter(c, !c.?securityContext.?readOnlyRootFilesystem.orValue(false))";
    let writable = |object: &str| {
        format!(
            "{object}.spec.containers{writable_filter}.map(c, c.name) + {object}.spec.?initContainers.orValue([]){writable_filter}.map(c, c.name) + {object}.spec.?ephemeralContainers.orValue([]){writable_filter}.map(c, c.name)"
        )
    };
    // The containers of `object` in `lists` (`containers`, `initContainers`,
    // `ephemeralContainers`) that the request adds (all of them on a creation) and for which
    // `cond` holds, each as `{name, text}` (`text`: `what`, a string), so that an exception can
    // cover containers by name: on an update only what it adds is judged. Both converted to
    // `string`: the API server's CEL wants the values of a map literal of one type, and a
    // field of a container reads as `dyn` in some lists.
    let added = |lists: &[&str], cond: &str, what: &str| -> String {
        lists
            .iter()
            .map(|list| {
                format!("{}.filter(c, !(c.name in variables.oldContainers) && ({cond})).map(c, {{'name': string(c.name), 'text': string({what})}})", container_list(list))
            })
            .collect::<Vec<_>>()
            .join(" + ")
    };
    const ALL: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];
    let rule_on = |field: &str| format!("params.spec.?guardrails.?{field}.orValue(false)");
    let seccomp_ok = SECCOMP_OK;
    let apparmor_ok = apparmor_ok("variables.apparmorProfile");
    let secret_env = "c.?env.orValue([]).exists(e, e.?value.orValue('') != '' && e.name.matches(variables.secretPattern))";
    let writable_mount = WRITABLE_MOUNT;
    let propagating_mount = "m.?mountPropagation.orValue('None') != 'None'";
    let supervisor = supervisor();
    let pod_vars = [
        (
            "oldContainers",
            format!(
                "variables.isPod && oldObject != null ? {} : []",
                containers("oldObject", "name")
            ),
        ),
        // A new pod (not an update of one): what only a creation sets is judged.
        (
            "created",
            "variables.isPod && oldObject == null && request.?subResource.orValue('') == ''"
                .to_owned(),
        ),
        (
            "apparmorProfile",
            "'hardening.dev-' + params.metadata.name".to_owned(),
        ),
        (
            "unconfined",
            format!(
                "variables.isPod && {} ? {} : []",
                rule_on("requireProfiles"),
                added(
                    &ALL,
                    &format!("!({seccomp_ok}) || !({apparmor_ok})"),
                    "c.name"
                )
            ),
        ),
        (
            "secretPattern",
            format!(
                "params.spec.?guardrails.?secretEnvNamePattern.orValue({})",
                cel_string(crate::core::api::DEFAULT_SECRET_ENV_NAME_PATTERN)
            ),
        ),
        (
            "secretLiterals",
            format!(
                "variables.isPod && {} ? {} : []",
                rule_on("denySecretEnvLiterals"),
                added(
                    &ALL,
                    secret_env,
                    "'container ' + c.name + ' sets ' + c.env.filter(e, e.?value.orValue('') != '' && e.name.matches(variables.secretPattern))[0].name"
                )
            ),
        ),
        // Regular containers of a pod no Job owns.
        (
            "unprobed",
            format!(
                "variables.isPod && {} && !object.metadata.?ownerReferences.orValue([]).exists(o, o.?controller.orValue(false) && o.kind == 'Job' && o.apiVersion.startsWith('batch/')) ? {} : []",
                rule_on("requireProbes"),
                added(
                    &["containers"],
                    "!has(c.livenessProbe) || !has(c.readinessProbe)",
                    "c.name + (has(c.livenessProbe) ? ' has no readinessProbe' : (has(c.readinessProbe) ? ' has no livenessProbe' : ' has neither livenessProbe nor readinessProbe'))"
                )
            ),
        ),
        (
            "writableMounts",
            format!(
                "variables.isPod && {} ? {} : []",
                rule_on("requireReadOnlyMounts"),
                added(
                    &ALL,
                    &format!("c.?volumeMounts.orValue([]).exists(m, {writable_mount})"),
                    &format!(
                        "'container ' + c.name + ' mounts volume ' + c.volumeMounts.filter(m, {writable_mount})[0].name + ' at ' + c.volumeMounts.filter(m, {writable_mount})[0].mountPath"
                    )
                )
            ),
        ),
        (
            "propagatingMounts",
            format!(
                "variables.isPod && {} ? {} : []",
                rule_on("denyMountPropagation"),
                added(
                    &ALL,
                    &format!("c.?volumeMounts.orValue([]).exists(m, {propagating_mount})"),
                    &format!(
                        "'container ' + c.name + ' mounts volume ' + c.volumeMounts.filter(m, {propagating_mount})[0].name + ' with mountPropagation ' + c.volumeMounts.filter(m, {propagating_mount})[0].mountPropagation"
                    )
                )
            ),
        ),
        // Ephemeral containers have no ports.
        (
            "multiService",
            format!(
                "variables.isPod && {} ? {} : []",
                rule_on("oneServicePerContainer"),
                added(
                    &["containers", "initContainers"],
                    &format!(
                        "c.?ports.orValue([]).map(p, p.containerPort).exists(p, p != c.ports[0].containerPort) || ({supervisor})"
                    ),
                    &format!(
                        "'container ' + c.name + (({supervisor}) ? ' runs the process supervisor ' + c.command[0] : ' exposes the ports ' + c.ports.map(p, string(p.containerPort)).join(', '))"
                    )
                )
            ),
        ),
        // A Deployment, StatefulSet or ReplicaSet (not one a Deployment owns: its replicas
        // pass through 1 during rollouts) whose pod template is labelled highly available,
        // with fewer than 2 replicas (0: switched off); an update is judged only when the
        // object was not already so.
        (
            "fewReplicas",
            format!(
                "variables.isWorkload && {on} && !object.metadata.?ownerReferences.orValue([]).exists(o, o.?controller.orValue(false)) && {few} && !(oldObject != null && {old_few})",
                on = rule_on("highAvailability"),
                few = few_replicas("object"),
                old_few = few_replicas("oldObject"),
            ),
        ),
    ];
    let vars = [
        (
            "isPod",
            "request.resource.?group.orValue('') == '' && request.resource.resource == 'pods' && (request.?subResource.orValue('') == '' || request.?subResource.orValue('') == 'ephemeralcontainers') && request.operation != 'CONNECT'".to_owned(),
        ),
        // A NetworkPolicy created or updated (a deletion, matched for the protection, has
        // no object to judge).
        (
            "isPolicy",
            "request.resource.?group.orValue('') == 'networking.k8s.io' && request.resource.resource == 'networkpolicies' && object != null".to_owned(),
        ),
        (
            "images",
            format!("variables.isPod ? {} : []", containers("object", "image")),
        ),
        (
            "oldImages",
            format!(
                "variables.isPod && oldObject != null ? {} : []",
                containers("oldObject", "image")
            ),
        ),
        // On an update only what it adds is judged: a pod from before the guardrails can
        // still be relabelled, finalized and deleted. Containers as `{name, image}`.
        (
            "newContainers",
            format!(
                "variables.isPod ? ({}).filter(c, !(c.image in variables.oldImages)) : []",
                named("object", "")
            ),
        ),
        (
            "writable",
            format!("variables.isPod ? {} : []", named("object", writable_filter)),
        ),
        (
            "oldWritable",
            format!(
                "variables.isPod && oldObject != null ? {} : []",
                writable("oldObject")
            ),
        ),
        (
            "newWritable",
            "variables.writable.filter(c, !(c.name in variables.oldWritable))".to_owned(),
        ),
        (
            "registries",
            "params.spec.?guardrails.?allowedRegistries.orValue([])".to_owned(),
        ),
        (
            "badRegistry",
            format!(
                "size(variables.registries) == 0 ? [] : variables.newContainers.filter(c, !variables.registries.exists(r, {}.startsWith(r + '/')))",
                normalized("c.image")
            ),
        ),
        (
            "badTag",
            "!params.spec.?guardrails.?requireImageTag.orValue(false) ? [] : variables.newContainers.filter(c, !c.image.contains('@') && (!c.image.substring(c.image.lastIndexOf('/') + 1).contains(':') || c.image.endsWith(':latest')))".to_owned(),
        ),
        (
            "badDigest",
            "!params.spec.?guardrails.?requireImageDigest.orValue(false) ? [] : variables.newContainers.filter(c, !c.image.contains('@'))".to_owned(),
        ),
        (
            "ingressIsolated",
            "has(params.spec.networkPolicy) && ('Ingress' in params.spec.networkPolicy.?defaultDeny.orValue(['Ingress', 'Egress']) || size(params.spec.networkPolicy.?ingress.orValue([])) > 0)".to_owned(),
        ),
        (
            "egressIsolated",
            "has(params.spec.networkPolicy) && ('Egress' in params.spec.networkPolicy.?defaultDeny.orValue(['Ingress', 'Egress']) || size(params.spec.networkPolicy.?egress.orValue([])) > 0)".to_owned(),
        ),
        (
            "allowSame",
            "has(params.spec.networkPolicy) && params.spec.networkPolicy.?allowSameNamespace.orValue(true)".to_owned(),
        ),
        (
            "allowDns",
            "has(params.spec.networkPolicy) && params.spec.networkPolicy.?allowDns.orValue(true)".to_owned(),
        ),
        (
            "profileIngress",
            "params.spec.?networkPolicy.?ingress.orValue([])".to_owned(),
        ),
        (
            "profileEgress",
            "params.spec.?networkPolicy.?egress.orValue([])".to_owned(),
        ),
        (
            "wideningIngress",
            format!(
                "variables.isPolicy && variables.ingressIsolated && params.spec.?guardrails.?denyWideningNetworkPolicies.orValue(false) ? object.spec.?ingress.orValue([]).filter(r, !({})) : []",
                ingress_covered("r")
            ),
        ),
        (
            "wideningEgress",
            format!(
                "variables.isPolicy && variables.egressIsolated && params.spec.?guardrails.?denyWideningNetworkPolicies.orValue(false) ? object.spec.?egress.orValue([]).filter(r, !({})) : []",
                egress_covered("r")
            ),
        ),
        // Enforce mode, and not while the profile is being deleted (the operator then
        // releases its namespaces).
        (
            "enforcing",
            "params.spec.?mode.orValue('Enforce') == 'Enforce' && !has(params.metadata.deletionTimestamp)".to_owned(),
        ),
        (
            "breakGlass",
            format!(
                "{} in request.userInfo.?groups.orValue([])",
                cel_string(&env.break_glass_group)
            ),
        ),
        // The operator itself, the system controllers that delete with owners and
        // namespaces, and the break-glass group.
        (
            "trusted",
            format!(
                "request.userInfo.username in [{}] || variables.breakGlass",
                env.operator
                    .iter()
                    .map(String::as_str)
                    .chain(SYSTEM_IDENTITIES)
                    .map(cel_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        (
            "newEphemeral",
            "variables.isPod && request.?subResource.orValue('') == 'ephemeralcontainers' ? object.spec.?ephemeralContainers.orValue([]).map(c, c.name).filter(n, !(oldObject != null && n in oldObject.spec.?ephemeralContainers.orValue([]).map(c, c.name))) : []".to_owned(),
        ),
        // An object this profile generated, changed or deleted.
        (
            "generated",
            format!(
                "request.operation in ['UPDATE', 'DELETE'] && request.resource.resource in ['networkpolicies', 'resourcequotas', 'limitranges'] && request.?subResource.orValue('') == '' && oldObject != null && oldObject.metadata.?labels[?'{MANAGED_BY_LABEL}'].orValue('') == '{MANAGED_BY_VALUE}' && oldObject.metadata.?labels[?'{PROFILE_LABEL}'].orValue('') == params.metadata.name"
            ),
        ),
        // A namespace this profile governs, its Pod Security labels or the operator's
        // annotations changed.
        (
            "namespaceHardening",
            format!(
                "request.resource.resource == 'namespaces' && request.operation == 'UPDATE' && oldObject != null && oldObject.metadata.?annotations[?'{STAMP}'].orValue('') == params.metadata.name && ([{labels}].exists(k, oldObject.metadata.?labels[?k].orValue('') != object.metadata.?labels[?k].orValue('')) || [{annotations}].exists(k, oldObject.metadata.?annotations[?k].orValue('') != object.metadata.?annotations[?k].orValue('')))",
                labels = crate::core::labels::pod_security::ALL
                    .map(cel_string)
                    .join(", "),
                annotations = [STAMP, RENDERED_ANNOTATION].map(cel_string).join(", "),
            ),
        ),
        // The exceptions in force (HardeningExceptions the operator accepted and lists in the
        // profile's status) that cover this request's namespace, by name or label, and of
        // them those covering its pod, or a workload's pods by its pod template's labels (an
        // exception with a pod selector covers no request without a pod: exec,
        // port-forward, proxy, NetworkPolicies).
        // A Deployment, StatefulSet or ReplicaSet created or updated (`highAvailability`).
        (
            "isWorkload",
            "request.resource.?group.orValue('') == 'apps' && request.resource.resource in ['deployments', 'statefulsets', 'replicasets'] && request.?subResource.orValue('') == '' && object != null".to_owned(),
        ),
        (
            "namespaceLabels",
            "namespaceObject != null ? namespaceObject.metadata.?labels.orValue({}) : {}".to_owned(),
        ),
        (
            "podLabels",
            "variables.isPod ? object.metadata.?labels.orValue({}) : (variables.isWorkload ? object.spec.?template.?metadata.?labels.orValue({}) : {})".to_owned(),
        ),
        (
            "exceptions",
            format!(
                "params.?status.?exceptions.?active.orValue([]).filter(e, request.namespace in e.?namespaces.orValue([]) || (has(e.namespaceSelector) && {}))",
                selector_matches("e.namespaceSelector", "variables.namespaceLabels")
            ),
        ),
        (
            "podExceptions",
            format!(
                "variables.exceptions.filter(e, !has(e.podSelector) || ((variables.isPod || variables.isWorkload) && {}))",
                selector_matches("e.podSelector", "variables.podLabels")
            ),
        ),
    ];
    Value::Array(
        vars.into_iter()
            .chain(pod_vars)
            .map(|(name, expression)| json!({ "name": name, "expression": expression }))
            .collect(),
    )
}

/// CEL: the workload `object` (a Deployment, StatefulSet or ReplicaSet) is labelled highly
/// available in its pod template and asks for 1 replica (unset: 1).
fn few_replicas(object: &str) -> String {
    format!(
        "{object}.spec.?template.?metadata.?labels[?{label}].orValue('') == 'true' && {object}.spec.?replicas.orValue(1) == 1",
        label = cel_string(crate::core::api::HIGH_AVAILABILITY_LABEL)
    )
}

/// The AppArmor annotation of Kubernetes before 1.30, per container.
const APPARMOR_ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

/// Process supervisors, by the name of their executable: a container whose command starts
/// one runs several services (`oneServicePerContainer`).
pub const SUPERVISORS: [&str; 14] = [
    "supervisord",
    "s6-svscan",
    "runsvdir",
    "runit",
    "circusd",
    "pm2",
    "pm2-runtime",
    "monit",
    "systemd",
    "init",
    "honcho",
    "foreman",
    "forego",
    "overmind",
];

/// A CEL string literal.
fn cel_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// CEL: a label selector (a `LabelSelector` of the parameter) matches `labels`, as the API
/// server matches selectors (`matchLabels` and every `matchExpressions` requirement; an
/// unknown operator matches nothing).
fn selector_matches(selector: &str, labels: &str) -> String {
    format!(
        "({selector}.?matchLabels.orValue({{}}).all(k, k in {labels} && {labels}[k] == {selector}.matchLabels[k]) && {selector}.?matchExpressions.orValue([]).all(x, x.operator == 'In' ? (x.key in {labels} && {labels}[x.key] in x.?values.orValue([])) : (x.operator == 'NotIn' ? !(x.key in {labels} && {labels}[x.key] in x.?values.orValue([])) : (x.operator == 'Exists' ? x.key in {labels} : (x.operator == 'DoesNotExist' ? !(x.key in {labels}) : false)))))"
    )
}

/// CEL: an exception in force suspends guardrail `rule` for this request: one of
/// `variables.podExceptions` (covering the namespace and the pod) lists the rule and names
/// no containers, or, for `container` (a CEL expression of its name), names that one.
fn exempt(rule: &str, container: Option<&str>) -> String {
    let containers = match container {
        None => "size(e.?containers.orValue([])) == 0".to_owned(),
        Some(c) => format!("(size(e.?containers.orValue([])) == 0 || {c} in e.containers)"),
    };
    format!(
        "variables.podExceptions.exists(e, {} in e.?rules.orValue([]) && {containers})",
        cel_string(rule)
    )
}

/// The validation of guardrail `rule` (its field name in `spec.guardrails`, listed in
/// `api::GUARDRAIL_RULES`) judging a pod or a request as a whole: it rejects what
/// `expression` finds false, unless an exception in force suspends the rule for the
/// request.
///
/// The contract for every guardrail rule, those added later included: its validation is
/// built here or by [`container_guardrail`], keyed by its name, so that HardeningExceptions
/// suspend it without anything else to do (a unit test fails for a guardrail validation
/// that is not, and for a field of `Guardrails` missing from `GUARDRAIL_RULES`).
fn guardrail(rule: &str, expression: &str, message: String) -> Value {
    debug_assert!(
        crate::core::api::rule_scope(rule).is_some_and(|s| s != RuleScope::Containers),
        "{rule} is a pod or request rule of GUARDRAIL_RULES"
    );
    json!({
        "expression": format!("({expression}) || {}", exempt(rule, None)),
        "messageExpression": message,
    })
}

/// The validation of guardrail `rule` judging containers: `offenders` (a CEL list of
/// containers as `{name, image}`) breaks it, but those an exception in force suspends the
/// rule for; `message` words the first remaining one (given as a CEL expression).
fn container_guardrail(rule: &str, offenders: &str, message: impl Fn(&str) -> String) -> Value {
    debug_assert_eq!(
        crate::core::api::rule_scope(rule),
        Some(RuleScope::Containers),
        "{rule} is a container rule of GUARDRAIL_RULES"
    );
    let remaining = format!("{offenders}.filter(c, !{})", exempt(rule, Some("c.name")));
    json!({
        "expression": format!("size({remaining}) == 0"),
        "messageExpression": message(&format!("{remaining}[0]")),
    })
}

/// Each rule: what it rejects, and a message naming the rule and the BSI requirement.
fn validations(env: &AdmissionEnv) -> Value {
    let prefix = |rule: &str| {
        format!(
            "'HardeningProfile ' + params.metadata.name + ' guardrail {rule} ({}): ",
            crate::core::compliance::guardrail_citation(rule)
        )
    };
    let mut rules = json!([
        container_guardrail("allowedRegistries", "variables.badRegistry", |first| {
            format!(
                "{}image ' + {first}.image + ' (pulled as ' + {} + ') is not from an allowed registry (' + variables.registries.join(', ') + ')'",
                prefix("allowedRegistries"),
                normalized(&format!("{first}.image"))
            )
        }),
        container_guardrail("requireImageTag", "variables.badTag", |first| {
            format!(
                "{}image ' + {first}.image + ' has no tag or the tag latest: give a version tag or a digest'",
                prefix("requireImageTag")
            )
        }),
        container_guardrail("requireImageDigest", "variables.badDigest", |first| {
            format!(
                "{}image ' + {first}.image + ' is not pinned by digest (image@sha256:...)'",
                prefix("requireImageDigest")
            )
        }),
        container_guardrail(
            "requireReadOnlyRootFilesystem",
            "(params.spec.?guardrails.?requireReadOnlyRootFilesystem.orValue(false) ? variables.newWritable : [])",
            |first| {
                format!(
                    "{}container ' + {first}.name + ' does not set securityContext.readOnlyRootFilesystem: true'",
                    prefix("requireReadOnlyRootFilesystem")
                )
            }
        ),
        guardrail(
            "denyExec",
            "!(request.operation == 'CONNECT' && (request.?subResource.orValue('') == 'exec' || request.?subResource.orValue('') == 'attach') && params.spec.?guardrails.?denyExec.orValue(false))",
            format!(
                "{}' + request.?subResource.orValue('') + ' into pods is not allowed in this namespace'",
                prefix("denyExec")
            ),
        ),
        // `kubectl debug` adds an ephemeral container (any image, any command, sharing the
        // target's processes) and reads its output with `kubectl logs`: another way in.
        guardrail(
            "denyExec",
            "!params.spec.?guardrails.?denyExec.orValue(false) || size(variables.newEphemeral) == 0",
            format!(
                "{}ephemeral container ' + variables.newEphemeral[0] + ' (kubectl debug) is not allowed in this namespace'",
                prefix("denyExec")
            ),
        ),
        guardrail(
            "denyPortForward",
            "!(request.operation == 'CONNECT' && request.?subResource.orValue('') == 'portforward' && params.spec.?guardrails.?denyPortForward.orValue(false))",
            format!(
                "{}port-forward to pods is not allowed in this namespace (it reaches container ports past the NetworkPolicies)'",
                prefix("denyPortForward")
            ),
        ),
        guardrail(
            "denyPodProxy",
            "!(request.operation == 'CONNECT' && request.?subResource.orValue('') == 'proxy' && params.spec.?guardrails.?denyPodProxy.orValue(false))",
            format!(
                "{}the pods/proxy subresource is not allowed in this namespace (it reaches container ports past the NetworkPolicies)'",
                prefix("denyPodProxy")
            ),
        ),
        // The pod rules of issue 22 (each container rule's variable lists its containers as
        // `{name, text}`, see `variables`).
        container_guardrail("requireProfiles", "variables.unconfined", |first| {
            format!(
                "{}container ' + {first}.name + ' does not run under the profile\\'s ' + (has(params.spec.seccomp) ? 'seccomp profile (seccompProfile: {{type: Localhost, localhostProfile: hardening.dev/' + params.metadata.name + '.json}})' : '') + (has(params.spec.seccomp) && has(params.spec.apparmor) ? ' and ' : '') + (has(params.spec.apparmor) ? 'AppArmor profile (appArmorProfile: {{type: Localhost, localhostProfile: ' + variables.apparmorProfile + '}})' : '') + ': set it in the pod\\'s or the container\\'s securityContext (the profile\\'s status.workloadSecurityContext)'",
                prefix("requireProfiles")
            )
        }),
        guardrail(
            "requireUserNamespaces",
            "!variables.created || !params.spec.?guardrails.?requireUserNamespaces.orValue(false) || object.spec.?hostUsers.orValue(true) == false",
            format!(
                "{}pod ' + object.metadata.?name.orValue(object.metadata.?generateName.orValue('')) + ' does not set hostUsers: false (a user namespace, so that its root is not the host\\'s; the nodes need {})'",
                prefix("requireUserNamespaces"),
                crate::core::nodes::USER_NAMESPACES_NODE_NEEDS
            ),
        ),
        container_guardrail(
            "denySecretEnvLiterals",
            "variables.secretLiterals",
            |first| {
                format!(
                    "{}' + {first}.text + ' as a literal value: take secret-like values from a Secret (env[].valueFrom.secretKeyRef), or rename the variable if it holds no secret (names matching ' + variables.secretPattern + ')'",
                    prefix("denySecretEnvLiterals")
                )
            }
        ),
        guardrail(
            "denyServiceAccountToken",
            &format!(
                "!variables.created || !params.spec.?guardrails.?denyServiceAccountToken.orValue(false) || object.metadata.?annotations[?{annotation}].orValue('') == 'true' || (object.spec.?automountServiceAccountToken.orValue(true) == false && !object.spec.?volumes.orValue([]).exists(v, v.?projected.?sources.orValue([]).exists(s, has(s.serviceAccountToken))))",
                annotation = cel_string(crate::core::api::SERVICE_ACCOUNT_TOKEN_ANNOTATION)
            ),
            format!(
                "{}pod ' + object.metadata.?name.orValue(object.metadata.?generateName.orValue('')) + ' gets a service account token (a credential for the Kubernetes API): set automountServiceAccountToken: false and project no token, or annotate the pod {}: \"true\" if it calls the API'",
                prefix("denyServiceAccountToken"),
                crate::core::api::SERVICE_ACCOUNT_TOKEN_ANNOTATION
            ),
        ),
        guardrail(
            "denyDefaultServiceAccount",
            "!variables.created || !params.spec.?guardrails.?denyDefaultServiceAccount.orValue(false) || object.spec.?serviceAccountName.orValue('') != 'default' && object.spec.?serviceAccountName.orValue('') != ''",
            format!(
                "{}pod ' + object.metadata.?name.orValue(object.metadata.?generateName.orValue('')) + ' runs under the default service account: give the application a service account of its own (serviceAccountName)'",
                prefix("denyDefaultServiceAccount")
            ),
        ),
        container_guardrail(
            "oneServicePerContainer",
            "variables.multiService",
            |first| {
                format!(
                    "{}' + {first}.text + ': a container should provide one service (a heuristic: this only warns)'",
                    prefix("oneServicePerContainer")
                )
            }
        ),
        guardrail(
            "requireController",
            "!variables.created || !params.spec.?guardrails.?requireController.orValue(false) || object.metadata.?ownerReferences.orValue([]).exists(o, o.?controller.orValue(false))",
            format!(
                "{}pod ' + object.metadata.?name.orValue(object.metadata.?generateName.orValue('')) + ' has no controller (a bare pod is not recreated when its node fails): run it through a Deployment, StatefulSet, DaemonSet or Job'",
                prefix("requireController")
            ),
        ),
        container_guardrail("requireProbes", "variables.unprobed", |first| {
            format!(
                "{}container ' + {first}.text + ': every container needs a livenessProbe and a readinessProbe'",
                prefix("requireProbes")
            )
        }),
        guardrail(
            "highAvailability",
            "!variables.fewReplicas",
            format!(
                "{}' + object.kind + ' ' + object.metadata.?name.orValue(object.metadata.?generateName.orValue('')) + ' is labelled {}: \"true\" (highly available) but asks for 1 replica: set replicas: 2 or more'",
                prefix("highAvailability"),
                crate::core::api::HIGH_AVAILABILITY_LABEL
            ),
        ),
        container_guardrail(
            "requireReadOnlyMounts",
            "variables.writableMounts",
            |first| {
                format!(
                    "{}' + {first}.text + ' writable: set readOnly: true (only emptyDir or ephemeral volumes named in the profile\\'s guardrails.scratchVolumes may be writable)'",
                    prefix("requireReadOnlyMounts")
                )
            }
        ),
        container_guardrail(
            "denyMountPropagation",
            "variables.propagatingMounts",
            |first| {
                format!(
                    "{}' + {first}.text + ': only mountPropagation None is allowed (no mounts shared with the host)'",
                    prefix("denyMountPropagation")
                )
            }
        ),
        guardrail(
            "denyWideningNetworkPolicies",
            "size(variables.wideningIngress) + size(variables.wideningEgress) == 0",
            format!(
                "{}NetworkPolicy ' + object.metadata.name + ' has ' + string(size(variables.wideningIngress)) + ' ingress and ' + string(size(variables.wideningEgress)) + ' egress rules allowing traffic the profile denies (every peer and port of a rule must be one the profile allows)'",
                prefix("denyWideningNetworkPolicies")
            ),
        ),
    ]);
    let forbidden = |expression: &str, message: String| json!({ "expression": expression, "messageExpression": message, "reason": "Forbidden" });
    let rules = rules.as_array_mut().expect("an array");
    if env.operator.is_some() {
        let break_glass = cel_string(&format!(
            "; change the profile instead, or in an emergency act with the group {} (kubectl --as=<you> --as-group={})",
            env.break_glass_group, env.break_glass_group
        ));
        rules.push(forbidden(
            "!variables.enforcing || variables.trusted || !variables.generated",
            format!(
                "oldObject.kind + ' ' + request.namespace + '/' + oldObject.metadata.name + ' was generated by HardeningProfile ' + params.metadata.name + ' and only hardening-operator may change or delete it' + {break_glass}"
            ),
        ));
        rules.push(forbidden(
            "!variables.enforcing || variables.trusted || !variables.namespaceHardening",
            format!(
                "'the Pod Security labels and hardening.dev annotations of namespace ' + oldObject.metadata.name + ' are set by HardeningProfile ' + params.metadata.name + ' and only hardening-operator may change them' + {break_glass}"
            ),
        ));
    }
    Value::Array(std::mem::take(rules))
}

/// The variables plus `protectedReach`: the tenant policy's egress rules that reach a
/// protected network, the operator's (`protected`, written into the policy) or the
/// profile's own (`networkPolicy.protectedNetworks`, read from the parameter), whatever the
/// profile isolates (see `core::protected`).
fn with_protected_networks(variables: Value, protected: &[ProtectedNetwork]) -> Value {
    // Rule `r` reaches the range `cidr` (a CEL string) on ports where `ports` holds.
    let reach = |cidr: &str, ports: &str| {
        format!(
            "(({ports}) && (size(r.?to.orValue([])) == 0 || r.to.exists(p, has(p.ipBlock) && (!isCIDR(p.ipBlock.cidr) || ((cidr(p.ipBlock.cidr).containsCIDR({cidr}) || cidr({cidr}).containsCIDR(p.ipBlock.cidr)) && !p.ipBlock.?except.orValue([]).exists(x, isCIDR(x) && (cidr(x).containsCIDR({cidr}) || cidr(x).containsCIDR(p.ipBlock.cidr))))))))"
        )
    };
    // A port of `r` overlaps the protected port range `first`..`last` of `protocol`.
    let overlap = |protocol: &str, first: &str, last: &str| {
        format!(
            "tp.?protocol.orValue('TCP') == {protocol} && (!has(tp.port) || type(tp.port) == string || (int(tp.port) <= {last} && tp.?endPort.orValue(int(tp.port)) >= {first}))"
        )
    };
    // The operator's networks are written into the policy, one term each (CEL literals
    // must be of one type, so no list of them); the profile's are read from the parameter.
    let mut terms: Vec<String> = protected
        .iter()
        .map(|n| {
            let ports = if n.ports.is_empty() {
                "true".to_owned()
            } else {
                let any: Vec<String> = n
                    .ports
                    .iter()
                    .map(|p| {
                        overlap(
                            &format!("'{}'", p.protocol.as_str()),
                            &p.port.to_string(),
                            &p.end_port.unwrap_or(p.port).to_string(),
                        )
                    })
                    .collect();
                format!(
                    "size(r.?ports.orValue([])) == 0 || r.ports.exists(tp, {})",
                    any.join(" || ")
                )
            };
            reach(&format!("'{}'", n.cidr), &ports)
        })
        .collect();
    terms.push(format!(
        "params.spec.networkPolicy.?protectedNetworks.orValue([]).exists(n, {})",
        reach(
            "n.cidr",
            &format!(
                "size(n.?ports.orValue([])) == 0 || size(r.?ports.orValue([])) == 0 || r.ports.exists(tp, n.ports.exists(pp, {}))",
                overlap(
                    "pp.?protocol.orValue('TCP')",
                    "pp.port",
                    "pp.?endPort.orValue(pp.port)"
                )
            )
        )
    ));
    let mut variables = variables;
    if let Some(list) = variables.as_array_mut() {
        list.push(json!({
            "name": "protectedReach",
            "expression": format!(
                "variables.isPolicy && has(params.spec.networkPolicy) && params.spec.?guardrails.?denyWideningNetworkPolicies.orValue(false) ? object.spec.?egress.orValue([]).filter(r, {}) : []",
                terms.join(" || "),
            ),
        }));
    }
    variables
}

/// The validations plus the one rejecting a NetworkPolicy that reaches a protected network.
fn with_protected_networks_rule(validations: Value) -> Value {
    let mut validations = validations;
    if let Some(list) = validations.as_array_mut() {
        list.push(guardrail(
            "denyWideningNetworkPolicies",
            "size(variables.protectedReach) == 0",
            format!(
                "'HardeningProfile ' + params.metadata.name + ' guardrail denyWideningNetworkPolicies ({}): NetworkPolicy ' + object.metadata.name + ' has ' + string(size(variables.protectedReach)) + ' egress rules reaching a protected network (the cloud metadata service, the nodes or the control plane): except it (ipBlock.except) or leave out its ports'",
                crate::core::compliance::guardrail_citation("denyWideningNetworkPolicies")
            ),
        ));
    }
    validations
}

/// `t` selects no more than `s`: every label and requirement of `s` is one of `t`'s too.
fn selector_within(t: &str, s: &str) -> String {
    format!(
        "({s}.?matchLabels.orValue({{}}).all(k, k in {t}.?matchLabels.orValue({{}}) && {t}.matchLabels[k] == {s}.matchLabels[k]) && {s}.?matchExpressions.orValue([]).all(e, {t}.?matchExpressions.orValue([]).exists(f, f.key == e.key && f.operator == e.operator && f.?values.orValue([]) == e.?values.orValue([]))))"
    )
}

/// Tenant peer `p` (no ipBlock) lies within the profile's selector peer `q`.
fn selector_peer_within(p: &str, q: &str) -> String {
    format!(
        "(!has({p}.ipBlock) && (has({q}.namespaceSelector) ? (has({p}.namespaceSelector) && {ns}) : !has({p}.namespaceSelector)) && (!has({q}.podSelector) || (has({p}.podSelector) && {pod})))",
        ns = selector_within(
            &format!("{p}.namespaceSelector"),
            &format!("{q}.namespaceSelector")
        ),
        pod = selector_within(&format!("{p}.podSelector"), &format!("{q}.podSelector")),
    )
}

/// Tenant egress peer `p` lies within the profile's egress peer `q` (an IP range: inside
/// its `cidr`, and every `except` of it that overlaps excepted too).
fn egress_peer_within(p: &str, q: &str) -> String {
    format!(
        "(has({q}.cidr) ? (has({p}.ipBlock) && cidr({q}.cidr).containsCIDR({p}.ipBlock.cidr) && {q}.?except.orValue([]).all(e, !cidr(e).containsCIDR({p}.ipBlock.cidr) && (!cidr({p}.ipBlock.cidr).containsCIDR(e) || {p}.ipBlock.?except.orValue([]).exists(x, cidr(x).containsCIDR(e))))) : {})",
        selector_peer_within(p, q)
    )
}

/// Every port of tenant rule `r` lies within the ports of profile rule `pr` (none: all).
fn ports_within(r: &str, pr: &str) -> String {
    format!(
        "(size({pr}.?ports.orValue([])) == 0 || (size({r}.?ports.orValue([])) > 0 && {r}.ports.all(tp, has(tp.port) && type(tp.port) == int && {pr}.ports.exists(pp, tp.?protocol.orValue('TCP') == pp.?protocol.orValue('TCP') && int(tp.port) >= pp.port && tp.?endPort.orValue(int(tp.port)) <= pp.?endPort.orValue(pp.port)))))"
    )
}

/// Tenant peer `p`: pods of the policy's own namespace, which `allowSameNamespace` allows.
fn same_namespace(p: &str) -> String {
    format!("(variables.allowSame && !has({p}.namespaceSelector) && !has({p}.ipBlock))")
}

/// Tenant peer `p` of rule `r` is one of the profile's `sameNamespace` rules: pods of the
/// namespace within its pods on the other side, the policy's own pods within its pods on
/// this side (`targets`: `to` for ingress, `from` for egress), on ports within its ports.
fn segment(r: &str, p: &str, targets: &str, peers: &str) -> String {
    format!(
        "params.spec.networkPolicy.?sameNamespace.orValue([]).exists(s, !has({p}.namespaceSelector) && !has({p}.ipBlock) && (!has(s.{targets}) || {own}) && (!has(s.{peers}) || (has({p}.podSelector) && {peer})) && {ports})",
        own = selector_within("object.spec.podSelector", &format!("s.{targets}")),
        peer = selector_within(&format!("{p}.podSelector"), &format!("s.{peers}")),
        ports = ports_within(r, "s"),
    )
}

fn ingress_covered(r: &str) -> String {
    format!(
        "(size({r}.?from.orValue([])) == 0 ? variables.profileIngress.exists(pr, size(pr.?from.orValue([])) == 0 && {all_ports}) : {r}.from.all(p, {same} || {segment} || variables.profileIngress.exists(pr, (size(pr.?from.orValue([])) == 0 || pr.from.exists(q, {within})) && {all_ports})))",
        all_ports = ports_within(r, "pr"),
        same = same_namespace("p"),
        segment = segment(r, "p", "to", "from"),
        within = selector_peer_within("p", "q"),
    )
}

fn egress_covered(r: &str) -> String {
    let dns = format!(
        "(variables.allowDns && !has(p.ipBlock) && has(p.namespaceSelector) && has(p.podSelector) && p.namespaceSelector.?matchLabels.orValue({{}})[?'{NAMESPACE_NAME_LABEL}'].orValue('') == 'kube-system' && p.podSelector.?matchLabels.orValue({{}})[?'k8s-app'].orValue('') == 'kube-dns' && size({r}.?ports.orValue([])) > 0 && {r}.ports.all(tp, has(tp.port) && type(tp.port) == int && int(tp.port) == 53 && tp.?endPort.orValue(53) == 53 && tp.?protocol.orValue('TCP') in ['TCP', 'UDP']))"
    );
    format!(
        "(size({r}.?to.orValue([])) == 0 ? variables.profileEgress.exists(pr, size(pr.?to.orValue([])) == 0 && {all_ports}) : {r}.to.all(p, {same} || {segment} || {dns} || variables.profileEgress.exists(pr, (size(pr.?to.orValue([])) == 0 || pr.to.exists(q, {within})) && {all_ports})))",
        all_ports = ports_within(r, "pr"),
        same = same_namespace("p"),
        segment = segment(r, "p", "from", "to"),
        within = egress_peer_within("p", "q"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::api::Guardrails;
    use crate::fixtures::{ProfileFixture, profile};

    /// The profiles here: stored, selecting tier strict but for `legacy`.
    fn scoped(name: &str) -> ProfileFixture {
        profile(name).uid("uid-1").spec(json!({
            "namespaceSelector": {"matchLabels": {"tier": "strict"}},
            "excludedNamespaces": ["legacy"],
        }))
    }

    /// A profile of [`scoped`] with `guardrails`.
    fn guarded(name: &str, guardrails: &Guardrails) -> HardeningProfile {
        scoped(name)
            .spec(json!({ "guardrails": guardrails }))
            .build()
    }

    fn all_rules() -> Guardrails {
        Guardrails {
            allowed_registries: vec!["registry.example.com".into()],
            require_image_tag: true,
            require_image_digest: false,
            require_read_only_root_filesystem: true,
            deny_exec: true,
            deny_port_forward: true,
            deny_pod_proxy: true,
            deny_widening_network_policies: true,
            require_profiles: true,
            require_user_namespaces: true,
            deny_secret_env_literals: true,
            secret_env_name_pattern: None,
            deny_service_account_token: true,
            deny_default_service_account: true,
            one_service_per_container: true,
            require_controller: true,
            require_probes: true,
            high_availability: true,
            require_read_only_mounts: true,
            scratch_volumes: vec!["tmp".into()],
            deny_mount_propagation: true,
        }
    }

    fn env() -> AdmissionEnv {
        AdmissionEnv {
            operator: Some("system:serviceaccount:ops:hardening".into()),
            break_glass_group: "breakers".into(),
            mutating_policies: true,
        }
    }

    /// [`render`] with [`env`].
    fn rendered(
        profile: &HardeningProfile,
        not_governed: &BTreeSet<String>,
    ) -> Option<GuardrailObjects> {
        render(profile, not_governed, &[], &env())
    }

    #[test]
    fn print_for_manual_use() {
        if std::env::var_os("HARDENING_PRINT_GUARDRAILS").is_some() {
            let objects = rendered(&guarded("p", &all_rules()), &BTreeSet::new()).unwrap();
            println!("{}", serde_json::to_string_pretty(&objects.policy).unwrap());
            println!(
                "{}",
                serde_json::to_string_pretty(&objects.binding).unwrap()
            );
        }
    }

    #[test]
    fn an_audit_profile_without_guardrails_renders_nothing() {
        let audit = scoped("p").spec(json!({"mode": "Audit"})).build();
        assert_eq!(rendered(&audit, &BTreeSet::new()), None);
        // In Enforce mode the gate and the protection need the policy anyway.
        assert!(rendered(&scoped("p").build(), &BTreeSet::new()).is_some());
    }

    #[test]
    fn the_policy_matches_only_the_requests_of_the_rules_turned_on() {
        let resources = |g: Guardrails| -> Vec<String> {
            let mut profile = guarded("p", &g);
            // Audit mode: the guardrails alone (Enforce adds the gate and the protection).
            profile.spec.mode = Mode::Audit;
            let objects = rendered(&profile, &BTreeSet::new()).unwrap();
            objects.policy["spec"]["matchConstraints"]["resourceRules"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|r| r["resources"].as_array().unwrap().clone())
                .map(|r| r.as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            resources(all_rules()),
            [
                "pods",
                "pods/ephemeralcontainers",
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
                "networkpolicies",
                "deployments",
                "replicasets",
                "statefulsets"
            ]
        );
        // Each pod rule of issue 22 alone matches pods (and only highAvailability workloads).
        for rule in [
            "requireProfiles",
            "requireUserNamespaces",
            "denySecretEnvLiterals",
            "denyServiceAccountToken",
            "denyDefaultServiceAccount",
            "requireController",
            "requireProbes",
            "requireReadOnlyMounts",
            "denyMountPropagation",
        ] {
            let g: Guardrails = serde_json::from_value(json!({ rule: true })).unwrap();
            assert_eq!(resources(g), ["pods", "pods/ephemeralcontainers"], "{rule}");
        }
        let ha: Guardrails = serde_json::from_value(json!({"highAvailability": true})).unwrap();
        assert_eq!(
            resources(ha),
            ["deployments", "replicasets", "statefulsets"]
        );
        let exec_only = Guardrails {
            deny_exec: true,
            ..Guardrails::default()
        };
        // denyExec covers ephemeral containers too.
        assert_eq!(
            resources(exec_only),
            [
                "pods",
                "pods/ephemeralcontainers",
                "pods/attach",
                "pods/exec"
            ]
        );
        let registries_only = Guardrails {
            allowed_registries: vec!["r.example".into()],
            ..Guardrails::default()
        };
        assert_eq!(
            resources(registries_only),
            ["pods", "pods/ephemeralcontainers"]
        );
    }

    #[test]
    fn the_binding_uses_the_profile_as_parameter_and_the_mode_as_actions() {
        let mut p = guarded("shop", &all_rules());
        p.spec.pod_security =
            serde_json::from_value(json!({"enforce": {"level": "restricted"}})).unwrap();
        let objects = rendered(&p, &BTreeSet::new()).unwrap();
        let binding = &objects.binding["spec"];
        assert_eq!(binding["policyName"], "hardening.dev-shop");
        assert_eq!(objects.policy["metadata"]["name"], "hardening.dev-shop");
        assert_eq!(binding["paramRef"]["name"], "shop");
        assert_eq!(binding["validationActions"], json!(["Deny"]));
        assert_eq!(
            objects.policy["spec"]["paramKind"],
            json!({"apiVersion": "hardening.dev/v1alpha1", "kind": "HardeningProfile"})
        );
        p.spec.mode = Mode::Audit;
        let audit = rendered(&p, &BTreeSet::new()).unwrap();
        assert_eq!(
            audit.binding["spec"]["validationActions"],
            json!(["Warn", "Audit"])
        );
        // The rules read the mode and the rule values from the parameter: only the requests
        // matched (no gate or protection in Audit mode) and the binding's actions differ.
        assert_eq!(
            audit.policy["spec"]["validations"],
            objects.policy["spec"]["validations"]
        );
        assert_eq!(
            audit.mutating, None,
            "Audit mode sets no labels at creation"
        );
        let (mutating, mutating_binding) = objects.mutating.as_ref().unwrap();
        for object in [
            &objects.policy,
            &objects.binding,
            mutating,
            mutating_binding,
        ] {
            assert_eq!(
                object["metadata"]["labels"][MANAGED_BY_LABEL],
                MANAGED_BY_VALUE
            );
            assert_eq!(object["metadata"]["labels"][PROFILE_LABEL], "shop");
            assert_eq!(object["metadata"]["ownerReferences"][0]["uid"], "uid-1");
        }
    }

    #[test]
    fn the_binding_selects_the_profile_selector_minus_excluded_and_outranked_namespaces() {
        let not_governed: BTreeSet<String> = ["kube-system".to_owned(), "taken".to_owned()].into();
        let objects = rendered(&guarded("p", &all_rules()), &not_governed).unwrap();
        assert_eq!(
            objects.binding["spec"]["matchResources"]["namespaceSelector"],
            json!({
                "matchLabels": {"tier": "strict"},
                "matchExpressions": [{
                    "key": NAMESPACE_NAME_LABEL,
                    "operator": "NotIn",
                    "values": ["kube-system", "legacy", "taken"],
                }],
            })
        );
    }

    #[test]
    fn the_fingerprint_follows_what_is_rendered() {
        let a = rendered(&guarded("p", &all_rules()), &BTreeSet::new()).unwrap();
        let again = rendered(&guarded("p", &all_rules()), &BTreeSet::new()).unwrap();
        assert_eq!(a, again, "deterministic");
        let taken: BTreeSet<String> = ["taken".to_owned()].into();
        let b = rendered(&guarded("p", &all_rules()), &taken).unwrap();
        let print = |o: &Value| o["metadata"]["annotations"][RENDERED_ANNOTATION].clone();
        assert_ne!(print(&a.binding), print(&b.binding));
        assert_eq!(print(&a.policy), print(&b.policy));
        // Without the stored profile's uid (a file), the same fingerprints.
        let mut file = guarded("p", &all_rules());
        file.metadata.uid = None;
        let offline = rendered(&file, &BTreeSet::new()).unwrap();
        assert!(
            offline.policy["metadata"]["ownerReferences"]
                .as_array()
                .is_none_or(Vec::is_empty)
        );
        assert_eq!(print(&offline.policy), print(&a.policy));
        assert_eq!(print(&offline.binding), print(&a.binding));
    }

    #[test]
    fn every_rule_names_itself_and_its_requirement() {
        let objects = rendered(&guarded("p", &all_rules()), &BTreeSet::new()).unwrap();
        let (warnings, _) = objects.warnings.as_ref().unwrap();
        let messages: Vec<String> = objects.policy["spec"]["validations"]
            .as_array()
            .unwrap()
            .iter()
            .chain(warnings["spec"]["validations"].as_array().unwrap())
            .map(|v| v["messageExpression"].as_str().unwrap().to_owned())
            .collect();
        for (rule, requirement) in [
            ("allowedRegistries", "BSI SYS.1.6 (2023) A6, A10"),
            ("requireImageTag", "BSI SYS.1.6 (2023) A6, A10"),
            ("requireImageDigest", "BSI SYS.1.6 (2023) A6, A10"),
            ("requireReadOnlyRootFilesystem", "BSI SYS.1.6 (2023) A23"),
            ("denyExec", "no BSI requirement, a rule of this profile"),
            (
                "denyPortForward",
                "BSI SYS.1.6 (2023) A5; BSI APP.4.4 (2023) A7",
            ),
            (
                "denyPodProxy",
                "BSI SYS.1.6 (2023) A5; BSI APP.4.4 (2023) A7",
            ),
            (
                "denyWideningNetworkPolicies",
                "BSI SYS.1.6 (2023) A5; BSI APP.4.4 (2023) A7",
            ),
            ("requireProfiles", "BSI SYS.1.6 (2023) A21"),
            (
                "requireUserNamespaces",
                "BSI SYS.1.6 (2023) A18; BSI APP.4.4 (2023) A4",
            ),
            ("denySecretEnvLiterals", "BSI SYS.1.6 (2023) A8"),
            ("denyServiceAccountToken", "BSI APP.4.4 (2023) A9"),
            ("denyDefaultServiceAccount", "BSI APP.4.4 (2023) A9"),
            ("oneServicePerContainer", "BSI SYS.1.6 (2023) A11"),
            (
                "requireController",
                "BSI SYS.1.6 (2023) A25; BSI APP.4.4 (2023) A19",
            ),
            (
                "highAvailability",
                "BSI SYS.1.6 (2023) A25; BSI APP.4.4 (2023) A19",
            ),
            ("requireProbes", "BSI APP.4.4 (2023) A11"),
            ("requireReadOnlyMounts", "BSI SYS.1.6 (2023) A19, A23"),
            ("denyMountPropagation", "BSI SYS.1.6 (2023) A19"),
        ] {
            let named = format!("guardrail {rule} ({requirement})");
            let validations = messages.iter().filter(|m| m.contains(&named)).count();
            // Issue 22's rules are one validation each (what an exception suspends by name).
            let wanted = if ["denyExec", "denyWideningNetworkPolicies"].contains(&rule) {
                1..=2
            } else {
                1..=1
            };
            assert!(
                wanted.contains(&validations),
                "{named}: {validations} validations"
            );
        }
    }

    /// The rules that only warn go into a policy of their own, bound with `[Warn, Audit]` in
    /// either mode; the main policy keeps every other rule, and neither is rendered without them.
    #[test]
    fn warning_rules_have_a_policy_of_their_own_that_never_denies() {
        let objects = rendered(&guarded("p", &all_rules()), &BTreeSet::new()).unwrap();
        let (policy, binding) = objects.warnings.as_ref().unwrap();
        assert_eq!(policy["metadata"]["name"], "hardening.dev-p-warnings");
        assert_eq!(binding["spec"]["policyName"], "hardening.dev-p-warnings");
        assert_eq!(
            binding["spec"]["validationActions"],
            json!(["Warn", "Audit"])
        );
        assert_eq!(
            objects.binding["spec"]["validationActions"],
            json!(["Deny"])
        );
        assert_eq!(
            binding["spec"]["matchResources"], objects.binding["spec"]["matchResources"],
            "the same namespaces"
        );
        let rules = |p: &Value| -> Vec<String> {
            p["spec"]["validations"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|v| rule_of(v).map(str::to_owned))
                .collect()
        };
        assert_eq!(rules(policy), ["oneServicePerContainer"]);
        assert!(!rules(&objects.policy).contains(&"oneServicePerContainer".to_owned()));
        assert!(rules(&objects.policy).contains(&"requireProbes".to_owned()));
        assert_eq!(
            policy["spec"]["variables"],
            objects.policy["spec"]["variables"]
        );
        assert_eq!(
            objects
                .iter()
                .map(|(_, o)| o["metadata"]["name"].as_str().unwrap())
                .collect::<Vec<_>>(),
            [
                "hardening.dev-p-gate",
                "hardening.dev-p-gate",
                "hardening.dev-p-stamp",
                "hardening.dev-p-stamp",
                "hardening.dev-p",
                "hardening.dev-p",
                "hardening.dev-p-warnings",
                "hardening.dev-p-warnings"
            ]
        );
        let mut without = all_rules();
        without.one_service_per_container = false;
        assert_eq!(
            rendered(&guarded("p", &without), &BTreeSet::new())
                .unwrap()
                .warnings,
            None
        );
    }

    /// The main policy skips a pod request that breaks none of its rules (judged on every
    /// container, without exceptions: a superset of what its validations refuse), the warnings
    /// policy one that could not warn; every pod rule of the validations has its clause.
    #[test]
    fn match_conditions_skip_only_pods_that_break_no_rule() {
        let objects = rendered(&guarded("p", &all_rules()), &BTreeSet::new()).unwrap();
        let conditions = &objects.policy["spec"]["matchConditions"];
        assert_eq!(conditions.as_array().unwrap().len(), 1);
        assert_eq!(conditions[0]["name"], "mayBreakARule");
        let condition = conditions[0]["expression"].as_str().unwrap();
        assert!(
            condition.starts_with(&format!("!({IS_POD}) || ")),
            "every other request is judged in full: {condition}"
        );
        assert!(
            !condition.contains("variables."),
            "matchConditions have no variables"
        );
        assert!(
            !condition.contains("exceptions"),
            "judged without exceptions"
        );
        assert!(
            !condition.contains("namespaceObject"),
            "null in matchConditions"
        );
        // Every rule judging pods in the validations is in the condition.
        let judged_on_pods = objects.policy["spec"]["validations"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(rule_of)
            .filter(|rule| {
                ![
                    "denyPortForward",
                    "denyPodProxy",
                    "denyWideningNetworkPolicies",
                    "highAvailability",
                ]
                .contains(rule)
            })
            .collect::<BTreeSet<_>>();
        assert_eq!(judged_on_pods.len(), 14, "{judged_on_pods:?}");
        for rule in judged_on_pods {
            assert!(
                condition.contains(&format!("guardrails.?{rule}")),
                "{rule} missing from {condition}"
            );
        }
        let (warnings, _) = objects.warnings.as_ref().unwrap();
        let warn = warnings["spec"]["matchConditions"][0]["expression"]
            .as_str()
            .unwrap();
        assert_eq!(warnings["spec"]["matchConditions"][0]["name"], "mayWarn");
        assert!(warn.starts_with(&format!("!({IS_POD}) || ")));
        assert!(
            warn.contains("guardrails.?oneServicePerContainer") && warn.contains("supervisord")
        );
        assert!(!warn.contains("ephemeralContainers"), "they have no ports");
        // The gate reads the namespace: not in the main policy any more.
        assert!(
            !objects
                .policy
                .to_string()
                .contains("namespaceObject.metadata.?annotations")
        );
    }

    /// The creation gate and the protection (issue 21): present in Enforce mode, trusting the
    /// operator's identity, the system controllers and the break-glass group, denying with the
    /// Forbidden reason and a message naming the profile.
    #[test]
    fn enforce_mode_gates_pods_and_protects_what_was_generated() {
        let profile = scoped("shop")
            .spec(json!({"podSecurity": {"enforce": {"level": "restricted"}}}))
            .build();
        let objects = rendered(&profile, &BTreeSet::new()).unwrap();
        let spec = &objects.policy["spec"];
        let resources: Vec<&str> = spec["matchConstraints"]["resourceRules"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["resources"].as_array().unwrap())
            .map(|r| r.as_str().unwrap())
            .collect();
        // No guardrails: the main policy judges no pod; the gate has a policy of its own.
        assert_eq!(
            resources,
            [
                "networkpolicies",
                "limitranges",
                "resourcequotas",
                "namespaces",
                "namespaces/finalize",
                "namespaces/status"
            ]
        );
        let variables = spec["variables"].to_string();
        assert!(
            variables.contains(r#"\"system:serviceaccount:ops:hardening\""#),
            "{variables}"
        );
        assert!(variables.contains("generic-garbage-collector"));
        assert!(variables.contains(r#"\"breakers\" in request.userInfo"#));
        let forbidden: Vec<&Value> = spec["validations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["reason"] == "Forbidden")
            .collect();
        assert_eq!(forbidden.len(), 2, "objects, namespace labels");
        let (gate, gate_binding) = objects.gate.as_ref().unwrap();
        assert_eq!(gate["metadata"]["name"], "hardening.dev-shop-gate");
        assert_eq!(
            gate_binding["spec"]["policyName"],
            "hardening.dev-shop-gate"
        );
        assert_eq!(gate_binding["spec"]["validationActions"], json!(["Deny"]));
        assert_eq!(
            gate_binding["spec"]["matchResources"], objects.binding["spec"]["matchResources"],
            "the namespaces of the main binding"
        );
        assert_eq!(
            gate["spec"]["matchConstraints"]["resourceRules"],
            json!([
                resource_rule("", &["CREATE"], &["pods"]),
                resource_rule("", &["UPDATE"], &["pods/ephemeralcontainers"])
            ])
        );
        assert_eq!(gate["spec"]["validations"].as_array().unwrap().len(), 1);
        assert_eq!(gate["spec"]["validations"][0]["reason"], "Forbidden");
        assert!(
            gate["spec"]["validations"][0]["messageExpression"]
                .as_str()
                .unwrap()
                .contains("is not hardened yet by HardeningProfile")
        );
        assert!(
            gate["spec"]["validations"][0]["expression"]
                .as_str()
                .unwrap()
                .contains("namespaceObject.metadata.?annotations[?'hardening.dev/profile']")
        );
        let conditions = gate["spec"]["matchConditions"].to_string();
        assert!(conditions.contains("deletionTimestamp") && conditions.contains(r#"\"breakers\""#));
        // Audit mode: no gate.
        let audit = scoped("shop")
            .spec(json!({"mode": "Audit", "guardrails": {"denyExec": true}}))
            .build();
        assert_eq!(rendered(&audit, &BTreeSet::new()).unwrap().gate, None);
        // The operator's identity unknown: nothing to trust, so nothing protected (the gate
        // stays: it needs no identity).
        let unknown = AdmissionEnv {
            operator: None,
            ..env()
        };
        let unprotected = render(&profile, &BTreeSet::new(), &[], &unknown).unwrap();
        let count = |o: &GuardrailObjects| {
            o.policy["spec"]["validations"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|v| v["reason"] == "Forbidden")
                .count()
        };
        assert_eq!(count(&unprotected), 0);
        assert!(unprotected.gate.is_some());
        let resources = unprotected.policy["spec"]["matchConstraints"]["resourceRules"].to_string();
        assert!(!resources.contains("namespaces") && !resources.contains("resourcequotas"));
        assert!(resources.contains("pods"), "a policy matches something");
    }

    /// The gate's stamp has a policy of its own, bound to every namespace (a namespace stamped
    /// outside the profile's could be relabelled into it), refusing everyone but the operator
    /// and the break-glass group: a stamp naming the profile created, added or changed, a
    /// `hardening.dev/rendered` written beside it (or alone), and a namespace brought back
    /// into the profile's namespaces with a stamp from before it left. Only in Enforce mode
    /// with the operator's identity known (else the operator could not stamp either).
    #[test]
    fn enforce_mode_lets_only_the_operator_write_the_gates_stamp() {
        let profile = scoped("shop")
            .spec(json!({"podSecurity": {"enforce": {"level": "restricted"}}}))
            .build();
        let not_governed = BTreeSet::from(["kube-system".to_owned()]);
        let objects = rendered(&profile, &not_governed).unwrap();
        let (policy, binding) = objects.stamp.as_ref().unwrap();
        let annotations = |o: &Value| o["metadata"]["annotations"].clone();
        assert_eq!(
            *binding,
            json!({
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingAdmissionPolicyBinding",
                "metadata": {
                    "name": "hardening.dev-shop-stamp",
                    "labels": {
                        "app.kubernetes.io/managed-by": "hardening-operator",
                        "hardening.dev/profile": "shop",
                    },
                    "ownerReferences": objects.binding["metadata"]["ownerReferences"],
                    "annotations": annotations(binding),
                },
                "spec": {
                    "policyName": "hardening.dev-shop-stamp",
                    // Without the profile nothing is judged: the binding covers every
                    // namespace of the cluster.
                    "paramRef": { "name": "shop", "parameterNotFoundAction": "Allow" },
                    "validationActions": ["Deny"],
                    "matchResources": {
                        "matchPolicy": "Equivalent",
                        "namespaceSelector": {},
                        "objectSelector": {},
                    },
                },
            })
        );
        let selected = |o: &str| {
            format!(
                "!({o}.metadata.name in [\"kube-system\", \"legacy\"]) && {}",
                selector_matches(
                    "params.spec.namespaceSelector",
                    &format!("{o}.metadata.?labels.orValue({{}})")
                )
            )
        };
        let emergency = "; in an emergency act with the group breakers (kubectl --as=<you> --as-group=breakers)";
        let stamp_is = "'the stamp of HardeningProfile ' + params.metadata.name + ', which only hardening-operator may write, once it has applied the profile there (the creation gate admits pods where it is)'";
        assert_eq!(
            policy["spec"],
            json!({
                "failurePolicy": "Fail",
                "paramKind": { "apiVersion": "hardening.dev/v1alpha1", "kind": "HardeningProfile" },
                "matchConstraints": {
                    "matchPolicy": "Equivalent",
                    "namespaceSelector": {},
                    "objectSelector": {},
                    "resourceRules": [
                        {
                            "apiGroups": [""], "apiVersions": ["v1"],
                            "operations": ["CREATE", "UPDATE"],
                            "resources": ["namespaces"], "scope": "*",
                        },
                        {
                            "apiGroups": [""], "apiVersions": ["v1"],
                            "operations": ["UPDATE"],
                            "resources": ["namespaces/finalize", "namespaces/status"], "scope": "*",
                        },
                    ],
                },
                "matchConditions": [
                    {
                        "name": "enforcing",
                        "expression": "params.spec.?mode.orValue('Enforce') == 'Enforce'",
                    },
                    {
                        "name": "notOperatorOrBreakGlass",
                        "expression": "!(request.userInfo.username in [\"system:serviceaccount:ops:hardening\"] || \"breakers\" in request.userInfo.?groups.orValue([]))",
                    },
                ],
                "variables": [
                    { "name": "newProfile", "expression": "object.metadata.?annotations[?\"hardening.dev/profile\"].orValue('')" },
                    { "name": "oldProfile", "expression": "oldObject == null ? '' : oldObject.metadata.?annotations[?\"hardening.dev/profile\"].orValue('')" },
                    { "name": "newRendered", "expression": "object.metadata.?annotations[?\"hardening.dev/rendered\"].orValue('')" },
                    { "name": "oldRendered", "expression": "oldObject == null ? '' : oldObject.metadata.?annotations[?\"hardening.dev/rendered\"].orValue('')" },
                    {
                        "name": "forgedProfile",
                        "expression": "variables.newProfile == params.metadata.name && variables.oldProfile != variables.newProfile",
                    },
                    {
                        "name": "forgedRendered",
                        "expression": "variables.newRendered != '' && variables.newRendered != variables.oldRendered && (variables.newProfile == params.metadata.name || variables.newProfile == '')",
                    },
                    {
                        "name": "staleStamp",
                        "expression": format!(
                            "oldObject != null && variables.oldProfile == params.metadata.name && variables.newProfile == params.metadata.name && ({}) && !({})",
                            selected("object"),
                            selected("oldObject")
                        ),
                    },
                ],
                "validations": [
                    {
                        "expression": "!variables.forgedProfile",
                        "messageExpression": format!("'annotation hardening.dev/profile=' + params.metadata.name + ' on namespace ' + object.metadata.name + ' is ' + {stamp_is} + ': create or update the namespace without it, the operator stamps the namespaces the profile governs' + \"{emergency}\""),
                        "reason": "Forbidden",
                    },
                    {
                        "expression": "!variables.forgedRendered",
                        "messageExpression": format!("'annotation hardening.dev/rendered on namespace ' + object.metadata.name + ' is part of ' + {stamp_is} + ': create or update the namespace without it' + \"{emergency}\""),
                        "reason": "Forbidden",
                    },
                    {
                        "expression": "!variables.staleStamp",
                        "messageExpression": format!("'namespace ' + object.metadata.name + ' carries the stamp of HardeningProfile ' + params.metadata.name + ' (annotation hardening.dev/profile) from before it left the profile\\'s namespaces, and only hardening-operator may bring it back stamped: what the profile generated there was not protected meanwhile. Remove the annotations hardening.dev/profile and hardening.dev/rendered first, while it is outside (the operator stamps it again once it has applied the profile), or let hardening-operator remove them (it does within a second of a namespace leaving the profile, when it runs)' + \"{emergency}\""),
                        "reason": "Forbidden",
                    },
                ],
            })
        );
        assert_eq!(policy["metadata"]["name"], "hardening.dev-shop-stamp");
        let mut unannotated = policy.clone();
        unannotated["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("annotations");
        assert_eq!(
            policy["metadata"]["annotations"][RENDERED_ANNOTATION],
            fingerprint(&unannotated)
        );
        // Applied with the gate, before the main policy.
        let order: Vec<&str> = objects
            .iter()
            .map(|(_, o)| o["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            order,
            [
                "hardening.dev-shop",
                "hardening.dev-shop",
                "hardening.dev-shop-gate",
                "hardening.dev-shop-gate",
                "hardening.dev-shop-stamp",
                "hardening.dev-shop-stamp",
                "hardening.dev-shop",
                "hardening.dev-shop",
            ]
        );
        assert_eq!(object_names("shop")[3], "hardening.dev-shop-stamp");
        assert_eq!(profile_of_name("hardening.dev-shop-stamp"), Some("shop"));
        // Audit mode: nothing is enforced, the stamp is not protected either.
        let audit = scoped("shop")
            .spec(json!({"mode": "Audit", "guardrails": {"denyExec": true}}))
            .build();
        assert_eq!(rendered(&audit, &BTreeSet::new()).unwrap().stamp, None);
        // The operator's identity unknown: nobody could stamp, the operator included.
        let unknown = AdmissionEnv {
            operator: None,
            ..env()
        };
        let unprotected = render(&profile, &BTreeSet::new(), &[], &unknown).unwrap();
        assert_eq!(unprotected.stamp, None);
        assert!(unprotected.gate.is_some());
    }

    /// The mutating policy sets the profile's Pod Security labels, read from the profile, on
    /// namespaces its selector matches, but those it does not govern; only in Enforce mode, with
    /// Pod Security labels, where the API server serves it.
    #[test]
    fn the_mutating_policy_labels_namespaces_the_profile_governs_at_creation() {
        let profile = scoped("shop")
            .spec(json!({"podSecurity": {"enforce": {"level": "restricted"}}}))
            .build();
        let taken: BTreeSet<String> = ["taken".to_owned()].into();
        let objects = rendered(&profile, &taken).unwrap();
        let (policy, binding) = objects.mutating.as_ref().unwrap();
        assert_eq!(
            binding["spec"]["matchResources"]["objectSelector"],
            json!({"matchLabels": {"tier": "strict"}})
        );
        assert_eq!(binding["spec"]["paramRef"]["name"], "shop");
        assert_eq!(
            policy["spec"]["matchConditions"][0]["expression"],
            r#"!(object.metadata.name in ["legacy", "taken"])"#
        );
        let mutation = policy["spec"]["mutations"][0]["applyConfiguration"]["expression"]
            .as_str()
            .unwrap();
        assert!(mutation.contains(
        r#"?"pod-security.kubernetes.io/enforce": params.spec.?podSecurity.?enforce.hasValue() ? optional.of("#
    ));
        let kinds: Vec<&str> = objects.iter().map(|(kind, _)| kind).collect();
        assert_eq!(kinds[..4], KINDS, "applied in this order");
        assert_eq!(
            kinds[4..],
            [POLICY_KIND, BINDING_KIND].repeat(2),
            "then the stamp's and the main policy's"
        );
        assert_eq!(
            objects.iter().nth(2).unwrap().1["metadata"]["name"],
            "hardening.dev-shop-gate",
            "the gate before the main policy"
        );
        let no_api = AdmissionEnv {
            mutating_policies: false,
            ..env()
        };
        assert_eq!(
            render(&profile, &taken, &[], &no_api).unwrap().mutating,
            None
        );
        let no_labels = scoped("shop").build();
        assert_eq!(rendered(&no_labels, &taken).unwrap().mutating, None);
    }

    /// The contract of [`guardrail`] and [`container_guardrail`]: every validation that names
    /// a guardrail rule lets a request through when an exception in force suspends that rule,
    /// keyed by the rule's name, so that rules added later honour exceptions by construction.
    /// The rules that only warn, in a policy of their own, too.
    #[test]
    fn every_guardrail_validation_honours_the_exceptions_of_its_rule() {
        let objects = rendered(&guarded("p", &all_rules()), &BTreeSet::new()).unwrap();
        let (warnings, _) = objects.warnings.as_ref().expect("a warnings policy");
        let validations = objects.policy["spec"]["validations"]
            .as_array()
            .unwrap()
            .iter()
            .chain(warnings["spec"]["validations"].as_array().unwrap());
        let mut rules_seen = BTreeSet::new();
        for validation in validations {
            let message = validation["messageExpression"].as_str().unwrap_or_default();
            let Some(rule) = message
                .split(" guardrail ")
                .nth(1)
                .and_then(|rest| rest.split(' ').next())
            else {
                // The creation gate and the protection: not guardrails, never suspended.
                let expression = validation["expression"].as_str().unwrap();
                assert!(
                    !expression.contains("podExceptions"),
                    "only guardrails honour exceptions: {expression}"
                );
                continue;
            };
            assert!(
                crate::core::api::rule_scope(rule).is_some(),
                "{rule} is listed in GUARDRAIL_RULES"
            );
            let expression = validation["expression"].as_str().unwrap();
            assert!(
                expression.contains(&format!(
                    "variables.podExceptions.exists(e, {} in e.?rules.orValue([])",
                    cel_string(rule)
                )),
                "the validation of {rule} honours its exceptions: {expression}"
            );
            rules_seen.insert(rule.to_owned());
        }
        let all: BTreeSet<String> = crate::core::api::GUARDRAIL_RULES
            .iter()
            .map(|(name, _)| name.to_string())
            .collect();
        assert_eq!(
            rules_seen, all,
            "every rule has a validation, and only those"
        );
    }

    /// Every field of `spec.guardrails` is a rule an exception can name, but the settings of a
    /// rule (which are no rules of their own).
    #[test]
    fn every_guardrails_field_is_a_rule_exceptions_can_suspend() {
        let schema = schemars::schema_for!(Guardrails);
        let fields: BTreeSet<String> = schema
            .as_value()
            .get("properties")
            .and_then(Value::as_object)
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let rules: BTreeSet<String> = crate::core::api::GUARDRAIL_RULES
            .iter()
            .map(|(name, _)| name.to_string())
            .chain(
                crate::core::api::GUARDRAIL_SETTINGS
                    .iter()
                    .map(|name| name.to_string()),
            )
            .collect();
        assert_eq!(fields, rules);
        for setting in crate::core::api::GUARDRAIL_SETTINGS {
            assert!(
                crate::core::api::rule_scope(setting).is_none(),
                "{setting} is a setting, not a rule"
            );
        }
    }

    #[test]
    fn the_exceptions_of_a_request_are_read_from_the_profiles_status() {
        let objects = rendered(&guarded("p", &all_rules()), &BTreeSet::new()).unwrap();
        let variables = objects.policy["spec"]["variables"].as_array().unwrap();
        let expression = |name: &str| {
            variables
                .iter()
                .find(|v| v["name"] == name)
                .and_then(|v| v["expression"].as_str())
                .unwrap_or_else(|| panic!("variable {name}"))
                .to_owned()
        };
        let exceptions = expression("exceptions");
        assert!(
            exceptions.starts_with("params.?status.?exceptions.?active.orValue([])")
                && exceptions.contains("request.namespace in e.?namespaces.orValue([])")
                && exceptions.contains("e.namespaceSelector"),
            "{exceptions}"
        );
        let pods = expression("podExceptions");
        assert!(
            pods.contains("!has(e.podSelector) || ((variables.isPod || variables.isWorkload) && "),
            "an exception with a pod selector covers no request without a pod (a workload's pods by its template): {pods}"
        );
        // Variables are evaluated in order: the exceptions come after what they read.
        let position = |name: &str| variables.iter().position(|v| v["name"] == name).unwrap();
        assert!(position("isPod") < position("podLabels"));
        assert!(position("isWorkload") < position("podLabels"));
        assert!(position("exceptions") < position("podExceptions"));
    }

    #[test]
    fn the_mutating_policy_sets_the_level_an_exception_lowers_and_leaves_hardened_namespaces() {
        let profile = scoped("p")
            .spec_yaml("podSecurity: {enforce: {level: restricted}, warn: {level: restricted}}")
            .build();
        let objects = rendered(&profile, &BTreeSet::new()).unwrap();
        let (policy, _) = objects.mutating.unwrap();
        let mutation = policy["spec"]["mutations"][0]["applyConfiguration"]["expression"]
            .as_str()
            .unwrap();
        assert!(
            mutation.contains("variables.lowered.exists(l, l == 'privileged') ? 'privileged'")
                && mutation.contains("params.spec.podSecurity.enforce.level"),
            "{mutation}"
        );
        // The warn label stays the profile's.
        assert!(
            mutation.contains("params.spec.?podSecurity.?warn.?level"),
            "{mutation}"
        );
        assert_eq!(
            policy["spec"]["variables"][0]["name"], "lowered",
            "{policy}"
        );
        let conditions = policy["spec"]["matchConditions"].as_array().unwrap();
        assert!(
            conditions.iter().any(|c| c["name"] == "notYetHardened"
                && c["expression"]
                    .as_str()
                    .unwrap()
                    .contains("request.operation == 'CREATE'")),
            "{conditions:?}"
        );
    }
}
