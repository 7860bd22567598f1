//! Test fixtures: the one way tests build a `HardeningProfile`, shared by the unit tests
//! (always compiled for them) and by the integration tests crate (through the
//! `test-fixtures` feature). Not part of the operator's API.
//!
//! A fixture starts as `metadata: {name}` and `spec: {namespaceSelector: {}}`; each spec
//! given is merged over it (objects key by key, anything else replaced), so a test writes
//! only what it is about, as YAML or as JSON.

use serde_json::{Map, Value, json};

use crate::core::api::HardeningProfile;

/// Spec sections several tests share, as YAML mappings for [`ProfileFixture::spec_yaml`].
pub mod specs {
    /// Pod Security restricted, default deny both ways and a pod quota: the smallest profile
    /// that renders labels, a NetworkPolicy and a ResourceQuota.
    pub const RESTRICTED_DENY_ALL: &str = "\
podSecurity: {enforce: {level: restricted}}
networkPolicy: {defaultDeny: [Ingress, Egress]}
resourceQuota: {hard: {pods: \"10\"}}
";
}

/// A profile under construction; [`ProfileFixture::build`] makes it typed.
#[derive(Clone, Debug)]
pub struct ProfileFixture {
    manifest: Value,
}

/// A profile named `name` selecting every namespace (`namespaceSelector: {}`).
pub fn profile(name: &str) -> ProfileFixture {
    ProfileFixture {
        manifest: json!({
            "apiVersion": "hardening.dev/v1alpha1",
            "kind": "HardeningProfile",
            "metadata": { "name": name },
            "spec": { "namespaceSelector": {} },
        }),
    }
}

/// A whole manifest as a user writes it (YAML or JSON), for tests about manifests.
pub fn from_manifest(yaml: &str) -> HardeningProfile {
    serde_yaml_ng::from_str(yaml)
        .unwrap_or_else(|e| panic!("test profile does not parse: {e}\n{yaml}"))
}

/// A profile of `examples/` by file name, as the README shows it.
pub fn example(file: &str) -> HardeningProfile {
    let path = format!("{}/../examples/{file}", env!("CARGO_MANIFEST_DIR"));
    from_manifest(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

impl ProfileFixture {
    /// Merges `spec` over the spec so far.
    pub fn spec(mut self, spec: Value) -> Self {
        merge(&mut self.manifest["spec"], spec);
        self
    }

    /// Merges a YAML mapping (it may be indented as a whole) over the spec so far.
    pub fn spec_yaml(self, yaml: &str) -> Self {
        let spec: Value = serde_yaml_ng::from_str(yaml)
            .unwrap_or_else(|e| panic!("test spec does not parse: {e}\n{yaml}"));
        match spec {
            Value::Null => self,
            spec => self.spec(spec),
        }
    }

    /// Sets the status (as the operator would have written it).
    pub fn status(mut self, status: Value) -> Self {
        self.manifest["status"] = status;
        self
    }

    /// Sets `metadata.uid`, as the API server does on create.
    pub fn uid(mut self, uid: &str) -> Self {
        self.manifest["metadata"]["uid"] = json!(uid);
        self
    }

    /// Sets `metadata.generation`, as the API server does on every spec change.
    pub fn generation(mut self, generation: i64) -> Self {
        self.manifest["metadata"]["generation"] = json!(generation);
        self
    }

    /// Adds a label to `metadata.labels`.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        let labels = &mut self.manifest["metadata"]["labels"];
        if !labels.is_object() {
            *labels = Value::Object(Map::new());
        }
        labels[key] = json!(value);
        self
    }

    /// The manifest as JSON, for tests that send it untyped.
    pub fn manifest(&self) -> &Value {
        &self.manifest
    }

    pub fn build(self) -> HardeningProfile {
        let text = self.manifest.to_string();
        serde_json::from_value(self.manifest)
            .unwrap_or_else(|e| panic!("test profile does not parse: {e}\n{text}"))
    }
}

/// A HardeningException named `name` for `profile`, covering namespace `namespace` by
/// name, suspending nothing yet, with an owner, a reason and `expires`; [`ExceptionFixture`]
/// adds the rest.
pub fn exception(name: &str, profile: &str, namespace: &str, expires: &str) -> ExceptionFixture {
    ExceptionFixture {
        manifest: json!({
            "apiVersion": "hardening.dev/v1alpha1",
            "kind": "HardeningException",
            "metadata": { "name": name },
            "spec": {
                "profile": profile,
                "namespaces": { "names": [namespace] },
                "reason": "legacy workload, risk accepted in RISK-1",
                "owner": "team-legacy",
                "expires": expires,
            },
        }),
    }
}

/// An exception under construction; [`ExceptionFixture::build`] makes it typed.
#[derive(Clone, Debug)]
pub struct ExceptionFixture {
    manifest: Value,
}

impl ExceptionFixture {
    /// Merges `spec` over the spec so far.
    pub fn spec(mut self, spec: Value) -> Self {
        merge(&mut self.manifest["spec"], spec);
        self
    }

    /// Sets `metadata.creationTimestamp`, as the API server does on create.
    pub fn created(mut self, at: &str) -> Self {
        self.manifest["metadata"]["creationTimestamp"] = json!(at);
        self
    }

    /// Adds a label to `metadata.labels`.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        let labels = &mut self.manifest["metadata"]["labels"];
        if !labels.is_object() {
            *labels = Value::Object(Map::new());
        }
        labels[key] = json!(value);
        self
    }

    /// The manifest as JSON, for tests that send it untyped.
    pub fn manifest(&self) -> &Value {
        &self.manifest
    }

    pub fn build(self) -> crate::core::api::HardeningException {
        let text = self.manifest.to_string();
        serde_json::from_value(self.manifest)
            .unwrap_or_else(|e| panic!("test exception does not parse: {e}\n{text}"))
    }
}

fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (k, v) in patch {
                merge(base.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, value) => *slot = value,
    }
}

/// Why `text`, a message for people, is not in words, if it is not: a regular expression,
/// a Rust type name or a debug dump of a value. For the tests that sweep the error paths.
pub fn wording_problem(text: &str) -> Option<String> {
    const REGEX: [&str; 14] = [
        "]*", "]+", ")*", ")?", ")+", "(?", "{0,", "{1,", "\\.", "\\d", "[-a-z", "a-z0-9]", "$'",
        "'^",
    ];
    const DEBUG: [&str; 8] = [
        "Status {",
        "Some(",
        ": None",
        "None)",
        "Error {",
        "ErrorResponse",
        "{ code:",
        "hardening_operator::",
    ];
    for piece in REGEX {
        if text.contains(piece) {
            return Some(format!("a regular expression ({piece:?}) in: {text}"));
        }
    }
    for piece in DEBUG {
        if text.contains(piece) {
            return Some(format!("a debug dump ({piece:?}) in: {text}"));
        }
    }
    let words: Vec<&str> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '<'))
        .collect();
    for word in words {
        let rust = matches!(
            word,
            "i8" | "i16"
                | "i32"
                | "i64"
                | "i128"
                | "u8"
                | "u16"
                | "u32"
                | "u64"
                | "u128"
                | "f32"
                | "f64"
                | "usize"
                | "isize"
                | "Vec<"
                | "Option<"
                | "BTreeMap<"
                | "Box<"
        ) || word.starts_with("Vec<")
            || word.starts_with("Option<");
        if rust {
            return Some(format!("a Rust type ({word}) in: {text}"));
        }
    }
    // `expected ObjectMeta`: a type's name where a kind of value belongs.
    if let Some(at) = text.find("expected ")
        && text[at + 9..].starts_with(|c: char| c.is_ascii_uppercase())
        && text[at + 9..]
            .split(|c: char| !c.is_alphanumeric())
            .next()
            .is_some_and(|w| w.chars().skip(1).any(|c| c.is_ascii_uppercase()))
    {
        return Some(format!("a type's name after 'expected' in: {text}"));
    }
    if text.contains("struct ") || text.contains("enum ") || text.contains('`') {
        return Some(format!("Rust's words (struct, enum, backticks) in: {text}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_merge_over_the_default_selector() {
        let p = profile("p")
            .spec_yaml("  namespaceSelector: {matchLabels: {tier: strict}}\n  priority: 3\n")
            .spec(json!({ "priority": 4, "excludedNamespaces": ["legacy"] }))
            .uid("u")
            .generation(2)
            .label("a", "b")
            .build();
        assert_eq!(p.metadata.name.as_deref(), Some("p"));
        assert_eq!(p.metadata.uid.as_deref(), Some("u"));
        assert_eq!(p.metadata.generation, Some(2));
        assert_eq!(p.metadata.labels.unwrap()["a"], "b");
        assert_eq!(p.spec.priority, 4);
        assert_eq!(p.spec.excluded_namespaces, ["legacy"]);
        let selected = p.spec.namespace_selector.match_labels.unwrap();
        assert_eq!(selected["tier"], "strict");
        assert!(p.status.is_none());
    }

    #[test]
    fn the_named_spec_is_a_mapping() {
        let p = profile("p").spec_yaml(specs::RESTRICTED_DENY_ALL).build();
        assert!(p.spec.pod_security.is_some());
        assert!(p.spec.network_policy.is_some());
        assert!(p.spec.resource_quota.is_some());
    }
}
