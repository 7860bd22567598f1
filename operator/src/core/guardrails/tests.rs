use super::*;
use crate::core::api::Guardrails;
use crate::fixtures::{ProfileFixture, profile};

/// The profiles here: stored, selecting tier strict but for `legacy`.
fn scoped(name: &str) -> ProfileFixture {
    profile(name).uid("uid-1").spec(json!({
        "namespaceSelector": {"matchLabels": {"tier": "strict"}},
        "excludedNamespaces": ["legacy"],
    }))
}

/// A profile of [`scoped`] with `guardrails`.
fn guarded(name: &str, guardrails: &Guardrails) -> HardeningProfile {
    scoped(name)
        .spec(json!({ "guardrails": guardrails }))
        .build()
}

fn all_rules() -> Guardrails {
    Guardrails {
        allowed_registries: vec!["registry.example.com".into()],
        require_image_tag: true,
        require_image_digest: false,
        require_read_only_root_filesystem: true,
        deny_exec: true,
        deny_port_forward: true,
        deny_pod_proxy: true,
        deny_widening_network_policies: true,
        require_profiles: true,
        require_user_namespaces: true,
        deny_secret_env_literals: true,
        secret_env_name_pattern: None,
        deny_service_account_token: true,
        deny_default_service_account: true,
        one_service_per_container: true,
        require_controller: true,
        require_probes: true,
        high_availability: true,
        require_read_only_mounts: true,
        scratch_volumes: vec!["tmp".into()],
        deny_mount_propagation: true,
    }
}

fn env() -> AdmissionEnv {
    AdmissionEnv {
        operator: Some("system:serviceaccount:ops:hardening".into()),
        break_glass_group: "breakers".into(),
        mutating_policies: true,
    }
}

/// [`render`] with [`env`].
fn rendered(
    profile: &HardeningProfile,
    not_governed: &BTreeSet<String>,
) -> Option<GuardrailObjects> {
    render(profile, not_governed, &[], &env())
}

#[test]
fn print_for_manual_use() {
    if std::env::var_os("HARDENING_PRINT_GUARDRAILS").is_some() {
        let objects = rendered(&guarded("p", &all_rules()), &BTreeSet::new()).unwrap();
        println!("{}", serde_json::to_string_pretty(&objects.policy).unwrap());
        println!(
            "{}",
            serde_json::to_string_pretty(&objects.binding).unwrap()
        );
    }
}

#[test]
fn an_audit_profile_without_guardrails_renders_nothing() {
    let audit = scoped("p").spec(json!({"mode": "Audit"})).build();
    assert_eq!(rendered(&audit, &BTreeSet::new()), None);
    // In Enforce mode the gate and the protection need the policy anyway.
    assert!(rendered(&scoped("p").build(), &BTreeSet::new()).is_some());
}

