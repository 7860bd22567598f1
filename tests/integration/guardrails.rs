//! Guardrails (issue 12): the operator generates a ValidatingAdmissionPolicy and a binding
//! per profile, and the real API server judges pods, `exec`/`attach` and NetworkPolicies
//! with them. Every rule: a violating request is rejected with a message naming the rule
//! and the BSI requirement, a compliant one is admitted, and the same violation in a
//! namespace the profile does not govern is admitted. Audit mode warns instead of denying;
//! drift is repaired (Enforce) or reported (Audit); the objects go with the profile.
//!
//! Pods are judged by server-side dry-run (nothing runs), `exec`/`attach` on a pod that has
//! no node: the API server's admission decides before it would dial a kubelet (in a
//! namespace without guardrails the same request gets past admission and fails with "does
//! not have a host assigned").

use hardening_tests::objects::admission_api;
use std::time::Duration;

use hardening_tests::profiles::condition;
use hardening_tests::requests::{assert_admitted, assert_rejected, dry_run, send};
use hardening_tests::{eventually, wait_until};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

use crate::operator_env::OperatorEnv;

fn pod(name: &str, image: &str, read_only: bool) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": name },
        "spec": { "containers": [{
            "name": "app", "image": image, "imagePullPolicy": "Never",
            "securityContext": { "readOnlyRootFilesystem": read_only },
        }]},
    })
}

fn policy(name: &str, spec: Value) -> Value {
    let mut spec = spec;
    spec["podSelector"] = json!({});
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": { "name": name }, "spec": spec,
    })
}

