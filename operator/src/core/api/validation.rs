//! Checks on a profile beyond its CRD schema: label selector syntax, duplicate rules, CIDR
//! containment and exact quantity comparisons, and every rule the API server applies to
//! the objects the profile renders (resource names, whole-number quotas, LimitRange
//! ratios and defaults, strict CIDRs, Pod Security versions) in the API server's own
//! arithmetic, so that a profile accepted here renders objects the API server accepts. The
//! CEL rules are re-checked too (cheaply), so that a profile file can be validated offline;
//! pure formats (lengths, ranges, enums) are left to the schema.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::ResourceExt;

use super::resource_names::{
    MAX_INTEGER_QUOTA, is_dns_subdomain, is_integer_quota_resource, is_namespace_name,
    limit_resource_problem, overcommit_allowed, quota_resource_problem,
};
use super::{
    EgressPeer, HardeningProfile, LimitItem, LimitType, NetworkPolicyRules, Peer, PodSecurity, Port,
};
use crate::core::fieldpath::{child, index, key};
use crate::core::quantity::ParsedQuantity;

/// One problem with a profile, at a field path such as `spec.networkPolicy.egress[1]`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

/// Every problem found in `profile`, in field order; `Ok` when there is none.
pub fn validate(profile: &HardeningProfile) -> Result<(), Vec<ValidationError>> {
    let mut errors = Errors::default();
    let name = profile.name_any();
    if name.chars().count() > 63 {
        errors.push(
            "metadata.name",
            "must be at most 63 characters: generated objects carry it as a label value",
        );
    }
    let spec = &profile.spec;
    errors.selector("spec.namespaceSelector", &spec.namespace_selector);
    // What the schema checks besides, for files validated offline.
    if !(-1000..=1000).contains(&spec.priority) {
        errors.push(
            "spec.priority",
            format!("{} is not between -1000 and 1000", spec.priority),
        );
    }
    for (i, namespace) in spec.excluded_namespaces.iter().enumerate() {
        if !is_namespace_name(namespace) {
            errors.push(
                &index("spec.excludedNamespaces", i),
                format!("{namespace:?} is not a namespace name (a DNS label: lower case letters, digits and '-', at most 63)"),
            );
        }
    }
    errors.duplicates("spec.excludedNamespaces", &spec.excluded_namespaces);
    if let Some(network) = &spec.network_policy {
        errors.duplicates("spec.networkPolicy.defaultDeny", &network.default_deny);
    }
    if let Some(apparmor) = &spec.apparmor {
        errors.duplicates("spec.apparmor.denyWrite", &apparmor.deny_write);
        errors.duplicates("spec.apparmor.readOnly", &apparmor.read_only);
        errors.duplicates("spec.apparmor.noExec", &apparmor.no_exec);
        if let Some(capabilities) = &apparmor.capabilities {
            errors.duplicates("spec.apparmor.capabilities.deny", &capabilities.deny);
        }
    }
    if let Some(seccomp) = &spec.seccomp {
        errors.duplicates("spec.seccomp.architectures", &seccomp.architectures);
    }
    if let Some(guardrails) = &spec.guardrails {
        for (i, entry) in guardrails.allowed_registries.iter().enumerate() {
            if let Some(problem) = registry_host_problem(entry) {
                errors.push(&index("spec.guardrails.allowedRegistries", i), problem);
            }
        }
        if guardrails.require_profiles && spec.seccomp.is_none() && spec.apparmor.is_none() {
            errors.push(
                "spec.guardrails.requireProfiles",
                "requires the profile's own seccomp or AppArmor profile: set spec.seccomp or spec.apparmor",
            );
        }
        if let Some(pattern) = &guardrails.secret_env_name_pattern
            && let Err(e) = crate::core::pattern::compiled(pattern)
        {
            errors.push(
                "spec.guardrails.secretEnvNamePattern",
                format!(
                    "{pattern:?} is not a regular expression ({})",
                    e.to_string()
                        .lines()
                        .last()
                        .unwrap_or_default()
                        .trim()
                        .trim_start_matches("error: ")
                ),
            );
        }
        errors.duplicates(
            "spec.guardrails.scratchVolumes",
            &guardrails.scratch_volumes,
        );
    }
    if let Some(pod_security) = &spec.pod_security {
        errors.pod_security("spec.podSecurity", pod_security);
    }
    if let Some(network) = &spec.network_policy {
        errors.network_policy("spec.networkPolicy", network);
    }
    if let Some(quota) = &spec.resource_quota {
        let path = "spec.resourceQuota.hard";
        if quota.hard.is_empty() {
            errors.push(path, "must name at least one resource");
        }
        for (resource, value) in errors.quantities(path, Some(&quota.hard)) {
            let value_path = key(path, &resource);
            if let Some(problem) = quota_resource_problem(&resource) {
                errors.push(&value_path, problem);
            } else if is_integer_quota_resource(&resource)
                && !(value.is_integer()
                    && value.ceil_value().is_some_and(|v| v <= MAX_INTEGER_QUOTA))
            {
                errors.push(
                    &value_path,
                    format!(
                        "{resource} is counted in whole units, so it must be a whole number up to {MAX_INTEGER_QUOTA}, not {}",
                        quota.hard[&resource].0
                    ),
                );
            }
        }
    }
    if let Some(limit_range) = &spec.limit_range {
        let path = "spec.limitRange.limits";
        if limit_range.limits.is_empty() {
            errors.push(path, "must hold at least one item");
        }
        let mut seen = BTreeSet::new();
        for (i, item) in limit_range.limits.iter().enumerate() {
            let item_path = index(path, i);
            if !seen.insert(item.type_) {
                errors.push(
                    &child(&item_path, "type"),
                    format!("duplicate type {}", item.type_.as_str()),
                );
            }
            errors.limit_item(&item_path, item);
        }
    }
    if let Some(seccomp) = &spec.seccomp {
        for (field, message) in super::confinement::seccomp_problems("spec.seccomp", seccomp) {
            errors.push(&field, message);
        }
    }
    if let Some(apparmor) = &spec.apparmor {
        for (field, message) in super::confinement::apparmor_problems("spec.apparmor", apparmor) {
            errors.push(&field, message);
        }
    }
    errors.into_result()
}

