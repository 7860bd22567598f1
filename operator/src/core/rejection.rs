//! From an API server rejection of a rendered object back to the profile: which field of
//! the HardeningProfile produced the rejected field, so that a dry-run of the rendered set
//! can be reported as `InvalidSpec` naming the profile's field
//! (`spec.networkPolicy.egress[0].to[1].cidr`), not only the generated object's
//! (`spec.egress[0].to[1].ipBlock.cidr`). Pure: the controller passes the `Status` it got.

use kube::core::Status;

use crate::core::api::{HardeningProfileSpec, LimitItem, ValidationError};
use crate::core::fieldpath::key;
use crate::core::labels::{PROFILE_ANNOTATION, PROFILE_LABEL};
use crate::core::render::names;

/// The kind the namespace body of [`crate::core::render::Desired::namespace_body`] has.
pub const NAMESPACE_KIND: &str = "Namespace";

/// The profile field that produced `field` (as the API server names it in
/// `Status.details.causes[].field`, e.g. `spec.hard[pods]`) of the rendered object `kind`
/// `name` (`Namespace` for the namespace's labels and annotations): exact for every field
/// [`crate::core::render::render`] derives from the profile, LimitRange values the API server
/// defaults included (`default[cpu]` comes from `max`); the profile section otherwise.
pub fn profile_field(spec: &HardeningProfileSpec, kind: &str, name: &str, field: &str) -> String {
    match kind {
        NAMESPACE_KIND => namespace_field(spec, field),
        "NetworkPolicy" => network_policy_field(name, field),
        "ResourceQuota" => quota_field(field),
        "LimitRange" => limit_range_field(spec, field),
        _ => "spec".to_owned(),
    }
}

/// `rejection` of the rendered object `kind` `name` as validation errors on the profile's
/// fields, one per cause (one for the whole rejection when it names no field).
pub fn rejection_errors(
    spec: &HardeningProfileSpec,
    kind: &str,
    name: &str,
    rejection: &Status,
) -> Vec<ValidationError> {
    let object = if kind == NAMESPACE_KIND {
        "the namespace".to_owned()
    } else {
        format!("{kind} {name}")
    };
    let causes: Vec<_> = rejection
        .details
        .iter()
        .flat_map(|details| &details.causes)
        .filter(|cause| !cause.field.is_empty())
        .collect();
    if causes.is_empty() {
        return vec![ValidationError {
            field: profile_field(spec, kind, name, ""),
            message: format!("the API server rejects {object}: {}", rejection.message),
        }];
    }
    causes
        .into_iter()
        .map(|cause| ValidationError {
            field: profile_field(spec, kind, name, &cause.field),
            message: format!(
                "the API server rejects {object}: {}: {}",
                cause.field, cause.message
            ),
        })
        .collect()
}

/// `field` after `prefix`, when it starts with it at a segment boundary.
fn strip<'a>(field: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = field.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('.') || rest.starts_with('[')).then_some(rest)
}

/// Splits `[key]rest` into `key` and `rest`; the key is the text up to the last `]` when
/// nothing follows it (resource names are leaves), else up to the first `]`.
fn bracketed(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix('[')?;
    let end = if inner.ends_with(']') {
        inner.len() - 1
    } else {
        inner.find(']')?
    };
    Some((&inner[..end], &inner[end + 1..]))
}

/// `[index]rest` as the index and `rest`.
fn indexed(text: &str) -> Option<(usize, &str)> {
    let inner = text.strip_prefix('[')?;
    let end = inner.find(']')?;
    Some((inner[..end].parse().ok()?, &inner[end + 1..]))
}

fn namespace_field(spec: &HardeningProfileSpec, field: &str) -> String {
    let section = if spec.pod_security.is_some() {
        "spec.podSecurity"
    } else {
        "spec"
    };
    if let Some((label, "")) = strip(field, "metadata.labels").and_then(bracketed)
        && let Some(rest) = label.strip_prefix("pod-security.kubernetes.io/")
    {
        let (mode, is_version) = match rest.strip_suffix("-version") {
            Some(mode) => (mode, true),
            None => (rest, false),
        };
        let standard = spec.pod_security.as_ref().and_then(|p| match mode {
            "enforce" => p.enforce.as_ref(),
            "audit" => p.audit.as_ref(),
            "warn" => p.warn.as_ref(),
            _ => None,
        });
        return match standard {
            Some(standard) if is_version && standard.version.is_some() => {
                format!("spec.podSecurity.{mode}.version")
            }
            Some(_) if is_version => format!("spec.podSecurity.{mode}"),
            Some(_) => format!("spec.podSecurity.{mode}.level"),
            None => section.to_owned(),
        };
    }
    if let Some((PROFILE_ANNOTATION, "")) = strip(field, "metadata.annotations").and_then(bracketed)
    {
        return "metadata.name".to_owned();
    }
    section.to_owned()
}

