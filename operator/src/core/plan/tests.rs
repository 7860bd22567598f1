//! Live objects here are built as a server-side apply by the operator leaves them: the
//! rendered object plus a `managedFields` entry of the operator's field manager owning
//! every field it sent.

use serde_json::{Value, json};

use super::*;
use crate::core::render::{Desired, RenderError, names, render_with};

/// Planning, not protection: no protected networks.
fn render(profile: &crate::core::api::HardeningProfile, ns: &str) -> Result<Desired, RenderError> {
    render_with(profile, ns, &[])
}
use crate::fixtures::profile;

const UID: &str = "1b2c3d4e-0000-4000-8000-000000000001";

/// The profile `p` of these tests (stored: it has a uid), in Enforce mode.
const SPEC: &str = "\
mode: Enforce
podSecurity: {enforce: {level: restricted}}
networkPolicy: {defaultDeny: [Ingress], allowSameNamespace: false}
resourceQuota: {hard: {pods: \"20\", limits.cpu: \"4\"}}
";

/// `fieldsV1` owning every field of `value` (lists as a whole).
fn fields_of(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (format!("f:{k}"), fields_of(v)))
                .collect(),
        ),
        _ => json!({}),
    }
}

fn entry(manager: &str, operation: &str, time: &str, fields: Value) -> Value {
    json!({
        "manager": manager, "operation": operation, "apiVersion": "v1",
        "time": time, "fieldsType": "FieldsV1", "fieldsV1": fields,
    })
}

/// `body` as the API server stores it after the operator applied it.
fn applied_json(body: &Value) -> Value {
    let mut owned = body.clone();
    let map = owned.as_object_mut().unwrap();
    map.remove("apiVersion");
    map.remove("kind");
    if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("name");
        meta.remove("namespace");
    }
    let mut live = body.clone();
    live["metadata"]["managedFields"] = json!([entry(
        FIELD_MANAGER,
        "Apply",
        "2026-01-01T00:00:00Z",
        fields_of(&owned)
    )]);
    live
}

fn dynamic(value: Value) -> Arc<DynamicObject> {
    Arc::new(serde_json::from_value(value).unwrap())
}

fn fresh_namespace() -> Namespace {
    serde_json::from_value(json!({
        "metadata": { "name": "team-a", "labels": { "kubernetes.io/metadata.name": "team-a" } }
    }))
    .unwrap()
}