/// Every problem found in `exception` that the API server's CRD rules (or, for label
/// selectors and dates, its own parsing) reject, in field order; `Ok` when there is none.
/// What depends on the time or on the profile (an expiry in the past or too far off, a
/// Pod Security level not lower than the profile's) is `core::exceptions::judge`'s.
pub fn validate_exception(
    exception: &super::HardeningException,
) -> Result<(), Vec<ValidationError>> {
    use super::{RuleScope, rule_scope};
    let mut errors = Errors::default();
    let spec = &exception.spec;
    let namespaces = &spec.namespaces;
    if namespaces.selector.is_none() && namespaces.names.is_empty() {
        errors.push(
            "spec.namespaces",
            "name the namespaces (names), select them by label (selector), or both",
        );
    }
    for (i, name) in namespaces.names.iter().enumerate() {
        if !is_namespace_name(name) {
            errors.push(
                &index("spec.namespaces.names", i),
                format!("{name:?} is not a namespace name (a DNS label: lower case letters, digits and '-', at most 63)"),
            );
        }
    }
    errors.duplicates("spec.namespaces.names", &namespaces.names);
    errors.optional_selector("spec.namespaces", "selector", namespaces.selector.as_ref());
    errors.optional_selector("spec", "podSelector", spec.pod_selector.as_ref());
    errors.duplicates("spec.containers", &spec.containers);
    errors.duplicates("spec.rules", &spec.rules);
    for (i, rule) in spec.rules.iter().enumerate() {
        if rule_scope(rule).is_none() {
            errors.push(
                &index("spec.rules", i),
                format!(
                    "{rule:?} is no guardrail rule (one of {})",
                    super::GUARDRAIL_RULES
                        .iter()
                        .map(|(name, _)| *name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
    if spec.rules.is_empty() && spec.pod_security_level.is_none() {
        errors.push(
            "spec",
            "an exception suspends guardrail rules (rules), lowers the Pod Security level of named namespaces (podSecurityLevel), or both",
        );
    }
    if spec.pod_security_level.is_some() {
        if namespaces.names.is_empty() || namespaces.selector.is_some() {
            errors.push(
                "spec",
                "podSecurityLevel lowers the level of whole namespaces and is only allowed for namespaces given by name (namespaces.names, no namespaces.selector): Pod Security cannot exempt single pods",
            );
        }
        if spec.pod_selector.is_some() || !spec.containers.is_empty() {
            errors.push(
                "spec",
                "podSecurityLevel lowers the level of whole namespaces (Pod Security cannot exempt single pods): it takes no podSelector or containers; put the rules for single workloads in an exception of their own",
            );
        }
    }
    let judging = |scope: RuleScope| {
        spec.rules.iter().all(|r| match rule_scope(r) {
            Some(s) => match scope {
                RuleScope::Containers => s == RuleScope::Containers,
                RuleScope::Pods => s != RuleScope::Requests,
                RuleScope::Requests => true,
            },
            None => true,
        })
    };
    if spec.pod_selector.is_some() && !judging(RuleScope::Pods) {
        errors.push("spec", super::exception::pod_selector_message());
    }
    if !spec.containers.is_empty() && !judging(RuleScope::Containers) {
        errors.push("spec", super::exception::containers_message());
    }
    if spec.reason.trim().is_empty() {
        errors.push("spec.reason", "must say why the deviation is accepted");
    }
    if spec.owner.trim().is_empty() {
        errors.push("spec.owner", "must name who answers for the deviation");
    }
    if let Err(problem) = expiry(&spec.expires) {
        errors.push("spec.expires", problem);
    }
    errors.into_result()
}

/// `expires` read as the API server's CEL reads it (RFC 3339 with `Z` or an offset), after
/// 2000-01-01.
pub fn expiry(text: &str) -> Result<k8s_openapi::jiff::Timestamp, String> {
    static PATTERN: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let pattern = PATTERN
        .get_or_init(|| regex::Regex::new(super::EXPIRES_PATTERN).expect("the pattern compiles"));
    let words = "must be a valid date and time after 2000-01-01T00:00:00Z";
    if !pattern.is_match(text) {
        return Err(format!(
            "{text:?} is not an RFC 3339 date and time such as 2026-12-31T23:59:59Z: {words}"
        ));
    }
    let at: k8s_openapi::jiff::Timestamp = text
        .parse()
        .map_err(|_| format!("{text:?} is no valid date and time: {words}"))?;
    let floor: k8s_openapi::jiff::Timestamp = super::EXPIRES_NOT_BEFORE
        .parse()
        .expect("a valid timestamp");
    if at <= floor {
        return Err(format!("{text} is not after 2000-01-01T00:00:00Z: {words}"));
    }
    Ok(at)
}

#[derive(Default)]
struct Errors(Vec<ValidationError>);

impl Errors {
    fn push(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(ValidationError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    fn into_result(self) -> Result<(), Vec<ValidationError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }

    fn selector(&mut self, path: &str, selector: &LabelSelector) {
        let labels_path = child(path, "matchLabels");
        for (label, value) in selector.match_labels.iter().flatten() {
            let key_path = key(&labels_path, label);
            if let Some(problem) = label_key_problem(label) {
                self.push(&key_path, problem);
            }
            if let Some(problem) = label_value_problem(value) {
                self.push(
                    &key_path,
                    format!("invalid label value {value:?}: {problem}"),
                );
            }
        }
        let expressions_path = child(path, "matchExpressions");
        for (i, requirement) in selector.match_expressions.iter().flatten().enumerate() {
            let requirement_path = index(&expressions_path, i);
            if let Some(problem) = label_key_problem(&requirement.key) {
                self.push(&child(&requirement_path, "key"), problem);
            }
            let values = requirement.values.as_deref().unwrap_or_default();
            let values_path = child(&requirement_path, "values");
            match requirement.operator.as_str() {
                operator @ ("In" | "NotIn") => {
                    if values.is_empty() {
                        self.push(
                            &values_path,
                            format!("must be non-empty for operator {operator}"),
                        );
                    }
                    for (j, value) in values.iter().enumerate() {
                        if let Some(problem) = label_value_problem(value) {
                            self.push(
                                &index(&values_path, j),
                                format!("invalid label value {value:?}: {problem}"),
                            );
                        }
                    }
                }
                operator @ ("Exists" | "DoesNotExist") => {
                    if !values.is_empty() {
                        self.push(
                            &values_path,
                            format!("must be empty for operator {operator}"),
                        );
                    }
                }
                other => self.push(
                    &child(&requirement_path, "operator"),
                    format!("unknown operator {other:?} (use In, NotIn, Exists or DoesNotExist)"),
                ),
            }
        }
    }

    /// Entries of a list the schema declares a set, each reported where it repeats.
    fn duplicates<T: PartialEq + std::fmt::Debug>(&mut self, path: &str, items: &[T]) {
        for (i, item) in items.iter().enumerate() {
            if let Some(first) = items[..i].iter().position(|earlier| earlier == item) {
                self.push(
                    &index(path, i),
                    format!("{item:?} is already listed at {}", index(path, first)),
                );
            }
        }
    }

    fn optional_selector(&mut self, parent: &str, field: &str, selector: Option<&LabelSelector>) {
        if let Some(selector) = selector {
            self.selector(&child(parent, field), selector);
        }
    }

    fn network_policy(&mut self, path: &str, network: &NetworkPolicyRules) {
        if !network.same_namespace.is_empty() && network.allow_same_namespace {
            self.push(
                path,
                "sameNamespace narrows the traffic inside the namespace: set allowSameNamespace: false with it (true opens every port between every pod)".to_owned(),
            );
        }
        let same_path = child(path, "sameNamespace");
        for (i, rule) in network.same_namespace.iter().enumerate() {
            self.ports(&child(&index(&same_path, i), "ports"), &rule.ports);
        }
        let ingress_path = child(path, "ingress");
        for (i, rule) in network.ingress.iter().enumerate() {
            let rule_path = index(&ingress_path, i);
            if let Some(first) = network.ingress[..i]
                .iter()
                .position(|earlier| earlier == rule)
            {
                self.push(
                    &rule_path,
                    format!("duplicates {}", index(&ingress_path, first)),
                );
            }
            for (j, peer) in rule.from.iter().enumerate() {
                self.peer(&index(&child(&rule_path, "from"), j), peer);
            }
            self.ports(&child(&rule_path, "ports"), &rule.ports);
        }
        let egress_path = child(path, "egress");
        for (i, rule) in network.egress.iter().enumerate() {
            let rule_path = index(&egress_path, i);
            if let Some(first) = network.egress[..i]
                .iter()
                .position(|earlier| earlier == rule)
            {
                self.push(
                    &rule_path,
                    format!("duplicates {}", index(&egress_path, first)),
                );
            }
            for (j, peer) in rule.to.iter().enumerate() {
                self.egress_peer(&index(&child(&rule_path, "to"), j), peer);
            }
            self.ports(&child(&rule_path, "ports"), &rule.ports);
        }
    }

    fn peer(&mut self, path: &str, peer: &Peer) {
        if peer.namespace_selector.is_none() && peer.pod_selector.is_none() {
            self.push(
                path,
                "a peer must set namespaceSelector, podSelector or both",
            );
        }
        self.optional_selector(path, "namespaceSelector", peer.namespace_selector.as_ref());
        self.optional_selector(path, "podSelector", peer.pod_selector.as_ref());
    }

    fn egress_peer(&mut self, path: &str, peer: &EgressPeer) {
        let has_selector = peer.namespace_selector.is_some() || peer.pod_selector.is_some();
        match &peer.cidr {
            Some(_) if has_selector => self.push(
                path,
                "an egress peer must set either cidr or namespaceSelector/podSelector, not both",
            ),
            None if !has_selector => self.push(
                path,
                "an egress peer must set either cidr or namespaceSelector/podSelector",
            ),
            None if !peer.except.is_empty() => {
                self.push(&child(path, "except"), "only allowed together with cidr")
            }
            _ => {}
        }
        let cidr_path = child(path, "cidr");
        let block = peer.cidr.as_deref().and_then(|text| {
            let parsed = Cidr::parse(text);
            match &parsed {
                None => self.push(
                    &cidr_path,
                    format!("{text:?} is not a CIDR such as 10.0.0.0/8"),
                ),
                Some(block) if !block.is_network() => self.push(
                    &cidr_path,
                    format!(
                        "{text} has bits set beyond its prefix length: give the network address {}",
                        block.network()
                    ),
                ),
                Some(_) => {}
            }
            parsed
        });
        for (i, text) in peer.except.iter().enumerate() {
            let except_path = index(&child(path, "except"), i);
            match (Cidr::parse(text), &block) {
                (None, _) => self.push(
                    &except_path,
                    format!("{text:?} is not a CIDR such as 10.1.0.0/16"),
                ),
                (Some(except), _) if !except.is_network() => self.push(
                    &except_path,
                    format!(
                        "{text} has bits set beyond its prefix length: give the network address {}",
                        except.network()
                    ),
                ),
                (Some(except), Some(block)) if !block.strictly_contains(&except) => self.push(
                    &except_path,
                    format!(
                        "{text} is not a strict subset of cidr {}",
                        peer.cidr.as_deref().unwrap_or_default()
                    ),
                ),
                _ => {}
            }
        }
        self.optional_selector(path, "namespaceSelector", peer.namespace_selector.as_ref());
        self.optional_selector(path, "podSelector", peer.pod_selector.as_ref());
    }

    fn ports(&mut self, path: &str, ports: &[Port]) {
        const PORTS: std::ops::RangeInclusive<i32> = 1..=65535;
        for (i, port) in ports.iter().enumerate() {
            if !PORTS.contains(&port.port) {
                self.push(
                    &child(&index(path, i), "port"),
                    format!("{} is not a port number (1 to 65535)", port.port),
                );
            }
            if let Some(end) = port.end_port.filter(|end| !PORTS.contains(end)) {
                self.push(
                    &child(&index(path, i), "endPort"),
                    format!("{end} is not a port number (1 to 65535)"),
                );
            }
            if port.end_port.is_some_and(|end| end < port.port) {
                self.push(
                    &child(&index(path, i), "endPort"),
                    format!("must be greater than or equal to port {}", port.port),
                );
            }
        }
    }

    /// Parses every value of a quantity map, reporting malformed and negative ones.
    fn quantities(
        &mut self,
        path: &str,
        map: Option<&BTreeMap<String, Quantity>>,
    ) -> BTreeMap<String, ParsedQuantity> {
        let mut parsed = BTreeMap::new();
        for (resource, Quantity(text)) in map.into_iter().flatten() {
            let value_path = key(path, resource);
            match text.parse::<ParsedQuantity>() {
                Err(error) => self.push(&value_path, error.to_string()),
                Ok(value) if value.is_negative() => {
                    self.push(&value_path, format!("{text} is negative"))
                }
                Ok(value) => {
                    parsed.insert(resource.clone(), value);
                }
            }
        }
        parsed
    }

    /// Resource names of every map of a LimitRange item that its type cannot bound.
    fn limit_names(&mut self, path: &str, item: &LimitItem) {
        for (field, map) in [
            ("default", &item.default),
            ("defaultRequest", &item.default_request),
            ("min", &item.min),
            ("max", &item.max),
            ("maxLimitRequestRatio", &item.max_limit_request_ratio),
        ] {
            for resource in map.iter().flat_map(BTreeMap::keys) {
                if let Some(problem) = limit_resource_problem(item.type_, resource) {
                    self.push(&key(&child(path, field), resource), problem);
                }
            }
        }
    }

    /// The values of a quantity map that parse, reporting nothing (the caller has).
    fn quantities_quietly(
        &self,
        map: Option<&BTreeMap<String, Quantity>>,
    ) -> BTreeMap<String, ParsedQuantity> {
        map.into_iter()
            .flatten()
            .filter_map(|(resource, Quantity(text))| {
                let value: ParsedQuantity = text.parse().ok()?;
                (!value.is_negative()).then(|| (resource.clone(), value))
            })
            .collect()
    }

    /// Policy versions Pod Security Admission can parse (it rejects the namespace else).
    fn pod_security(&mut self, path: &str, pod_security: &PodSecurity) {
        if pod_security.enforce.is_none()
            && pod_security.audit.is_none()
            && pod_security.warn.is_none()
        {
            self.push(path, "must set at least one of enforce, audit or warn");
        }
        for (mode, standard) in [
            ("enforce", &pod_security.enforce),
            ("audit", &pod_security.audit),
            ("warn", &pod_security.warn),
        ] {
            if let Some(version) = standard.as_ref().and_then(|s| s.version.as_deref())
                && !is_pod_security_version(version)
            {
                self.push(
                    &child(&child(path, mode), "version"),
                    format!(
                        "{version:?} is not a Pod Security version: use latest or v1.<minor> such as v1.33 (no leading zeros)"
                    ),
                );
            }
        }
    }

    fn limit_item(&mut self, path: &str, item: &LimitItem) {
        let maps = LimitMaps {
            default: self.quantities(&child(path, "default"), item.default.as_ref()),
            default_request: self.quantities(
                &child(path, "defaultRequest"),
                item.default_request.as_ref(),
            ),
            min: self.quantities(&child(path, "min"), item.min.as_ref()),
            max: self.quantities(&child(path, "max"), item.max.as_ref()),
        };
        // The order the API server's LimitRange validation checks them in.
        let bounds = [
            ("min", &maps.min, "max", &maps.max),
            ("min", &maps.min, "defaultRequest", &maps.default_request),
            ("defaultRequest", &maps.default_request, "max", &maps.max),
            (
                "defaultRequest",
                &maps.default_request,
                "default",
                &maps.default,
            ),
            ("min", &maps.min, "default", &maps.default),
            ("default", &maps.default, "max", &maps.max),
        ];
        for (lower_name, lower, upper_name, upper) in bounds {
            for (resource, low) in lower {
                if let Some(high) = upper.get(resource)
                    && low > high
                {
                    self.push(
                        &key(&child(path, lower_name), resource),
                        format!(
                            "{lower_name} {} must not exceed {upper_name} {}",
                            item_text(item, lower_name, resource),
                            item_text(item, upper_name, resource)
                        ),
                    );
                }
            }
        }
        let ratio_path = child(path, "maxLimitRequestRatio");
        let one: ParsedQuantity = "1".parse().expect("1 is a quantity");
        for (resource, ratio) in self.quantities(&ratio_path, item.max_limit_request_ratio.as_ref())
        {
            if ratio < one {
                self.push(
                    &key(&ratio_path, &resource),
                    format!("{ratio} is less than 1"),
                );
            }
            if item.type_ == LimitType::Container
                && let Some(((limit_field, limit), (request_field, request))) =
                    maps.effective_defaults(&resource)
                && !request.is_zero()
                && limit.to_f64() / request.to_f64() > ratio.to_f64() * (1.0 + 1e-9)
            {
                // The API server accepts this LimitRange but then rejects every pod that
                // relies on the defaults.
                self.push(
                    &key(&ratio_path, &resource),
                    format!(
                        "the default limit {} over the default request {} is a ratio of {:.2}, above {}: every pod without explicit {resource} resources would be rejected",
                        item_text(item, limit_field, &resource),
                        item_text(item, request_field, &resource),
                        limit.to_f64() / request.to_f64(),
                        item.max_limit_request_ratio.as_ref().and_then(|m| m.get(&resource)).map_or("", |Quantity(t)| t),
                    ),
                );
            }
        }
        self.limit_names(path, item);
        let ratios = self.quantities_quietly(item.max_limit_request_ratio.as_ref());
        for (resource, ratio) in &ratios {
            if let (Some(min), Some(max)) = (maps.min.get(resource), maps.max.get(resource))
                && let Some(problem) = ratio_bound_problem(ratio, min, max)
            {
                self.push(
                    &key(&ratio_path, resource),
                    format!(
                        "{} {problem} (min {}, max {})",
                        item_ratio_text(item, resource),
                        item_text(item, "min", resource),
                        item_text(item, "max", resource)
                    ),
                );
            }
        }
        if item.type_ == LimitType::Container {
            for (resource, request) in &maps.default_request {
                if overcommit_allowed(resource) {
                    continue;
                }
                let limit = match maps.default.get(resource) {
                    Some(limit) => Some(("default", limit)),
                    None => maps.max.get(resource).map(|max| ("max", max)),
                };
                if let Some((limit_field, limit)) = limit
                    && !same_after_rounding(request, limit)
                {
                    self.push(
                        &key(&child(path, "defaultRequest"), resource),
                        format!(
                            "{resource} cannot be overcommitted, so defaultRequest {} must equal the default limit ({limit_field} {})",
                            item_text(item, "defaultRequest", resource),
                            item_text(item, limit_field, resource)
                        ),
                    );
                }
            }
        }
        if item.type_ != LimitType::Container {
            for (field, present) in [
                ("default", item.default.is_some()),
                ("defaultRequest", item.default_request.is_some()),
            ] {
                if present {
                    self.push(
                        &child(path, field),
                        format!(
                            "only allowed for type Container, not {}",
                            item.type_.as_str()
                        ),
                    );
                }
            }
        }
        if item.type_ == LimitType::PersistentVolumeClaim
            && !maps.min.contains_key("storage")
            && !maps.max.contains_key("storage")
        {
            self.push(
                path,
                "type PersistentVolumeClaim needs min.storage or max.storage",
            );
        }
    }
}

struct LimitMaps {
    default: BTreeMap<String, ParsedQuantity>,
    default_request: BTreeMap<String, ParsedQuantity>,
    min: BTreeMap<String, ParsedQuantity>,
    max: BTreeMap<String, ParsedQuantity>,
}

impl LimitMaps {
    /// The default limit and request a container gets for `resource`, after the API
    /// server's defaulting of LimitRange items: a missing default limit is the max, a
    /// missing default request is the default limit. (Without either, no defaults apply.)
    /// Each with the field it comes from.
    #[allow(clippy::type_complexity)]
    fn effective_defaults(
        &self,
        resource: &str,
    ) -> Option<(
        (&'static str, &ParsedQuantity),
        (&'static str, &ParsedQuantity),
    )> {
        let limit = match self.default.get(resource) {
            Some(q) => ("default", q),
            None => ("max", self.max.get(resource)?),
        };
        let request = match self.default_request.get(resource) {
            Some(q) => ("defaultRequest", q),
            None => limit,
        };
        Some((limit, request))
    }
}

/// `resource.MaxMilliValue`: below it the API server compares LimitRange ratios in milli
/// units, above it in whole units.
const MAX_MILLI_VALUE: i64 = i64::MAX / 1000;

/// Why the API server rejects `maxLimitRequestRatio` `ratio` for bounds `min`..`max`, if it
/// does: its own float arithmetic on the values rounded up to milli units
/// (`ValidateLimitRange`), so that borderline ratios are judged exactly as it does.
fn ratio_bound_problem(
    ratio: &ParsedQuantity,
    min: &ParsedQuantity,
    max: &ParsedQuantity,
) -> Option<String> {
    let too_large = || {
        Some("cannot be checked against max / min: the values are too large for the API server's arithmetic".to_owned())
    };
    let (Some(ratio_units), Some(min_units), Some(max_units)) =
        (ratio.ceil_value(), min.ceil_value(), max.ceil_value())
    else {
        return too_large();
    };
    let small = |units: i64| units < MAX_MILLI_VALUE;
    let (ratio_value, min_value, max_value) =
        if small(ratio_units) && small(min_units) && small(max_units) {
            match (
                ratio.ceil_milli_value(),
                min.ceil_milli_value(),
                max.ceil_milli_value(),
            ) {
                (Some(r), Some(lo), Some(hi)) => (r as f64 / 1000.0, lo, hi),
                _ => return too_large(),
            }
        } else {
            (ratio_units as f64, min_units, max_units)
        };
    let limit = max_value as f64 / min_value as f64;
    (ratio_value > limit).then(|| format!("is greater than max / min = {limit:.3}"))
}

/// Whether two quantities are equal once the API server has rounded both up to milli units.
fn same_after_rounding(a: &ParsedQuantity, b: &ParsedQuantity) -> bool {
    match (a.ceil_milli_value(), b.ceil_milli_value()) {
        (Some(a), Some(b)) => a == b,
        _ => a == b,
    }
}

/// `latest` or `v1.<minor>` as Pod Security Admission parses it ([`super::POD_SECURITY_VERSION_PATTERN`]).
fn is_pod_security_version(version: &str) -> bool {
    if version == "latest" {
        return true;
    }
    let Some(minor) = version.strip_prefix("v1.") else {
        return false;
    };
    !minor.is_empty()
        && minor.len() <= 18
        && minor.bytes().all(|b| b.is_ascii_digit())
        && (minor == "0" || !minor.starts_with('0'))
}

fn item_ratio_text<'a>(item: &'a LimitItem, resource: &str) -> &'a str {
    item.max_limit_request_ratio
        .as_ref()
        .and_then(|map| map.get(resource))
        .map_or("", |Quantity(text)| text)
}

/// The quantity as the user wrote it, for messages.
fn item_text<'a>(item: &'a LimitItem, field: &str, resource: &str) -> &'a str {
    let map = match field {
        "default" => &item.default,
        "defaultRequest" => &item.default_request,
        "min" => &item.min,
        _ => &item.max,
    };
    map.as_ref()
        .and_then(|map| map.get(resource))
        .map_or("", |Quantity(text)| text)
}

/// An IP block `address/prefix`, as the API server's CEL `isCIDR` (Go's
/// `netip.ParsePrefix`, IPv4-mapped IPv6 addresses refused) accepts it.
struct Cidr {
    address: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(text: &str) -> Option<Self> {
        let (address, prefix) = text.split_once('/')?;
        let address: IpAddr = address.parse().ok()?;
        let leading_zero = prefix.len() > 1 && prefix.starts_with('0');
        if !prefix.bytes().all(|b| b.is_ascii_digit())
            || prefix.is_empty()
            || prefix.len() > 3
            || leading_zero
        {
            return None;
        }
        let prefix: u8 = prefix.parse().ok()?;
        let bits = match address {
            IpAddr::V4(_) => 32,
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => return None,
            IpAddr::V6(_) => 128,
        };
        (prefix <= bits).then_some(Self { address, prefix })
    }

    /// The block's address with the bits beyond the prefix cleared.
    fn network_address(&self) -> IpAddr {
        match self.address {
            IpAddr::V4(v4) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4((u32::from(v4) & mask).into())
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6((u128::from(v6) & mask).into())
            }
        }
    }

    /// Whether no bit beyond the prefix is set: Kubernetes 1.36 rejects `10.0.0.1/8`.
    fn is_network(&self) -> bool {
        self.network_address() == self.address
    }

    /// The network this block lies in, e.g. `10.0.0.0/8` for `10.0.0.1/8`.
    fn network(&self) -> String {
        format!("{}/{}", self.network_address(), self.prefix)
    }

    /// Whether `inner` lies inside this block and is smaller (what NetworkPolicy `except` needs).
    fn strictly_contains(&self, inner: &Cidr) -> bool {
        if inner.prefix <= self.prefix {
            return false;
        }
        match (self.address, inner.address) {
            (IpAddr::V4(outer), IpAddr::V4(inner)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(outer) & mask == u32::from(inner) & mask
            }
            (IpAddr::V6(outer), IpAddr::V6(inner)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(outer) & mask == u128::from(inner) & mask
            }
            _ => false,
        }
    }
}

/// Why `key` is not a valid label key (`[prefix/]name`), if it is not.
pub(super) fn label_key_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix
        && !is_dns_subdomain(prefix)
    {
        return Some(format!(
            "invalid label key {key:?}: the prefix must be a DNS subdomain such as example.com"
        ));
    }
    if name.is_empty() || label_value_problem(name).is_some() || name.contains('/') {
        return Some(format!(
            "invalid label key {key:?}: the name must be 1-63 characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        ));
    }
    None
}

/// Why `value` is not a valid label value, if it is not.
pub(super) fn label_value_problem(value: &str) -> Option<&'static str> {
    let bytes = value.as_bytes();
    if bytes.len() > 63 {
        return Some("must be at most 63 characters");
    }
    let inner_ok = bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    let ends_ok = match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric(),
        _ => true,
    };
    (!(inner_ok && ends_ok)).then_some(
        "must be letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
    )
}

/// Why an allowed-registries entry can match no image as container runtimes pull it
/// (`crate::core::preview::normalize_image`): its first part names no registry host.
fn registry_host_problem(entry: &str) -> Option<String> {
    let host = entry.split('/').next().unwrap_or_default();
    if host == "index.docker.io" {
        return Some(format!(
            "{entry:?} can match no image: container runtimes call index.docker.io docker.io, write {:?}",
            entry.replacen("index.docker.io", "docker.io", 1)
        ));
    }
    let is_host = host.contains('.') || host.contains(':') || host == "localhost";
    (!is_host).then(|| {
        format!(
            "{entry:?} names no registry host (a name with a dot or a port, or localhost): container runtimes pull a short name such as {entry}/app from docker.io, so write \"docker.io/{entry}\""
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parsing_follows_the_api_server() {
        assert!(Cidr::parse("10.0.0.0/8").is_some());
        assert!(Cidr::parse("10.0.0.1/8").is_some(), "host bits only warn");
        assert!(Cidr::parse("2001:db8::/32").is_some());
        assert!(Cidr::parse("0.0.0.0/0").is_some());
        for bad in [
            "10.0.0.0/33",
            "10.0.0.0",
            "10.0.0/8",
            "010.0.0.0/8",
            "::ffff:10.0.0.0/104",
            "10.0.0.0/+8",
            "10.0.0.0/",
            "::/129",
        ] {
            assert!(Cidr::parse(bad).is_none(), "{bad} should be rejected");
        }
    }

    #[test]
    fn strict_containment() {
        let block = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(block.strictly_contains(&Cidr::parse("10.1.0.0/16").unwrap()));
        assert!(!block.strictly_contains(&Cidr::parse("10.0.0.0/8").unwrap()));
        assert!(!block.strictly_contains(&Cidr::parse("11.0.0.0/16").unwrap()));
        assert!(!block.strictly_contains(&Cidr::parse("2001:db8::/64").unwrap()));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.strictly_contains(&Cidr::parse("169.254.169.254/32").unwrap()));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.strictly_contains(&Cidr::parse("2001:db8:1::/48").unwrap()));
        assert!(!v6.strictly_contains(&Cidr::parse("2001:db9::/48").unwrap()));
    }

    #[test]
    fn label_keys_and_values() {
        assert_eq!(label_key_problem("app"), None);
        assert_eq!(label_key_problem("hardening.dev/tier"), None);
        assert_eq!(label_key_problem("kubernetes.io/metadata.name"), None);
        assert!(label_key_problem("").is_some());
        assert!(label_key_problem("/tier").is_some());
        assert!(label_key_problem("Hardening.dev/tier").is_some());
        assert!(label_key_problem("a/b/c").is_some());
        assert!(label_key_problem("-app").is_some());
        assert!(label_key_problem(&"a".repeat(64)).is_some());
        assert_eq!(label_value_problem(""), None);
        assert_eq!(label_value_problem("v1.2_x-y"), None);
        assert!(label_value_problem("a b").is_some());
        assert!(label_value_problem("x.").is_some());
    }
}
