//! The rejections in testdata/ are the API server's (Kubernetes v1.36.2) answers to
//! server-side dry-run applies of hand-broken generated objects.

use super::*;
use crate::core::api::HardeningProfileSpec;

fn spec(yaml: &str) -> HardeningProfileSpec {
    serde_yaml_ng::from_str(&format!("namespaceSelector: {{}}\n{yaml}"))
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

fn status(file: &str) -> Status {
    let path = format!(
        "{}/src/core/rejection/testdata/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn fields(errors: &[ValidationError]) -> Vec<&str> {
    errors.iter().map(|e| e.field.as_str()).collect()
}

#[test]
fn egress_rejections_name_the_peer_fields() {
    let spec = spec(
        "networkPolicy:\n  egress: [{to: [{podSelector: {}}, {cidr: 10.0.0.1/8, except: [10.1.2.3/16]}, {podSelector: {matchLabels: {'bad key!': x}}}]}]\n",
    );
    let errors = rejection_errors(
        &spec,
        "NetworkPolicy",
        names::ALLOW_EGRESS,
        &status("networkpolicy-allow-egress.json"),
    );
    assert_eq!(
        fields(&errors),
        [
            "spec.networkPolicy.egress[0].to[1].cidr",
            "spec.networkPolicy.egress[0].to[1].except[0]",
            "spec.networkPolicy.egress[0].to[2].podSelector.matchLabels",
            "spec.networkPolicy.egress[0].to[2].podSelector.matchExpressions[0].values[0]",
        ]
    );
    assert_eq!(
        errors[0].message,
        "the API server rejects NetworkPolicy hardening-allow-egress: spec.egress[0].to[1].ipBlock.cidr: Invalid value: \"10.0.0.1/8\": must not have bits set beyond the prefix length"
    );
}

#[test]
fn quota_rejections_name_the_resource() {
    let errors = rejection_errors(
        &spec("resourceQuota: {hard: {pods: '1.5'}}"),
        "ResourceQuota",
        names::QUOTA,
        &status("resourcequota.json"),
    );
    assert_eq!(
        fields(&errors),
        [
            r#"spec.resourceQuota.hard["pods"]"#,
            r#"spec.resourceQuota.hard["Bad Name"]"#,
            r#"spec.resourceQuota.hard["Bad Name"]"#,
            r#"spec.resourceQuota.hard["gpu"]"#,
            r#"spec.resourceQuota.hard["gpu"]"#,
        ]
    );
    assert!(
        errors[0]
            .message
            .ends_with("spec.hard[pods]: Invalid value: \"1500m\": must be an integer"),
        "{}",
        errors[0].message
    );
}

#[test]
fn limit_range_rejections_follow_the_api_servers_defaulting() {
    // The rejected defaultRequest was given; the default it must equal came from max.
    let spec = spec(
        "limitRange:\n  limits:\n  - {type: Container, min: {cpu: 1}, max: {cpu: 2, example.com/gpu: 2}, maxLimitRequestRatio: {cpu: 3}, defaultRequest: {example.com/gpu: 1}}\n  - {type: PersistentVolumeClaim, max: {cpu: 1}}\n",
    );
    let errors = rejection_errors(
        &spec,
        "LimitRange",
        names::LIMITS,
        &status("limitrange.json"),
    );
    assert_eq!(
        fields(&errors),
        [
            r#"spec.limitRange.limits[0].defaultRequest["example.com/gpu"]"#,
            r#"spec.limitRange.limits[0].maxLimitRequestRatio["cpu"]"#,
            "spec.limitRange.limits[1]",
        ]
    );
    // A defaulted field names the field its value came from.
    let defaulted = spec_with_limits("{type: Container, max: {cpu: 1}, min: {cpu: 2}}");
    let field = |object_field| profile_field(&defaulted, "LimitRange", names::LIMITS, object_field);
    assert_eq!(
        field("spec.limits[0].default[cpu]"),
        r#"spec.limitRange.limits[0].max["cpu"]"#
    );
    assert_eq!(
        field("spec.limits[0].defaultRequest[cpu]"),
        r#"spec.limitRange.limits[0].max["cpu"]"#
    );
    assert_eq!(
        field("spec.limits[0].min[cpu]"),
        r#"spec.limitRange.limits[0].min["cpu"]"#
    );
    assert_eq!(
        field("spec.limits[0].type"),
        "spec.limitRange.limits[0].type"
    );
    assert_eq!(
        field("spec.limits[7].max[cpu]"),
        r#"spec.limitRange.limits[7].max["cpu"]"#
    );
    assert_eq!(field("spec.limits"), "spec.limitRange.limits");
    assert_eq!(field("metadata.name"), "spec.limitRange");
    let from_min = spec_with_limits("{type: Container, min: {memory: 1Gi}}");
    assert_eq!(
        profile_field(
            &from_min,
            "LimitRange",
            names::LIMITS,
            "spec.limits[0].defaultRequest[memory]"
        ),
        r#"spec.limitRange.limits[0].min["memory"]"#
    );
}

fn spec_with_limits(item: &str) -> HardeningProfileSpec {
    spec(&format!("limitRange: {{limits: [{item}]}}"))
}

#[test]
fn namespace_rejections_name_the_pod_security_mode() {
    let with_version = spec("podSecurity: {enforce: {level: baseline, version: v1.01}}");
    let errors = rejection_errors(
        &with_version,
        NAMESPACE_KIND,
        "rej",
        &status("namespace.json"),
    );
    assert_eq!(fields(&errors), ["spec.podSecurity.enforce.version"]);
    assert!(
        errors[0]
            .message
            .starts_with("the API server rejects the namespace: ")
    );
    let field = |spec: &HardeningProfileSpec, f| profile_field(spec, NAMESPACE_KIND, "ns", f);
    let without_version = spec("podSecurity: {warn: {level: restricted}}");
    assert_eq!(
        field(
            &without_version,
            "metadata.labels[pod-security.kubernetes.io/warn-version]"
        ),
        "spec.podSecurity.warn"
    );
    assert_eq!(
        field(
            &without_version,
            "metadata.labels[pod-security.kubernetes.io/warn]"
        ),
        "spec.podSecurity.warn.level"
    );
    assert_eq!(
        field(
            &without_version,
            "metadata.annotations[hardening.dev/profile]"
        ),
        "metadata.name"
    );
    assert_eq!(field(&spec(""), "metadata.labels[other]"), "spec");
}

#[test]
fn fixed_policies_and_metadata_map_to_their_switches() {
    let spec = spec("networkPolicy: {}");
    let field = |name, f| profile_field(&spec, "NetworkPolicy", name, f);
    assert_eq!(
        field(names::DEFAULT_DENY, "spec.policyTypes[0]"),
        "spec.networkPolicy.defaultDeny"
    );
    assert_eq!(
        field(names::ALLOW_DNS, "spec.egress[0].ports[0].port"),
        "spec.networkPolicy.allowDns"
    );
    assert_eq!(
        field(names::ALLOW_SAME_NAMESPACE, "spec.ingress[0]"),
        "spec.networkPolicy.allowSameNamespace"
    );
    assert_eq!(
        field(names::ALLOW_INGRESS, "spec.ingress[2].ports[1].endPort"),
        "spec.networkPolicy.ingress[2].ports[1].endPort"
    );
    assert_eq!(
        field(names::ALLOW_EGRESS, "spec.egress[1].to[0].ipBlock"),
        "spec.networkPolicy.egress[1].to[0]"
    );
    assert_eq!(
        field(names::ALLOW_EGRESS, "spec.egress[1].ports[0].protocol"),
        "spec.networkPolicy.egress[1].ports[0].protocol"
    );
    assert_eq!(
        field(
            names::ALLOW_EGRESS,
            "metadata.labels[hardening.dev/profile]"
        ),
        "metadata.name"
    );
    assert_eq!(
        profile_field(&spec, "ResourceQuota", names::QUOTA, "spec.hard"),
        "spec.resourceQuota.hard"
    );
    assert_eq!(
        profile_field(
            &spec,
            "ResourceQuota",
            names::QUOTA,
            "spec.hard[requests.example.com/gpu]"
        ),
        r#"spec.resourceQuota.hard["requests.example.com/gpu"]"#
    );
    assert_eq!(profile_field(&spec, "ConfigMap", "x", "data"), "spec");
}

#[test]
fn a_rejection_without_causes_names_the_section() {
    let status = Status {
        message: "admission webhook \"x\" denied the request".into(),
        ..Status::default()
    };
    let errors = rejection_errors(
        &spec("resourceQuota: {hard: {pods: 1}}"),
        "ResourceQuota",
        names::QUOTA,
        &status,
    );
    assert_eq!(fields(&errors), ["spec.resourceQuota"]);
    assert_eq!(
        errors[0].message,
        "the API server rejects ResourceQuota hardening-quota: admission webhook \"x\" denied the request"
    );
}
