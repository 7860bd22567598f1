//! `spec.guardrails` as the API server's own admission: one ValidatingAdmissionPolicy and
//! one binding per profile, cluster-scoped, pure and deterministic like `render`.
//!
//! The policy's CEL reads the rule settings from its parameter, the HardeningProfile itself
//! (`paramKind`), so a change of the rules rewrites nothing; it only matches the requests
//! of the rules the profile turns on. The binding selects exactly the namespaces the
//! profile governs, in both modes (Audit writes nothing into namespaces, so no label of
//! ours can mark them): the profile's own `namespaceSelector`, minus (by the
//! `kubernetes.io/metadata.name` label the API server sets) the namespaces it excludes,
//! those the operator always excludes, and those a profile of higher precedence governs.
//! Its cost is per profile, not per namespace; the exclusion list grows only with
//! conflicts.

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kube::{Resource, ResourceExt};

use serde_json::{Value, json};

use crate::core::api::{HardeningProfile, Mode, ProtectedNetwork};
use crate::core::labels::{
    MANAGED_BY_LABEL, MANAGED_BY_VALUE, NAMESPACE_NAME_LABEL, PROFILE_LABEL, RENDERED_ANNOTATION,
};

pub const POLICY_API_VERSION: &str = "admissionregistration.k8s.io/v1";
pub const POLICY_KIND: &str = "ValidatingAdmissionPolicy";
pub const BINDING_KIND: &str = "ValidatingAdmissionPolicyBinding";

/// What the names of every profile's policy and binding start with.
pub const OBJECT_NAME_PREFIX: &str = "hardening.dev-";

/// Name of the policy and of its binding for `profile`: `hardening.dev-<profile>`.
pub fn object_name(profile: &str) -> String {
    format!("{OBJECT_NAME_PREFIX}{profile}")
}

/// The two objects of a profile with guardrails, in the order they are applied (the
/// binding names the policy).
#[derive(Clone, Debug, PartialEq)]
pub struct GuardrailObjects {
    pub policy: Value,
    pub binding: Value,
}

impl GuardrailObjects {
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Value)> {
        [(POLICY_KIND, &self.policy), (BINDING_KIND, &self.binding)].into_iter()
    }
}

/// `validationActions` of the binding in `mode`.
pub fn validation_actions(mode: Mode) -> Vec<&'static str> {
    match mode {
        Mode::Enforce => vec!["Deny"],
        Mode::Audit => vec!["Warn", "Audit"],
    }
}

