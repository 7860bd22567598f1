//! `hardening-operator diff` against the real API server, through its library function
//! (`cli::diff::run`, what the command runs once connected): a fresh namespace needs
//! everything created, a hardened one nothing, and an edit shows with its field manager.
//! The exit status mapping is unit-tested in the operator (`cli::diff::tests`).

use std::path::PathBuf;

use hardening_operator::cli::diff::{DiffArgs, Outcome, run};
use hardening_operator::cli::{EXIT_CHANGES, EXIT_OK};
use hardening_operator::config::RunConfig;
use k8s_openapi::api::core::v1::ResourceQuota;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::operator_env::{OperatorEnv, SHARD_LABEL, condition};

/// `(verb, "Kind name")` for every object line of a report (the namespaces' sections).
fn objects(report: &str) -> Vec<(String, String)> {
    let mut in_namespace = false;
    report
        .lines()
        .filter(|line| {
            if !line.starts_with(' ') {
                in_namespace = line.starts_with("namespace ");
            }
            in_namespace && line.starts_with("  ") && !line.starts_with("   ")
        })
        .map(|line| {
            let mut words = line.split_whitespace();
            let verb = words.next().unwrap().to_owned();
            let object = words.take(2).collect::<Vec<_>>().join(" ");
            (verb, object.trim_end_matches(':').to_owned())
        })
        .collect()
}

