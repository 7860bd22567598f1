//! Preview before enforce (issue 12, item 2): for a profile in Audit mode, the existing pods
//! its Pod Security `enforce` level and its guardrails would reject, in the status, in a
//! condition and in `hardening-operator diff`.
//!
//! Oracles: Kubernetes' own Pod Security test fixtures (`k8s.io/pod-security-admission`,
//! `test/testdata/<level>/v1.<newest>/{fail,pass}`; the module is in the Go module cache
//! once `tests/controlplane/build.sh` has built Kubernetes): every `fail` fixture stored as
//! a pod must be reported, no `pass` one. And for the guardrails, the generated admission
//! policy itself: the preview's verdict on each pod must be the API server's on the same
//! pod created where the same guardrails are enforced.

use std::path::PathBuf;

use hardening_operator::cli::diff::{DiffArgs, run};
use hardening_operator::core::preview::evaluate_guardrails;
use hardening_tests::profiles::condition;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DynamicObject, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};

use crate::operator_env::{OperatorEnv, SHARD_LABEL};

fn dynamic(object: &Value) -> DynamicObject {
    serde_json::from_value(object.clone()).expect("an object with apiVersion, kind and metadata")
}

/// The newest fixture directory of `level` in the pod-security-admission module.
fn fixtures(level: &str) -> PathBuf {
    let mut versions = hardening_tests::pod_security_fixtures(level);
    versions.pop().expect("versioned fixture directories").1
}

/// Creates every fixture of `dir/{fail,pass}` as a pod named `fail-…`/`pass-…`; the names
/// of the `fail` pods the API server stored (it refuses a few as invalid pods).
async fn create_fixtures(
    client: &Client,
    namespace: &str,
    dir: &std::path::Path,
) -> (Vec<String>, usize) {
    let pods: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        namespace,
        &kube::core::ApiResource::erase::<Pod>(&()),
    );
    let mut stored_failing = Vec::new();
    let mut refused = 0;
    for kind in ["fail", "pass"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(kind))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let mut pod: Value =
                serde_yaml_ng::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
            let name = format!(
                "{kind}-{}",
                file.file_stem()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .replace('_', "-")
            );
            pod["metadata"]["name"] = json!(name);
            match pods.create(&PostParams::default(), &dynamic(&pod)).await {
                Ok(_) if kind == "fail" => stored_failing.push(name),
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 422 => refused += 1,
                Err(e) => panic!("creating fixture {}: {e}", file.display()),
            }
        }
    }
    (stored_failing, refused)
}

async fn diff_report(
    client: &Client,
    env: &OperatorEnv,
    profile: &Value,
    namespace: &str,
) -> String {
    let file =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-{namespace}.yaml", env.shard));
    std::fs::write(&file, serde_yaml_ng::to_string(profile).unwrap()).unwrap();
    let args = DiffArgs {
        profiles: vec![file],
        namespaces: vec![namespace.to_owned()],
        profile_selector: Some(format!("{SHARD_LABEL}={}", env.shard)),
        exclusions: Default::default(),
        exceptions: Default::default(),
        cluster: Default::default(),
    };
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    run(client, &args, &mut out, &mut notes)
        .await
        .unwrap_or_else(|e| panic!("diff failed: {e}"));
    String::from_utf8(out).unwrap()
}

