//! No partial application (issue 10): before the operator first writes a profile generation
//! into a namespace, the API server judges the whole rendered set (server-side dry-run). When
//! it rejects any object, nothing changes in any namespace, the profile reports InvalidSpec
//! naming its own field, and the operator waits for a change. One check per generation.
//!
//! The operator's own validation already rejects every profile the API server would reject
//! (see `validation_oracle`), so the rejection here comes from the cluster: a
//! MutatingAdmissionPolicy rewrites the rendered egress port to 0, which the API server's
//! validation then refuses, as it would refuse a rule of a newer Kubernetes.

use std::collections::BTreeSet;
use std::time::Duration;

use hardening_tests::objects::{admission_api, labels_of, namespace};
use hardening_tests::profiles::{condition, in_sync, strict_spec};
use hardening_tests::{cluster, unique_name};
use k8s_openapi::api::core::v1::{LimitRange, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

use crate::operator_env::{OperatorEnv, SHARD_LABEL};

/// Audit events of requests with `dryRun=All` to the given namespaces, by namespace.
fn dry_runs(
    audit_log: &std::path::Path,
    from: usize,
    namespaces: &BTreeSet<String>,
) -> Vec<String> {
    std::fs::read_to_string(audit_log)
        .unwrap_or_default()
        .lines()
        .skip(from)
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["stage"] == "ResponseComplete")
        .filter(|e| {
            e["requestURI"]
                .as_str()
                .is_some_and(|u| u.contains("dryRun=All"))
        })
        .filter_map(|e| {
            let object = &e["objectRef"];
            let ns = object["namespace"]
                .as_str()
                .or_else(|| {
                    (object["resource"] == "namespaces")
                        .then(|| object["name"].as_str())
                        .flatten()
                })?
                .to_owned();
            namespaces.contains(&ns).then_some(ns)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generation_the_api_server_rejects_changes_nothing_anywhere() {
    let Some(audit_log) = cluster().audit_log() else {
        eprintln!("skipped: counting requests needs the local control plane's audit log");
        return;
    };
    let mut env = OperatorEnv::start("dry-run").await;
    let mut namespaces = BTreeSet::new();
    for _ in 0..3 {
        namespaces.insert(env.namespace(&[]).await);
    }
    let admin = env.client.clone();
    let policy_name = unique_name("zero-port");
    let policies = admission_api(&admin, "MutatingAdmissionPolicy");
    let bindings = admission_api(&admin, "MutatingAdmissionPolicyBinding");
    let apply = |api: Api<DynamicObject>, body: Value| async move {
        let name = body["metadata"]["name"].as_str().unwrap().to_owned();
        api.patch(
            &name,
            &PatchParams::apply("hardening-tests").force(),
            &Patch::Apply(&body),
        )
        .await
        .unwrap_or_else(|e| panic!("applying {name}: {e}"));
    };
    apply(
        policies.clone(),
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicy",
            "metadata": { "name": policy_name },
            "spec": {
                "failurePolicy": "Fail",
                "reinvocationPolicy": "Never",
                "matchConstraints": { "resourceRules": [{
                    "apiGroups": ["networking.k8s.io"], "apiVersions": ["v1"],
                    "operations": ["CREATE", "UPDATE"], "resources": ["networkpolicies"]
                }]},
                "matchConditions": [{ "name": "allow-egress", "expression": "object.metadata.name == 'hardening-allow-egress'" }],
                "mutations": [{
                    "patchType": "JSONPatch",
                    "jsonPatch": { "expression": "[JSONPatch{op: \"replace\", path: \"/spec/egress/0/ports/0/port\", value: 0}]" }
                }]
            }
        }),
    )
    .await;
    apply(
        bindings.clone(),
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicyBinding",
            "metadata": { "name": policy_name },
            "spec": {
                "policyName": policy_name,
                "matchResources": { "namespaceSelector": { "matchLabels": { SHARD_LABEL: env.shard } } }
            }
        }),
    )
    .await;
    // Admission policies take effect asynchronously: wait until the rewrite is refused.
    let probe_ns = namespaces.iter().next().unwrap().clone();
    let probe: Api<NetworkPolicy> = Api::namespaced(admin.clone(), &probe_ns);
    hardening_tests::eventually("the mutating policy to take effect", || async {
        let policy: NetworkPolicy = serde_json::from_value(json!({
            "metadata": { "name": "hardening-allow-egress" },
            "spec": { "podSelector": {}, "egress": [{ "ports": [{ "port": 443 }] }] }
        }))
        .unwrap();
        let dry = kube::api::PostParams {
            dry_run: true,
            ..Default::default()
        };
        match probe.create(&dry, &policy).await {
            Err(kube::Error::Api(s)) if s.code == 422 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    let mark = hardening_tests::audit::audit_lines(audit_log);
    let mut spec = strict_spec();
    spec["networkPolicy"]["egress"] =
        json!([{ "to": [{ "cidr": "10.0.0.0/8" }], "ports": [{ "port": 443 }] }]);
    let name = env
        .create_profile(&env.profile("strict", spec))
        .await
        .unwrap()
        .name_any();
    let status = env
        .status_where(&name, "InvalidSpec from the dry-run", |s| {
            match (condition(s, "Ready"), condition(s, "Stalled")) {
                (Some((r, reason)), Some((stalled, _)))
                    if r == "False" && reason == "InvalidSpec" && stalled == "True" =>
                {
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    let message = &status.conditions[0].message;
    assert!(
        message.contains("spec.networkPolicy.egress[0].ports[0].port"),
        "the message names the profile's field: {message}"
    );
    // Let any retry show itself, then check that nothing was written anywhere.
    tokio::time::sleep(Duration::from_secs(10)).await;
    for ns in &namespaces {
        let live = namespace(&admin, ns).await;
        assert!(
            !labels_of(&live)
                .keys()
                .any(|k| k.starts_with("pod-security.kubernetes.io/")),
            "labels written in {ns}"
        );
        assert!(
            !live
                .annotations()
                .keys()
                .any(|k| k.starts_with("hardening.dev/")),
            "annotations written in {ns}"
        );
        let objects = Api::<NetworkPolicy>::namespaced(admin.clone(), ns)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len()
            + Api::<ResourceQuota>::namespaced(admin.clone(), ns)
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .len()
            + Api::<LimitRange>::namespaced(admin.clone(), ns)
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .len();
        assert_eq!(objects, 0, "objects written in {ns}");
    }
    // One check for the generation, in one namespace, and no retry of it.
    let checked = dry_runs(audit_log, mark, &namespaces);
    let checked_namespaces: BTreeSet<&String> = checked.iter().collect();
    eprintln!(
        "dry-run requests for the rejected generation: {} in {} namespace(s)",
        checked.len(),
        checked_namespaces.len()
    );
    assert_eq!(checked_namespaces.len(), 1, "{checked:?}");
    assert_eq!(
        checked.len(),
        7,
        "6 objects and the namespace, once: {checked:?}"
    );

    // Without the rewrite, a new generation is checked again and applied everywhere.
    let _ = bindings
        .delete(&policy_name, &DeleteParams::default())
        .await;
    let _ = policies
        .delete(&policy_name, &DeleteParams::default())
        .await;
    hardening_tests::eventually("the mutating policy gone", || async {
        let policy: NetworkPolicy = serde_json::from_value(json!({
            "metadata": { "name": "hardening-allow-egress" },
            "spec": { "podSelector": {}, "egress": [{ "ports": [{ "port": 443 }] }] }
        }))
        .unwrap();
        let dry = kube::api::PostParams {
            dry_run: true,
            ..Default::default()
        };
        probe
            .create(&dry, &policy)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await;
    env.patch_spec(
        &name,
        json!({ "resourceQuota": { "hard": { "pods": "11" } } }),
    )
    .await;
    env.status_where(&name, "in sync everywhere", in_sync(3))
        .await;
    env.finish().await;
}