fn guardrails_spec() -> Value {
    json!({
        "networkPolicy": {
            "defaultDeny": ["Ingress", "Egress"],
            "ingress": [{ "from": [{ "namespaceSelector": { "matchLabels": { "team": "shop" } } }], "ports": [{ "port": 8080 }] }],
            "egress": [{ "to": [{ "cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"] }], "ports": [{ "port": 443 }] }],
        },
        "guardrails": {
            "allowedRegistries": ["hardening.invalid", "registry.example.com/team"],
            "requireImageTag": true,
            "requireReadOnlyRootFilesystem": true,
            "denyExec": true,
            "denyWideningNetworkPolicies": true,
        },
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guardrails_reject_violations_only_in_governed_namespaces() {
    let mut env = OperatorEnv::start("guardrails").await;
    let governed = env.namespace(&[]).await;
    let ungoverned = env.unselected_namespace().await;
    let profile = env.profile("enforce", guardrails_spec());
    let name = profile.name_any();
    env.create_profile(&profile).await.unwrap();
    // In sync: the operator's own NetworkPolicies (same namespace, DNS, the profile's
    // allow-lists) passed its own widening rule.
    let status = env
        .status_where(&name, "guardrails enforced and in sync", |s| {
            match (condition(s, "GuardrailsEnforced"), condition(s, "Ready")) {
                (Some(g), Some(r))
                    if g.0 == "True" && r.0 == "True" && s.in_sync_namespaces == 1 =>
                {
                    Ok(())
                }
                _ => Err("want GuardrailsEnforced=True, Ready=True, 1 in sync".into()),
            }
        })
        .await;
    let guardrails = status.guardrails.expect("status.guardrails");
    assert_eq!(guardrails.validation_actions, ["Deny"]);
    // Enforced guardrails: the image rule (SYS.1.6.A6) and immutability (A23) hold as far as
    // the operator can show (Partial: the rest of those requirements is not its to check).
    for id in ["SYS.1.6.A6", "SYS.1.6.A23"] {
        let entry = status.compliance.iter().find(|c| c.id == id).unwrap();
        assert_eq!(
            entry.verdict,
            hardening_operator::core::api::Verdict::Partial,
            "{id}: {}",
            entry.reason
        );
    }
    let client = env.client.clone();
    let binding = admission_api(&client, "ValidatingAdmissionPolicyBinding")
        .get(&guardrails.policy)
        .await
        .unwrap();
    assert_eq!(binding.labels()["hardening.dev/profile"], name);
    assert_eq!(binding.owner_references()[0].name, name);

    // The API server applies a new binding once its informers have it.
    eventually("the binding to take effect", || {
        let client = client.clone();
        let governed = governed.clone();
        async move {
            let answer = dry_run(
                &client,
                &governed,
                &pod("probe", "docker.io/library/busybox:1.36", true),
            )
            .await;
            if answer.code >= 400 {
                Ok(())
            } else {
                Err(format!("still admitted: {}", answer.body))
            }
        }
    })
    .await;

    let pods = [
        (
            "allowedRegistries",
            pod("other-registry", "docker.io/library/busybox:1.36", true),
            pod("own-registry", "registry.example.com/team/app:1.2", true),
        ),
        (
            "allowedRegistries",
            pod(
                "registry-prefix",
                "registry.example.com/teamx/app:1.2",
                true,
            ),
            pod("local", "hardening.invalid/busybox:test", true),
        ),
        (
            "requireImageTag",
            pod("latest", "hardening.invalid/busybox:latest", true),
            pod(
                "digest",
                "hardening.invalid/busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                true,
            ),
        ),
        (
            "requireImageTag",
            pod("untagged", "hardening.invalid/busybox", true),
            pod("port-registry-tag", "hardening.invalid/busybox:1.0", true),
        ),
        (
            "requireReadOnlyRootFilesystem",
            pod("writable", "hardening.invalid/busybox:test", false),
            pod("read-only", "hardening.invalid/busybox:test", true),
        ),
    ];
    for (rule, violating, compliant) in &pods {
        let what = format!("pod {}", violating["metadata"]["name"]);
        assert_rejected(
            &dry_run(&client, &governed, violating).await,
            &name,
            rule,
            &what,
        );
        assert_admitted(
            &dry_run(&client, &ungoverned, violating).await,
            &format!("{what} in an ungoverned namespace"),
        );
        assert_admitted(
            &dry_run(&client, &governed, compliant).await,
            &format!("pod {}", compliant["metadata"]["name"]),
        );
    }
    // An init container is judged too.
    let mut init = pod("init", "hardening.invalid/busybox:test", true);
    init["spec"]["initContainers"] =
        json!([{ "name": "setup", "image": "hardening.invalid/busybox:test" }]);
    assert_rejected(
        &dry_run(&client, &governed, &init).await,
        &name,
        "requireReadOnlyRootFilesystem",
        "init container",
    );

    // exec and attach: a real (compliant) pod; nothing schedules it, admission decides first.
    let target = pod("target", "hardening.invalid/busybox:test", true);
    for ns in [&governed, &ungoverned] {
        let created = send(
            &client,
            "POST",
            &format!("/api/v1/namespaces/{ns}/pods"),
            Some(&target),
        )
        .await;
        assert_admitted(&created, "the exec target pod");
    }
    for sub in ["exec?command=true&stdout=true", "attach?stdout=true"] {
        let uri = |ns: &str| format!("/api/v1/namespaces/{ns}/pods/target/{sub}");
        let denied = send(&client, "POST", &uri(&governed), None).await;
        assert_rejected(&denied, &name, "denyExec", sub);
        let passed = send(&client, "POST", &uri(&ungoverned), None).await;
        assert!(
            passed.body.contains("does not have a host assigned"),
            "{sub} in an ungoverned namespace: want it past admission, got {}: {}",
            passed.code,
            passed.body
        );
    }

    let rule = |from: Value, ports: Value| json!({ "ingress": [{ "from": from, "ports": ports }] });
    let egress = |to: Value, ports: Value| json!({ "policyTypes": ["Egress"], "egress": [{ "to": to, "ports": ports }] });
    let widening = [
        ("allow-all", json!({ "ingress": [{}] })),
        (
            "every-namespace",
            rule(
                json!([{ "namespaceSelector": {} }]),
                json!([{ "port": 8080 }]),
            ),
        ),
        (
            "other-port",
            rule(
                json!([{ "namespaceSelector": { "matchLabels": { "team": "shop" } } }]),
                json!([{ "port": 8081 }]),
            ),
        ),
        (
            "all-ports",
            rule(
                json!([{ "namespaceSelector": { "matchLabels": { "team": "shop" } } }]),
                Value::Null,
            ),
        ),
        (
            "named-port",
            rule(
                json!([{ "namespaceSelector": { "matchLabels": { "team": "shop" } } }]),
                json!([{ "port": "http" }]),
            ),
        ),
        (
            "excepted-range",
            egress(
                json!([{ "ipBlock": { "cidr": "10.1.2.0/24" } }]),
                json!([{ "port": 443 }]),
            ),
        ),
        (
            "without-except",
            egress(
                json!([{ "ipBlock": { "cidr": "10.0.0.0/8" } }]),
                json!([{ "port": 443 }]),
            ),
        ),
        (
            "internet",
            egress(json!([{ "ipBlock": { "cidr": "0.0.0.0/0" } }]), Value::Null),
        ),
        (
            "dns-elsewhere",
            egress(
                json!([{ "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": "kube-system" } }, "podSelector": { "matchLabels": { "k8s-app": "kube-dns" } } }]),
                json!([{ "port": 5353, "protocol": "UDP" }]),
            ),
        ),
    ];
    let within = [
        (
            "same-namespace",
            rule(
                json!([{ "podSelector": { "matchLabels": { "app": "web" } } }]),
                Value::Null,
            ),
        ),
        (
            "shop-web",
            rule(
                json!([{ "namespaceSelector": { "matchLabels": { "team": "shop", "env": "prod" } }, "podSelector": {} }]),
                json!([{ "port": 8080, "protocol": "TCP" }]),
            ),
        ),
        (
            "subnet",
            egress(
                json!([{ "ipBlock": { "cidr": "10.2.0.0/16" } }]),
                json!([{ "port": 443 }]),
            ),
        ),
        (
            "dns",
            egress(
                json!([{ "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": "kube-system" } }, "podSelector": { "matchLabels": { "k8s-app": "kube-dns" } } }]),
                json!([{ "port": 53, "protocol": "UDP" }]),
            ),
        ),
    ];
    for (policy_name, spec) in widening {
        let object = policy(policy_name, spec);
        let what = format!("NetworkPolicy {policy_name}");
        assert_rejected(
            &dry_run(&client, &governed, &object).await,
            &name,
            "denyWideningNetworkPolicies",
            &what,
        );
        assert_admitted(
            &dry_run(&client, &ungoverned, &object).await,
            &format!("{what} in an ungoverned namespace"),
        );
    }
    for (policy_name, spec) in within {
        assert_admitted(
            &dry_run(&client, &governed, &policy(policy_name, spec)).await,
            &format!("NetworkPolicy {policy_name}"),
        );
    }

    // Without guardrails an Enforce profile keeps its policy for the creation gate and the
    // protection, without the guardrails' rules; in Audit mode without guardrails the
    // objects go; with the profile, the rest (below, in finish).
    env.patch_spec(&name, json!({ "guardrails": null })).await;
    let policies = admission_api(&client, "ValidatingAdmissionPolicy");
    wait_until("the policy without the guardrails' requests", || {
        let policies = policies.clone();
        let policy = guardrails.policy.clone();
        async move {
            policies
                .get_opt(&policy)
                .await
                .ok()
                .flatten()
                .is_some_and(|p| {
                    !p.data["spec"]["matchConstraints"]
                        .to_string()
                        .contains("pods/exec")
                })
        }
    })
    .await;
    env.patch_spec(&name, json!({ "mode": "Audit" })).await;
    wait_until(
        "the policy deleted with the guardrails in Audit mode",
        || {
            let policies = policies.clone();
            let policy = guardrails.policy.clone();
            async move { policies.get_opt(&policy).await.ok().flatten().is_none() }
        },
    )
    .await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_mode_warns_and_audits_and_drift_is_repaired_or_reported() {
    let mut env = OperatorEnv::start("guardrails-audit").await;
    let governed = env.namespace(&[]).await;
    let mut spec = guardrails_spec();
    spec["mode"] = json!("Audit");
    let audit = env.profile("audit", spec);
    let audit_name = audit.name_any();
    env.create_profile(&audit).await.unwrap();
    let status = env
        .status_where(&audit_name, "guardrails audited", |s| {
            match condition(s, "GuardrailsEnforced") {
                Some(g) if g.1 == "AuditOnly" => Ok(()),
                _ => Err("want GuardrailsEnforced reason AuditOnly".into()),
            }
        })
        .await;
    let object = status.guardrails.expect("status.guardrails").policy;
    // Warn and Audit deny nothing: what rests on the guardrails is not met.
    for id in ["SYS.1.6.A6", "SYS.1.6.A23"] {
        let entry = status.compliance.iter().find(|c| c.id == id).unwrap();
        assert_eq!(
            entry.verdict,
            hardening_operator::core::api::Verdict::NotMet,
            "{id} claimed in Audit mode: {}",
            entry.reason
        );
    }
    let client = env.client.clone();
    let bindings = admission_api(&client, "ValidatingAdmissionPolicyBinding");
    let binding = bindings.get(&object).await.unwrap();
    assert_eq!(
        binding.data["spec"]["validationActions"],
        json!(["Warn", "Audit"])
    );

    // Admitted, with a warning naming the rule and requirement.
    let violating = pod("other-registry", "docker.io/library/busybox:1.36", true);
    let answer = eventually("a warning for the violating pod", || {
        let client = client.clone();
        let governed = governed.clone();
        let violating = violating.clone();
        async move {
            let answer = dry_run(&client, &governed, &violating).await;
            if answer.warnings.is_empty() {
                Err(format!("no warning yet: {}", answer.code))
            } else {
                Ok(answer)
            }
        }
    })
    .await;
    assert_admitted(&answer, "a violating pod in Audit mode");
    assert!(
        answer
            .warnings
            .iter()
            .any(|w| w.contains("guardrail allowedRegistries (BSI SYS.1.6 (2023) A6, A10)")),
        "warnings: {:?}",
        answer.warnings
    );

    // ... and recorded in the audit log (Audit): a real create, by the pod's name.
    let created = send(
        &client,
        "POST",
        &format!("/api/v1/namespaces/{governed}/pods"),
        Some(&pod("audited", "docker.io/library/busybox:1.36", true)),
    )
    .await;
    assert_admitted(&created, "a violating pod created in Audit mode");
    if let Some(audit_log) = hardening_tests::cluster().audit_log() {
        let audit_log = audit_log.to_owned();
        let governed = governed.clone();
        eventually("the violation in the audit log", || {
            let audit_log = audit_log.clone();
            let governed = governed.clone();
            async move {
                let text = std::fs::read_to_string(&audit_log).unwrap_or_default();
                let found = text.lines().any(|line| {
                    line.contains("validation.policy.admission.k8s.io/validation_failure")
                        && line.contains("guardrail allowedRegistries")
                        && line.contains(&format!("\"namespace\":\"{governed}\""))
                        && line.contains("\"name\":\"audited\"")
                });
                if found {
                    Ok(())
                } else {
                    Err("not in the audit log yet".to_owned())
                }
            }
        })
        .await;
    }

    // Audit mode: someone's edit of the binding is reported with its field manager (who
    // added a value: a removal has no owner in Kubernetes), not undone.
    let edit = |actions: Value| json!({ "spec": { "validationActions": actions } });
    let by_kubectl_edit = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..Default::default()
    };
    bindings
        .patch(
            &object,
            &by_kubectl_edit,
            &Patch::Merge(&edit(json!(["Deny", "Audit"]))),
        )
        .await
        .unwrap();
    env.status_where(&audit_name, "binding drift reported", |s| {
        let drift = s
            .guardrails
            .as_ref()
            .map(|g| g.drift.clone())
            .unwrap_or_default();
        match drift.iter().find(|d| d.field == "spec.validationActions") {
            Some(d)
                if d.manager.as_deref() == Some("kubectl-edit")
                    && condition(s, "GuardrailsEnforced").is_some_and(|c| c.1 == "Drifted") =>
            {
                Ok(())
            }
            _ => Err("want a spec.validationActions drift by kubectl-edit".into()),
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let binding = bindings.get(&object).await.unwrap();
    assert_eq!(
        binding.data["spec"]["validationActions"],
        json!(["Deny", "Audit"]),
        "Audit mode must not repair"
    );

    // Enforce mode: the rollout writes Deny; then the same edit is repaired and counted.
    env.patch_spec(&audit_name, json!({ "mode": "Enforce" }))
        .await;
    let before = env
        .status_where(&audit_name, "guardrails enforced", |s| {
            match condition(s, "GuardrailsEnforced") {
                Some(g) if g.0 == "True" => Ok(()),
                _ => Err("want GuardrailsEnforced=True".into()),
            }
        })
        .await
        .repairs_total;
    bindings
        .patch(
            &object,
            &by_kubectl_edit,
            &Patch::Merge(&edit(json!(["Warn"]))),
        )
        .await
        .unwrap();
    let policies = admission_api(&client, "ValidatingAdmissionPolicy");
    policies.delete(&object, &Default::default()).await.unwrap();
    env.status_where(&audit_name, "binding and policy repaired", |s| {
        if s.repairs_total >= before + 2 {
            Ok(())
        } else {
            Err(format!("repairsTotal {} (was {before})", s.repairs_total))
        }
    })
    .await;
    let binding = bindings.get(&object).await.unwrap();
    assert_eq!(binding.data["spec"]["validationActions"], json!(["Deny"]));
    assert!(
        policies.get_opt(&object).await.unwrap().is_some(),
        "the deleted policy is back"
    );

    // A profile of higher precedence takes the namespace: this binding leaves it out.
    let mut rival_spec = guardrails_spec();
    rival_spec["priority"] = json!(10);
    rival_spec["guardrails"] = json!({ "requireImageDigest": true });
    let rival = env.profile("rival", rival_spec);
    env.create_profile(&rival).await.unwrap();
    eventually("the outranked namespace excluded from the binding", || {
        let bindings = bindings.clone();
        let object = object.clone();
        let governed = governed.clone();
        async move {
            let binding = bindings.get(&object).await.map_err(|e| e.to_string())?;
            let expressions =
                &binding.data["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"];
            let excluded = expressions.as_array().into_iter().flatten().any(|e| {
                e["key"] == "kubernetes.io/metadata.name"
                    && e["operator"] == "NotIn"
                    && e["values"]
                        .as_array()
                        .is_some_and(|v| v.contains(&json!(governed)))
            });
            if excluded {
                Ok(())
            } else {
                Err(format!("selector: {expressions}"))
            }
        }
    })
    .await;
    // The rival's rule applies there, this profile's registry rule no longer does: a pinned
    // image from another registry is admitted, an unpinned one rejected by the rival.
    let digest = "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let pinned = pod(
        "pinned",
        &format!("docker.io/library/busybox{digest}"),
        true,
    );
    eventually("only the rival's guardrails in the namespace", || {
        let client = client.clone();
        let governed = governed.clone();
        let pinned = pinned.clone();
        async move {
            let answer = dry_run(&client, &governed, &pinned).await;
            if answer.code < 300 {
                Ok(())
            } else {
                Err(answer.body)
            }
        }
    })
    .await;
    let unpinned = pod("unpinned", "docker.io/library/busybox:1.36", true);
    let answer = eventually("the rival's binding to take effect", || {
        let client = client.clone();
        let governed = governed.clone();
        let unpinned = unpinned.clone();
        async move {
            let answer = dry_run(&client, &governed, &unpinned).await;
            if answer.code >= 400 {
                Ok(answer)
            } else {
                Err("admitted".to_owned())
            }
        }
    })
    .await;
    assert_rejected(
        &answer,
        &rival.name_any(),
        "requireImageDigest",
        "the rival's digest rule",
    );

    let rival_object = format!("hardening.dev-{}", rival.name_any());
    env.finish().await;
    // Deleting the profiles removed their policies and bindings.
    for name in [&object, &rival_object] {
        assert!(
            policies.get_opt(name).await.unwrap().is_none(),
            "policy {name} left behind"
        );
        assert!(
            bindings.get_opt(name).await.unwrap().is_none(),
            "binding {name} left behind"
        );
    }
}

/// Protected networks (issue 23 item 1): the operator's default (the cloud metadata
/// addresses) and the profile's own (SSH on 10.0.0.0/16) stay out of what the profile
/// renders, a tenant rule reaching one is reported, and with the guardrail rejected, even
/// though the profile isolates ingress only; rules that keep clear of them are admitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_networks_are_kept_out_reported_and_rejected() {
    let mut env = OperatorEnv::start("protected").await;
    let governed = env.namespace(&[]).await;
    let spec = json!({
        "networkPolicy": {
            "defaultDeny": ["Ingress"],
            "protectedNetworks": [{ "cidr": "10.0.0.0/16", "ports": [{ "port": 22 }] }],
        },
    });
    let profile = env.profile("protect", spec.clone());
    let name = profile.name_any();
    env.create_profile(&profile).await.unwrap();
    env.status_where(&name, "in sync", |s| {
        (s.in_sync_namespaces == 1)
            .then_some(())
            .ok_or("not in sync".into())
    })
    .await;
    let client = env.client.clone();
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), &governed);
    let protect = policies.get("hardening-protect-networks").await.unwrap();
    let egress = serde_json::to_value(&protect.spec.unwrap().egress).unwrap();
    assert_eq!(
        egress,
        json!([
            {"to": [
                {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32", "10.0.0.0/16"]}},
                {"ipBlock": {"cidr": "::/0", "except": ["fd00:ec2::254/128"]}},
                {"namespaceSelector": {}}
            ]},
            {"to": [{"ipBlock": {"cidr": "10.0.0.0/16"}}], "ports": [
                {"port": 1, "endPort": 21, "protocol": "TCP"},
                {"port": 23, "endPort": 65535, "protocol": "TCP"},
                {"protocol": "UDP"},
                {"protocol": "SCTP"}
            ]}
        ]),
        "the API server stores what the operator renders"
    );

    // A tenant policy reaching the metadata service: reported, A9 withdrawn.
    let tenant = policy(
        "metadata",
        json!({"policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": {"cidr": "169.254.0.0/16"}}], "ports": [{"port": 80}]}]}),
    );
    policies
        .create(
            &Default::default(),
            &serde_json::from_value(tenant).unwrap(),
        )
        .await
        .unwrap();
    let status = env
        .status_where(&name, "the tenant policy reported", |s| {
            let opens: Vec<&str> = s
                .namespaces
                .iter()
                .flat_map(|n| n.policies.iter().map(|p| p.opens.as_str()))
                .collect();
            if opens
                .iter()
                .any(|o| o.ends_with("reaches protected network 169.254.169.254/32 (every port)"))
            {
                Ok(())
            } else {
                Err(format!("{opens:?}"))
            }
        })
        .await;
    assert_eq!(status.widening_policies, Some(1));
    // The network requirement (BSI SYS.1.6 (2023) A5) is not met while a tenant rule reaches
    // a protected network.
    let a5 = status
        .compliance
        .iter()
        .find(|c| c.id == "SYS.1.6.A5")
        .unwrap();
    assert_eq!(
        a5.verdict,
        hardening_operator::core::api::Verdict::NotMet,
        "{}",
        a5.reason
    );

    // With the guardrail: rejected, whatever the profile isolates.
    let mut guarded = spec;
    guarded["guardrails"] = json!({ "denyWideningNetworkPolicies": true });
    env.patch_spec(&name, guarded).await;
    let egress = |to: Value, ports: Value| {
        let mut rule = json!({ "to": to });
        if !ports.is_null() {
            rule["ports"] = ports;
        }
        json!({ "policyTypes": ["Egress"], "egress": [rule] })
    };
    eventually("the guardrail to take effect", || {
        let client = client.clone();
        let governed = governed.clone();
        let object = policy(
            "probe",
            egress(
                json!([{ "ipBlock": { "cidr": "169.254.169.254/32" } }]),
                Value::Null,
            ),
        );
        async move {
            let answer = dry_run(&client, &governed, &object).await;
            if answer.code >= 400 {
                Ok(())
            } else {
                Err(format!("still admitted: {}", answer.body))
            }
        }
    })
    .await;
    let reaching = [
        (
            "metadata-range",
            egress(
                json!([{ "ipBlock": { "cidr": "169.254.0.0/16" } }]),
                json!([{ "port": 80 }]),
            ),
        ),
        (
            "anywhere",
            json!({ "policyTypes": ["Egress"], "egress": [{}] }),
        ),
        (
            "internet",
            egress(
                json!([{ "ipBlock": { "cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"] } }]),
                Value::Null,
            ),
        ),
        (
            "v6",
            egress(
                json!([{ "ipBlock": { "cidr": "::/0" } }]),
                json!([{ "port": 80 }]),
            ),
        ),
        (
            "ssh",
            egress(
                json!([{ "ipBlock": { "cidr": "10.0.5.0/24" } }]),
                json!([{ "port": 20, "endPort": 25 }]),
            ),
        ),
        (
            "named-port",
            egress(
                json!([{ "ipBlock": { "cidr": "10.0.5.0/24" } }]),
                json!([{ "port": "ssh" }]),
            ),
        ),
    ];
    let clear = [
        (
            "internet",
            egress(
                json!([{ "ipBlock": { "cidr": "0.0.0.0/0", "except": ["169.254.169.254/32", "10.0.0.0/16"] } }]),
                Value::Null,
            ),
        ),
        (
            "v6",
            egress(
                json!([{ "ipBlock": { "cidr": "::/0", "except": ["fd00:ec2::254/128"] } }]),
                Value::Null,
            ),
        ),
        (
            "https-nodes",
            egress(
                json!([{ "ipBlock": { "cidr": "10.0.0.0/16" } }]),
                json!([{ "port": 443 }]),
            ),
        ),
        ("pods", egress(json!([{ "podSelector": {} }]), Value::Null)),
        (
            "udp-ssh",
            egress(
                json!([{ "ipBlock": { "cidr": "10.0.0.0/16" } }]),
                json!([{ "port": 22, "protocol": "UDP" }]),
            ),
        ),
    ];
    for (policy_name, spec) in reaching {
        let answer = dry_run(&client, &governed, &policy(policy_name, spec)).await;
        assert!(
            answer.code >= 400
                && answer.body.contains(&format!(
                    "HardeningProfile {name} guardrail denyWideningNetworkPolicies (BSI SYS.1.6 (2023) A5; BSI APP.4.4 (2023) A7)"
                ))
                && answer.body.contains("reaching a protected network"),
            "{policy_name}: want a rejection for reaching a protected network, got {}: {}",
            answer.code,
            answer.body
        );
    }
    for (policy_name, spec) in clear {
        assert_admitted(
            &dry_run(&client, &governed, &policy(policy_name, spec)).await,
            &format!("NetworkPolicy {policy_name}"),
        );
    }
    // The operator's own policies pass its guardrail: still in sync after a rollout.
    policies
        .delete("hardening-protect-networks", &Default::default())
        .await
        .unwrap();
    eventually("the protect policy back", || {
        let policies = policies.clone();
        async move {
            policies
                .get_opt("hardening-protect-networks")
                .await
                .map_err(|e| e.to_string())?
                .map(|_| ())
                .ok_or_else(|| "not yet".to_owned())
        }
    })
    .await;
    env.finish().await;
}

