//! A generated object as the API server stores it: the defaults it fills in where the
//! operator's rendering leaves a field unset. The diff compares live objects against this
//! form, so an object that holds exactly what the operator applied shows no drift, and
//! anything else does.
//!
//! Only the defaults of the kinds the operator generates, from Kubernetes'
//! `pkg/apis/{core,networking}/v1/defaults.go`: a NetworkPolicy port's protocol (TCP) and
//! `policyTypes`, and a LimitRange `Container` item's `default` (from `max`) and
//! `defaultRequest` (from `default`, then `min`). Quantities stay as rendered; the diff
//! compares them by value with the API server's rounding. An integration test checks this
//! against what a real API server stores.

use serde_json::{Map, Value};

/// `object` (a rendered object as JSON, `kind` set) with the API server's defaults filled in.
pub fn canonical(object: &Value) -> Value {
    let mut object = object.clone();
    match object.get("kind").and_then(Value::as_str) {
        Some("NetworkPolicy") => {
            if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) {
                network_policy(spec);
            }
        }
        Some("LimitRange") => {
            let items = object
                .pointer_mut("/spec/limits")
                .and_then(Value::as_array_mut);
            for item in items.into_iter().flatten() {
                if let Some(item) = item.as_object_mut() {
                    limit_range_item(item);
                }
            }
        }
        _ => {}
    }
    object
}

fn network_policy(spec: &mut Map<String, Value>) {
    let has_egress = spec
        .get("egress")
        .and_then(Value::as_array)
        .is_some_and(|rules| !rules.is_empty());
    let types_unset = spec
        .get("policyTypes")
        .and_then(Value::as_array)
        .is_none_or(|types| types.is_empty());
    if types_unset {
        let mut types = vec![Value::from("Ingress")];
        if has_egress {
            types.push(Value::from("Egress"));
        }
        spec.insert("policyTypes".to_owned(), Value::Array(types));
    }
    for direction in ["ingress", "egress"] {
        let rules = spec.get_mut(direction).and_then(Value::as_array_mut);
        for rule in rules.into_iter().flatten() {
            let ports = rule.get_mut("ports").and_then(Value::as_array_mut);
            for port in ports.into_iter().flatten() {
                if let Some(port) = port.as_object_mut() {
                    port.entry("protocol").or_insert_with(|| Value::from("TCP"));
                }
            }
        }
    }
}

fn limit_range_item(item: &mut Map<String, Value>) {
    if item.get("type").and_then(Value::as_str) != Some("Container") {
        return;
    }
    let map = |item: &Map<String, Value>, key: &str| -> Map<String, Value> {
        item.get(key)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let (max, min) = (map(item, "max"), map(item, "min"));
    let mut default = map(item, "default");
    let mut default_request = map(item, "defaultRequest");
    // A default limit is unspecified, but the max is: the limit defaults to the max.
    for (resource, value) in &max {
        default
            .entry(resource.clone())
            .or_insert_with(|| value.clone());
    }
    // A default request is unspecified: it defaults to the default limit, else the min.
    for (resource, value) in default.iter().chain(&min) {
        default_request
            .entry(resource.clone())
            .or_insert_with(|| value.clone());
    }
    for (key, values) in [("default", default), ("defaultRequest", default_request)] {
        if !values.is_empty() {
            item.insert(key.to_owned(), Value::Object(values));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn limit_range_container_defaults_follow_the_api_server() {
        let rendered = json!({"kind": "LimitRange", "spec": {"limits": [
            {"type": "Container", "max": {"cpu": "2", "memory": "1Gi"}, "min": {"cpu": "10m", "ephemeral-storage": "1Mi"},
             "default": {"cpu": "500m"}},
            {"type": "Pod", "max": {"cpu": "4"}},
        ]}});
        assert_eq!(
            canonical(&rendered),
            json!({"kind": "LimitRange", "spec": {"limits": [
                {"type": "Container", "max": {"cpu": "2", "memory": "1Gi"}, "min": {"cpu": "10m", "ephemeral-storage": "1Mi"},
                 "default": {"cpu": "500m", "memory": "1Gi"},
                 "defaultRequest": {"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "1Mi"}},
                {"type": "Pod", "max": {"cpu": "4"}},
            ]}})
        );
    }

    #[test]
    fn a_container_item_without_bounds_gets_no_empty_maps() {
        let rendered = json!({"kind": "LimitRange", "spec": {"limits": [
            {"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}}
        ]}});
        assert_eq!(canonical(&rendered), rendered);
    }

    #[test]
    fn network_policy_ports_default_to_tcp_and_types_to_ingress() {
        let rendered = json!({"kind": "NetworkPolicy", "spec": {
            "podSelector": {},
            "ingress": [{"ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]}],
            "egress": [{}]
        }});
        assert_eq!(
            canonical(&rendered),
            json!({"kind": "NetworkPolicy", "spec": {
                "podSelector": {},
                "ingress": [{"ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}],
                "egress": [{}],
                "policyTypes": ["Ingress", "Egress"]
            }})
        );
        let explicit = json!({"kind": "NetworkPolicy", "spec": {"podSelector": {}, "policyTypes": ["Egress"]}});
        assert_eq!(canonical(&explicit), explicit);
    }
}