/// The policy and binding `profile` asks for, or `None` without `spec.guardrails`.
/// `not_governed` are names of namespaces its selector may match that it does not govern
/// (excluded by the operator or outranked by another profile).
pub fn render(
    profile: &HardeningProfile,
    not_governed: &BTreeSet<String>,
    protected: &[ProtectedNetwork],
) -> Option<GuardrailObjects> {
    let guardrails = profile.spec.guardrails.as_ref()?;
    let profile_name = profile.name_any();
    let name = object_name(&profile_name);
    let pods = !guardrails.allowed_registries.is_empty()
        || guardrails.require_image_tag
        || guardrails.require_image_digest
        || guardrails.require_read_only_root_filesystem;
    let mut rules = Vec::new();
    if pods {
        rules.push(resource_rule(
            "",
            &["CREATE", "UPDATE"],
            &["pods", "pods/ephemeralcontainers"],
        ));
    }
    if guardrails.deny_exec {
        rules.push(resource_rule(
            "",
            &["CONNECT"],
            &["pods/attach", "pods/exec"],
        ));
    }
    if guardrails.deny_widening_network_policies {
        rules.push(resource_rule(
            "networking.k8s.io",
            &["CREATE", "UPDATE"],
            &["networkpolicies"],
        ));
    }
    let metadata = |extra: Value| {
        let mut meta = json!({
            "name": name,
            "labels": {
                MANAGED_BY_LABEL: MANAGED_BY_VALUE,
                PROFILE_LABEL: profile_name,
            },
            "ownerReferences": owner_reference(profile),
        });
        if let (Some(meta), Some(extra)) = (meta.as_object_mut(), extra.as_object()) {
            meta.extend(extra.clone());
        }
        meta
    };
    let mut policy = json!({
        "apiVersion": POLICY_API_VERSION,
        "kind": POLICY_KIND,
        "metadata": metadata(json!({})),
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
            "variables": with_protected_networks(variables(), protected),
            "validations": with_protected_networks_rule(validations()),
        },
    });
    let mut binding = json!({
        "apiVersion": POLICY_API_VERSION,
        "kind": BINDING_KIND,
        "metadata": metadata(json!({})),
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
    // Like a namespace's `hardening.dev/rendered`: a live object carrying the fingerprint of
    // what is rendered now and differing anyway was changed by someone else (a repair), one
    // with another fingerprint is due a rollout.
    for object in [&mut policy, &mut binding] {
        let print = fingerprint(object);
        object["metadata"]["annotations"] = json!({ RENDERED_ANNOTATION: print });
    }
    Some(GuardrailObjects { policy, binding })
}

/// 16 hex digits of a SHA-256 of the object as rendered (without annotations).
fn fingerprint(object: &Value) -> String {
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
    let mut value = serde_json::to_value(selector).expect("a LabelSelector serializes");
    // The API server stores `{}` for an empty selector; the diff compares maps by key.
    if value.is_null() {
        value = json!({});
    }
    value
}

/// Who asks: what a rule looks at, as CEL variables (evaluated lazily, once per request).
fn variables() -> Value {
    let containers = |object: &str, field: &str| {
        format!(
            "{object}.spec.containers.map(c, c.{field}) + {object}.spec.?initContainers.orValue([]).map(c, c.{field}) + {object}.spec.?ephemeralContainers.orValue([]).map(c, c.{field})"
        )
    };
    let writable = |object: &str| {
        format!(
            "{object}.spec.containers.filter(c, !c.?securityContext.?readOnlyRootFilesystem.orValue(false)).map(c, c.name) + {object}.spec.?initContainers.orValue([]).filter(c, !c.?securityContext.?readOnlyRootFilesystem.orValue(false)).map(c, c.name) + {object}.spec.?ephemeralContainers.orValue([]).filter(c, !c.?securityContext.?readOnlyRootFilesystem.orValue(false)).map(c, c.name)"
        )
    };
    let vars = [
        (
            "isPod",
            "request.resource.?group.orValue('') == '' && request.resource.resource == 'pods' && (request.?subResource.orValue('') == '' || request.?subResource.orValue('') == 'ephemeralcontainers') && request.operation != 'CONNECT'".to_owned(),
        ),
        (
            "isPolicy",
            "request.resource.?group.orValue('') == 'networking.k8s.io' && request.resource.resource == 'networkpolicies'".to_owned(),
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
        // still be relabelled, finalized and deleted.
        (
            "newImages",
            "variables.images.filter(i, !(i in variables.oldImages))".to_owned(),
        ),
        (
            "writable",
            format!("variables.isPod ? {} : []", writable("object")),
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
            "variables.writable.filter(n, !(n in variables.oldWritable))".to_owned(),
        ),
        (
            "registries",
            "params.spec.?guardrails.?allowedRegistries.orValue([])".to_owned(),
        ),
        (
            "badRegistry",
            "size(variables.registries) == 0 ? [] : variables.newImages.filter(i, !variables.registries.exists(r, i.startsWith(r + '/')))".to_owned(),
        ),
        (
            "badTag",
            "!params.spec.?guardrails.?requireImageTag.orValue(false) ? [] : variables.newImages.filter(i, !i.contains('@') && (!i.substring(i.lastIndexOf('/') + 1).contains(':') || i.endsWith(':latest')))".to_owned(),
        ),
        (
            "badDigest",
            "!params.spec.?guardrails.?requireImageDigest.orValue(false) ? [] : variables.newImages.filter(i, !i.contains('@'))".to_owned(),
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
    ];
    Value::Array(
        vars.into_iter()
            .map(|(name, expression)| json!({ "name": name, "expression": expression }))
            .collect(),
    )
}

/// Each rule: what it rejects, and a message naming the rule and the BSI requirement.
fn validations() -> Value {
    let rule = |expression: &str, message: String| json!({ "expression": expression, "messageExpression": message });
    let prefix = |rule: &str, requirement: &str| {
        format!(
            "'HardeningProfile ' + params.metadata.name + ' guardrail {rule} (BSI SYS.1.6.{requirement}): "
        )
    };
    json!([
        rule(
            "size(variables.badRegistry) == 0",
            format!(
                "{}image ' + variables.badRegistry[0] + ' is not from an allowed registry (' + variables.registries.join(', ') + ')'",
                prefix("allowedRegistries", "A7, A22")
            ),
        ),
        rule(
            "size(variables.badTag) == 0",
            format!(
                "{}image ' + variables.badTag[0] + ' has no tag or the tag latest: give a version tag or a digest'",
                prefix("requireImageTag", "A13")
            ),
        ),
        rule(
            "size(variables.badDigest) == 0",
            format!(
                "{}image ' + variables.badDigest[0] + ' is not pinned by digest (image@sha256:...)'",
                prefix("requireImageDigest", "A13")
            ),
        ),
        rule(
            "!params.spec.?guardrails.?requireReadOnlyRootFilesystem.orValue(false) || size(variables.newWritable) == 0",
            format!(
                "{}container ' + variables.newWritable[0] + ' does not set securityContext.readOnlyRootFilesystem: true'",
                prefix("requireReadOnlyRootFilesystem", "A10")
            ),
        ),
        rule(
            "!(request.operation == 'CONNECT' && (request.?subResource.orValue('') == 'exec' || request.?subResource.orValue('') == 'attach') && params.spec.?guardrails.?denyExec.orValue(false))",
            format!(
                "{}' + request.?subResource.orValue('') + ' into pods is not allowed in this namespace'",
                prefix("denyExec", "A11")
            ),
        ),
        rule(
            "size(variables.wideningIngress) + size(variables.wideningEgress) == 0",
            format!(
                "{}NetworkPolicy ' + object.metadata.name + ' has ' + string(size(variables.wideningIngress)) + ' ingress and ' + string(size(variables.wideningEgress)) + ' egress rules allowing traffic the profile denies (every peer and port of a rule must be one the profile allows)'",
                prefix("denyWideningNetworkPolicies", "A9")
            ),
        ),
    ])
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
        list.push(json!({
            "expression": "size(variables.protectedReach) == 0",
            "messageExpression": "'HardeningProfile ' + params.metadata.name + ' guardrail denyWideningNetworkPolicies (BSI SYS.1.6.A5, APP.4.4.A7): NetworkPolicy ' + object.metadata.name + ' has ' + string(size(variables.protectedReach)) + ' egress rules reaching a protected network (the cloud metadata service, the nodes or the control plane): except it (ipBlock.except) or leave out its ports'",
        }));
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
mod tests;
