use super::*;
use serde_json::json;

fn strings(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|s| s.to_string()).collect()
}

#[test]
fn pod_security_warnings_are_read_as_the_admission_plugin_writes_them() {
    // The forms of `decoratePodWarnings` and `EvaluatePodsInNamespace` (v0.36.2).
    let preview = parse_pod_security_warnings(&strings(&[
        "existing pods in namespace \"shop\" violate the new PodSecurity enforce level \"restricted:latest\"",
        "new PodSecurity enforce level only checked against the first 3000 of 3100 existing pods",
        "web-0: allowPrivilegeEscalation != false",
        "api-1 (and 1 other pod): runAsNonRoot != true",
        "db-0 (and 21 other pods): restricted volume types",
        "299 - \"quoted-0: hostPort\"",
        "metadata.annotations[x]: deprecated since v1.30",
    ]));
    assert_eq!(
        preview.findings,
        [
            ("web-0", 0, "allowPrivilegeEscalation != false"),
            ("api-1", 1, "runAsNonRoot != true"),
            ("db-0", 21, "restricted volume types"),
            ("quoted-0", 0, "hostPort"),
        ]
        .map(|(pod, other_pods, reason)| PodSecurityFinding {
            pod: pod.into(),
            other_pods,
            reason: reason.into()
        })
    );
    assert_eq!(preview.pods(), 1 + 2 + 22 + 1);
    assert!(preview.incomplete.unwrap().contains("3000 of 3100"));
    assert_eq!(
        parse_pod_security_warnings(&[]),
        PodSecurityPreview::default()
    );
}

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
    let guardrails = Guardrails {
        allowed_registries: vec!["registry.example.com".into()],
        require_image_tag: true,
        require_image_digest: true,
        require_read_only_root_filesystem: true,
        ..Guardrails::default()
    };
    let rules: Vec<&str> = evaluate_guardrails(&guardrails, &pod)
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
    assert!(evaluate_guardrails(&Guardrails::default(), &pod).is_empty());
}

#[test]
fn rejected_pods_count_each_named_pod_once() {
    let preview = NamespacePreview {
        level: Some("restricted:latest".into()),
        pod_security: parse_pod_security_warnings(&strings(&[
            "a (and 2 other pods): runAsNonRoot != true",
            "b: hostPort",
        ])),
        guardrails: vec![
            GuardrailFinding {
                pod: "b".into(),
                rule: "denyExec",
                reason: "x".into(),
            },
            GuardrailFinding {
                pod: "c".into(),
                rule: "requireImageTag",
                reason: "y".into(),
            },
        ],
    };
    assert_eq!(preview.rejected_pods(), 3 + 1 + 1);
    assert_eq!(
        preview.lines()[0],
        (
            "a (and 2 other pods)".to_owned(),
            "Pod Security restricted:latest: runAsNonRoot != true".to_owned()
        )
    );
}
