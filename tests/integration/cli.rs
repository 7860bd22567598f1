//! `hardening-operator diff` against the real API server, through its library function
//! (`cli::diff::run`, what the command runs once connected): a fresh namespace needs
//! everything created, a hardened one nothing, and an edit shows with its field manager.
//! `diff --exception` shows an exception of the change and those in force.
//! The exit status mapping is unit-tested in the operator (`cli::diff::tests`).

use std::path::PathBuf;

use hardening_operator::cli::diff::{DiffArgs, Outcome, run};
use hardening_operator::cli::{EXIT_CHANGES, EXIT_OK};
use hardening_operator::config::RunConfig;
use hardening_tests::profiles::condition;
use k8s_openapi::api::core::v1::ResourceQuota;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::operator_env::{OperatorEnv, SHARD_LABEL};

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
            "profile {name}:\n  guardrail allowedRegistries: images from ghcr.io are rejected from now on\n  guardrail denyExec turned off: kubectl exec and kubectl attach are admitted again\nnamespace {ns} "
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

/// Issue 24: an exception in a pull request is visible in `diff --exception`: what it
/// suspends, where, until when, owner, reason, what it weakens, whether the operator would
/// apply it; once in force in the cluster, `diff` names it among the exceptions in force.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_shows_an_exception_of_the_change_and_those_in_force() {
    use hardening_operator::core::api::HardeningException;
    let mut env = OperatorEnv::start("cli-exception").await;
    let ns = env.namespace(&[]).await;
    let profile = env.profile(
        "strict",
        json!({ "guardrails": { "requireImageTag": true } }),
    );
    let name = env.create_profile(&profile).await.unwrap().name_any();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let file = dir.join(format!("{}.yaml", env.shard));
    std::fs::write(&file, serde_yaml_ng::to_string(&profile).unwrap()).unwrap();
    let expires = k8s_openapi::jiff::Timestamp::from_second(
        k8s_openapi::jiff::Timestamp::now().as_second() + 3600,
    )
    .unwrap()
    .to_string();
    let exception_name = format!("{}-tag", env.shard);
    let exception = json!({
        "apiVersion": "hardening.dev/v1alpha1", "kind": "HardeningException",
        "metadata": { "name": exception_name },
        "spec": {
            "profile": name, "namespaces": { "names": [ns] }, "rules": ["requireImageTag"],
            "reason": "legacy image (RISK-7)", "owner": "team-shop", "expires": expires,
        },
    });
    let exception_file = dir.join(format!("{}-exception.yaml", env.shard));
    std::fs::write(
        &exception_file,
        serde_yaml_ng::to_string(&exception).unwrap(),
    )
    .unwrap();
    let mut args = DiffArgs {
        profiles: vec![file],
        namespaces: Vec::new(),
        profile_selector: Some(format!("{SHARD_LABEL}={}", env.shard)),
        exclusions: Default::default(),
        exceptions: Default::default(),
        cluster: Default::default(),
    };
    args.exceptions.exceptions = vec![exception_file];
    let client = env.client.clone();
    let (_, report, _) = diff(&client, &args).await;
    let line = format!(
        "exception {exception_name} is new: guardrail requireImageTag suspended in namespaces {ns} of profile {name} until {expires}; owner team-shop; reason: legacy image (RISK-7); weakens BSI SYS.1.6 (2023) A6, A10"
    );
    assert!(report.contains(&line), "{report}");
    assert!(report.contains("the operator would apply it"), "{report}");

    // Applied and in force: diff without the file names it among those in force.
    let stored: HardeningException = serde_json::from_value(exception).unwrap();
    Api::<HardeningException>::all(client.clone())
        .create(&Default::default(), &stored)
        .await
        .unwrap();
    env.status_where(&name, "the exception in force", |s| {
        s.exceptions
            .as_ref()
            .is_some_and(|e| e.active.len() == 1)
            .then_some(())
            .ok_or("want one exception in force".into())
    })
    .await;
    args.exceptions.exceptions.clear();
    let (_, report, _) = diff(&client, &args).await;
    assert!(
        report.contains(&format!(
            "exceptions in force in the cluster, unchanged: {exception_name} until {expires}"
        )),
        "{report}"
    );
    Api::<HardeningException>::all(client.clone())
        .delete(&exception_name, &Default::default())
        .await
        .unwrap();
    env.finish().await;
}