/// `(first pod, pods)` of every "enforcing would reject" line of a diff report.
fn rejections(report: &str) -> Vec<(String, u32, String)> {
    report
        .lines()
        .filter_map(|l| l.strip_prefix("  enforcing would reject "))
        .map(|l| {
            let (who, reason) = l.split_once(": ").unwrap();
            let (pod, pods) = match who.split_once(" (and ") {
                Some((pod, rest)) => (
                    pod,
                    1 + rest.split(' ').next().unwrap().parse::<u32>().unwrap(),
                ),
                None => (who, 1),
            };
            (pod.to_owned(), pods, reason.to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preview_reports_exactly_the_pods_pod_security_fixtures_fail() {
    let mut env = OperatorEnv::start("preview").await;
    let client = env.client.clone();
    for level in ["restricted", "baseline"] {
        let ns = env.namespace(&[("preview-level", level)]).await;
        let (failing, refused) = create_fixtures(&client, &ns, &fixtures(level)).await;
        assert!(
            failing.len() > 20 && refused <= 4,
            "{level}: {} stored, {refused} refused",
            failing.len()
        );
        let profile = env.profile(
            level,
            json!({
                "mode": "Audit",
                "namespaceSelector": { "matchLabels": { "preview-level": level } },
                "podSecurity": { "enforce": { "level": level, "version": "latest" } },
            }),
        );
        let name = profile.name_any();
        env.create_profile(&profile).await.unwrap();
        let expected = failing.len() as u32;
        let status = env
            .status_where(
                &name,
                &format!("{level}: the preview in the status"),
                |s| match (s.would_reject_pods, condition(s, "ReadyToEnforce")) {
                    (Some(n), Some(c))
                        if n == expected && c == ("False".into(), "WouldRejectPods".into()) =>
                    {
                        Ok(())
                    }
                    _ => Err(format!(
                        "want wouldRejectPods {expected} and ReadyToEnforce=False"
                    )),
                },
            )
            .await;
        let entry = status
            .namespaces
            .iter()
            .find(|n| n.name == ns)
            .expect("the namespace listed");
        assert_eq!(entry.would_reject_pods, expected);
        assert_eq!(
            entry.would_reject.len(),
            5,
            "bounded: {:?}",
            entry.would_reject
        );
        assert!(
            entry
                .would_reject
                .iter()
                .all(|r| r.pod.starts_with("fail-")),
            "{:?}",
            entry.would_reject
        );
        // The namespace is untouched: Audit mode, and the dry-run wrote nothing.
        let live = Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
            .get(&ns)
            .await
            .unwrap();
        assert!(
            !live
                .labels()
                .contains_key("pod-security.kubernetes.io/enforce")
        );

        // The whole list, from `diff`: exactly the failing fixtures, no passing one.
        let report =
            diff_report(&client, &env, &serde_json::to_value(&profile).unwrap(), &ns).await;
        let found = rejections(&report);
        assert_eq!(found.iter().map(|r| r.1).sum::<u32>(), expected, "{report}");
        for (pod, _, reason) in &found {
            assert!(
                failing.contains(pod),
                "{level}: {pod} reported, not a stored fail fixture: {report}"
            );
            assert!(
                reason.starts_with(&format!("Pod Security {level}:latest: ")),
                "{reason}"
            );
        }
        assert!(
            report.contains(&format!("enforcing would reject {expected} existing pods")),
            "{report}"
        );
    }
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guardrails_preview_judges_pods_as_the_admission_policy_does() {
    let mut env = OperatorEnv::start("preview-guardrails").await;
    let client = env.client.clone();
    let audited = env.namespace(&[("preview", "audit")]).await;
    let enforced = env.namespace(&[("preview", "enforce")]).await;
    let guardrails = json!({
        "allowedRegistries": ["registry.example.com", "hardening.invalid/team", "docker.io/library"],
        "requireImageTag": true,
        "requireReadOnlyRootFilesystem": true,
    });
    let spec = |mode: &str, which: &str| {
        json!({
            "mode": mode,
            "namespaceSelector": { "matchLabels": { "preview": which } },
            "guardrails": guardrails,
        })
    };
    let audit = env.profile("audit", spec("Audit", "audit"));
    let enforce = env.profile("enforce", spec("Enforce", "enforce"));
    env.create_profile(&enforce).await.unwrap();
    env.status_where(
        &enforce.name_any(),
        "guardrails enforced",
        |s| match condition(s, "GuardrailsEnforced") {
            Some(c) if c.0 == "True" => Ok(()),
            _ => Err("want GuardrailsEnforced=True".into()),
        },
    )
    .await;

    let images = [
        "registry.example.com/app:1.0",
        "registry.example.com/app",
        "registry.example.com/app:latest",
        "registry.example.com:5000/app:1.0",
        "registry.example.comx/app:1.0",
        "hardening.invalid/team/x@sha256:0123",
        "hardening.invalid/teamx/x:1",
        "hardening.invalid/team/x:latest@sha256:0123",
        "busybox",
        "docker.io/library/busybox:1.36",
        // Short names, judged as the runtime pulls them (docker.io/library/busybox:1.36,
        // docker.io/team/app:1, ...).
        "busybox:1.36",
        "docker.io/busybox:1.36",
        "index.docker.io/library/busybox:1.36",
        "team/app:1",
        "localhost:5000/app:1",
        "library/busybox:1.36",
    ];
    let mut pods = Vec::new();
    for (i, image) in images.iter().enumerate() {
        for read_only in [true, false] {
            let mut containers = vec![
                json!({ "name": "app", "image": image, "securityContext": { "readOnlyRootFilesystem": read_only } }),
            ];
            if i % 3 == 0 {
                containers.push(json!({ "name": "sidecar", "image": "registry.example.com/side:2", "securityContext": { "readOnlyRootFilesystem": true } }));
            }
            pods.push(json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": { "name": format!("pod-{i}-{read_only}") },
                "spec": { "containers": containers },
            }));
        }
    }
    // The API server's verdict where the guardrails are enforced (it may take a moment to
    // see the binding: wait for the first clear violation to be denied).
    let enforced_pods: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &enforced,
        &kube::core::ApiResource::erase::<Pod>(&()),
    );
    let dry_run = PostParams {
        dry_run: true,
        ..Default::default()
    };
    hardening_tests::eventually("the enforcing binding in effect", || {
        let api = enforced_pods.clone();
        let pod = pods[pods.len() - 1].clone();
        let params = dry_run.clone();
        async move {
            if api.create(&params, &dynamic(&pod)).await.is_err() {
                Ok(())
            } else {
                Err("admitted".to_owned())
            }
        }
    })
    .await;
    let audited_pods: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &audited,
        &kube::core::ApiResource::erase::<Pod>(&()),
    );
    let mut rejected_by_server = Vec::new();
    for pod in &pods {
        let name = pod["metadata"]["name"].as_str().unwrap().to_owned();
        match enforced_pods.create(&dry_run, &dynamic(pod)).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.message.contains("guardrail") => {
                rejected_by_server.push(name.clone())
            }
            Err(e) => panic!("{name}: {e}"),
        }
        audited_pods
            .create(&PostParams::default(), &dynamic(pod))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // The operator's own evaluation, as a pure function, agrees pod by pod.
        let typed: Pod = serde_json::from_value(pod.clone()).unwrap();
        let verdict = !evaluate_guardrails(&enforce, &typed).is_empty();
        assert_eq!(
            verdict,
            rejected_by_server.contains(&name),
            "{name}: preview {verdict}, API server the opposite"
        );
    }
    assert!(
        !rejected_by_server.is_empty() && rejected_by_server.len() < pods.len(),
        "{rejected_by_server:?}"
    );

    env.create_profile(&audit).await.unwrap();
    let expected = rejected_by_server.len() as u32;
    let status = env
        .status_where(&audit.name_any(), "the guardrails preview", |s| {
            match s.would_reject_pods {
                Some(n) if n == expected => Ok(()),
                _ => Err(format!("want wouldRejectPods {expected}")),
            }
        })
        .await;
    let entry = status
        .namespaces
        .iter()
        .find(|n| n.name == audited)
        .expect("listed");
    assert!(
        entry
            .would_reject
            .iter()
            .all(|r| rejected_by_server.contains(&r.pod)
                && r.reason.contains("(BSI SYS.1.6 (2023) ")),
        "{:?}",
        entry.would_reject
    );
    env.finish().await;
}

