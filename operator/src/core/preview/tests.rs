use super::*;
use serde_json::json;

#[test]
fn image_rules_match_the_admission_policy() {
    let registries = vec![
        "registry.example.com".to_owned(),
        "r.example/team".to_owned(),
    ];
    for (image, allowed) in [
        ("registry.example.com/app:1", true),
        ("registry.example.com:5000/app:1", false),
        ("registry.example.comx/app:1", false),
        ("r.example/team/app@sha256:00", true),
        ("r.example/teamx/app:1", false),
        ("busybox", false),
    ] {
        assert_eq!(
            from_allowed_registry(image, &registries),
            allowed,
            "{image}"
        );
    }
    assert!(from_allowed_registry("anything", &[]));
    for (image, ok) in [
        ("busybox", false),
        ("busybox:latest", false),
        ("busybox:1.36", true),
        ("registry:5000/busybox", false),
        ("registry:5000/busybox:1.0", true),
        ("busybox:latest@sha256:00", true),
        ("busybox@sha256:00", true),
    ] {
        assert_eq!(tagged(image), ok, "{image}");
    }
}

#[test]
fn a_pod_is_judged_by_every_rule_on_every_kind_of_container() {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": { "name": "web" },
        "spec": {
            "containers": [{ "name": "app", "image": "registry.example.com/app:1.0",
                             "securityContext": { "readOnlyRootFilesystem": true } }],
            "initContainers": [{ "name": "setup", "image": "busybox:latest" }],
        },
    }))
    .unwrap();
    let profile = crate::fixtures::profile("p")
        .spec(json!({"guardrails": {
            "allowedRegistries": ["registry.example.com"],
            "requireImageTag": true,
            "requireImageDigest": true,
            "requireReadOnlyRootFilesystem": true,
        }}))
        .build();
    let rules: Vec<&str> = evaluate_guardrails(&profile, &pod)
        .iter()
        .map(|f| f.rule)
        .collect();
    assert_eq!(
        rules,
        [
            "allowedRegistries",
            "requireImageTag",
            "requireImageDigest",
            "requireReadOnlyRootFilesystem"
        ]
    );
    let none = crate::fixtures::profile("p")
        .spec(json!({"guardrails": {}}))
        .build();
    assert!(evaluate_guardrails(&none, &pod).is_empty());
}

/// A restricted pod but for its image, for the namespace tests.
fn restricted_pod(name: &str, image: &str, extra: serde_json::Value) -> Pod {
    let mut container = json!({
        "name": "app", "image": image,
        "securityContext": {
            "allowPrivilegeEscalation": false, "runAsNonRoot": true,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}
        }
    });
    if let Some(extra) = extra.as_object() {
        for (k, v) in extra {
            container[k] = v.clone();
        }
    }
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"containers": [container]}}))
        .unwrap()
}

#[test]
fn pods_are_judged_one_by_one_and_grouped_by_violation() {
    let profile = crate::fixtures::profile("p")
        .spec(json!({
            "podSecurity": {"enforce": {"level": "restricted", "version": "latest"}},
            "guardrails": {"requireImageTag": true}
        }))
        .build();
    let root = json!({"securityContext": {"allowPrivilegeEscalation": false,
        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}});
    let pods = [
        restricted_pod("a", "app:1", root.clone()),
        restricted_pod("a2", "app:1", root.clone()),
        restricted_pod("a3", "app:1", root),
        restricted_pod(
            "b",
            "app",
            json!({"ports": [{"containerPort": 80, "hostPort": 80}]}),
        ),
        restricted_pod("c", "app", json!({})),
        restricted_pod("ok", "app:1", json!({})),
    ];
    let verdicts: Vec<(String, PodVerdict)> = pods
        .iter()
        .map(|pod| (pod.name_any(), judge(&profile, pod, &[])))
        .collect();
    assert!(!verdicts[5].1.rejected(), "{:?}", verdicts[5]);
    assert_eq!(
        verdicts[0].1.pod_security.as_deref(),
        Some("runAsNonRoot != true")
    );
    assert!(verdicts[4].1.pod_security.is_none());
    assert_eq!(verdicts[4].1.guardrails[0].rule, "requireImageTag");
    let preview = namespace_preview(
        &profile,
        "team",
        &[],
        verdicts.iter().map(|(n, v)| (n.as_str(), v)),
    );
    assert_eq!(preview.level.as_deref(), Some("restricted:latest"));
    assert_eq!(
        preview
            .pod_security
            .findings
            .iter()
            .map(|f| (f.pod.as_str(), f.other_pods))
            .collect::<Vec<_>>(),
        [("a", 2), ("b", 0)]
    );
    // a, a2, a3 and b by Pod Security; c by the guardrail only (b's guardrail finding is
    // the same pod).
    assert_eq!(preview.rejected_pods(), 3 + 1 + 1);
    assert_eq!(
        preview.lines()[0],
        (
            "a (and 2 other pods)".to_owned(),
            "Pod Security restricted:latest: runAsNonRoot != true".to_owned()
        )
    );
    // Without an enforce level or guardrails there is nothing to judge.
    let nothing = crate::fixtures::profile("n").spec(json!({})).build();
    assert!(!applies(&nothing));
    assert_eq!(judge(&nothing, &pods[0], &[]), PodVerdict::default());
}

