//! What a change of a profile means, in the words a reviewer reads: the changes of its spec
//! that no generated namespaced object shows (the guardrails, enforced through one
//! cluster-scoped ValidatingAdmissionPolicy; the mode; the precedence), each with what it
//! does in the cluster. `hardening-operator diff` prints them before the objects.

use super::api::{Guardrails, HardeningProfileSpec, Mode};
use super::compliance::{cite, guardrail_requirements};

/// One guardrail: its field (the rule's name, which `guardrail_requirements` knows), whether
/// `g` turns it on, and what it rejects.
struct Rule {
    field: &'static str,
    on: fn(&Guardrails) -> bool,
    rejects: &'static str,
}

/// ` (BSI SYS.1.6 (2023) A6, A10<suffix>)` for a rule that serves requirements; nothing for
/// a rule no requirement asks for.
fn served(rule: &str, suffix: &str) -> String {
    match guardrail_requirements(rule) {
        [] => String::new(),
        ids => format!(" ({}{suffix})", cite(ids)),
    }
}

const RULES: [Rule; 7] = [
    Rule {
        field: "requireImageTag",
        on: |g| g.require_image_tag,
        rejects: "images without a tag or tagged latest",
    },
    Rule {
        field: "requireImageDigest",
        on: |g| g.require_image_digest,
        rejects: "images not pinned by digest",
    },
    Rule {
        field: "requireReadOnlyRootFilesystem",
        on: |g| g.require_read_only_root_filesystem,
        rejects: "containers with a writable root filesystem",
    },
    Rule {
        field: "denyExec",
        on: |g| g.deny_exec,
        rejects: "kubectl exec and kubectl attach",
    },
    Rule {
        field: "denyPortForward",
        on: |g| g.deny_port_forward,
        rejects: "kubectl port-forward",
    },
    Rule {
        field: "denyPodProxy",
        on: |g| g.deny_pod_proxy,
        rejects: "requests through pods/proxy",
    },
    Rule {
        field: "denyWideningNetworkPolicies",
        on: |g| g.deny_widening_network_policies,
        rejects: "NetworkPolicies allowing more than the profile",
    },
];

/// The changes from `stored` (the profile in the cluster, if any) to `file`, one line
/// each, for profile `name`; empty when neither the guardrails, the mode nor the
/// precedence change.
pub fn spec_changes(
    name: &str,
    stored: Option<&HardeningProfileSpec>,
    file: &HardeningProfileSpec,
) -> Vec<String> {
    let Some(stored) = stored else {
        let mut lines = vec![format!(
            "profile {name} is new: the cluster does not hold it yet"
        )];
        lines.extend(guardrail_changes(
            name,
            None,
            file.guardrails.as_ref(),
            file.mode,
        ));
        return lines;
    };
    let mut lines = Vec::new();
    if stored.mode != file.mode {
        lines.push(match file.mode {
            Mode::Audit => "mode Enforce -> Audit: the profile stops enforcing: nothing is written or repaired in its namespaces any more, and its guardrails only warn and audit instead of rejecting".to_owned(),
            Mode::Enforce => "mode Audit -> Enforce: the profile starts enforcing: its objects and labels are written and repaired, and its guardrails reject what they only reported".to_owned(),
        });
    }
    if stored.priority != file.priority {
        lines.push(format!(
            "priority {} -> {}: may change which profile governs the namespaces several profiles select",
            stored.priority, file.priority
        ));
    }
    if stored.namespace_selector != file.namespace_selector {
        lines.push(format!(
            "namespaceSelector {} -> {}: the namespaces below are those the new selector selects",
            compact(&stored.namespace_selector),
            compact(&file.namespace_selector)
        ));
    }
    if stored.excluded_namespaces != file.excluded_namespaces {
        lines.push(format!(
            "excludedNamespaces [{}] -> [{}]",
            stored.excluded_namespaces.join(", "),
            file.excluded_namespaces.join(", ")
        ));
    }
    if stored.cleanup_policy != file.cleanup_policy {
        lines.push(format!(
            "cleanupPolicy {:?} -> {:?}: what happens to the generated objects when a namespace is released or the profile deleted",
            stored.cleanup_policy, file.cleanup_policy
        ));
    }
    lines.extend(guardrail_changes(
        name,
        stored.guardrails.as_ref(),
        file.guardrails.as_ref(),
        file.mode,
    ));
    // Exceptions (a later issue) add their lines here, in the same words: which namespace
    // or workload is exempted from which rule, from when to when, and who asked.
    lines
}

