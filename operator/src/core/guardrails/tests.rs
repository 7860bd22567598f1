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
        deny_widening_network_policies: true,
    }
}

#[test]
fn print_for_manual_use() {
    if std::env::var_os("HARDENING_PRINT_GUARDRAILS").is_some() {
        let objects = render(&guarded("p", &all_rules()), &BTreeSet::new(), &[]).unwrap();
        println!("{}", serde_json::to_string_pretty(&objects.policy).unwrap());
        println!(
            "{}",
            serde_json::to_string_pretty(&objects.binding).unwrap()
        );
    }
}

#[test]
fn without_guardrails_nothing_is_rendered() {
    assert_eq!(render(&scoped("p").build(), &BTreeSet::new(), &[]), None);
}

#[test]
fn the_policy_matches_only_the_requests_of_the_rules_turned_on() {
    let resources = |g: Guardrails| -> Vec<String> {
        let objects = render(&guarded("p", &g), &BTreeSet::new(), &[]).unwrap();
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
            "networkpolicies"
        ]
    );
    let exec_only = Guardrails {
        deny_exec: true,
        ..Guardrails::default()
    };
    assert_eq!(resources(exec_only), ["pods/attach", "pods/exec"]);
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
    let objects = render(&p, &BTreeSet::new(), &[]).unwrap();
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
    let audit = render(&p, &BTreeSet::new(), &[]).unwrap();
    assert_eq!(
        audit.binding["spec"]["validationActions"],
        json!(["Warn", "Audit"])
    );
    // The policy does not depend on the mode or on the rule values: only the binding does.
    assert_eq!(audit.policy, objects.policy);
    for object in [&objects.policy, &objects.binding] {
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
    let objects = render(&guarded("p", &all_rules()), &not_governed, &[]).unwrap();
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
    let a = render(&guarded("p", &all_rules()), &BTreeSet::new(), &[]).unwrap();
    let again = render(&guarded("p", &all_rules()), &BTreeSet::new(), &[]).unwrap();
    assert_eq!(a, again, "deterministic");
    let taken: BTreeSet<String> = ["taken".to_owned()].into();
    let b = render(&guarded("p", &all_rules()), &taken, &[]).unwrap();
    let print = |o: &Value| o["metadata"]["annotations"][RENDERED_ANNOTATION].clone();
    assert_ne!(print(&a.binding), print(&b.binding));
    assert_eq!(print(&a.policy), print(&b.policy));
}

#[test]
fn every_rule_names_itself_and_its_requirement() {
    let objects = render(&guarded("p", &all_rules()), &BTreeSet::new(), &[]).unwrap();
    let messages: Vec<String> = objects.policy["spec"]["validations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["messageExpression"].as_str().unwrap().to_owned())
        .collect();
    for (rule, requirement) in [
        ("allowedRegistries", "A7, A22"),
        ("requireImageTag", "A13"),
        ("requireImageDigest", "A13"),
        ("requireReadOnlyRootFilesystem", "A10"),
        ("denyExec", "A11"),
        ("denyWideningNetworkPolicies", "A9"),
    ] {
        let named = format!("guardrail {rule} (BSI SYS.1.6.{requirement})");
        assert!(messages.iter().any(|m| m.contains(&named)), "{named}");
    }
}