/// Issue 24: what an exception in force covers is accepted, not rejected: a suspended rule
/// for the containers (and pods) it names, the profile's own level where it lowers it; the
/// rest is judged as before, at the level the namespace gets.
#[test]
fn exceptions_in_force_are_accepted_deviations_not_rejections() {
    let profile = crate::fixtures::profile("p")
        .spec(json!({
            "podSecurity": { "enforce": { "level": "restricted" } },
            "guardrails": { "requireImageTag": true, "requireReadOnlyRootFilesystem": true },
        }))
        .build();
    let pod: Pod = serde_json::from_value(json!({
        "metadata": { "name": "legacy", "namespace": "shop", "labels": { "app": "legacy" } },
        "spec": {
            "containers": [
                { "name": "app", "image": "legacy", "securityContext": { "readOnlyRootFilesystem": true } },
                { "name": "sidecar", "image": "side:1", "securityContext": { "readOnlyRootFilesystem": true } },
            ],
        },
    }))
    .unwrap();
    let exception = |spec: serde_json::Value| {
        crate::core::exceptions::active_entry(
            &crate::fixtures::exception("x", "p", "shop", "2026-12-31T00:00:00Z")
                .spec(spec)
                .build(),
        )
    };
    let before = judge(&profile, &pod, &[]);
    assert_eq!(before.guardrails[0].rule, "requireImageTag");
    assert!(
        before.pod_security.is_some(),
        "restricted rejects it (runs as root)"
    );

    // The image rule suspended for the app container of app=legacy pods.
    let tag = exception(json!({
        "rules": ["requireImageTag"],
        "podSelector": { "matchLabels": { "app": "legacy" } },
        "containers": ["app"],
    }));
    let verdict = judge(&profile, &pod, std::slice::from_ref(&tag));
    assert!(verdict.guardrails.is_empty(), "{verdict:?}");
    assert_eq!(verdict.accepted.len(), 1);
    assert_eq!(verdict.accepted[0].rule, "guardrail requireImageTag");
    assert_eq!(verdict.accepted[0].exception, "x");
    // Naming another container: the app container's image is still rejected.
    let sidecar = exception(json!({ "rules": ["requireImageTag"], "containers": ["sidecar"] }));
    assert_eq!(
        judge(&profile, &pod, std::slice::from_ref(&sidecar)).guardrails[0].rule,
        "requireImageTag"
    );

    // Pod Security lowered to baseline in shop: judged at baseline, the restricted
    // violations accepted.
    let level = exception(json!({ "podSecurityLevel": "baseline" }));
    let verdict = judge(&profile, &pod, std::slice::from_ref(&level));
    assert_eq!(verdict.pod_security, None, "{verdict:?}");
    assert!(
        verdict.accepted.iter().any(
            |a| a.rule == "Pod Security restricted:latest" && a.reason.contains("runAsNonRoot")
        ),
        "{verdict:?}"
    );
    let preview = namespace_preview(
        &profile,
        "shop",
        std::slice::from_ref(&level),
        [("legacy", &verdict)],
    );
    assert_eq!(preview.level.as_deref(), Some("baseline:latest"));
    // The image rule is not suspended by the level exception: still one rejected pod.
    assert_eq!(preview.rejected_pods(), 1);
    assert!(!preview.accepted.is_empty());
    // In another namespace the exception does not apply.
    let mut elsewhere = pod.clone();
    elsewhere.metadata.namespace = Some("other".into());
    assert!(
        judge(&profile, &elsewhere, std::slice::from_ref(&level))
            .pod_security
            .is_some()
    );
}

