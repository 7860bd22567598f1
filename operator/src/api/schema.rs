//! Schema pieces and CEL rules the derive macros cannot express on their own.
//!
//! Quantities stay `x-kubernetes-int-or-string` (users write `pods: 10` as well as
//! `memory: 1Gi`), so every rule checks the CEL type first: `isQuantity`/`quantity` take
//! strings only, and converting with `string(x)` would make the API server's cost estimate
//! unbounded. Integers become quantities with `quantity('0').add(x)` instead.

use schemars::{Schema, SchemaGenerator, json_schema};

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

/// Like [`quantity_map`], with at least one entry (ResourceQuota `hard`).
pub(super) fn non_empty_quantity_map(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = quantity_map(generator);
    schema.insert("minProperties".to_owned(), 1.into());
    schema
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
