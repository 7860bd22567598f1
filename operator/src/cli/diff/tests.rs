use serde_json::json;

use super::*;
use crate::core::plan::Target;
use crate::core::render::Desired;
use crate::fixtures::profile;

fn drift(
    field: &str,
    expected: Option<&str>,
    actual: Option<&str>,
    manager: Option<&str>,
) -> Drift {
    Drift {
        field: field.to_owned(),
        path: Vec::new(),
        expected: expected.map(str::to_owned),
        actual: actual.map(str::to_owned),
        manager: manager.map(str::to_owned),
        change: match (expected, actual) {
            (Some(_), None) => crate::core::diff::Change::Removed,
            (None, _) => crate::core::diff::Change::Added,
            (Some(_), Some(_)) => crate::core::diff::Change::Changed,
        },
    }
}

fn desired() -> Desired {
    let profile = profile("p")
        .spec_yaml("resourceQuota: {hard: {pods: \"20\"}}")
        .build();
    crate::core::render::render(&profile, "team-a").unwrap()
}

fn old_limits() -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "LimitRange",
        "metadata": { "name": "hardening-limits", "namespace": "team-a" },
    }))
    .unwrap()
}

/// One step of every action.
fn steps<'a>(desired: &'a Desired, old: &'a DynamicObject) -> Vec<Step<'a>> {
    let quota = &desired.objects[0];
    let step = |kind, name: &str, action, drifts, target| Step {
        kind,
        name: name.to_owned(),
        action,
        drifts,
        target,
    };
    vec![
        step(
            "Namespace",
            "team-a",
            Action::Update,
            vec![drift(
                r#"metadata.labels["pod-security.kubernetes.io/enforce"]"#,
                Some("restricted"),
                Some("privileged"),
                Some("kubectl-label"),
            )],
            Target::Namespace(json!({})),
        ),
        step(
            "NetworkPolicy",
            "hardening-default-deny",
            Action::Create,
            vec![drift("(object)", Some("object exists"), None, None)],
            Target::Object(quota),
        ),
        step(
            "ResourceQuota",
            "hardening-quota",
            Action::Update,
            vec![
                drift(
                    "spec.hard.pods",
                    Some("20"),
                    Some("99"),
                    Some("kubectl-edit"),
                ),
                drift(r#"spec.hard["limits.cpu"]"#, None, Some("4"), None),
            ],
            Target::Object(quota),
        ),
        step(
            "NetworkPolicy",
            "hardening-allow-dns",
            Action::Unchanged,
            Vec::new(),
            Target::Object(quota),
        ),
        step(
            "NetworkPolicy",
            "hardening-allow-egress",
            Action::Foreign,
            Vec::new(),
            Target::Object(quota),
        ),
        step(
            "LimitRange",
            "hardening-limits",
            Action::Delete,
            vec![drift(
                "(object)",
                Some("object absent"),
                Some("generated for profile old"),
                None,
            )],
            Target::Unwanted(ManagedKind::LimitRange, old),
        ),
    ]
}

fn report(mode: Mode, steps: &[Step]) -> String {
    let mut out = Vec::new();
    write_namespace(&mut out, "team-a", "p", mode, steps).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn the_report_lists_every_object_and_every_drifted_field() {
    let (desired, old) = (desired(), old_limits());
    assert_eq!(
        report(Mode::Enforce, &steps(&desired, &old)),
        r#"namespace team-a (profile p, Enforce):
  update     Namespace team-a
             metadata.labels["pod-security.kubernetes.io/enforce"]: expected restricted, actual privileged (changed by kubectl-label)
  create     NetworkPolicy hardening-default-deny
  update     ResourceQuota hardening-quota
             spec.hard.pods: expected 20, actual 99 (changed by kubectl-edit)
             spec.hard["limits.cpu"]: expected (unset), actual 4
  unchanged  NetworkPolicy hardening-allow-dns
  conflict   NetworkPolicy hardening-allow-egress: exists and is not managed by the operator; left alone
  delete     LimitRange hardening-limits (generated for profile old; no longer rendered)
"#
    );
}

#[test]
fn audit_mode_words_the_same_differences_as_drift() {
    let (desired, old) = (desired(), old_limits());
    let text = report(Mode::Audit, &steps(&desired, &old));
    let verbs: Vec<&str> = text
        .lines()
        .skip(1)
        .filter(|line| !line.starts_with("             "))
        .map(|line| line.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        verbs,
        vec![
            "drifted",
            "missing",
            "drifted",
            "unchanged",
            "conflict",
            "unwanted"
        ]
    );
    assert!(text.starts_with("namespace team-a (profile p, Audit: reported, not changed):\n"));
}

#[test]
fn exit_status_is_1_only_when_the_operator_would_change_something() {
    let (desired, old) = (desired(), old_limits());
    let all = steps(&desired, &old);
    let only = |actions: &[Action]| -> Vec<Step> {
        all.iter()
            .filter(|s| actions.contains(&s.action))
            .cloned()
            .collect()
    };

    let mut changes = Outcome::default();
    changes.add(Mode::Enforce, &all);
    assert_eq!(
        changes,
        Outcome {
            namespaces: 1,
            changed_namespaces: 1,
            create: 1,
            update: 2,
            delete: 1,
            unchanged: 1,
            conflicts: 1,
            drifted: 0,
            would_reject: 0,
            guardrails: 0,
            exceptions: 0,
        }
    );
    assert_eq!(changes.exit_status(), EXIT_CHANGES);
    assert_eq!(
        changes.summary(Mode::Enforce),
        "summary: 1 namespace (1 with changes): 1 to create, 2 to update, 1 to delete, 1 unchanged, 1 conflict"
    );
    // The preview changes nothing the operator would do: only the summary mentions it.
    let previewed = Outcome {
        would_reject: 3,
        ..changes.clone()
    };
    assert_eq!(previewed.exit_status(), EXIT_CHANGES);
    assert!(
        previewed
            .summary(Mode::Enforce)
            .ends_with("1 conflict; enforcing would reject 3 existing pods"),
        "{}",
        previewed.summary(Mode::Enforce)
    );
    // A guardrails-only change is a change: the policy and binding are written.
    let guardrails_only = Outcome {
        namespaces: 1,
        unchanged: 4,
        guardrails: 1,
        ..Outcome::default()
    };
    assert_eq!(guardrails_only.exit_status(), EXIT_CHANGES);
    assert!(
        guardrails_only
            .summary(Mode::Enforce)
            .ends_with("; the guardrails' policy and binding change"),
        "{}",
        guardrails_only.summary(Mode::Enforce)
    );
    for action in [Action::Create, Action::Update, Action::Delete] {
        let mut outcome = Outcome::default();
        outcome.add(Mode::Enforce, &only(&[Action::Unchanged, action]));
        assert_eq!(outcome.exit_status(), 1, "{action:?}");
    }

    // In sync, or only a foreign object the operator leaves alone: nothing to change.
    let mut in_sync = Outcome::default();
    in_sync.add(Mode::Enforce, &only(&[Action::Unchanged]));
    in_sync.add(Mode::Enforce, &only(&[Action::Unchanged, Action::Foreign]));
    assert_eq!(in_sync.exit_status(), EXIT_OK);
    assert_eq!(in_sync.changed_namespaces, 0);
    assert_eq!(
        in_sync.summary(Mode::Enforce),
        "summary: 2 namespaces: no changes, 2 unchanged, 1 conflict"
    );

    // Audit mode changes nothing, whatever drifted.
    let mut audit = Outcome::default();
    audit.add(Mode::Audit, &all);
    assert_eq!(audit.exit_status(), EXIT_OK);
    assert_eq!(audit.drifted, 4);
    assert_eq!(
        audit.summary(Mode::Audit),
        "summary: 1 namespace: 4 drifted (Audit mode: reported, not changed), 1 unchanged, 1 conflict"
    );

    // What the command line exits with (errors: see `cli::exit_status`).
    let mut stderr = Vec::new();
    assert_eq!(
        crate::cli::exit_status(Ok(changes.exit_status()), &mut stderr),
        1
    );
    assert_eq!(
        crate::cli::exit_status(Ok(in_sync.exit_status()), &mut stderr),
        0
    );
}

#[test]
fn drift_lines_show_unset_and_empty_values() {
    assert_eq!(
        drift_line(&drift("metadata.labels.a", Some(""), None, None)),
        r#"metadata.labels.a: expected "", actual (unset)"#
    );
}

fn stored(name: &str, priority: i32, selector: serde_json::Value) -> HardeningProfile {
    profile(name)
        .uid(&format!("uid-{name}"))
        .spec(json!({ "namespaceSelector": selector, "priority": priority }))
        .build()
}

#[test]
fn another_profile_with_precedence_governs() {
    let namespace: Namespace = serde_json::from_value(json!({
        "metadata": { "name": "team-a", "labels": { "tier": "strict" } }
    }))
    .unwrap();
    let strict = json!({ "matchLabels": { "tier": "strict" } });
    let ours = stored("p", 10, strict.clone());

    // Nobody else selects it.
    let others = vec![stored(
        "q",
        50,
        json!({ "matchLabels": { "tier": "other" } }),
    )];
    assert_eq!(governing(&ours, &others, &namespace).name_any(), "p");

    // A higher priority wins; a lower one or an equal one with a later name does not.
    let others = vec![
        stored("a-low", 5, strict.clone()),
        stored("z-equal", 10, strict.clone()),
        stored("high", 20, strict.clone()),
    ];
    assert_eq!(governing(&ours, &others, &namespace).name_any(), "high");
    assert_eq!(governing(&ours, &others[..2], &namespace).name_any(), "p");

    // The stored version of the same profile is replaced by the file's.
    let others = vec![stored("p", 1000, strict.clone())];
    let governs = governing(&ours, &others, &namespace);
    assert_eq!(governs.spec.priority, 10);

    // A profile being deleted governs nothing.
    let mut leaving = stored("high", 20, strict);
    leaving.metadata.deletion_timestamp = Some(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Default::default()),
    );
    assert_eq!(governing(&ours, &[leaving], &namespace).name_any(), "p");
}