/// The preview of `requireUserNamespaces` says what the nodes need, as the rejection does.
#[test]
fn a_pod_sharing_the_hosts_users_is_told_what_the_nodes_need() {
    let profile = crate::fixtures::profile("p")
        .spec(json!({"guardrails": {"requireUserNamespaces": true}}))
        .build();
    let pod = |host_users: Option<bool>| -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "app"},
            "spec": {"hostUsers": host_users, "containers": [{"name": "app", "image": "app:1"}]},
        }))
        .unwrap()
    };
    for host_users in [None, Some(true)] {
        let findings = evaluate_guardrails(&profile, &pod(host_users));
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].rule, "requireUserNamespaces");
        assert!(
            findings[0]
                .reason
                .contains(crate::core::nodes::USER_NAMESPACES_NODE_NEEDS),
            "{}",
            findings[0].reason
        );
    }
    assert!(evaluate_guardrails(&profile, &pod(Some(false))).is_empty());
    let objects =
        crate::core::guardrails::render(&profile, &Default::default(), &[], &Default::default())
            .unwrap();
    assert!(
        objects
            .policy
            .to_string()
            .contains(crate::core::nodes::USER_NAMESPACES_NODE_NEEDS)
    );
}

/// Issue 22's rules under the exceptions, as the admission policy judges them: a container
/// rule suspended for the containers an exception names (the others still judged, the first
/// of them named), a pod rule for the pods it selects; what they cover accepted.
#[test]
fn exceptions_suspend_the_pod_rules_per_container_and_per_pod() {
    let profile = crate::fixtures::profile("p")
        .spec(json!({ "guardrails": { "requireProbes": true, "requireController": true } }))
        .build();
    let pod: Pod = serde_json::from_value(json!({
        "metadata": { "name": "legacy", "namespace": "shop", "labels": { "app": "legacy" } },
        "spec": { "containers": [{ "name": "a", "image": "a:1" }, { "name": "b", "image": "b:1" }] },
    }))
    .unwrap();
    let exception = |spec: serde_json::Value| {
        crate::core::exceptions::active_entry(
            &crate::fixtures::exception("x", "p", "shop", "2026-12-31T00:00:00Z")
                .spec(spec)
                .build(),
        )
    };
    let findings = |exceptions: &[ActiveException]| {
        judge(&profile, &pod, exceptions)
            .guardrails
            .into_iter()
            .map(|f| (f.rule, f.reason))
            .collect::<Vec<_>>()
    };
    let before = findings(&[]);
    assert_eq!(before.len(), 2, "{before:?}");
    assert!(
        before[0].1.starts_with("the pod has no controller"),
        "{before:?}"
    );
    assert!(before[1].1.starts_with("container a "), "{before:?}");

    // requireProbes for container a: container b is named instead.
    let a = exception(json!({ "rules": ["requireProbes"], "containers": ["a"] }));
    let with_a = findings(std::slice::from_ref(&a));
    assert_eq!(with_a[1].0, "requireProbes");
    assert!(with_a[1].1.starts_with("container b "), "{with_a:?}");
    // Both containers: accepted; requireController is another rule.
    let both = exception(json!({ "rules": ["requireProbes"], "containers": ["a", "b"] }));
    let verdict = judge(&profile, &pod, std::slice::from_ref(&both));
    assert_eq!(
        verdict
            .guardrails
            .iter()
            .map(|f| f.rule)
            .collect::<Vec<_>>(),
        ["requireController"]
    );
    assert_eq!(verdict.accepted[0].rule, "guardrail requireProbes");
    // requireController for app=legacy pods, and not for others.
    let bare = exception(json!({
        "rules": ["requireController"],
        "podSelector": { "matchLabels": { "app": "legacy" } },
    }));
    let verdict = judge(&profile, &pod, std::slice::from_ref(&bare));
    assert_eq!(
        verdict
            .guardrails
            .iter()
            .map(|f| f.rule)
            .collect::<Vec<_>>(),
        ["requireProbes"]
    );
    assert_eq!(verdict.accepted[0].rule, "guardrail requireController");
    let mut web = pod.clone();
    web.metadata.labels = Some([("app".to_owned(), "web".to_owned())].into());
    assert_eq!(
        judge(&profile, &web, std::slice::from_ref(&bare))
            .guardrails
            .len(),
        2
    );
}