async fn diff(client: &Client, args: &DiffArgs) -> (Outcome, String, String) {
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    let outcome = run(client, args, &mut out, &mut notes)
        .await
        .unwrap_or_else(|e| panic!("diff failed: {e}"));
    (
        outcome,
        String::from_utf8(out).unwrap(),
        String::from_utf8(notes).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_reports_create_then_unchanged_then_an_edit_with_its_field_manager() {
    let mut env = OperatorEnv::start("cli-diff").await;
    let ns = env.namespace(&[]).await;
    let other = env.unselected_namespace().await;
    let profile = env.profile(
        "strict",
        json!({
            "podSecurity": { "enforce": { "level": "restricted" } },
            "networkPolicy": { "defaultDeny": ["Ingress", "Egress"] },
            "resourceQuota": { "hard": { "pods": "20", "limits.cpu": "4" } },
            "limitRange": { "limits": [{ "type": "Container", "default": { "cpu": "500m" } }] }
        }),
    );
    let file = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{}.yaml", env.shard));
    std::fs::write(&file, serde_yaml_ng::to_string(&profile).unwrap()).unwrap();
    let mut args = DiffArgs {
        profiles: vec![file.clone()],
        namespaces: vec![ns.clone(), other.clone()],
        profile_selector: Some(format!("{SHARD_LABEL}={}", env.shard)),
        exclusions: Default::default(),
        exceptions: Default::default(),
        cluster: Default::default(),
    };
    let client = env.client.clone();

    // Before the profile is applied: everything to create.
    let (outcome, report, notes) = diff(&client, &args).await;
    assert_eq!(outcome.exit_status(), EXIT_CHANGES, "{report}");
    assert_eq!(
        objects(&report),
        [
            ("update", format!("Namespace {ns}")),
            ("create", "NetworkPolicy hardening-default-deny".into()),
            ("create", "NetworkPolicy hardening-allow-dns".into()),
            (
                "create",
                "NetworkPolicy hardening-allow-same-namespace".into()
            ),
            ("create", "ResourceQuota hardening-quota".into()),
            ("create", "LimitRange hardening-limits".into()),
        ]
        .map(|(verb, object)| (verb.to_owned(), object)),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            "metadata.annotations[\"hardening.dev/profile\"]: expected {}, actual (unset)",
            profile.name_any()
        )),
        "{report}"
    );
    assert_eq!(
        notes,
        format!(
            "namespace {other}: not selected: its labels do not match the profile's spec.namespaceSelector\n"
        )
    );
    assert!(
        report.starts_with(&format!(
            "profile {0}:\n  profile {0} is new: the cluster does not hold it yet\n",
            profile.name_any()
        )),
        "{report}"
    );

    // Once the operator has hardened the namespace: nothing to change. Without
    // --namespace, every namespace the profile selects (only this one).
    let name = env.create_profile(&profile).await.unwrap().name_any();
    env.status_where(&name, "in sync", |s| match condition(s, "Ready") {
        Some((status, _)) if status == "True" && s.in_sync_namespaces == 1 => Ok(()),
        other => Err(format!("Ready {other:?}, {} in sync", s.in_sync_namespaces)),
    })
    .await;
    args.namespaces.clear();
    let (outcome, report, _) = diff(&client, &args).await;
    assert_eq!(outcome.exit_status(), EXIT_OK, "{report}");
    assert_eq!(outcome.namespaces, 1, "{report}");
    let lines = objects(&report);
    assert_eq!(lines.len(), 6, "{report}");
    assert!(
        lines.iter().all(|(verb, _)| verb == "unchanged"),
        "{report}"
    );
    // The file is what the cluster holds: no change of the profile, and the namespace's
    // fingerprint is the one the file renders (nothing shows that is not a change).
    assert!(report.starts_with(&format!("namespace {ns} (profile {name}, Enforce):\n")));
    assert!(!report.contains("hardening.dev/rendered"), "{report}");

    // A change that turns a guardrail off and narrows the registries, in words.
    let mut guarded = profile.clone();
    guarded.spec.guardrails = Some(
        serde_json::from_value(json!({
            "denyExec": true, "allowedRegistries": ["registry.example.com", "ghcr.io"]
        }))
        .unwrap(),
    );
    env.patch_spec(&name, json!({ "guardrails": guarded.spec.guardrails }))
        .await;
    let mut relaxed = guarded.clone();
    relaxed.spec.guardrails = Some(
        serde_json::from_value(json!({
            "allowedRegistries": ["registry.example.com"]
        }))
        .unwrap(),
    );
    std::fs::write(&file, serde_yaml_ng::to_string(&relaxed).unwrap()).unwrap();
    let (outcome, report, _) = diff(&client, &args).await;
    assert_eq!(outcome.exit_status(), EXIT_CHANGES, "{report}");
    assert!(
        report.starts_with(&format!(
            "profile {name}:\n  guardrail allowedRegistries: images from ghcr.io are rejected from now on\n  guardrail denyExec turned off: kubectl exec and kubectl attach are admitted again (BSI SYS.1.6.A11 no longer covered by it)\nnamespace {ns} "
        )),
        "{report}"
    );
    assert!(
        report
            .trim_end()
            .ends_with("; the guardrails' policy and binding change"),
        "{report}"
    );
    env.patch_spec(&name, json!({ "guardrails": null })).await;
    std::fs::write(&file, serde_yaml_ng::to_string(&profile).unwrap()).unwrap();
    env.status_where(&name, "in sync again", |s| match condition(s, "Ready") {
        Some((status, _)) if status == "True" && s.in_sync_namespaces == 1 => Ok(()),
        other => Err(format!("Ready {other:?}")),
    })
    .await;

    // Someone edits the quota while no operator repairs it.
    env.stop_operator().await;
    let edit = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..Default::default()
    };
    Api::<ResourceQuota>::namespaced(client.clone(), &ns)
        .patch(
            "hardening-quota",
            &edit,
            &Patch::Merge(json!({ "spec": { "hard": { "pods": "99" } } })),
        )
        .await
        .unwrap();
    let (outcome, report, _) = diff(&client, &args).await;
    assert_eq!(outcome.exit_status(), EXIT_CHANGES, "{report}");
    assert_eq!((outcome.update, outcome.create, outcome.delete), (1, 0, 0));
    assert!(
        report.contains(
            "  update     ResourceQuota hardening-quota\n             spec.hard.pods: expected 20, actual 99 (changed by kubectl-edit)\n"
        ),
        "{report}"
    );

    env.start_operator(RunConfig::default());
    env.finish().await;
    let _ = std::fs::remove_file(file);
}
