//! Schema pieces and CEL rules the derive macros cannot express on their own.
//!
//! Quantities stay `x-kubernetes-int-or-string` (users write `pods: 10` as well as
//! `memory: 1Gi`), so every rule checks the CEL type first: `isQuantity`/`quantity` take
//! strings only, and converting with `string(x)` would make the API server's cost estimate
//! unbounded. Integers become quantities with `quantity('0').add(x)` instead.

use schemars::{Schema, SchemaGenerator, json_schema};

use super::resource_names::{
    HUGE_PAGES_PREFIX, INTEGER_RESOURCES, MAX_EXTENDED_PREFIX, MAX_INTEGER_QUOTA, NATIVE_DOMAIN,
    REQUESTS_HUGE_PAGES_PREFIX, REQUESTS_PREFIX, STANDARD_CONTAINER_RESOURCES,
    STANDARD_QUOTA_RESOURCES, STANDARD_RESOURCES,
};

/// Resource names per quantity map; bounds the cost of the CEL rules that iterate them.
const MAX_QUANTITIES: u32 = 32;
/// Longest quantity string; bounds the cost of parsing it in CEL.
const MAX_QUANTITY_LENGTH: u32 = 64;

/// A map from resource name to quantity, as in LimitRange `max`.
pub(super) fn quantity_map(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "maxProperties": MAX_QUANTITIES,
        "additionalProperties": {
            "x-kubernetes-int-or-string": true,
            "maxLength": MAX_QUANTITY_LENGTH,
        },
        "x-kubernetes-validations": [{
            "rule": "self.all(k, type(self[k]) == int ? self[k] >= 0 : isQuantity(self[k]) && quantity(self[k]).compareTo(quantity('0')) >= 0)",
            "message": "values must be non-negative quantities such as 500m, 2Gi or 10",
        }],
    })
}

/// ResourceQuota `hard`: [`quantity_map`] with at least one entry, names a quota can cap,
/// and whole numbers for the resources counted in units.
pub(super) fn quota_map(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = quantity_map(generator);
    schema.insert("minProperties".to_owned(), 1.into());
    let rules = schema
        .get_mut("x-kubernetes-validations")
        .and_then(|rules| rules.as_array_mut())
        .expect("quantity_map has rules");
    rules.push(serde_json::json!({
        "rule": format!("self.all(k, {})", quota_name("k")),
        "message": "resource names must be qualified names a ResourceQuota can cap: cpu, memory, ephemeral-storage, pods, services, secrets, configmaps, persistentvolumeclaims, replicationcontrollers, resourcequotas, services.nodeports, services.loadbalancers, requests.* and limits.* of cpu, memory, ephemeral-storage (requests.storage), hugepages-<size>, or names with a domain such as count/deployments.apps or example.com/gpu",
    }));
    rules.push(serde_json::json!({
        "rule": format!(
            "self.all(k, !({}) || (type(self[k]) == int ? self[k] <= {MAX_INTEGER_QUOTA} : !isQuantity(self[k]) || {}))",
            integer_resource("k"),
            whole_number("quantity(self[k])"),
        ),
        "message": format!("object counts (pods, services, secrets, configmaps, persistentvolumeclaims, ..., count/*) and extended resources (example.com/gpu) must be whole numbers up to {MAX_INTEGER_QUOTA}, such as 10, not 1.5 or 500m"),
    }));
    schema
}

/// CEL: the Quantity `q` is a whole number up to [`MAX_INTEGER_QUOTA`], exactly.
/// `isInteger()` alone is false for `1000m` or `10.0` (stored with a negative scale),
/// which the API server takes as whole numbers; for those the value is compared with
/// the integer its float approximation truncates to (exact below 2^53).
fn whole_number(q: &str) -> String {
    format!(
        "{q}.compareTo(quantity('{MAX_INTEGER_QUOTA}')) <= 0 && ({q}.isInteger() || ({q}.asApproximateFloat() < 9.0e15 && {q}.compareTo(quantity('0').add(int({q}.asApproximateFloat()))) == 0))"
    )
}

