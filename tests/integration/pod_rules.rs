//! The pod rules of issue 22 (profiles, user namespaces, credentials, one service per
//! container, controllers, probes, highly available workloads, volume mounts) on the real
//! API server.
//!
//! The oracle is the API server itself: every pod below is sent (server-side dry-run) where
//! a profile with every rule enforces them, and the operator's own judgement
//! (`core::preview::evaluate_guardrails`, what the preview and the status run on every
//! running pod) must agree pod by pod, on the pod as written and as the API server stores
//! it (after the ServiceAccount admission plugin and defaulting): rejected by the same rule,
//! admitted, or (the one rule that only warns) admitted with the warning. Then the same pods
//! run where a profile only audits, and its status reports exactly the rejected ones.
//! Workloads: a Deployment whose pods break a rule is admitted, and its ReplicaSet says why
//! it has no pods; a workload labelled highly available with one replica is rejected.

use hardening_operator::core::compliance::guardrail_citation;
use hardening_operator::core::preview::evaluate_guardrails;
use hardening_operator::core::workloads::{JudgedPod, PodView};
use hardening_tests::profiles::condition;
use hardening_tests::requests::{dry_run, send};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DynamicObject, PostParams};
use kube::core::ApiResource;
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};

use crate::operator_env::OperatorEnv;

/// The rules of issue 22, each on.
fn rules() -> Value {
    json!({
        "requireProfiles": true,
        "requireUserNamespaces": true,
        "denySecretEnvLiterals": true,
        "denyServiceAccountToken": true,
        "denyDefaultServiceAccount": true,
        "oneServicePerContainer": true,
        "requireController": true,
        "requireProbes": true,
        "highAvailability": true,
        "requireReadOnlyMounts": true,
        "scratchVolumes": ["tmp"],
        "denyMountPropagation": true,
    })
}

fn spec(mode: &str, which: &str) -> Value {
    json!({
        "mode": mode,
        "namespaceSelector": { "matchLabels": { "pod-rules": which } },
        "seccomp": {},
        "apparmor": {},
        "guardrails": rules(),
    })
}

/// What a namespace holds for the pods below: the service account `app`, and owners
/// (a ConfigMap, a suspended Job) whose uids the pods' ownerReferences carry, so that the
/// garbage collector leaves the pods that are really created alone.
struct Owners {
    config_map: Value,
    job: Value,
}

async fn prepare(client: &Client, namespace: &str) -> Owners {
    let post = |object: Value| {
        let client = client.clone();
        let namespace = namespace.to_owned();
        async move {
            let (api_version, kind) = (
                object["apiVersion"].as_str().unwrap().to_owned(),
                object["kind"].as_str().unwrap().to_owned(),
            );
            let (group, version) = api_version.split_once('/').unwrap_or(("", &api_version));
            let resource =
                ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk(group, version, &kind));
            let api: Api<DynamicObject> = Api::namespaced_with(client, &namespace, &resource);
            let created = api
                .create(
                    &PostParams::default(),
                    &serde_json::from_value(object).unwrap(),
                )
                .await
                .unwrap_or_else(|e| panic!("{kind} in {namespace}: {e}"));
            json!({
                "apiVersion": api_version, "kind": kind,
                "name": created.name_any(), "uid": created.uid().unwrap(),
                "controller": true,
            })
        }
    };
    post(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "app"}})).await;
    let config_map =
        post(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}})).await;
    let job = post(json!({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "batch"},
        "spec": {"suspend": true, "template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "run", "image": "registry.example.com/run:1"}]}}},
    }))
    .await;
    // The ServiceAccount admission plugin needs `default` for pods that name none.
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(client.clone(), namespace);
    hardening_tests::eventually("the default service account", || {
        let accounts = accounts.clone();
        async move {
            accounts
                .get("default")
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
    .await;
    Owners { config_map, job }
}

/// A pod that keeps every rule of `profile`.
fn good_pod(name: &str, profile: &str, owners: &Owners) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": name, "ownerReferences": [owners.config_map] },
        "spec": {
            "serviceAccountName": "app",
            "automountServiceAccountToken": false,
            "hostUsers": false,
            "securityContext": {
                "seccompProfile": { "type": "Localhost", "localhostProfile": format!("hardening.dev/{profile}.json") },
                "appArmorProfile": { "type": "Localhost", "localhostProfile": format!("hardening.dev-{profile}") },
            },
            "volumes": [
                { "name": "tmp", "emptyDir": {} },
                { "name": "config", "configMap": { "name": "app-config" } },
            ],
            "containers": [{
                "name": "app", "image": "registry.example.com/app:1",
                "ports": [{ "containerPort": 8080 }],
                "env": [
                    { "name": "MODE", "value": "production" },
                    { "name": "DB_PASSWORD", "valueFrom": { "secretKeyRef": { "name": "db", "key": "password" } } },
                    { "name": "API_TOKEN", "value": "" },
                ],
                "volumeMounts": [
                    { "name": "tmp", "mountPath": "/tmp" },
                    { "name": "config", "mountPath": "/etc/app", "readOnly": true, "mountPropagation": "None" },
                ],
                "livenessProbe": { "tcpSocket": { "port": 8080 } },
                "readinessProbe": { "tcpSocket": { "port": 8080 } },
            }],
        },
    })
}