/// In Enforce mode the same judgement finds pods admitted before the rules were in place
/// (here: before the namespace was selected, so before its Pod Security labels): they keep
/// running, and the status names them, and forgets them once they are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforce_mode_reports_the_pods_admitted_before_the_rules() {
    let mut env = OperatorEnv::start("enforce-judged").await;
    // Not in the shard yet: nothing governs it.
    let ns = env.unselected_namespace().await;
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), &ns);
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": { "name": "privileged" },
            "spec": { "containers": [{ "name": "app", "image": "registry.example/app:1",
                                       "securityContext": { "privileged": true } }] }
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    let name = env
        .create_profile(&env.profile(
            "strict",
            json!({ "podSecurity": { "enforce": { "level": "restricted" } } }),
        ))
        .await
        .unwrap()
        .name_any();
    env.set_namespace_labels(&ns, json!({ SHARD_LABEL: env.shard }))
        .await;
    let status = env
        .status_where(&name, "the running privileged pod reported", |s| {
            let listed = s
                .namespaces
                .iter()
                .find(|n| n.name == ns)
                .and_then(|n| n.would_reject.first())
                .map(|r| (r.pod.clone(), r.reason.clone()));
            match (s.would_reject_pods, listed) {
                (Some(1), Some((pod, reason)))
                    if pod == "privileged" && reason.contains("privileged") =>
                {
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    assert_eq!(
        condition(&status, "ReadyToEnforce"),
        None,
        "an Audit-mode condition"
    );
    // The API server now rejects such a pod (the labels are in place), and the running one,
    // once deleted, is no longer reported.
    let again: Pod = serde_json::from_value(json!({
        "metadata": { "name": "privileged-2" },
        "spec": { "containers": [{ "name": "app", "image": "registry.example/app:1",
                                   "securityContext": { "privileged": true } }] }
    }))
    .unwrap();
    assert!(pods.create(&PostParams::default(), &again).await.is_err());
    pods.delete("privileged", &Default::default())
        .await
        .unwrap();
    env.status_where(&name, "no pod reported once it is gone", |s| {
        match s.would_reject_pods {
            Some(0) => Ok(()),
            other => Err(format!("wouldRejectPods {other:?}")),
        }
    })
    .await;
    env.finish().await;
}