/// Micro-segmentation (issue 23 item 1, APP.4.4.A18): `sameNamespace` renders a policy per
/// rule and direction that the API server stores and the profile's own guardrail admits;
/// a tenant policy within a rule (its pods, peers and ports) is admitted, one beyond it
/// rejected; the CRD refuses `sameNamespace` beside `allowSameNamespace: true`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_namespace_rules_segment_the_namespace() {
    let mut env = OperatorEnv::start("segments").await;
    let governed = env.namespace(&[]).await;
    let web_to_db = json!([{
        "to": { "matchLabels": { "app": "db" } },
        "from": { "matchLabels": { "app": "web" } },
        "ports": [{ "port": 5432 }],
    }]);
    let refused = env.profile(
        "both",
        json!({ "networkPolicy": { "sameNamespace": web_to_db.clone() } }),
    );
    let err = env.create_profile(&refused).await.unwrap_err().to_string();
    assert!(err.contains("set allowSameNamespace: false"), "{err}");
    let profile = env.profile(
        "segment",
        json!({
            "networkPolicy": { "allowSameNamespace": false, "sameNamespace": web_to_db },
            "guardrails": { "denyWideningNetworkPolicies": true },
        }),
    );
    let name = profile.name_any();
    env.create_profile(&profile).await.unwrap();
    env.status_where(
        &name,
        "in sync with the guardrail enforced",
        |s| match condition(s, "GuardrailsEnforced") {
            Some(g) if g.0 == "True" && s.in_sync_namespaces == 1 => Ok(()),
            _ => Err("want GuardrailsEnforced=True, 1 in sync".into()),
        },
    )
    .await;
    let client = env.client.clone();
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), &governed);
    for generated in [
        "hardening-same-namespace-0-in",
        "hardening-same-namespace-0-out",
    ] {
        policies.get(generated).await.unwrap();
    }
    let segment = |pods: Value, direction: &str, peer: Value, port: i32| {
        let rule = json!({ if direction == "Ingress" { "from" } else { "to" }: [{ "podSelector": peer }], "ports": [{ "port": port }] });
        json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": { "name": "tenant" },
            "spec": {
                "podSelector": pods,
                "policyTypes": [direction],
                direction.to_lowercase(): [rule],
            },
        })
    };
    let db = json!({ "matchLabels": { "app": "db" } });
    let web = json!({ "matchLabels": { "app": "web" } });
    eventually("the guardrail to take effect", || {
        let client = client.clone();
        let governed = governed.clone();
        let object = segment(json!({}), "Ingress", web.clone(), 5432);
        async move {
            let answer = dry_run(&client, &governed, &object).await;
            if answer.code >= 400 {
                Ok(())
            } else {
                Err(format!("still admitted: {}", answer.body))
            }
        }
    })
    .await;
    for (what, object) in [
        (
            "db admits web on 5432",
            segment(db.clone(), "Ingress", web.clone(), 5432),
        ),
        (
            "web reaches db on 5432",
            segment(web.clone(), "Egress", db.clone(), 5432),
        ),
    ] {
        assert_admitted(&dry_run(&client, &governed, &object).await, what);
    }
    for (what, object) in [
        (
            "db admits web on 22",
            segment(db.clone(), "Ingress", web.clone(), 22),
        ),
        (
            "every pod admits web",
            segment(json!({}), "Ingress", web.clone(), 5432),
        ),
        (
            "db admits every pod",
            segment(db.clone(), "Ingress", json!({}), 5432),
        ),
        (
            "web reaches every pod",
            segment(web.clone(), "Egress", json!({}), 5432),
        ),
    ] {
        assert_rejected(
            &dry_run(&client, &governed, &object).await,
            &name,
            "denyWideningNetworkPolicies",
            what,
        );
    }
    env.finish().await;
}