/// Each case: a name, what changes in the good pod, and the rule that must reject it (or
/// warn about it, for `oneServicePerContainer`); `None`: admitted without a word.
fn cases(profile: &str, owners: &Owners) -> Vec<(String, Value, Option<&'static str>)> {
    let edit = |name: &str, change: &dyn Fn(&mut Value)| {
        let mut pod = good_pod(name, profile, owners);
        change(&mut pod);
        pod
    };
    let mut cases: Vec<(String, Value, Option<&'static str>)> = Vec::new();
    let mut case = |name: &str, rule: Option<&'static str>, change: &dyn Fn(&mut Value)| {
        cases.push((name.to_owned(), edit(name, change), rule));
    };
    case("good", None, &|_| {});
    // requireProfiles: the container's own field wins, then the pre-1.30 AppArmor
    // annotation (which the API server copies into the container's field), then the pod's.
    case("seccomp-runtime-default", Some("requireProfiles"), &|p| {
        p["spec"]["securityContext"]["seccompProfile"] = json!({"type": "RuntimeDefault"});
    });
    case("seccomp-other-localhost", Some("requireProfiles"), &|p| {
        p["spec"]["securityContext"]["seccompProfile"] =
            json!({"type": "Localhost", "localhostProfile": "other.json"});
    });
    case("seccomp-container-level", None, &|p| {
        let seccomp = p["spec"]["securityContext"]["seccompProfile"].take();
        p["spec"]["securityContext"]
            .as_object_mut()
            .unwrap()
            .remove("seccompProfile");
        p["spec"]["containers"][0]["securityContext"] = json!({"seccompProfile": seccomp});
    });
    case(
        "apparmor-container-overrides",
        Some("requireProfiles"),
        &|p| {
            p["spec"]["containers"][0]["securityContext"] =
                json!({"appArmorProfile": {"type": "RuntimeDefault"}});
        },
    );
    case("apparmor-annotation", None, &|p| {
        p["spec"]["securityContext"]
            .as_object_mut()
            .unwrap()
            .remove("appArmorProfile");
        p["metadata"]["annotations"] = json!({
            "container.apparmor.security.beta.kubernetes.io/app": format!("localhost/hardening.dev-{profile}")
        });
    });
    case(
        "apparmor-annotation-overrides",
        Some("requireProfiles"),
        &|p| {
            p["metadata"]["annotations"] =
                json!({"container.apparmor.security.beta.kubernetes.io/app": "runtime/default"});
        },
    );
    case("init-unconfined", Some("requireProfiles"), &|p| {
        p["spec"]["initContainers"] = json!([{
            "name": "setup", "image": "registry.example.com/setup:1",
            "securityContext": {"seccompProfile": {"type": "Unconfined"}},
        }]);
    });
    case("init-confined", None, &|p| {
        p["spec"]["initContainers"] =
            json!([{"name": "setup", "image": "registry.example.com/setup:1"}]);
    });
    // requireUserNamespaces
    case("host-users", Some("requireUserNamespaces"), &|p| {
        p["spec"].as_object_mut().unwrap().remove("hostUsers");
    });
    case("host-users-true", Some("requireUserNamespaces"), &|p| {
        p["spec"]["hostUsers"] = json!(true);
    });
    // denySecretEnvLiterals
    case("secret-literal", Some("denySecretEnvLiterals"), &|p| {
        p["spec"]["containers"][0]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "Stripe_Api_Key", "value": "sk_live_0"}));
    });
    case("secret-literal-init", Some("denySecretEnvLiterals"), &|p| {
        p["spec"]["initContainers"] = json!([{
            "name": "setup", "image": "registry.example.com/setup:1",
            "env": [{"name": "ADMIN_PASSWD", "value": "hunter2"}],
        }]);
    });
    // denyServiceAccountToken
    case("token-automounted", Some("denyServiceAccountToken"), &|p| {
        p["spec"]
            .as_object_mut()
            .unwrap()
            .remove("automountServiceAccountToken");
    });
    case("token-opted-in", None, &|p| {
        p["spec"]
            .as_object_mut()
            .unwrap()
            .remove("automountServiceAccountToken");
        p["metadata"]["annotations"] = json!({"hardening.dev/service-account-token": "true"});
    });
    case("token-projected", Some("denyServiceAccountToken"), &|p| {
        p["spec"]["volumes"].as_array_mut().unwrap().push(json!({
            "name": "vault-token",
            "projected": {"sources": [{"serviceAccountToken": {"path": "token", "audience": "vault"}}]},
        }));
        p["spec"]["containers"][0]["volumeMounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "vault-token", "mountPath": "/var/run/vault", "readOnly": true}));
    });
    // denyDefaultServiceAccount (an unset name is `default` once admitted)
    case("account-unset", Some("denyDefaultServiceAccount"), &|p| {
        p["spec"]
            .as_object_mut()
            .unwrap()
            .remove("serviceAccountName");
    });
    case("account-default", Some("denyDefaultServiceAccount"), &|p| {
        p["spec"]["serviceAccountName"] = json!("default");
    });
    // requireController
    case("bare", Some("requireController"), &|p| {
        p["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("ownerReferences");
    });
    case("owned-not-controller", Some("requireController"), &|p| {
        p["metadata"]["ownerReferences"][0]["controller"] = json!(false);
    });
    // requireProbes
    case("no-readiness", Some("requireProbes"), &|p| {
        p["spec"]["containers"][0]
            .as_object_mut()
            .unwrap()
            .remove("readinessProbe");
    });
    case("no-probes", Some("requireProbes"), &|p| {
        let c = p["spec"]["containers"][0].as_object_mut().unwrap();
        c.remove("readinessProbe");
        c.remove("livenessProbe");
    });
    let job = owners.job.clone();
    case("job-without-probes", None, &move |p| {
        let c = p["spec"]["containers"][0].as_object_mut().unwrap();
        c.remove("readinessProbe");
        c.remove("livenessProbe");
        p["metadata"]["ownerReferences"] = json!([job]);
    });
    // requireReadOnlyMounts, denyMountPropagation
    case("writable-config", Some("requireReadOnlyMounts"), &|p| {
        p["spec"]["containers"][0]["volumeMounts"][1]["readOnly"] = json!(false);
    });
    case("undeclared-scratch", Some("requireReadOnlyMounts"), &|p| {
        p["spec"]["volumes"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "cache", "emptyDir": {}}));
        p["spec"]["containers"][0]["volumeMounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "cache", "mountPath": "/cache"}));
    });
    case(
        "scratch-name-not-scratch",
        Some("requireReadOnlyMounts"),
        &|p| {
            p["spec"]["volumes"][0] = json!({"name": "tmp", "configMap": {"name": "tmp"}});
        },
    );
    case("propagation", Some("denyMountPropagation"), &|p| {
        p["spec"]["containers"][0]["volumeMounts"][1]["mountPropagation"] =
            json!("HostToContainer");
    });
    // oneServicePerContainer: warns, never rejects
    case("two-ports", Some("oneServicePerContainer"), &|p| {
        p["spec"]["containers"][0]["ports"] =
            json!([{"containerPort": 8080}, {"containerPort": 9090, "name": "admin"}]);
    });
    case("one-port-two-protocols", None, &|p| {
        p["spec"]["containers"][0]["ports"] = json!([
            {"containerPort": 53, "protocol": "UDP"},
            {"containerPort": 53, "protocol": "TCP"}
        ]);
    });
    case("supervisor", Some("oneServicePerContainer"), &|p| {
        p["spec"]["containers"][0]["command"] = json!(["/usr/bin/supervisord", "-n"]);
    });
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_rules_judge_pods_as_the_admission_policy_does() {
    let mut env = OperatorEnv::start("pod-rules").await;
    let client = env.client.clone();
    let enforced = env.namespace(&[("pod-rules", "enforce")]).await;
    let audited = env.namespace(&[("pod-rules", "audit")]).await;
    let enforce = env.profile("enforce", spec("Enforce", "enforce"));
    let audit = env.profile("audit", spec("Audit", "audit"));
    env.create_profile(&enforce).await.unwrap();
    env.create_profile(&audit).await.unwrap();
    env.status_where(&enforce.name_any(), "guardrails enforced", |s| {
        match (condition(s, "GuardrailsEnforced"), s.in_sync_namespaces) {
            (Some(c), 1) if c.0 == "True" => Ok(()),
            _ => Err("want GuardrailsEnforced=True and the namespace in sync".into()),
        }
    })
    .await;
    let enforced_owners = prepare(&client, &enforced).await;
    let audited_owners = prepare(&client, &audited).await;
    let enforced_cases = cases(&enforce.name_any(), &enforced_owners);
    // The binding in effect: the good pod admitted (the namespace is stamped), a bad one
    // rejected.
    hardening_tests::eventually("the binding in effect", || {
        let client = client.clone();
        let enforced = enforced.clone();
        let good = enforced_cases[0].1.clone();
        let bad = enforced_cases[1].1.clone();
        async move {
            let (good, bad) = (
                dry_run(&client, &enforced, &good).await,
                dry_run(&client, &enforced, &bad).await,
            );
            match (good.code, bad.code) {
                (200..=299, 400..) => Ok(()),
                _ => Err(format!(
                    "good: {} {}; bad: {} {}",
                    good.code, good.body, bad.code, bad.body
                )),
            }
        }
    })
    .await;

    let audited_cases = cases(&audit.name_any(), &audited_owners);
    hardening_tests::eventually("the Audit binding in effect", || {
        let client = client.clone();
        let audited = audited.clone();
        let bad = audited_cases[1].1.clone();
        async move {
            let answer = dry_run(&client, &audited, &bad).await;
            match answer
                .warnings
                .iter()
                .any(|w| w.contains("guardrail requireProfiles"))
            {
                true => Ok(()),
                false => Err(format!(
                    "{} {} {:?}",
                    answer.code, answer.body, answer.warnings
                )),
            }
        }
    })
    .await;
    // The warnings' own policy and binding are loaded apart from the main ones (a busy API
    // server takes a while for each).
    let (_, warned_pod, _) = enforced_cases
        .iter()
        .find(|(_, _, rule)| *rule == Some("oneServicePerContainer"))
        .expect("a case of the warnings")
        .clone();
    hardening_tests::eventually("the warnings' binding in effect", || {
        let client = client.clone();
        let enforced = enforced.clone();
        let pod = warned_pod.clone();
        async move {
            let answer = dry_run(&client, &enforced, &pod).await;
            match answer
                .warnings
                .iter()
                .any(|w| w.contains("guardrail oneServicePerContainer"))
            {
                true => Ok(()),
                false => Err(format!(
                    "{} {} {:?}",
                    answer.code, answer.body, answer.warnings
                )),
            }
        }
    })
    .await;
    let mut rejected = Vec::new();
    for ((name, pod, rule), (_, audited_pod, _)) in enforced_cases.iter().zip(&audited_cases) {
        let answer = dry_run(&client, &enforced, pod).await;
        let warned: Vec<&String> = answer
            .warnings
            .iter()
            .filter(|w| w.contains("guardrail oneServicePerContainer"))
            .collect();
        let server: Option<&str> = match (answer.code, rule) {
            (200..=299, _) if !warned.is_empty() => Some("oneServicePerContainer"),
            (200..=299, _) => None,
            (_, Some(rule)) if answer.body.contains(&format!("guardrail {rule} (")) => Some(*rule),
            _ => panic!("{name}: {} {}", answer.code, answer.body),
        };
        assert_eq!(
            server, *rule,
            "{name}: the API server: {} {} {:?}",
            answer.code, answer.body, answer.warnings
        );
        if let (Some(rule), false) = (rule, answer.code < 300) {
            let named = format!("guardrail {rule} ({})", guardrail_citation(rule));
            assert!(answer.body.contains(&named), "{name}: {}", answer.body);
            rejected.push(name.clone());
        }
        // The operator's judgement, on the pod as written and as the API server stores it
        // (the dry-run's answer where nothing rejects).
        let typed: Pod = serde_json::from_value(pod.clone()).unwrap();
        let stored = dry_run(&client, &audited, audited_pod).await;
        assert!(stored.code < 300, "{name} in Audit mode: {}", stored.body);
        let stored: Pod = serde_json::from_str(&stored.body).unwrap();
        // ... and as the operator's pod cache keeps it (names of literal variables only, a
        // command's first word, the controller), which is what it judges running pods by.
        let view: PodView = serde_json::from_value(serde_json::to_value(&stored).unwrap()).unwrap();
        let cached = JudgedPod::of(&view).pod();
        for (what, profile, pod) in [
            ("as written", &enforce, &typed),
            ("as stored", &audit, &stored),
            ("as cached", &audit, &cached),
        ] {
            let findings = evaluate_guardrails(profile, pod);
            let rules: Vec<&str> = findings.iter().map(|f| f.rule).collect();
            assert_eq!(
                rules.first().copied(),
                *rule,
                "{name} {what}: the preview found {findings:?}"
            );
            assert!(
                rules.len() <= 1,
                "{name} {what}: one rule broken only: {findings:?}"
            );
        }
    }
    // Audit mode admits every pod, with the rule's message as a warning. (Not the pod of
    // the suspended Job: the Job controller releases or deletes pods its selector does not
    // match, and the released pod would then break requireController.)
    let mut created = 0;
    for (name, pod, rule) in audited_cases
        .iter()
        .filter(|(n, ..)| n != "job-without-probes")
    {
        created += 1;
        let answer = send(
            &client,
            "POST",
            &format!("/api/v1/namespaces/{audited}/pods"),
            Some(pod),
        )
        .await;
        assert!(answer.code < 300, "{name}: {}", answer.body);
        let warned = rule.is_some_and(|rule| {
            answer
                .warnings
                .iter()
                .any(|w| w.contains(&format!("guardrail {rule} (")))
        });
        assert_eq!(warned, rule.is_some(), "{name}: {:?}", answer.warnings);
    }
    eprintln!(
        "{} pods: {} rejected where enforced, the rest admitted ({} with a warning)",
        enforced_cases.len(),
        rejected.len(),
        enforced_cases
            .iter()
            .filter(|(_, _, r)| *r == Some("oneServicePerContainer"))
            .count()
    );
    assert_eq!(created + 1, audited_cases.len());
    let expected = rejected.len() as u32;
    let status = env
        .status_where(
            &audit.name_any(),
            "the preview of the pod rules",
            |s| match s.would_reject_pods {
                Some(n) if n == expected => Ok(()),
                other => Err(format!("want wouldRejectPods {expected}, have {other:?}")),
            },
        )
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
            .all(|r| r.reason.contains("(BSI ")),
        "{:?}",
        entry.would_reject
    );

    // Ephemeral containers (`kubectl debug`: an UPDATE of pods/ephemeralcontainers) are
    // judged by the container rules too, on the running pod where the rules are enforced.
    let target = good_pod("debug-target", &enforce.name_any(), &enforced_owners);
    let answer = send(
        &client,
        "POST",
        &format!("/api/v1/namespaces/{enforced}/pods"),
        Some(&target),
    )
    .await;
    assert!(answer.code < 300, "the target pod: {}", answer.body);
    let stored: Value = serde_json::from_str(&answer.body).unwrap();
    let debug = |change: &dyn Fn(&mut Value)| {
        let mut container = json!({
            "name": "debug", "image": "registry.example.com/debug:1", "targetContainerName": "app",
        });
        change(&mut container);
        container
    };
    let ephemeral_cases: [(&str, Value, Option<&str>); 5] = [
        ("ephemeral-confined", debug(&|_| {}), None),
        (
            "ephemeral-unconfined",
            debug(&|c| c["securityContext"] = json!({"seccompProfile": {"type": "Unconfined"}})),
            Some("requireProfiles"),
        ),
        (
            "ephemeral-other-apparmor",
            debug(&|c| {
                c["securityContext"] = json!({"appArmorProfile": {"type": "RuntimeDefault"}})
            }),
            Some("requireProfiles"),
        ),
        (
            "ephemeral-secret-literal",
            debug(&|c| c["env"] = json!([{"name": "ROOT_PASSWORD", "value": "hunter2"}])),
            Some("denySecretEnvLiterals"),
        ),
        (
            "ephemeral-writable-mount",
            debug(&|c| c["volumeMounts"] = json!([{"name": "config", "mountPath": "/config"}])),
            Some("requireReadOnlyMounts"),
        ),
    ];
    for (name, container, rule) in ephemeral_cases {
        let answer = send(
            &client,
            "PATCH",
            &format!(
                "/api/v1/namespaces/{enforced}/pods/debug-target/ephemeralcontainers?dryRun=All"
            ),
            Some(&json!({"spec": {"ephemeralContainers": [container]}})),
        )
        .await;
        let server = match (answer.code, rule) {
            (200..=299, _) => None,
            (_, Some(rule)) if answer.body.contains(&format!("guardrail {rule} (")) => Some(rule),
            _ => panic!("{name}: {} {}", answer.code, answer.body),
        };
        assert_eq!(server, rule, "{name}: {} {}", answer.code, answer.body);
        // The operator's judgement of the pod with the ephemeral container, as the API
        // server would store it.
        let mut pod = stored.clone();
        pod["spec"]["ephemeralContainers"] = json!([container]);
        let pod: Pod = serde_json::from_value(pod).unwrap();
        let findings = evaluate_guardrails(&enforce, &pod);
        let rules: Vec<&str> = findings.iter().map(|f| f.rule).collect();
        assert_eq!(
            rules.first().copied(),
            rule,
            "{name}: the preview found {findings:?}"
        );
        assert!(
            rules.len() <= 1,
            "{name}: one rule broken only: {findings:?}"
        );
    }
    env.finish().await;
}

