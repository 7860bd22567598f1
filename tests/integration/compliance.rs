//! The compliance verdicts on a real API server (issue 20 item 6): the claims the examples
//! make hold on the cluster (a privileged pod is rejected, images from elsewhere or without a
//! version are rejected, a writable root file system is rejected, memory and CPU limits are
//! defaulted, the NetworkPolicies deny both directions and allow only what the profile lists),
//! and a table of profile x cluster-state cases whose state needs the API server (tenant
//! policies, hand edits, pods admitted before a profile, labels set by hand under an Audit
//! profile) gives the verdicts README "Requirements and verdicts" states. Traffic itself is
//! not sent: the test node's CNI does not enforce NetworkPolicies (README "The test node"),
//! so what is proven is the objects and their content, not that packets are dropped.

use std::path::Path;

use hardening_operator::core::api::{HardeningProfile, HardeningProfileStatus, Verdict};
use hardening_tests::profiles::condition;
use http::Request;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};

use crate::operator_env::{OperatorEnv, SHARD_LABEL};

/// Status code and body of a server-side dry-run create of `pod` in `namespace`.
async fn dry_run_pod(client: &Client, namespace: &str, pod: &Value) -> (u16, String) {
    let request = Request::builder()
        .method("POST")
        .uri(format!("/api/v1/namespaces/{namespace}/pods?dryRun=All"))
        .header("Content-Type", "application/json")
        .body(pod.to_string().into_bytes())
        .expect("a request");
    let response = client
        .send(request.map(kube::client::Body::from))
        .await
        .expect("the API server answers");
    let code = response.status().as_u16();
    let body = response
        .into_body()
        .collect_bytes()
        .await
        .unwrap_or_default();
    (code, String::from_utf8_lossy(&body).into_owned())
}

/// A pod `restricted` Pod Security and the guardrails of the bsi-strict example named
/// `profile` admit (its seccomp and AppArmor profiles, a service account of its own and no
/// token, a controller, probes), changed by `edit`. Only ever sent as a dry-run, so the
/// controller's uid need not exist.
fn compliant_pod(profile: &str, name: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": name, "ownerReferences": [{
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "app",
            "uid": "00000000-0000-0000-0000-000000000001", "controller": true,
        }] },
        "spec": {
            "serviceAccountName": "app",
            "automountServiceAccountToken": false,
            "securityContext": { "runAsNonRoot": true, "runAsUser": 1000,
                                 "seccompProfile": { "type": "Localhost", "localhostProfile": format!("hardening.dev/{profile}.json") },
                                 "appArmorProfile": { "type": "Localhost", "localhostProfile": format!("hardening.dev-{profile}") } },
            "containers": [{
                "name": "app", "image": "registry.example/app:1.0", "imagePullPolicy": "Never",
                "securityContext": { "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                                     "capabilities": { "drop": ["ALL"] } },
                "livenessProbe": { "tcpSocket": { "port": 8080 } },
                "readinessProbe": { "tcpSocket": { "port": 8080 } },
            }],
        },
    });
    edit(&mut pod);
    pod
}

fn entry<'a>(
    status: &'a HardeningProfileStatus,
    id: &str,
) -> &'a hardening_operator::core::api::RequirementStatus {
    status
        .compliance
        .iter()
        .find(|e| e.id == id)
        .unwrap_or_else(|| panic!("no {id} in {:?}", status.compliance))
}