fn compact(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn guardrail_changes(
    name: &str,
    stored: Option<&Guardrails>,
    file: Option<&Guardrails>,
    mode: Mode,
) -> Vec<String> {
    let policy = format!("hardening.dev-{name}");
    let mut lines = Vec::new();
    let none = Guardrails::default();
    match (stored, file) {
        (None, None) => return lines,
        (Some(_), None) => lines.push(format!(
            "guardrails removed: the ValidatingAdmissionPolicy and binding {policy} are deleted, and nothing beyond Pod Security is checked at admission"
        )),
        (None, Some(_)) => lines.push(format!(
            "guardrails added: the ValidatingAdmissionPolicy and binding {policy} are created ({})",
            match mode {
                Mode::Enforce => "they reject",
                Mode::Audit => "Audit mode: they warn and audit",
            }
        )),
        (Some(_), Some(_)) => {}
    }
    let (old, new) = (stored.unwrap_or(&none), file.unwrap_or(&none));
    let removed: Vec<&str> = old
        .allowed_registries
        .iter()
        .filter(|r| !new.allowed_registries.contains(r))
        .map(String::as_str)
        .collect();
    let added: Vec<&str> = new
        .allowed_registries
        .iter()
        .filter(|r| !old.allowed_registries.contains(r))
        .map(String::as_str)
        .collect();
    match (old.allowed_registries.is_empty(), new.allowed_registries.is_empty()) {
        (false, true) => lines.push(format!(
            "guardrail allowedRegistries turned off (was {}): images from any registry are admitted{}",
            old.allowed_registries.join(", "),
            served("allowedRegistries", " no longer covered by it")
        )),
        (true, false) => lines.push(format!(
            "guardrail allowedRegistries turned on: only images from {} are admitted{}",
            new.allowed_registries.join(", "),
            served("allowedRegistries", "")
        )),
        _ => {
            if !added.is_empty() {
                lines.push(format!(
                    "guardrail allowedRegistries: images from {} are admitted too",
                    added.join(", ")
                ));
            }
            if !removed.is_empty() {
                lines.push(format!(
                    "guardrail allowedRegistries: images from {} are rejected from now on",
                    removed.join(", ")
                ));
            }
        }
    }
    for rule in &RULES {
        match ((rule.on)(old), (rule.on)(new)) {
            (true, false) => lines.push(format!(
                "guardrail {} turned off: {} are admitted again{}",
                rule.field,
                rule.rejects,
                served(rule.field, " no longer covered by it")
            )),
            (false, true) => lines.push(format!(
                "guardrail {} turned on: {} are rejected{}",
                rule.field,
                rule.rejects,
                served(rule.field, "")
            )),
            _ => {}
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::profile;

    fn spec(yaml: &str) -> HardeningProfileSpec {
        profile("p").spec_yaml(yaml).build().spec
    }

    #[test]
    fn turning_a_guardrail_off_is_said_in_words() {
        let before = spec(
            "guardrails: {denyExec: true, allowedRegistries: [registry.example.com, ghcr.io]}",
        );
        let after = spec("guardrails: {allowedRegistries: [registry.example.com, quay.io]}");
        assert_eq!(
            spec_changes("p", Some(&before), &after),
            vec![
                "guardrail allowedRegistries: images from quay.io are admitted too",
                "guardrail allowedRegistries: images from ghcr.io are rejected from now on",
                "guardrail denyExec turned off: kubectl exec and kubectl attach are admitted again",
            ]
        );
        assert_eq!(
            spec_changes("p", Some(&before), &spec("{}")),
            vec![
                "guardrails removed: the ValidatingAdmissionPolicy and binding hardening.dev-p are deleted, and nothing beyond Pod Security is checked at admission",
                "guardrail allowedRegistries turned off (was registry.example.com, ghcr.io): images from any registry are admitted (BSI SYS.1.6 (2023) A6, A10 no longer covered by it)",
                "guardrail denyExec turned off: kubectl exec and kubectl attach are admitted again",
            ]
        );
    }

    #[test]
    fn no_change_says_nothing_and_a_new_profile_says_so() {
        let same = spec("guardrails: {denyExec: true}\nmode: Audit\n");
        assert!(spec_changes("p", Some(&same), &same).is_empty());
        assert_eq!(
            spec_changes("p", None, &same),
            vec![
                "profile p is new: the cluster does not hold it yet",
                "guardrails added: the ValidatingAdmissionPolicy and binding hardening.dev-p are created (Audit mode: they warn and audit)",
                "guardrail denyExec turned on: kubectl exec and kubectl attach are rejected",
            ]
        );
        let audit = spec_changes("p", Some(&spec("{}")), &spec("mode: Audit"));
        assert!(
            audit[0].starts_with("mode Enforce -> Audit: the profile stops enforcing"),
            "{audit:?}"
        );
    }
}