/// CEL list literal of `names`.
fn cel_list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    format!("[{}]", quoted.join(", "))
}

/// RE2 for a qualified name (`[prefix/]name`); `[.]` rather than `\.`, which a CEL string
/// would need escaped.
const QUALIFIED_NAME_REGEX: &str = "^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$";

/// CEL: the string `k` is a qualified name (`IsQualifiedName`).
fn qualified(k: &str) -> String {
    format!("({k}.matches('{QUALIFIED_NAME_REGEX}') && {k}.indexOf('/') <= 253)")
}

/// CEL: `k` is a resource name a ResourceQuota can cap ([`super::resource_names::quota_resource_problem`]).
fn quota_name(k: &str) -> String {
    format!(
        "{} && ({k}.contains('/') || {k} in {} || {k}.startsWith('{HUGE_PAGES_PREFIX}') || {k}.startsWith('{REQUESTS_HUGE_PAGES_PREFIX}'))",
        qualified(k),
        cel_list(&STANDARD_QUOTA_RESOURCES),
    )
}

/// CEL: quota resource `k` is counted in whole units ([`super::resource_names::is_integer_quota_resource`]).
fn integer_resource(k: &str) -> String {
    format!(
        "{k} in {} || ({k}.contains('/') && !{k}.contains('{NATIVE_DOMAIN}') && !{k}.startsWith('{REQUESTS_PREFIX}'))",
        cel_list(&INTEGER_RESOURCES)
    )
}

/// CEL: `k` may be bounded by a LimitRange item of type `self.type`
/// ([`super::resource_names::limit_resource_problem`]).
fn limit_name(k: &str) -> String {
    let container = format!(
        "({k}.contains('/') ? ({k}.contains('{NATIVE_DOMAIN}') || (!{k}.startsWith('{REQUESTS_PREFIX}') && {k}.indexOf('/') <= {MAX_EXTENDED_PREFIX})) : ({k} in {} || {k}.startsWith('{HUGE_PAGES_PREFIX}')))",
        cel_list(&STANDARD_CONTAINER_RESOURCES)
    );
    let claim = format!(
        "({k}.contains('/') || {k} in {} || {k}.startsWith('{HUGE_PAGES_PREFIX}') || {k}.startsWith('{REQUESTS_HUGE_PAGES_PREFIX}'))",
        cel_list(&STANDARD_RESOURCES)
    );
    format!(
        "{} && (self.type == 'PersistentVolumeClaim' ? {claim} : {container})",
        qualified(k)
    )
}

/// CEL rule on a LimitRange item: every resource name in its maps suits its type.
pub(super) fn limit_names() -> String {
    [
        "default",
        "defaultRequest",
        "min",
        "max",
        "maxLimitRequestRatio",
    ]
    .iter()
    .map(|map| {
        format!(
            "(!has(self.{map}) || self.{map}.all(k, {}))",
            limit_name("k")
        )
    })
    .collect::<Vec<_>>()
    .join(" && ")
}

/// CEL rule on a LimitRange item: for resources that cannot be overcommitted (hugepages,
/// extended resources), `defaultRequest` equals the default limit (`default`, else `max`,
/// as the API server defaults it).
pub(super) fn no_overcommit() -> String {
    let request = "self.defaultRequest[k]";
    let default = "self.default[k]";
    let max = "self.max[k]";
    let equal = |other: &str| {
        format!(
            "(!{} || {}.compareTo({}) == 0)",
            is_quantity(other),
            as_quantity(request),
            as_quantity(other)
        )
    };
    format!(
        "self.type != 'Container' || !has(self.defaultRequest) || self.defaultRequest.all(k, !(({k}.contains('/') && !{k}.contains('{NATIVE_DOMAIN}')) || {k}.startsWith('{HUGE_PAGES_PREFIX}')) || !{} || (has(self.default) && k in self.default ? {} : (!has(self.max) || !(k in self.max) || {})))",
        is_quantity(request),
        equal(default),
        equal(max),
        k = "k",
    )
}

