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
mod tests;