/// Metadata of a generated object: only its profile label comes from the profile.
fn metadata_field(field: &str, section: &str) -> Option<String> {
    let rest = strip(field, "metadata")?;
    Some(
        match strip(rest, ".labels").and_then(bracketed) {
            Some((PROFILE_LABEL, "")) => "metadata.name",
            _ => section,
        }
        .to_owned(),
    )
}

fn network_policy_field(name: &str, field: &str) -> String {
    const SECTION: &str = "spec.networkPolicy";
    if let Some(mapped) = metadata_field(field, SECTION) {
        return mapped;
    }
    match name {
        names::ALLOW_INGRESS => match strip(field, "spec.ingress") {
            Some(rest) => format!("{SECTION}.ingress{rest}"),
            None => format!("{SECTION}.ingress"),
        },
        names::ALLOW_EGRESS => match strip(field, "spec.egress") {
            Some(rest) => format!("{SECTION}.egress{}", egress_rest(rest)),
            None => format!("{SECTION}.egress"),
        },
        names::DEFAULT_DENY => format!("{SECTION}.defaultDeny"),
        names::ALLOW_DNS => format!("{SECTION}.allowDns"),
        names::ALLOW_SAME_NAMESPACE => format!("{SECTION}.allowSameNamespace"),
        _ => SECTION.to_owned(),
    }
}

/// The rest of an egress path after `spec.egress`: `[i].to[j].ipBlock.cidr` is the profile's
/// `[i].to[j].cidr` (an egress peer holds the IP block's fields itself).
fn egress_rest(rest: &str) -> String {
    let Some(peer_end) = rest.find(".to[").and_then(|to| {
        let after = &rest[to + 4..];
        after.find(']').map(|close| to + 4 + close + 1)
    }) else {
        return rest.to_owned();
    };
    let (peer, tail) = rest.split_at(peer_end);
    match tail.strip_prefix(".ipBlock") {
        Some(block) => format!("{peer}{block}"),
        None => rest.to_owned(),
    }
}

fn quota_field(field: &str) -> String {
    const SECTION: &str = "spec.resourceQuota";
    if let Some(mapped) = metadata_field(field, SECTION) {
        return mapped;
    }
    match strip(field, "spec.hard") {
        Some("") => format!("{SECTION}.hard"),
        Some(rest) => match bracketed(rest) {
            Some((resource, "")) => key(&format!("{SECTION}.hard"), resource),
            _ => format!("{SECTION}.hard"),
        },
        None => SECTION.to_owned(),
    }
}

fn limit_range_field(spec: &HardeningProfileSpec, field: &str) -> String {
    const SECTION: &str = "spec.limitRange";
    if let Some(mapped) = metadata_field(field, SECTION) {
        return mapped;
    }
    let Some((i, rest)) = strip(field, "spec.limits").and_then(indexed) else {
        return match strip(field, "spec.limits") {
            Some(_) => format!("{SECTION}.limits"),
            None => SECTION.to_owned(),
        };
    };
    let item_path = format!("{SECTION}.limits[{i}]");
    let item = spec
        .limit_range
        .as_ref()
        .and_then(|limit_range| limit_range.limits.get(i));
    let Some(rest) = rest.strip_prefix('.') else {
        return item_path;
    };
    let (map, after) = rest.split_at(rest.find('[').unwrap_or(rest.len()));
    let maps = [
        "default",
        "defaultRequest",
        "min",
        "max",
        "maxLimitRequestRatio",
    ];
    if map == "type" && after.is_empty() {
        return format!("{item_path}.type");
    }
    if !maps.contains(&map) {
        return item_path;
    }
    match bracketed(after) {
        Some((resource, "")) => {
            let source = item.map_or(map, |item| defaulted_from(item, map, resource));
            key(&format!("{item_path}.{source}"), resource)
        }
        _ => format!("{item_path}.{map}"),
    }
}

/// The map of `item` a value of `map` for `resource` comes from after the API server's
/// defaulting of LimitRange items (`SetDefaults_LimitRangeItem`, containers only): a missing
/// default limit is the max; a missing default request the default limit, else the min.
fn defaulted_from<'a>(item: &LimitItem, map: &'a str, resource: &str) -> &'a str {
    let has = |values: &Option<std::collections::BTreeMap<_, _>>| {
        values.as_ref().is_some_and(|v| v.contains_key(resource))
    };
    if item.type_ != crate::core::api::LimitType::Container {
        return map;
    }
    match map {
        "default" if !has(&item.default) && has(&item.max) => "max",
        "defaultRequest" if !has(&item.default_request) => {
            if has(&item.default) {
                "default"
            } else if has(&item.max) {
                "max"
            } else if has(&item.min) {
                "min"
            } else {
                map
            }
        }
        _ => map,
    }
}

#[cfg(test)]
mod tests {
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
        let field =
            |object_field| profile_field(&defaulted, "LimitRange", names::LIMITS, object_field);
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
}