/// examples/bsi-strict.yaml as written, but for its selector (this test's namespace only).
fn strict_example(env: &OperatorEnv) -> HardeningProfile {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/bsi-strict.yaml"),
    )
    .unwrap();
    let example: HardeningProfile = serde_yaml_ng::from_str(&text).unwrap();
    let mut spec = serde_json::to_value(&example.spec).unwrap();
    spec["namespaceSelector"] =
        json!({ "matchLabels": { SHARD_LABEL: env.shard, "example": "bsi-strict" } });
    env.profile("bsi-strict", spec)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_strict_example_claims_holds_on_the_cluster() {
    let mut env = OperatorEnv::start("claims").await;
    let ns = env.namespace(&[("example", "bsi-strict")]).await;
    let profile = strict_example(&env);
    let name = env.create_profile(&profile).await.unwrap().name_any();
    Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(env.client.clone(), &ns)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({ "metadata": { "name": "app" } })).unwrap(),
        )
        .await
        .unwrap();
    let status = env
        .status_where(&name, "Ready and guardrails enforced", |s| {
            match (condition(s, "Ready"), condition(s, "GuardrailsEnforced")) {
                (Some(r), Some(g)) if r.0 == "True" && g.0 == "True" => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    let client = env.client.clone();
    // The API server enforces a new admission policy binding once its own cache has it,
    // shortly after the objects exist: wait for the first rejection.
    hardening_tests::eventually("the guardrails in force", || async {
        let (code, body) = dry_run_pod(
            &client,
            &ns,
            &compliant_pod(&name, "probe", |p| {
                p["spec"]["containers"][0]["image"] = json!("docker.io/library/nginx:1.27")
            }),
        )
        .await;
        (code >= 400).then_some(()).ok_or(format!("{code} {body}"))
    })
    .await;

    // SYS.1.6.A10 (policy applied), A16/A17 (no privileges): Pod Security restricted rejects
    // a privileged pod.
    let (code, body) = dry_run_pod(
        &client,
        &ns,
        &compliant_pod(&name, "privileged", |p| {
            let sc = &mut p["spec"]["containers"][0]["securityContext"];
            sc["privileged"] = json!(true);
            sc["allowPrivilegeEscalation"] = json!(true);
        }),
    )
    .await;
    assert!(
        code == 403 && body.contains("PodSecurity") && body.contains("privileged"),
        "{code} {body}"
    );
    // SYS.1.6.A6/A10: images only from the allowed registry, and with a version.
    for (image, rule) in [
        ("docker.io/library/nginx:1.27", "allowedRegistries"),
        ("registry.example/app", "requireImageTag"),
        ("registry.example/app:latest", "requireImageTag"),
    ] {
        let (code, body) = dry_run_pod(
            &client,
            &ns,
            &compliant_pod(&name, "image", |p| {
                p["spec"]["containers"][0]["image"] = json!(image)
            }),
        )
        .await;
        assert!(
            code >= 400 && body.contains(&format!("guardrail {rule} (BSI SYS.1.6 (2023) A6, A10)")),
            "{image}: {code} {body}"
        );
    }
    // SYS.1.6.A23: a writable root file system is rejected.
    let (code, body) = dry_run_pod(
        &client,
        &ns,
        &compliant_pod(&name, "writable", |p| {
            p["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = json!(false)
        }),
    )
    .await;
    assert!(
        code >= 400
            && body.contains("guardrail requireReadOnlyRootFilesystem (BSI SYS.1.6 (2023) A23)"),
        "{code} {body}"
    );
    // SYS.1.6.A15: a container that declares nothing gets the example's requests and limits.
    let (code, body) = dry_run_pod(&client, &ns, &compliant_pod(&name, "defaults", |_| {})).await;
    assert_eq!(code, 201, "{body}");
    let admitted: Pod = serde_json::from_str(&body).unwrap();
    let resources = admitted.spec.unwrap().containers[0]
        .resources
        .clone()
        .unwrap();
    let q = |m: &Option<
        std::collections::BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    >,
             k: &str| { m.as_ref().and_then(|m| m.get(k)).map(|q| q.0.clone()) };
    assert_eq!(q(&resources.limits, "memory").as_deref(), Some("256Mi"));
    assert_eq!(q(&resources.limits, "cpu").as_deref(), Some("500m"));
    assert_eq!(q(&resources.requests, "memory").as_deref(), Some("128Mi"));
    assert_eq!(q(&resources.requests, "cpu").as_deref(), Some("200m"));

    // SYS.1.6.A5, A21; APP.4.4.A7: the objects deny both directions to every pod, and the
    // allow policies open exactly what the example lists. (Whether packets are dropped is
    // the network plugin's: not observable from the API, and not on the test node.)
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), &ns);
    let deny = serde_json::to_value(policies.get("hardening-default-deny").await.unwrap()).unwrap();
    assert_eq!(deny["spec"]["podSelector"], json!({}));
    assert_eq!(deny["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert!(deny["spec"].get("ingress").is_none() && deny["spec"].get("egress").is_none());
    let allow_ingress =
        serde_json::to_value(policies.get("hardening-allow-ingress").await.unwrap()).unwrap();
    assert_eq!(
        allow_ingress["spec"]["ingress"][0]["ports"],
        json!([{ "port": 8080, "protocol": "TCP" }])
    );
    let allow_egress =
        serde_json::to_value(policies.get("hardening-allow-egress").await.unwrap()).unwrap();
    assert_eq!(
        allow_egress["spec"]["egress"][0]["to"],
        json!([{ "ipBlock": { "cidr": "10.0.0.0/8", "except": ["10.255.0.0/16"] } }])
    );

    // The verdicts the example's comments claim: A21 met (no pod runs unconfined); A10 met
    // once running pods are judged in Enforce mode too, until then Partial saying so.
    let a21 = entry(&status, "SYS.1.6.A21");
    assert_eq!(a21.verdict, Verdict::Met, "{}", a21.reason);
    let a10 = entry(&status, "SYS.1.6.A10");
    assert!(
        a10.verdict == Verdict::Met
            || (a10.verdict == Verdict::Partial && a10.reason.contains("running pods not checked")),
        "{:?}: {}",
        a10.verdict,
        a10.reason
    );
    assert_eq!(
        entry(&status, "APP.4.4.A18").verdict,
        Verdict::NotMet,
        "allowSameNamespace: true"
    );

    // SYS.1.6.A21: a pod that does not use the profile's seccomp/AppArmor profiles (Pod
    // Security asks only for RuntimeDefault) is rejected: no pod runs unconfined.
    let (code, body) = dry_run_pod(
        &client,
        &ns,
        &compliant_pod(&name, "runtime-default", |p| {
            p["spec"]["securityContext"]["seccompProfile"] = json!({ "type": "RuntimeDefault" })
        }),
    )
    .await;
    assert!(
        code >= 400 && body.contains("guardrail requireProfiles (BSI SYS.1.6 (2023) A21)"),
        "{code} {body}"
    );
    // SYS.1.6.A8, APP.4.4.A9, A11, SYS.1.6.A19/A23, A25: what the example's other pod rules
    // reject.
    for (what, rule, edit) in [
        (
            "a literal password",
            "denySecretEnvLiterals",
            json!({"env": [{"name": "DB_PASSWORD", "value": "x"}]}),
        ),
        (
            "no probes",
            "requireProbes",
            json!({"livenessProbe": null, "readinessProbe": null}),
        ),
        (
            "a writable volume",
            "requireReadOnlyMounts",
            json!({"volumeMounts": [{"name": "data", "mountPath": "/data"}]}),
        ),
    ] {
        let (code, body) = dry_run_pod(
            &client,
            &ns,
            &compliant_pod(&name, "rule", |p| {
                p["spec"]["volumes"] = json!([{ "name": "data", "emptyDir": {} }]);
                for (k, v) in edit.as_object().unwrap() {
                    match v {
                        Value::Null => {
                            p["spec"]["containers"][0]
                                .as_object_mut()
                                .unwrap()
                                .remove(k);
                        }
                        v => p["spec"]["containers"][0][k] = v.clone(),
                    }
                }
            }),
        )
        .await;
        assert!(
            code >= 400 && body.contains(&format!("guardrail {rule} (")),
            "{what}: {code} {body}"
        );
    }
    for (what, rule, edit) in [
        (
            "the default service account",
            "denyDefaultServiceAccount",
            json!({"serviceAccountName": "default"}),
        ),
        (
            "a token",
            "denyServiceAccountToken",
            json!({"automountServiceAccountToken": true}),
        ),
    ] {
        let (code, body) = dry_run_pod(
            &client,
            &ns,
            &compliant_pod(&name, "rule", |p| {
                for (k, v) in edit.as_object().unwrap() {
                    p["spec"][k] = v.clone();
                }
            }),
        )
        .await;
        assert!(
            code >= 400 && body.contains(&format!("guardrail {rule} (BSI APP.4.4 (2023) A9)")),
            "{what}: {code} {body}"
        );
    }
    let (code, body) = dry_run_pod(
        &client,
        &ns,
        &compliant_pod(&name, "bare", |p| {
            p["metadata"]
                .as_object_mut()
                .unwrap()
                .remove("ownerReferences");
        }),
    )
    .await;
    assert!(
        code >= 400 && body.contains("guardrail requireController ("),
        "{code} {body}"
    );
    env.finish().await;
}

/// One case of the table: a profile, what is done to its namespace on the API server, and
/// the verdicts that must follow (with a word of the reason).
struct Case {
    what: &'static str,
    spec: Value,
    /// Applied to the namespace once the profile has judged it.
    state: State,
    expect: &'static [(&'static str, Verdict, &'static str)],
}

#[derive(Clone, Copy)]
enum State {
    /// As the operator leaves it.
    AsReconciled,
    /// A tenant NetworkPolicy allowing all ingress.
    TenantOpensIngress,
    /// A pod admitted before the profile exists (Audit mode previews it).
    PrivilegedPodBefore,
    /// The Pod Security labels the Audit profile declares, set by hand.
    LabelsByHand,
    /// A pod not using the profile's seccomp/AppArmor profiles.
    UnconfinedPod,
}

fn cases() -> Vec<Case> {
    use Verdict::{Met, NotMet, Partial};
    let restricted = json!({ "enforce": { "level": "restricted" } });
    vec![
        Case {
            what: "deny both ways, baseline",
            spec: json!({ "podSecurity": { "enforce": { "level": "baseline" } }, "networkPolicy": { "defaultDeny": ["Ingress", "Egress"] } }),
            state: State::AsReconciled,
            expect: &[
                ("SYS.1.6.A5", Partial, "administration network"),
                ("SYS.1.6.A17", NotMet, "root"),
                ("SYS.1.6.A16", Partial, "SSH"),
            ],
        },
        Case {
            what: "a tenant opens ingress",
            spec: json!({ "podSecurity": { "enforce": { "level": "baseline" } }, "networkPolicy": { "defaultDeny": ["Ingress", "Egress"] } }),
            state: State::TenantOpensIngress,
            expect: &[
                ("SYS.1.6.A5", NotMet, "allow-all"),
                ("APP.4.4.A7", NotMet, "allow-all"),
            ],
        },
        Case {
            what: "only ingress denied, no Pod Security",
            spec: json!({ "networkPolicy": { "defaultDeny": ["Ingress"] } }),
            state: State::AsReconciled,
            expect: &[
                ("SYS.1.6.A5", Partial, "egress is not denied"),
                ("SYS.1.6.A16", NotMet, "no Pod Security"),
            ],
        },
        Case {
            what: "quota only",
            spec: json!({ "resourceQuota": { "hard": { "pods": "5" } } }),
            state: State::AsReconciled,
            expect: &[("SYS.1.6.A15", NotMet, "cpu and memory not limited")],
        },
        Case {
            what: "cpu limited, memory not",
            spec: json!({ "resourceQuota": { "hard": { "pods": "5" } }, "limitRange": { "limits": [{ "type": "Container", "default": { "cpu": "500m" } }] } }),
            state: State::AsReconciled,
            expect: &[("SYS.1.6.A15", NotMet, "memory not limited")],
        },
        Case {
            what: "restricted pinned to v1.21",
            spec: json!({ "podSecurity": { "enforce": { "level": "restricted", "version": "v1.21" } } }),
            state: State::AsReconciled,
            expect: &[("SYS.1.6.A17", Partial, "runAsUser=0")],
        },
        Case {
            what: "Audit mode over a bare namespace",
            spec: json!({ "mode": "Audit", "podSecurity": restricted }),
            state: State::AsReconciled,
            expect: &[
                ("SYS.1.6.A17", NotMet, "differs from the profile"),
                ("SYS.1.6.A10", NotMet, ""),
            ],
        },
        Case {
            what: "Audit mode, labels set by hand",
            spec: json!({ "mode": "Audit", "podSecurity": restricted }),
            state: State::LabelsByHand,
            expect: &[("SYS.1.6.A17", Partial, "Audit mode")],
        },
        Case {
            what: "a privileged pod from before (Audit preview)",
            spec: json!({ "mode": "Audit", "podSecurity": { "enforce": { "level": "baseline" } } }),
            state: State::PrivilegedPodBefore,
            expect: &[
                ("SYS.1.6.A16", NotMet, "privileged"),
                ("APP.4.4.A4", NotMet, "privileged"),
            ],
        },
        Case {
            what: "extended policies, every pod confined, no pod admitted without them",
            spec: json!({ "networkPolicy": {}, "seccomp": { "baseline": "Strict" }, "apparmor": { "denyWrite": ["/etc/**"] }, "guardrails": { "requireProfiles": true } }),
            state: State::AsReconciled,
            expect: &[("SYS.1.6.A21", Met, "tighter")],
        },
        Case {
            what: "extended policies, every pod confined, but only reported",
            spec: json!({ "networkPolicy": {}, "seccomp": { "baseline": "Strict" }, "apparmor": { "denyWrite": ["/etc/**"] } }),
            state: State::AsReconciled,
            expect: &[("SYS.1.6.A21", Partial, "guardrails.requireProfiles")],
        },
        Case {
            what: "extended policies, a pod unconfined",
            spec: json!({ "networkPolicy": {}, "seccomp": { "baseline": "Strict" }, "apparmor": { "denyWrite": ["/etc/**"] } }),
            state: State::UnconfinedPod,
            expect: &[(
                "SYS.1.6.A21",
                NotMet,
                "not use the profile's seccomp/AppArmor",
            )],
        },
        Case {
            what: "runtime-default confinement is not extended",
            spec: json!({ "networkPolicy": {}, "seccomp": {}, "apparmor": {} }),
            state: State::AsReconciled,
            expect: &[("SYS.1.6.A21", Partial, "runtime default")],
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_states_give_the_verdicts_the_requirements_state() {
    let mut env = OperatorEnv::start("verdicts").await;
    let client = env.client.clone();
    let cases = cases();
    let mut created = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let label = format!("c{i}");
        let ns = env.namespace(&[("case", &label)]).await;
        if let State::PrivilegedPodBefore = case.state {
            Api::<Pod>::namespaced(client.clone(), &ns)
                .create(
                    &PostParams::default(),
                    &serde_json::from_value(json!({
                        "metadata": { "name": "old-privileged" },
                        "spec": { "containers": [{ "name": "c", "image": "hardening.invalid/busybox:test",
                                  "securityContext": { "privileged": true } }] }
                    }))
                    .unwrap(),
                )
                .await
                .unwrap();
        }
        let mut spec = case.spec.clone();
        spec["namespaceSelector"] = json!({ "matchLabels": { "case": label } });
        let name = env
            .create_profile(&env.profile(&label, spec))
            .await
            .unwrap()
            .name_any();
        created.push((name, ns));
    }
    // Every profile has judged its namespace once, then each state is made.
    for (name, _) in &created {
        env.status_where(name, "judged", |s| {
            (s.compliance.len() == 47 && s.in_sync_namespaces + s.drifted_namespaces == 1)
                .then_some(())
                .ok_or_else(|| "not yet".to_owned())
        })
        .await;
    }
    for (case, (_, ns)) in cases.iter().zip(&created) {
        match case.state {
            State::TenantOpensIngress => {
                Api::<NetworkPolicy>::namespaced(client.clone(), ns)
                    .create(
                        &PostParams::default(),
                        &serde_json::from_value(json!({
                            "metadata": { "name": "allow-all" },
                            "spec": { "podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}] }
                        }))
                        .unwrap(),
                    )
                    .await
                    .unwrap();
            }
            State::LabelsByHand => {
                Api::<Namespace>::all(client.clone())
                    .patch(
                        ns,
                        &PatchParams::default(),
                        &Patch::Merge(json!({ "metadata": { "labels": {
                            "pod-security.kubernetes.io/enforce": "restricted",
                            "pod-security.kubernetes.io/enforce-version": "latest" } } })),
                    )
                    .await
                    .unwrap();
            }
            State::UnconfinedPod => {
                Api::<Pod>::namespaced(client.clone(), ns)
                    .create(
                        &PostParams::default(),
                        &serde_json::from_value(json!({
                            "metadata": { "name": "plain" },
                            "spec": { "containers": [{ "name": "c", "image": "hardening.invalid/busybox:test" }] }
                        }))
                        .unwrap(),
                    )
                    .await
                    .unwrap();
            }
            State::AsReconciled | State::PrivilegedPodBefore => {}
        }
    }
    for (case, (name, _)) in cases.iter().zip(&created) {
        env.status_where(name, case.what, |s| {
            let wrong: Vec<String> = case
                .expect
                .iter()
                .filter_map(|(id, verdict, word)| {
                    let e = s.compliance.iter().find(|e| e.id == *id)?;
                    (e.verdict != *verdict || !e.reason.contains(word)).then(|| {
                        format!(
                            "{id}: {:?} ({}), want {verdict:?} with {word:?}",
                            e.verdict, e.reason
                        )
                    })
                })
                .collect();
            if s.compliance.len() == 47 && wrong.is_empty() {
                Ok(())
            } else {
                Err(wrong.join("; "))
            }
        })
        .await;
    }
    env.finish().await;
}