#[test]
fn the_policy_matches_only_the_requests_of_the_rules_turned_on() {
    let resources = |g: Guardrails| -> Vec<String> {
        let mut profile = guarded("p", &g);
        // Audit mode: the guardrails alone (Enforce adds the gate and the protection).
        profile.spec.mode = Mode::Audit;
        let objects = rendered(&profile, &BTreeSet::new()).unwrap();
        objects.policy["spec"]["matchConstraints"]["resourceRules"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["resources"].as_array().unwrap().clone())
            .map(|r| r.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        resources(all_rules()),
        [
            "pods",
            "pods/ephemeralcontainers",
            "pods/attach",
            "pods/exec",
            "pods/portforward",
            "pods/proxy",
            "networkpolicies",
            "deployments",
            "replicasets",
            "statefulsets"
        ]
    );
    // Each pod rule of issue 22 alone matches pods (and only highAvailability workloads).
    for rule in [
        "requireProfiles",
        "requireUserNamespaces",
        "denySecretEnvLiterals",
        "denyServiceAccountToken",
        "denyDefaultServiceAccount",
        "requireController",
        "requireProbes",
        "requireReadOnlyMounts",
        "denyMountPropagation",
    ] {
        let g: Guardrails = serde_json::from_value(json!({ rule: true })).unwrap();
        assert_eq!(resources(g), ["pods", "pods/ephemeralcontainers"], "{rule}");
    }
    let ha: Guardrails = serde_json::from_value(json!({"highAvailability": true})).unwrap();
    assert_eq!(
        resources(ha),
        ["deployments", "replicasets", "statefulsets"]
    );
    let exec_only = Guardrails {
        deny_exec: true,
        ..Guardrails::default()
    };
    // denyExec covers ephemeral containers too.
    assert_eq!(
        resources(exec_only),
        [
            "pods",
            "pods/ephemeralcontainers",
            "pods/attach",
            "pods/exec"
        ]
    );
    let registries_only = Guardrails {
        allowed_registries: vec!["r.example".into()],
        ..Guardrails::default()
    };
    assert_eq!(
        resources(registries_only),
        ["pods", "pods/ephemeralcontainers"]
    );
}

#[test]
fn the_binding_uses_the_profile_as_parameter_and_the_mode_as_actions() {
    let mut p = guarded("shop", &all_rules());
    p.spec.pod_security =
        serde_json::from_value(json!({"enforce": {"level": "restricted"}})).unwrap();
    let objects = rendered(&p, &BTreeSet::new()).unwrap();
    let binding = &objects.binding["spec"];
    assert_eq!(binding["policyName"], "hardening.dev-shop");
    assert_eq!(objects.policy["metadata"]["name"], "hardening.dev-shop");
    assert_eq!(binding["paramRef"]["name"], "shop");
    assert_eq!(binding["validationActions"], json!(["Deny"]));
    assert_eq!(
        objects.policy["spec"]["paramKind"],
        json!({"apiVersion": "hardening.dev/v1alpha1", "kind": "HardeningProfile"})
    );
    p.spec.mode = Mode::Audit;
    let audit = rendered(&p, &BTreeSet::new()).unwrap();
    assert_eq!(
        audit.binding["spec"]["validationActions"],
        json!(["Warn", "Audit"])
    );
    // The rules read the mode and the rule values from the parameter: only the requests
    // matched (no gate or protection in Audit mode) and the binding's actions differ.
    assert_eq!(
        audit.policy["spec"]["validations"],
        objects.policy["spec"]["validations"]
    );
    assert_eq!(
        audit.mutating, None,
        "Audit mode sets no labels at creation"
    );
    let (mutating, mutating_binding) = objects.mutating.as_ref().unwrap();
    for object in [
        &objects.policy,
        &objects.binding,
        mutating,
        mutating_binding,
    ] {
        assert_eq!(
            object["metadata"]["labels"][MANAGED_BY_LABEL],
            MANAGED_BY_VALUE
        );
        assert_eq!(object["metadata"]["labels"][PROFILE_LABEL], "shop");
        assert_eq!(object["metadata"]["ownerReferences"][0]["uid"], "uid-1");
    }
}

#[test]
fn the_binding_selects_the_profile_selector_minus_excluded_and_outranked_namespaces() {
    let not_governed: BTreeSet<String> = ["kube-system".to_owned(), "taken".to_owned()].into();
    let objects = rendered(&guarded("p", &all_rules()), &not_governed).unwrap();
    assert_eq!(
        objects.binding["spec"]["matchResources"]["namespaceSelector"],
        json!({
            "matchLabels": {"tier": "strict"},
            "matchExpressions": [{
                "key": NAMESPACE_NAME_LABEL,
                "operator": "NotIn",
                "values": ["kube-system", "legacy", "taken"],
            }],
        })
    );
}

#[test]
fn the_fingerprint_follows_what_is_rendered() {
    let a = rendered(&guarded("p", &all_rules()), &BTreeSet::new()).unwrap();
    let again = rendered(&guarded("p", &all_rules()), &BTreeSet::new()).unwrap();
    assert_eq!(a, again, "deterministic");
    let taken: BTreeSet<String> = ["taken".to_owned()].into();
    let b = rendered(&guarded("p", &all_rules()), &taken).unwrap();
    let print = |o: &Value| o["metadata"]["annotations"][RENDERED_ANNOTATION].clone();
    assert_ne!(print(&a.binding), print(&b.binding));
    assert_eq!(print(&a.policy), print(&b.policy));
    // Without the stored profile's uid (a file), the same fingerprints.
    let mut file = guarded("p", &all_rules());
    file.metadata.uid = None;
    let offline = rendered(&file, &BTreeSet::new()).unwrap();
    assert!(
        offline.policy["metadata"]["ownerReferences"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );
    assert_eq!(print(&offline.policy), print(&a.policy));
    assert_eq!(print(&offline.binding), print(&a.binding));
}

#[test]
fn every_rule_names_itself_and_its_requirement() {
    let objects = rendered(&guarded("p", &all_rules()), &BTreeSet::new()).unwrap();
    let (warnings, _) = objects.warnings.as_ref().unwrap();
    let messages: Vec<String> = objects.policy["spec"]["validations"]
        .as_array()
        .unwrap()
        .iter()
        .chain(warnings["spec"]["validations"].as_array().unwrap())
        .map(|v| v["messageExpression"].as_str().unwrap().to_owned())
        .collect();
    for (rule, requirement) in [
        ("allowedRegistries", "BSI SYS.1.6 (2023) A6, A10"),
        ("requireImageTag", "BSI SYS.1.6 (2023) A6, A10"),
        ("requireImageDigest", "BSI SYS.1.6 (2023) A6, A10"),
        ("requireReadOnlyRootFilesystem", "BSI SYS.1.6 (2023) A23"),
        ("denyExec", "no BSI requirement, a rule of this profile"),
        (
            "denyPortForward",
            "BSI SYS.1.6 (2023) A5; BSI APP.4.4 (2023) A7",
        ),
        (
            "denyPodProxy",
            "BSI SYS.1.6 (2023) A5; BSI APP.4.4 (2023) A7",
        ),
        (
            "denyWideningNetworkPolicies",
            "BSI SYS.1.6 (2023) A5; BSI APP.4.4 (2023) A7",
        ),
        ("requireProfiles", "BSI SYS.1.6 (2023) A21"),
        (
            "requireUserNamespaces",
            "BSI SYS.1.6 (2023) A18; BSI APP.4.4 (2023) A4",
        ),
        ("denySecretEnvLiterals", "BSI SYS.1.6 (2023) A8"),
        ("denyServiceAccountToken", "BSI APP.4.4 (2023) A9"),
        ("denyDefaultServiceAccount", "BSI APP.4.4 (2023) A9"),
        ("oneServicePerContainer", "BSI SYS.1.6 (2023) A11"),
        (
            "requireController",
            "BSI SYS.1.6 (2023) A25; BSI APP.4.4 (2023) A19",
        ),
        (
            "highAvailability",
            "BSI SYS.1.6 (2023) A25; BSI APP.4.4 (2023) A19",
        ),
        ("requireProbes", "BSI APP.4.4 (2023) A11"),
        ("requireReadOnlyMounts", "BSI SYS.1.6 (2023) A19, A23"),
        ("denyMountPropagation", "BSI SYS.1.6 (2023) A19"),
    ] {
        let named = format!("guardrail {rule} ({requirement})");
        let validations = messages.iter().filter(|m| m.contains(&named)).count();
        // Issue 22's rules are one validation each (what an exception suspends by name).
        let wanted = if ["denyExec", "denyWideningNetworkPolicies"].contains(&rule) {
            1..=2
        } else {
            1..=1
        };
        assert!(
            wanted.contains(&validations),
            "{named}: {validations} validations"
        );
    }
}

/// The rules that only warn go into a policy of their own, bound with `[Warn, Audit]` in
/// either mode; the main policy keeps every other rule, and neither is rendered without them.
#[test]
fn warning_rules_have_a_policy_of_their_own_that_never_denies() {
    let objects = rendered(&guarded("p", &all_rules()), &BTreeSet::new()).unwrap();
    let (policy, binding) = objects.warnings.as_ref().unwrap();
    assert_eq!(policy["metadata"]["name"], "hardening.dev-p-warnings");
    assert_eq!(binding["spec"]["policyName"], "hardening.dev-p-warnings");
    assert_eq!(
        binding["spec"]["validationActions"],
        json!(["Warn", "Audit"])
    );
    assert_eq!(
        objects.binding["spec"]["validationActions"],
        json!(["Deny"])
    );
    assert_eq!(
        binding["spec"]["matchResources"], objects.binding["spec"]["matchResources"],
        "the same namespaces"
    );
    let rules = |p: &Value| -> Vec<String> {
        p["spec"]["validations"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| rule_of(v).map(str::to_owned))
            .collect()
    };
    assert_eq!(rules(policy), ["oneServicePerContainer"]);
    assert!(!rules(&objects.policy).contains(&"oneServicePerContainer".to_owned()));
    assert!(rules(&objects.policy).contains(&"requireProbes".to_owned()));
    assert_eq!(
        policy["spec"]["variables"],
        objects.policy["spec"]["variables"]
    );
    assert_eq!(
        objects
            .iter()
            .map(|(_, o)| o["metadata"]["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        [
            "hardening.dev-p",
            "hardening.dev-p",
            "hardening.dev-p-warnings",
            "hardening.dev-p-warnings"
        ]
    );
    let mut without = all_rules();
    without.one_service_per_container = false;
    assert_eq!(
        rendered(&guarded("p", &without), &BTreeSet::new())
            .unwrap()
            .warnings,
        None
    );
}

/// The creation gate and the protection (issue 21): present in Enforce mode, trusting the
/// operator's identity, the system controllers and the break-glass group, denying with the
/// Forbidden reason and a message naming the profile.
#[test]
fn enforce_mode_gates_pods_and_protects_what_was_generated() {
    let profile = scoped("shop")
        .spec(json!({"podSecurity": {"enforce": {"level": "restricted"}}}))
        .build();
    let objects = rendered(&profile, &BTreeSet::new()).unwrap();
    let spec = &objects.policy["spec"];
    let resources: Vec<&str> = spec["matchConstraints"]["resourceRules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["resources"].as_array().unwrap())
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(
        resources,
        [
            "pods",
            "pods/ephemeralcontainers",
            "networkpolicies",
            "limitranges",
            "resourcequotas",
            "namespaces"
        ]
    );
    let variables = spec["variables"].to_string();
    assert!(
        variables.contains(r#"\"system:serviceaccount:ops:hardening\""#),
        "{variables}"
    );
    assert!(variables.contains("generic-garbage-collector"));
    assert!(variables.contains(r#"\"breakers\" in request.userInfo"#));
    let forbidden: Vec<&Value> = spec["validations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["reason"] == "Forbidden")
        .collect();
    assert_eq!(forbidden.len(), 3, "gate, objects, namespace labels");
    assert!(
        forbidden[0]["messageExpression"]
            .as_str()
            .unwrap()
            .contains("is not hardened yet by HardeningProfile")
    );
    // The operator's identity unknown: nothing to trust, so nothing protected (the gate
    // stays: it needs no identity).
    let unknown = AdmissionEnv {
        operator: None,
        ..env()
    };
    let unprotected = render(&profile, &BTreeSet::new(), &[], &unknown).unwrap();
    let count = |o: &GuardrailObjects| {
        o.policy["spec"]["validations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["reason"] == "Forbidden")
            .count()
    };
    assert_eq!(count(&unprotected), 1);
    let resources = unprotected.policy["spec"]["matchConstraints"]["resourceRules"].to_string();
    assert!(!resources.contains("namespaces") && !resources.contains("resourcequotas"));
}

/// The mutating policy sets the profile's Pod Security labels, read from the profile, on
/// namespaces its selector matches, but those it does not govern; only in Enforce mode, with
/// Pod Security labels, where the API server serves it.
#[test]
fn the_mutating_policy_labels_namespaces_the_profile_governs_at_creation() {
    let profile = scoped("shop")
        .spec(json!({"podSecurity": {"enforce": {"level": "restricted"}}}))
        .build();
    let taken: BTreeSet<String> = ["taken".to_owned()].into();
    let objects = rendered(&profile, &taken).unwrap();
    let (policy, binding) = objects.mutating.as_ref().unwrap();
    assert_eq!(
        binding["spec"]["matchResources"]["objectSelector"],
        json!({"matchLabels": {"tier": "strict"}})
    );
    assert_eq!(binding["spec"]["paramRef"]["name"], "shop");
    assert_eq!(
        policy["spec"]["matchConditions"][0]["expression"],
        r#"!(object.metadata.name in ["legacy", "taken"])"#
    );
    let mutation = policy["spec"]["mutations"][0]["applyConfiguration"]["expression"]
        .as_str()
        .unwrap();
    assert!(mutation.contains(
        r#"?"pod-security.kubernetes.io/enforce": params.spec.?podSecurity.?enforce.hasValue() ? optional.of("#
    ));
    assert_eq!(
        objects.iter().map(|(kind, _)| kind).collect::<Vec<_>>(),
        KINDS,
        "applied in this order"
    );
    let no_api = AdmissionEnv {
        mutating_policies: false,
        ..env()
    };
    assert_eq!(
        render(&profile, &taken, &[], &no_api).unwrap().mutating,
        None
    );
    let no_labels = scoped("shop").build();
    assert_eq!(rendered(&no_labels, &taken).unwrap().mutating, None);
}

/// The contract of [`guardrail`] and [`container_guardrail`]: every validation that names
/// a guardrail rule lets a request through when an exception in force suspends that rule,
/// keyed by the rule's name, so that rules added later honour exceptions by construction.
/// The rules that only warn, in a policy of their own, too.
#[test]
fn every_guardrail_validation_honours_the_exceptions_of_its_rule() {
    let objects = rendered(&guarded("p", &all_rules()), &BTreeSet::new()).unwrap();
    let (warnings, _) = objects.warnings.as_ref().expect("a warnings policy");
    let validations = objects.policy["spec"]["validations"]
        .as_array()
        .unwrap()
        .iter()
        .chain(warnings["spec"]["validations"].as_array().unwrap());
    let mut rules_seen = BTreeSet::new();
    for validation in validations {
        let message = validation["messageExpression"].as_str().unwrap_or_default();
        let Some(rule) = message
            .split(" guardrail ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
        else {
            // The creation gate and the protection: not guardrails, never suspended.
            let expression = validation["expression"].as_str().unwrap();
            assert!(
                !expression.contains("podExceptions"),
                "only guardrails honour exceptions: {expression}"
            );
            continue;
        };
        assert!(
            crate::core::api::rule_scope(rule).is_some(),
            "{rule} is listed in GUARDRAIL_RULES"
        );
        let expression = validation["expression"].as_str().unwrap();
        assert!(
            expression.contains(&format!(
                "variables.podExceptions.exists(e, {} in e.?rules.orValue([])",
                cel_string(rule)
            )),
            "the validation of {rule} honours its exceptions: {expression}"
        );
        rules_seen.insert(rule.to_owned());
    }
    let all: BTreeSet<String> = crate::core::api::GUARDRAIL_RULES
        .iter()
        .map(|(name, _)| name.to_string())
        .collect();
    assert_eq!(
        rules_seen, all,
        "every rule has a validation, and only those"
    );
}

/// Every field of `spec.guardrails` is a rule an exception can name, but the settings of a
/// rule (which are no rules of their own).
#[test]
fn every_guardrails_field_is_a_rule_exceptions_can_suspend() {
    let schema = schemars::schema_for!(Guardrails);
    let fields: BTreeSet<String> = schema
        .as_value()
        .get("properties")
        .and_then(Value::as_object)
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let rules: BTreeSet<String> = crate::core::api::GUARDRAIL_RULES
        .iter()
        .map(|(name, _)| name.to_string())
        .chain(
            crate::core::api::GUARDRAIL_SETTINGS
                .iter()
                .map(|name| name.to_string()),
        )
        .collect();
    assert_eq!(fields, rules);
    for setting in crate::core::api::GUARDRAIL_SETTINGS {
        assert!(
            crate::core::api::rule_scope(setting).is_none(),
            "{setting} is a setting, not a rule"
        );
    }
}

#[test]
fn the_exceptions_of_a_request_are_read_from_the_profiles_status() {
    let objects = rendered(&guarded("p", &all_rules()), &BTreeSet::new()).unwrap();
    let variables = objects.policy["spec"]["variables"].as_array().unwrap();
    let expression = |name: &str| {
        variables
            .iter()
            .find(|v| v["name"] == name)
            .and_then(|v| v["expression"].as_str())
            .unwrap_or_else(|| panic!("variable {name}"))
            .to_owned()
    };
    let exceptions = expression("exceptions");
    assert!(
        exceptions.starts_with("params.?status.?exceptions.?active.orValue([])")
            && exceptions.contains("request.namespace in e.?namespaces.orValue([])")
            && exceptions.contains("e.namespaceSelector"),
        "{exceptions}"
    );
    let pods = expression("podExceptions");
    assert!(
        pods.contains("!has(e.podSelector) || ((variables.isPod || variables.isWorkload) && "),
        "an exception with a pod selector covers no request without a pod (a workload's pods by its template): {pods}"
    );
    // Variables are evaluated in order: the exceptions come after what they read.
    let position = |name: &str| variables.iter().position(|v| v["name"] == name).unwrap();
    assert!(position("isPod") < position("podLabels"));
    assert!(position("isWorkload") < position("podLabels"));
    assert!(position("exceptions") < position("podExceptions"));
}

#[test]
fn the_mutating_policy_sets_the_level_an_exception_lowers_and_leaves_hardened_namespaces() {
    let profile = scoped("p")
        .spec_yaml("podSecurity: {enforce: {level: restricted}, warn: {level: restricted}}")
        .build();
    let objects = rendered(&profile, &BTreeSet::new()).unwrap();
    let (policy, _) = objects.mutating.unwrap();
    let mutation = policy["spec"]["mutations"][0]["applyConfiguration"]["expression"]
        .as_str()
        .unwrap();
    assert!(
        mutation.contains("variables.lowered.exists(l, l == 'privileged') ? 'privileged'")
            && mutation.contains("params.spec.podSecurity.enforce.level"),
        "{mutation}"
    );
    // The warn label stays the profile's.
    assert!(
        mutation.contains("params.spec.?podSecurity.?warn.?level"),
        "{mutation}"
    );
    assert_eq!(
        policy["spec"]["variables"][0]["name"], "lowered",
        "{policy}"
    );
    let conditions = policy["spec"]["matchConditions"].as_array().unwrap();
    assert!(
        conditions.iter().any(|c| c["name"] == "notYetHardened"
            && c["expression"]
                .as_str()
                .unwrap()
                .contains("request.operation == 'CREATE'")),
        "{conditions:?}"
    );
}