/// The namespace after the operator applied `body` to it.
fn hardened_namespace(body: &Value) -> Namespace {
    let mut live = applied_json(body);
    live["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!("team-a");
    serde_json::from_value(live).unwrap()
}

/// Every rendered object as the operator leaves it.
fn hardened_objects(desired: &Desired) -> Vec<(ManagedKind, Arc<DynamicObject>)> {
    desired
        .objects
        .iter()
        .map(|o| (o.kind(), dynamic(applied_json(&o.to_json()))))
        .collect()
}

fn summary(steps: &[Step]) -> Vec<(Action, String)> {
    steps
        .iter()
        .map(|s| (s.action, format!("{} {}", s.kind, s.name)))
        .collect()
}

fn step<'a>(steps: &'a [Step<'a>], kind: &str, name: &str) -> &'a Step<'a> {
    steps
        .iter()
        .find(|s| s.kind == kind && s.name == name)
        .unwrap_or_else(|| panic!("no step for {kind} {name}"))
}

#[test]
fn a_fresh_namespace_gets_everything_created() {
    let desired = render(&profile("p").uid(UID).spec_yaml(SPEC).build(), "team-a").unwrap();
    let steps = plan(&fresh_namespace(), &desired, Mode::Enforce, &[]).unwrap();
    assert_eq!(
        summary(&steps),
        vec![
            (Action::Update, "Namespace team-a".into()),
            (
                Action::Create,
                format!("NetworkPolicy {}", names::DEFAULT_DENY)
            ),
            (Action::Create, format!("ResourceQuota {}", names::QUOTA)),
        ]
    );
    let fields: Vec<&str> = steps[0].drifts.iter().map(|d| d.field.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            r#"metadata.labels["pod-security.kubernetes.io/enforce"]"#,
            r#"metadata.labels["pod-security.kubernetes.io/enforce-version"]"#,
            r#"metadata.annotations["hardening.dev/profile"]"#,
            r#"metadata.annotations["hardening.dev/rendered"]"#,
        ]
    );
    match &steps[0].target {
        Target::Namespace(body) => {
            assert_eq!(body, &desired.namespace_body("team-a", Mode::Enforce))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(steps[2].target, Target::Object(o) if o.name() == names::QUOTA));
}

#[test]
fn a_hardened_namespace_is_unchanged() {
    let desired = render(&profile("p").uid(UID).spec_yaml(SPEC).build(), "team-a").unwrap();
    let ns = hardened_namespace(&desired.namespace_body("team-a", Mode::Enforce));
    let live = hardened_objects(&desired);
    let steps = plan(&ns, &desired, Mode::Enforce, &live).unwrap();
    assert!(
        steps
            .iter()
            .all(|s| s.action == Action::Unchanged && s.drifts.is_empty()),
        "{steps:#?}"
    );
    assert_eq!(steps.len(), 3);
}

#[test]
fn an_edit_is_an_update_naming_the_field_manager() {
    let desired = render(&profile("p").uid(UID).spec_yaml(SPEC).build(), "team-a").unwrap();
    let ns = hardened_namespace(&desired.namespace_body("team-a", Mode::Enforce));
    let mut live = hardened_objects(&desired);
    let mut quota = serde_json::to_value(live[1].1.as_ref()).unwrap();
    quota["spec"]["hard"]["pods"] = json!("99");
    quota["metadata"]["managedFields"]
        .as_array_mut()
        .unwrap()
        .push(entry(
            "kubectl-edit",
            "Update",
            "2026-01-01T00:01:00Z",
            json!({ "f:spec": { "f:hard": { "f:pods": {} } } }),
        ));
    live[1].1 = dynamic(quota);
    let steps = plan(&ns, &desired, Mode::Enforce, &live).unwrap();
    let update = step(&steps, "ResourceQuota", names::QUOTA);
    assert_eq!(update.action, Action::Update);
    assert_eq!(
        update.drifts,
        vec![Drift {
            field: "spec.hard.pods".into(),
            path: vec!["spec".into(), "hard".into(), "pods".into()],
            expected: Some("20".into()),
            actual: Some("99".into()),
            manager: Some("kubectl-edit".into()),
            change: crate::core::diff::Change::Changed,
        }]
    );
    assert_eq!(
        step(&steps, "NetworkPolicy", names::DEFAULT_DENY).action,
        Action::Unchanged
    );
}

#[test]
fn fields_the_profile_dropped_are_an_update() {
    let desired = render(&profile("p").uid(UID).spec_yaml(SPEC).build(), "team-a").unwrap();
    let ns = hardened_namespace(&desired.namespace_body("team-a", Mode::Enforce));
    let live = hardened_objects(&desired);
    // The profile drops limits.cpu from the quota: the operator still owns it live.
    let mut smaller = profile("p").uid(UID).spec_yaml(SPEC).build();
    smaller
        .spec
        .resource_quota
        .as_mut()
        .unwrap()
        .hard
        .remove("limits.cpu");
    let desired = render(&smaller, "team-a").unwrap();
    let steps = plan(&ns, &desired, Mode::Enforce, &live).unwrap();
    let update = step(&steps, "ResourceQuota", names::QUOTA);
    assert_eq!(update.action, Action::Update);
    assert_eq!(update.drifts.len(), 1, "{:?}", update.drifts);
    assert_eq!(update.drifts[0].field, r#"spec.hard["limits.cpu"]"#);
    assert_eq!(update.drifts[0].expected, None);
    assert_eq!(update.drifts[0].actual.as_deref(), Some("4"));
}

#[test]
fn objects_no_longer_rendered_are_deleted_and_foreign_ones_left_alone() {
    let desired = render(&profile("p").uid(UID).spec_yaml(SPEC).build(), "team-a").unwrap();
    let ns = hardened_namespace(&desired.namespace_body("team-a", Mode::Enforce));
    let mut live = hardened_objects(&desired);
    // Generated earlier (another section or profile): carries the managed-by label.
    let old_limits = json!({
        "apiVersion": "v1", "kind": "LimitRange",
        "metadata": { "name": names::LIMITS, "namespace": "team-a", "labels": {
            "app.kubernetes.io/managed-by": "hardening-operator", "hardening.dev/profile": "old" } },
        "spec": { "limits": [ { "type": "Container" } ] },
    });
    live.push((ManagedKind::LimitRange, dynamic(applied_json(&old_limits))));
    // Someone else's objects: one with a generated name, one without the label.
    live[1] = (
        ManagedKind::ResourceQuota,
        dynamic(json!({
            "apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": { "name": names::QUOTA, "namespace": "team-a" },
            "spec": { "hard": { "pods": "5" } },
        })),
    );
    live.push((
        ManagedKind::NetworkPolicy,
        dynamic(json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": { "name": "allow-web", "namespace": "team-a" },
            "spec": { "podSelector": {} },
        })),
    ));
    let steps = plan(&ns, &desired, Mode::Enforce, &live).unwrap();
    assert_eq!(
        summary(&steps),
        vec![
            (Action::Unchanged, "Namespace team-a".into()),
            (
                Action::Unchanged,
                format!("NetworkPolicy {}", names::DEFAULT_DENY)
            ),
            (Action::Foreign, format!("ResourceQuota {}", names::QUOTA)),
            (Action::Delete, format!("LimitRange {}", names::LIMITS)),
        ]
    );
    let delete = &steps[3];
    assert_eq!(
        delete.drifts[0].actual.as_deref(),
        Some("generated for profile old")
    );
    assert!(matches!(
        delete.target,
        Target::Unwanted(ManagedKind::LimitRange, o) if o.name_any() == names::LIMITS
    ));
    assert!(!Action::Foreign.is_change() && !Action::Unchanged.is_change());
}

#[test]
fn audit_mode_neither_expects_nor_reports_the_claim() {
    let desired = render(
        &profile("p")
            .uid(UID)
            .spec_yaml(SPEC)
            .spec_yaml("mode: Audit")
            .build(),
        "team-a",
    )
    .unwrap();
    // Fresh: only the Pod Security labels are missing, not the claim.
    let steps = plan(&fresh_namespace(), &desired, Mode::Audit, &[]).unwrap();
    let fields: Vec<&str> = steps[0].drifts.iter().map(|d| d.field.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            r#"metadata.labels["pod-security.kubernetes.io/enforce"]"#,
            r#"metadata.labels["pod-security.kubernetes.io/enforce-version"]"#,
        ]
    );
    // Hardened while the profile enforced: the claim left behind is no drift.
    let ns = hardened_namespace(&desired.namespace_body("team-a", Mode::Enforce));
    let live = hardened_objects(&desired);
    let steps = plan(&ns, &desired, Mode::Audit, &live).unwrap();
    assert!(
        steps.iter().all(|s| s.action == Action::Unchanged),
        "{steps:#?}"
    );
}
