//! What a change of a profile means, in the words a reviewer reads: the changes of its spec
//! that no generated namespaced object shows (the guardrails, enforced through one
//! cluster-scoped ValidatingAdmissionPolicy; the mode; the precedence), each with what it
//! does in the cluster. `hardening-operator diff` prints them before the objects.

use kube::ResourceExt;

use super::api::{
    ExceptionState, Guardrails, HardeningException, HardeningExceptionSpec, HardeningProfileSpec,
    Mode,
};
use super::compliance::{cite, guardrail_requirements};
use super::exceptions::Judgement;

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
    // Exceptions: [`exception_changes`], printed by `diff` right after these lines, in the
    // same words: which namespace or workload is exempted from which rule, until when, who
    // answers for it and why.
    lines
}

/// What the HardeningExceptions of a change mean, in words: for each exception of the
/// files (`files`, naming the profile) that is new or differs from the stored one of its
/// name (`stored`), what it suspends, where, until when, who owns it, why, the requirements
/// it weakens, and whether the operator would apply it (`judged`, the judgement of every
/// exception of the profile once the files are applied); then the stored exceptions in
/// force that the files leave as they are.
pub fn exception_changes(
    stored: &[&HardeningException],
    files: &[&HardeningException],
    judged: &[(String, Judgement)],
) -> Vec<String> {
    let judgement = |name: &str| {
        judged
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, j)| match j.state {
                ExceptionState::Active => format!("the operator would apply it: {}", j.message),
                _ => format!("the operator would not apply it: {}", j.message),
            })
            .unwrap_or_default()
    };
    let mut lines = Vec::new();
    for file in files {
        let name = file.name_any();
        match stored.iter().find(|s| s.name_any() == name) {
            None => lines.push(format!(
                "exception {name} is new: {}; {}",
                describe_exception(&file.spec),
                judgement(&name)
            )),
            Some(before) if before.spec == file.spec => {}
            Some(before) => {
                let changes = spec_differences(&before.spec, &file.spec);
                lines.push(format!(
                    "exception {name} changes: {}; now {}; {}",
                    changes.join("; "),
                    describe_exception(&file.spec),
                    judgement(&name)
                ));
            }
        }
    }
    let unchanged: Vec<String> = stored
        .iter()
        .filter(|s| !files.iter().any(|f| f.name_any() == s.name_any()))
        .filter(|s| {
            judged
                .iter()
                .any(|(n, j)| *n == s.name_any() && j.state == ExceptionState::Active)
        })
        .map(|s| format!("{} until {}", s.name_any(), s.spec.expires))
        .collect();
    if !unchanged.is_empty() {
        lines.push(format!(
            "exceptions in force in the cluster, unchanged: {}",
            unchanged.join(", ")
        ));
    }
    lines
}

/// An exception's spec in words.
pub fn describe_exception(spec: &HardeningExceptionSpec) -> String {
    let what = crate::core::exceptions::suspends(&spec.rules, spec.pod_security_level);
    let mut whom = Vec::new();
    if let Some(pods) = &spec.pod_selector {
        whom.push(format!("pods {}", compact(pods)));
    }
    if !spec.containers.is_empty() {
        whom.push(format!("containers {}", spec.containers.join(", ")));
    }
    let mut places = Vec::new();
    if !spec.namespaces.names.is_empty() {
        places.push(format!("namespaces {}", spec.namespaces.names.join(", ")));
    }
    if let Some(selector) = &spec.namespaces.selector {
        places.push(format!("namespaces matching {}", compact(selector)));
    }
    let whom = if whom.is_empty() {
        String::new()
    } else {
        format!(" for {}", whom.join(", "))
    };
    let weakens = crate::core::compliance::exception_weakens(&spec.rules, spec.pod_security_level);
    let weakens = if weakens.is_empty() {
        String::new()
    } else {
        format!("; weakens {}", crate::core::compliance::cite(&weakens))
    };
    format!(
        "{what}{whom} in {} of profile {} until {}; owner {}; reason: {}{weakens}",
        places.join(" and "),
        spec.profile,
        spec.expires,
        spec.owner,
        spec.reason
    )
}