fn workload(kind: &str, name: &str, replicas: i64, highly_available: bool, probes: bool) -> Value {
    let mut labels = json!({ "app": name });
    if highly_available {
        labels["hardening.dev/high-availability"] = json!("true");
    }
    let mut container = json!({ "name": "app", "image": "registry.example.com/app:1" });
    if probes {
        container["livenessProbe"] = json!({ "tcpSocket": { "port": 8080 } });
        container["readinessProbe"] = json!({ "tcpSocket": { "port": 8080 } });
    }
    let mut object = json!({
        "apiVersion": "apps/v1", "kind": kind,
        "metadata": { "name": name },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": labels },
                "spec": { "containers": [container] },
            },
        },
    });
    if kind == "StatefulSet" {
        object["spec"]["serviceName"] = json!(name);
    }
    object
}

/// Workloads are not pods: a Deployment whose pods break a rule is admitted, and its
/// ReplicaSet says why it has no pods (the rule's message); a Deployment whose pods keep the
/// rules gets them (their controller satisfies requireController). A workload labelled highly
/// available is rejected with one replica, in every kind, on creation and on an update that
/// lowers its replicas; a ReplicaSet a Deployment owns is left to its Deployment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workloads_whose_pods_break_a_rule_are_admitted_and_say_why() {
    let mut env = OperatorEnv::start("pod-workloads").await;
    let client = env.client.clone();
    let ns = env.namespace(&[]).await;
    let profile = env.profile(
        "enforce",
        json!({ "guardrails": { "requireController": true, "requireProbes": true, "highAvailability": true } }),
    );
    let name = profile.name_any();
    env.create_profile(&profile).await.unwrap();
    env.status_where(&name, "guardrails enforced", |s| {
        match (condition(s, "GuardrailsEnforced"), s.in_sync_namespaces) {
            (Some(c), 1) if c.0 == "True" => Ok(()),
            _ => Err("want GuardrailsEnforced=True and the namespace in sync".into()),
        }
    })
    .await;
    hardening_tests::eventually("the binding in effect", || {
        let client = client.clone();
        let ns = ns.clone();
        async move {
            let answer = dry_run(
                &client,
                &ns,
                &workload("Deployment", "probe", 1, true, true),
            )
            .await;
            (answer.code >= 400)
                .then_some(())
                .ok_or(format!("{} {}", answer.code, answer.body))
        }
    })
    .await;

    // Highly available workloads with one replica: rejected in every kind.
    for kind in ["Deployment", "StatefulSet", "ReplicaSet"] {
        let answer = dry_run(&client, &ns, &workload(kind, "single", 1, true, true)).await;
        let named = format!(
            "guardrail highAvailability ({})",
            guardrail_citation("highAvailability")
        );
        assert!(
            answer.code >= 400
                && answer.body.contains(&named)
                && answer.body.contains(&format!("{kind} single is labelled")),
            "{kind}: {} {}",
            answer.code,
            answer.body
        );
        for (what, object) in [
            ("two replicas", workload(kind, "pair", 2, true, true)),
            ("switched off", workload(kind, "off", 0, true, true)),
            ("not labelled", workload(kind, "plain", 1, false, true)),
        ] {
            let answer = dry_run(&client, &ns, &object).await;
            assert!(
                answer.code < 300,
                "{kind} {what}: {} {}",
                answer.code,
                answer.body
            );
        }
    }

    let deployments: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &ns,
        &ApiResource::erase::<k8s_openapi::api::apps::v1::Deployment>(&()),
    );
    let replica_sets: Api<k8s_openapi::api::apps::v1::ReplicaSet> =
        Api::namespaced(client.clone(), &ns);
    let create = |object: Value| {
        let deployments = deployments.clone();
        async move {
            deployments
                .create(
                    &PostParams::default(),
                    &serde_json::from_value(object).unwrap(),
                )
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        }
    };
    // A Deployment whose pods have no probes: admitted; its ReplicaSet cannot create them.
    create(workload("Deployment", "unprobed", 2, false, false)).await;
    let failure = hardening_tests::eventually("the ReplicaSet to report the rule", || {
        let replica_sets = replica_sets.clone();
        async move {
            let list = replica_sets
                .list(&Default::default())
                .await
                .map_err(|e| e.to_string())?;
            list.items
                .iter()
                .filter(|rs| rs.name_any().starts_with("unprobed-"))
                .flat_map(|rs| rs.status.iter().flat_map(|s| s.conditions.iter().flatten()))
                .find(|c| c.type_ == "ReplicaFailure" && c.status == "True")
                .map(|c| (c.reason.clone(), c.message.clone()))
                .ok_or_else(|| "no ReplicaFailure yet".to_owned())
        }
    })
    .await;
    assert_eq!(failure.0.as_deref(), Some("FailedCreate"), "{failure:?}");
    let message = failure.1.unwrap_or_default();
    assert!(
        message.contains(&format!(
            "guardrail requireProbes ({})",
            guardrail_citation("requireProbes")
        )) && message.contains("has neither livenessProbe nor readinessProbe"),
        "{message}"
    );
    // A highly available Deployment with probes: admitted, its pods created (their controller
    // keeps requireController), and scaling it down to one replica is rejected.
    create(workload("Deployment", "available", 2, true, true)).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    hardening_tests::eventually("the Deployment's pods created", || {
        let pods = pods.clone();
        async move {
            let list = pods
                .list(&Default::default())
                .await
                .map_err(|e| e.to_string())?;
            let created = list
                .items
                .iter()
                .filter(|p| p.name_any().starts_with("available-"))
                .count();
            (created == 2)
                .then_some(())
                .ok_or(format!("{created} pods"))
        }
    })
    .await;
    let answer = send(
        &client,
        "PATCH",
        &format!("/apis/apps/v1/namespaces/{ns}/deployments/available"),
        Some(&json!({ "spec": { "replicas": 1 } })),
    )
    .await;
    assert!(
        answer.code >= 400 && answer.body.contains("guardrail highAvailability"),
        "{} {}",
        answer.code,
        answer.body
    );
    // What admission cannot judge, reported on the running pods: no PodDisruptionBudget
    // protects the Deployment's pods, and a StatefulSet asking for 2 runs 1 (its second pod
    // waits for the first to be ready, and no node runs it).
    let set = send(
        &client,
        "POST",
        &format!("/apis/apps/v1/namespaces/{ns}/statefulsets"),
        Some(&workload("StatefulSet", "ordered", 2, true, true)),
    )
    .await;
    assert!(set.code < 300, "{}", set.body);
    let reported = |s: &hardening_operator::core::api::HardeningProfileStatus, pod: &str| {
        s.namespaces
            .iter()
            .flat_map(|n| &n.would_reject)
            .find(|r| r.pod.starts_with(pod))
            .map(|r| r.reason.clone())
    };
    let status = env
        .status_where(&name, "highly available pods reported", |s| {
            match (reported(s, "available-"), reported(s, "ordered-0")) {
                (Some(a), Some(o))
                    if a.contains("no PodDisruptionBudget selects it")
                        && o.contains("its StatefulSet ordered runs 1 such pod") =>
                {
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    let finding = reported(&status, "available-").unwrap();
    assert!(
        finding.starts_with(&format!(
            "guardrail highAvailability ({}, reported, not rejected): ",
            guardrail_citation("highAvailability")
        )),
        "{finding}"
    );
    assert_eq!(
        status.would_reject_pods,
        Some(0),
        "reported, not counted as pods enforcing would reject"
    );
    let a25 = status
        .compliance
        .iter()
        .find(|c| c.id == "SYS.1.6.A25")
        .unwrap();
    assert_eq!(
        a25.verdict,
        hardening_operator::core::api::Verdict::NotMet,
        "{}",
        a25.reason
    );
    // A budget for the Deployment's pods: they are no longer reported.
    let budget = send(
        &client,
        "POST",
        &format!("/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets"),
        Some(&json!({
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": { "name": "available" },
            "spec": { "minAvailable": 1, "selector": { "matchLabels": { "app": "available" } } },
        })),
    )
    .await;
    assert!(budget.code < 300, "{}", budget.body);
    env.status_where(&name, "the protected pods no longer reported", |s| {
        match (reported(s, "available-"), reported(s, "ordered-0")) {
            (None, Some(_)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    env.finish().await;
}

/// Credentials (issue 22 item 3): a profile with a credential guardrail lists who may read
/// Secrets: everywhere (a ClusterRoleBinding) and per governed namespace (its RoleBindings,
/// to a Role or a ClusterRole that allows `get`, `list` or `watch` on Secrets), and follows
/// a binding's removal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_may_read_secrets_is_listed_per_governed_namespace() {
    use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, Role, RoleBinding};
    let mut env = OperatorEnv::start("secret-readers").await;
    let client = env.client.clone();
    let ns = env.namespace(&[]).await;
    let quiet = env.namespace(&[]).await;
    let profile = env.profile(
        "credentials",
        json!({ "guardrails": { "denySecretEnvLiterals": true } }),
    );
    let name = profile.name_any();
    env.create_profile(&profile).await.unwrap();
    let post = PostParams::default();
    let roles: Api<Role> = Api::namespaced(client.clone(), &ns);
    roles
        .create(
            &post,
            &serde_json::from_value(json!({
                "metadata": { "name": "db-password" },
                "rules": [{ "apiGroups": [""], "resources": ["secrets"], "resourceNames": ["db"], "verbs": ["get"] }],
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &ns);
    for (binding, kind, role, subject) in [
        (
            "app",
            "Role",
            "db-password",
            json!({ "kind": "ServiceAccount", "name": "app" }),
        ),
        (
            "editors",
            "ClusterRole",
            "edit",
            json!({ "kind": "Group", "name": "shop-editors", "apiGroup": "rbac.authorization.k8s.io" }),
        ),
        (
            "viewers",
            "ClusterRole",
            "view",
            json!({ "kind": "Group", "name": "shop-viewers", "apiGroup": "rbac.authorization.k8s.io" }),
        ),
    ] {
        bindings
            .create(
                &post,
                &serde_json::from_value(json!({
                    "metadata": { "name": binding },
                    "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role },
                    "subjects": [subject],
                }))
                .unwrap(),
            )
            .await
            .unwrap();
    }
    // Everywhere: a group that sorts first, so that it is among the subjects listed.
    let everywhere = format!("a-{}-auditors", env.shard);
    let cluster_bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    cluster_bindings
        .create(
            &post,
            &serde_json::from_value(json!({
                "metadata": { "name": everywhere },
                "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin" },
                "subjects": [{ "kind": "Group", "name": everywhere, "apiGroup": "rbac.authorization.k8s.io" }],
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let status = env
        .status_where(&name, "who may read Secrets", |s| {
            let readers = s.secret_readers.as_ref().ok_or("no secretReaders")?;
            let here = readers.namespaces.iter().find(|n| n.name == ns);
            match here {
                Some(n)
                    if n.listed
                        == [
                            "Group shop-editors",
                            format!("ServiceAccount {ns}/app").as_str(),
                        ]
                        && readers.cluster_wide.listed.first()
                            == Some(&format!("Group {everywhere}")) =>
                {
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    let readers = status.secret_readers.unwrap();
    assert!(
        readers.namespaces.iter().all(|n| n.name != quiet),
        "a namespace without such bindings is not listed: {readers:?}"
    );
    assert!(readers.cluster_wide.count >= 1);
    // The binding gone, the subject goes.
    bindings
        .delete("editors", &Default::default())
        .await
        .unwrap();
    cluster_bindings
        .delete(&everywhere, &Default::default())
        .await
        .unwrap();
    env.status_where(&name, "the removed bindings forgotten", |s| {
        let readers = s.secret_readers.as_ref().ok_or("no secretReaders")?;
        let here = readers
            .namespaces
            .iter()
            .find(|n| n.name == ns)
            .map(|n| n.listed.clone());
        match here {
            Some(listed)
                if listed == [format!("ServiceAccount {ns}/app")]
                    && !readers
                        .cluster_wide
                        .listed
                        .contains(&format!("Group {everywhere}")) =>
            {
                Ok(())
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    env.finish().await;
}

/// Generated pods, each a random mix of what the cases above change one at a time (images,
/// the root file system, seccomp and AppArmor, literal secrets, probes, mounts, user
/// namespaces, tokens, service accounts, controllers, ports and supervisors, in the main
/// and an init container), sent (dry run) where a profile with every rule (the image rules
/// too) enforces them: the API server admits exactly those in which the operator's own
/// judgement finds no rule broken, rejects the others naming one of the rules it finds, and
/// warns exactly when it finds `oneServicePerContainer`. A third of the pods keep every
/// rule, half break exactly one (so that a rule the policy misses shows), the rest any
/// number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_pods_are_judged_as_the_operator_judges_them() {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

    let mut env = OperatorEnv::start("pod-rules-generated").await;
    let client = env.client.clone();
    let namespace = env.namespace(&[("pod-rules", "generated")]).await;
    let mut rules = rules();
    rules["allowedRegistries"] = json!(["registry.example.com"]);
    rules["requireImageTag"] = json!(true);
    rules["requireReadOnlyRootFilesystem"] = json!(true);
    let profile = env.profile(
        "generated",
        json!({
            "mode": "Enforce",
            "namespaceSelector": { "matchLabels": { "pod-rules": "generated" } },
            "seccomp": {},
            "apparmor": {},
            "guardrails": rules,
        }),
    );
    env.create_profile(&profile).await.unwrap();
    let name = profile.name_any();
    let owners = prepare(&client, &namespace).await;
    let good = good_pod("probe", &name, &owners);
    let mut good_read_only = good.clone();
    good_read_only["spec"]["containers"][0]["securityContext"] =
        json!({ "readOnlyRootFilesystem": true });
    hardening_tests::eventually("the binding in effect", || {
        let (client, namespace, pod) = (client.clone(), namespace.clone(), good_read_only.clone());
        let mut bad = pod.clone();
        bad["spec"]["hostUsers"] = json!(true);
        async move {
            let (good, bad) = (
                dry_run(&client, &namespace, &pod).await,
                dry_run(&client, &namespace, &bad).await,
            );
            let warnings_loaded = {
                let mut two = pod.clone();
                two["spec"]["containers"][0]["command"] = json!(["supervisord"]);
                dry_run(&client, &namespace, &two)
                    .await
                    .warnings
                    .iter()
                    .any(|w| w.contains("guardrail oneServicePerContainer"))
            };
            match (good.code, bad.code, warnings_loaded) {
                (200..=299, 400.., true) => Ok(()),
                _ => Err(format!(
                    "good: {} {}; bad: {} {}",
                    good.code, good.body, bad.code, bad.body
                )),
            }
        }
    })
    .await;

    // One container's settings, as flags and choices.
    let container = || {
        (
            prop::sample::select(vec![
                "registry.example.com/app:1",
                "registry.example.com/app",
                "registry.example.com/app:latest",
                "nginx:1",
                "registry.example.com:5000/app:1",
                "registry.example.com/app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            ]),
            any::<bool>(), // read-only root
            prop::sample::select(vec!["pod", "own", "runtime", "unconfined"]), // seccomp
            prop::sample::select(vec!["pod", "own", "runtime", "annotation"]), // AppArmor
            prop::sample::select(vec!["", "MODE", "DB_PASSWORD", "api-key"]), // literal env
            (0..3u8, any::<bool>(), any::<bool>()), // probes; writable mount; propagation
            (1..3usize, any::<bool>()), // ports; supervisor
        )
    };
    // A third of the pods keep every rule but what only warns, half break one (a clean pod
    // with one setting as generated: a rule the policy missed would let it in), the others
    // break any number.
    let pod_strategy = (
        (
            prop::sample::select(vec![0u8, 0, 0, 1, 1, 1, 1, 1, 2, 2]),
            0..13usize,
        ),
        container(),
        prop::option::of(container()),
        any::<bool>(),                                         // hostUsers: false
        any::<bool>(),                                         // automount off
        prop::sample::select(vec!["app", "default", "unset"]), // service account
        prop::sample::select(vec!["config-map", "none", "job", "not-controller"]), // owner
    );
    let build = |case: usize, generated: &Generated| {
        let pod = good_pod(&format!("generated-{case}"), &name, &owners);
        let ((regime, defect), main, init, host_users, no_token, account, owner) = *generated;
        if regime == 2 {
            return generated_pod(pod, &name, &owners, generated);
        }
        // Only the image (of the allowed ones) and what only warns as generated ...
        let keep = |c: &GeneratedContainer| -> GeneratedContainer {
            let image = if c.0.contains('@') {
                c.0
            } else {
                "registry.example.com/app:1"
            };
            (image, true, "pod", "pod", "MODE", (2, false, false), c.6)
        };
        let mut clean = (
            (0, 0),
            keep(&main),
            init.as_ref().map(keep),
            true,
            true,
            "app",
            "config-map",
        );
        // ... and for one defect, one setting as generated.
        if regime == 1 {
            let c = &mut clean.1;
            match defect {
                0 => c.0 = main.0,
                1 => c.1 = main.1,
                2 => c.2 = main.2,
                3 => c.3 = main.3,
                4 => c.4 = main.4,
                5 => c.5.0 = main.5.0,
                6 => c.5.1 = main.5.1,
                7 => c.5.2 = main.5.2,
                8 => clean.2 = init,
                9 => clean.3 = host_users,
                10 => clean.4 = no_token,
                11 => clean.5 = account,
                _ => clean.6 = owner,
            }
        }
        generated_pod(pod, &name, &owners, &clean)
    };
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[26; 32]),
    );
    let (mut admitted, mut rejected, mut warned) = (0, 0, 0);
    // By the operator's judgement: pods that break no rule (the main policy's
    // matchCondition skips them, and the warnings policy's too unless they may warn) and
    // pods that break exactly one (each judged in full).
    let (mut clean, mut one_rule) = (0, 0);
    for case in 0..100 {
        let generated = pod_strategy.new_tree(&mut runner).unwrap().current();
        let pod = build(case, &generated);
        let answer = dry_run(&client, &namespace, &pod).await;
        let typed: Pod = serde_json::from_value(pod.clone()).unwrap();
        let findings = evaluate_guardrails(&profile, &typed);
        let rejecting: Vec<&str> = findings
            .iter()
            .map(|f| f.rule)
            .filter(|r| *r != "oneServicePerContainer")
            .collect();
        let warns = answer
            .warnings
            .iter()
            .any(|w| w.contains("guardrail oneServicePerContainer ("));
        let broken: std::collections::BTreeSet<&str> = rejecting.iter().copied().collect();
        clean += usize::from(broken.is_empty());
        one_rule += usize::from(broken.len() == 1);
        let context = format!(
            "case {case}: {pod}\nthe API server: {} {} {:?}\nthe operator: {findings:?}",
            answer.code, answer.body, answer.warnings
        );
        if answer.code < 300 {
            admitted += 1;
            assert!(rejecting.is_empty(), "admitted, but {context}");
            assert_eq!(
                warns,
                findings.iter().any(|f| f.rule == "oneServicePerContainer"),
                "{context}"
            );
            warned += usize::from(warns);
        } else {
            rejected += 1;
            assert!(
                rejecting
                    .iter()
                    .any(|rule| answer.body.contains(&format!("guardrail {rule} ("))),
                "rejected by another rule, or by none the operator finds: {context}"
            );
        }
    }
    eprintln!(
        "100 generated pods: {admitted} admitted ({warned} with the warning), {rejected} rejected; {clean} break no rule, {one_rule} exactly one"
    );
    assert!(admitted > 0 && rejected > 0, "both verdicts generated");
    assert!(
        clean > 0 && warned > 0 && warned < clean && one_rule > 0,
        "skipped pods, warned ones, and pods breaking one rule generated"
    );
    env.finish().await;
}

/// One generated container: image, read-only root, seccomp, AppArmor, literal variable,
/// (probes, writable mount, propagation), (ports, supervisor).
type GeneratedContainer = (
    &'static str,
    bool,
    &'static str,
    &'static str,
    &'static str,
    (u8, bool, bool),
    (usize, bool),
);
/// One generated pod: (clean, one defect or any, which setting is the defect), main
/// container, init container, `hostUsers: false`, no token, service account, owner.
type Generated = (
    (u8, usize),
    GeneratedContainer,
    Option<GeneratedContainer>,
    bool,
    bool,
    &'static str,
    &'static str,
);

/// [`good_pod`] `pod` changed as `generated` says (its first field not read).
fn generated_pod(mut pod: Value, profile: &str, owners: &Owners, generated: &Generated) -> Value {
    let (_, main, init, host_users, no_token, account, owner) = generated;
    let set = |pod: &mut Value, c: &GeneratedContainer, regular: bool| {
        let (
            image,
            read_only,
            seccomp,
            apparmor,
            env,
            (probes, writable, propagation),
            (ports, supervisor),
        ) = *c;
        let container_name = if regular { "app" } else { "setup" };
        let mut c = json!({
            "name": container_name,
            "image": image,
            "securityContext": { "readOnlyRootFilesystem": read_only },
            "volumeMounts": [
                { "name": "tmp", "mountPath": "/tmp" },
                { "name": "config", "mountPath": "/etc/app", "readOnly": !writable,
                  "mountPropagation": if propagation { "HostToContainer" } else { "None" } },
            ],
        });
        match seccomp {
            "own" => {
                c["securityContext"]["seccompProfile"] = json!({"type": "Localhost", "localhostProfile": format!("hardening.dev/{profile}.json")})
            }
            "runtime" => c["securityContext"]["seccompProfile"] = json!({"type": "RuntimeDefault"}),
            "unconfined" => c["securityContext"]["seccompProfile"] = json!({"type": "Unconfined"}),
            _ => {}
        }
        match apparmor {
            "own" => {
                c["securityContext"]["appArmorProfile"] = json!({"type": "Localhost", "localhostProfile": format!("hardening.dev-{profile}")})
            }
            "runtime" => {
                c["securityContext"]["appArmorProfile"] = json!({"type": "RuntimeDefault"})
            }
            "annotation" => {
                pod["metadata"]["annotations"]
                    [format!("container.apparmor.security.beta.kubernetes.io/{container_name}")] =
                    json!("runtime/default");
            }
            _ => {}
        }
        if !env.is_empty() {
            c["env"] = json!([{ "name": env, "value": "x" }]);
        }
        if regular {
            let probe = json!({ "tcpSocket": { "port": 8080 } });
            if probes >= 1 {
                c["livenessProbe"] = probe.clone();
            }
            if probes >= 2 {
                c["readinessProbe"] = probe;
            }
        }
        c["ports"] = json!(
            (0..ports)
                .map(|i| json!({"containerPort": 8080 + i}))
                .collect::<Vec<_>>()
        );
        if supervisor {
            c["command"] = json!(["/usr/bin/supervisord", "-n"]);
        }
        let list = if regular {
            "containers"
        } else {
            "initContainers"
        };
        pod["spec"][list] = json!([c]);
    };
    set(&mut pod, main, true);
    if let Some(init) = init {
        set(&mut pod, init, false);
    }
    if !host_users {
        pod["spec"]["hostUsers"] = json!(true);
    }
    if !no_token {
        pod["spec"]
            .as_object_mut()
            .unwrap()
            .remove("automountServiceAccountToken");
    }
    match *account {
        "default" => pod["spec"]["serviceAccountName"] = json!("default"),
        "unset" => {
            pod["spec"]
                .as_object_mut()
                .unwrap()
                .remove("serviceAccountName");
        }
        _ => {}
    }
    match *owner {
        "none" => {
            pod["metadata"]
                .as_object_mut()
                .unwrap()
                .remove("ownerReferences");
        }
        "job" => pod["metadata"]["ownerReferences"] = json!([owners.job]),
        "not-controller" => pod["metadata"]["ownerReferences"][0]["controller"] = json!(false),
        _ => {}
    }
    pod
}