/// CEL rule on a LimitRange item: `maxLimitRequestRatio` at most `max / min`. The API
/// server compares the values rounded up to milli units; this rule allows for that
/// rounding (and float error), so it never rejects what the API server accepts, and
/// [`super::validate`] applies the exact rule.
pub(super) fn ratio_within_bounds() -> String {
    let ratio = "self.maxLimitRequestRatio[k]";
    let min = "self.min[k]";
    let max = "self.max[k]";
    format!(
        "!has(self.maxLimitRequestRatio) || !has(self.min) || !has(self.max) || self.maxLimitRequestRatio.all(k, !(k in self.min) || !(k in self.max) || !{} || !{} || !{} || {}.compareTo(quantity('0')) <= 0 || {}.asApproximateFloat() <= ({}.asApproximateFloat() + 0.001) / {}.asApproximateFloat() * 1.000000001)",
        is_quantity(ratio),
        is_quantity(min),
        is_quantity(max),
        as_quantity(min),
        as_quantity(ratio),
        as_quantity(max),
        as_quantity(min),
    )
}

/// A count: a non-negative integer without the `uint32`/`uint64` formats schemars emits
/// for unsigned types, which the API server warns about on every CRD apply.
pub(super) fn count(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "integer",
        "minimum": 0,
    })
}

/// CEL: the quantity `x` (int or string) is valid.
fn is_quantity(x: &str) -> String {
    format!("(type({x}) == int || isQuantity({x}))")
}

/// CEL: the quantity `x` (int or string) as a CEL Quantity.
fn as_quantity(x: &str) -> String {
    format!("(type({x}) == int ? quantity('0').add({x}) : quantity({x}))")
}

/// CEL rule on a LimitRange item: for every resource in both maps, `lower <= upper`.
/// Invalid quantities pass here; the rule on the map itself reports them.
pub(super) fn not_greater(lower: &str, upper: &str) -> String {
    let lo = format!("self.{lower}[k]");
    let hi = format!("self.{upper}[k]");
    format!(
        "!has(self.{lower}) || !has(self.{upper}) || self.{lower}.all(k, !(k in self.{upper}) || !{} || !{} || {}.compareTo({}) <= 0)",
        is_quantity(&lo),
        is_quantity(&hi),
        as_quantity(&lo),
        as_quantity(&hi),
    )
}

/// CEL rule on a quantity map `map`: every value is at least 1.
pub(super) fn at_least_one(map: &str) -> String {
    let value = format!("{map}[k]");
    format!(
        "{map}.all(k, !{} || {}.compareTo(quantity('1')) >= 0)",
        is_quantity(&value),
        as_quantity(&value),
    )
}

/// `nodeBaseline.containerRuntimes`: runtime name to its lowest version, bounded so that the
/// CEL rule checking the versions stays within the CRD's cost budget.
pub(super) fn runtime_versions(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "maxProperties": 8,
        "additionalProperties": { "type": "string", "minLength": 1, "maxLength": 32 },
        "x-kubernetes-validations": [{
            "rule": "self.all(k, self[k].matches('^[0-9]+(\\\\.[0-9]+)*$'))",
            "message": "runtime versions must be numbers separated by dots, such as 1.7",
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_greater_compares_ints_and_strings_as_quantities() {
        assert_eq!(
            not_greater("min", "max"),
            "!has(self.min) || !has(self.max) || self.min.all(k, !(k in self.max) \
             || !(type(self.min[k]) == int || isQuantity(self.min[k])) \
             || !(type(self.max[k]) == int || isQuantity(self.max[k])) \
             || (type(self.min[k]) == int ? quantity('0').add(self.min[k]) : quantity(self.min[k]))\
             .compareTo((type(self.max[k]) == int ? quantity('0').add(self.max[k]) : quantity(self.max[k]))) <= 0)"
        );
    }

    #[test]
    fn at_least_one_guards_invalid_values() {
        assert_eq!(
            at_least_one("self"),
            "self.all(k, !(type(self[k]) == int || isQuantity(self[k])) \
             || (type(self[k]) == int ? quantity('0').add(self[k]) : quantity(self[k]))\
             .compareTo(quantity('1')) >= 0)"
        );
    }
}