fn spec_differences(old: &HardeningExceptionSpec, new: &HardeningExceptionSpec) -> Vec<String> {
    let mut changes = Vec::new();
    let mut field = |name: &str, a: String, b: String| {
        if a != b {
            changes.push(format!("{name} {a} -> {b}"));
        }
    };
    field("profile", old.profile.clone(), new.profile.clone());
    field("expires", old.expires.clone(), new.expires.clone());
    field("rules", compact(&old.rules), compact(&new.rules));
    field(
        "podSecurityLevel",
        compact(&old.pod_security_level),
        compact(&new.pod_security_level),
    );
    field(
        "namespaces",
        compact(&old.namespaces),
        compact(&new.namespaces),
    );
    field(
        "podSelector",
        compact(&old.pod_selector),
        compact(&new.pod_selector),
    );
    field(
        "containers",
        compact(&old.containers),
        compact(&new.containers),
    );
    field("owner", old.owner.clone(), new.owner.clone());
    field("reason", old.reason.clone(), new.reason.clone());
    changes
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

    /// Issue 24: an exception in a pull request is visible: what it suspends, for whom,
    /// where, until when, who owns it, why, what it weakens, and whether it would apply.
    #[test]
    fn exceptions_of_a_change_are_said_in_words() {
        use crate::core::exceptions::{Judgement, reasons};
        let exception = |expires: &str| {
            crate::fixtures::exception("legacy", "p", "shop", expires)
                .spec(serde_json::json!({
                    "rules": ["requireImageTag"],
                    "podSelector": { "matchLabels": { "app": "legacy" } },
                }))
                .build()
        };
        let new = exception("2026-12-31T00:00:00Z");
        let active = Judgement {
            state: ExceptionState::Active,
            reason: reasons::ACTIVE,
            message: "in force until 2026-12-31T00:00:00Z".into(),
        };
        let lines = exception_changes(&[], &[&new], &[("legacy".into(), active.clone())]);
        assert_eq!(lines.len(), 1);
        assert_eq!(
            lines[0],
            "exception legacy is new: guardrail requireImageTag suspended for pods {\"matchLabels\":{\"app\":\"legacy\"}} in namespaces shop of profile p until 2026-12-31T00:00:00Z; owner team-legacy; reason: legacy workload, risk accepted in RISK-1; weakens BSI SYS.1.6 (2023) A6, A10; BSI APP.4.4 (2023) A13; the operator would apply it: in force until 2026-12-31T00:00:00Z"
        );
        // Changed: the difference first; refused: why.
        let longer = exception("2027-12-31T00:00:00Z");
        let too_long = Judgement {
            state: ExceptionState::Invalid,
            reason: reasons::TOO_LONG,
            message: "expires 2027-12-31T00:00:00Z is 365 days after the exception's creation"
                .into(),
        };
        let lines = exception_changes(&[&new], &[&longer], &[("legacy".into(), too_long)]);
        assert!(
            lines[0].starts_with("exception legacy changes: expires 2026-12-31T00:00:00Z -> 2027-12-31T00:00:00Z; now ")
                && lines[0].ends_with("the operator would not apply it: expires 2027-12-31T00:00:00Z is 365 days after the exception's creation"),
            "{}",
            lines[0]
        );
        // Unchanged in the files: nothing; stored ones in force are named.
        assert!(
            exception_changes(&[&new], &[&new], &[("legacy".into(), active.clone())]).is_empty()
        );
        assert_eq!(
            exception_changes(&[&new], &[], &[("legacy".into(), active)]),
            ["exceptions in force in the cluster, unchanged: legacy until 2026-12-31T00:00:00Z"]
        );
    }
}
