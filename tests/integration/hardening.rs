//! The operator against a real API server: what it generates, how it repairs and reports
//! drift, priorities, cleanup, validation, and that it is quiet in steady state.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use hardening_operator::core::api::{HardeningProfile, HardeningProfileStatus, NamespaceState};
use hardening_tests::audit::{audit_lines, writes_since};
use hardening_tests::objects::{events_for, labels_of, namespace};
use hardening_tests::profiles::{condition, in_sync, strict_spec};
use hardening_tests::{cluster, eventually};
use k8s_openapi::api::core::v1::{LimitRange, Namespace, Pod, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::operator_env::{OperatorEnv, SHARD_LABEL};

const GENERATED_POLICIES: [&str; 3] = [
    "hardening-allow-dns",
    "hardening-allow-same-namespace",
    "hardening-default-deny",
];

async fn policy_names(client: &Client, ns: &str) -> BTreeSet<String> {
    Api::<NetworkPolicy>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|p| p.name_any())
        .collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// An operator, one namespace of its shard, and a strict profile governing it, in sync.
async fn strict_namespace(prefix: &str) -> (OperatorEnv, String, String) {
    let mut env = OperatorEnv::start(prefix).await;
    let ns = env.namespace(&[]).await;
    let name = env
        .create_profile(&env.profile("strict", strict_spec()))
        .await
        .unwrap()
        .name_any();
    env.status_where(&name, "in sync", in_sync(1)).await;
    (env, ns, name)
}

/// Waits for an Event with `reason` about `profile`.
async fn wait_for_event(client: &Client, profile: &str, reason: &str) {
    eventually(&format!("a {reason} event on {profile}"), || async {
        let events = events_for(client, profile).await;
        if events.iter().any(|e| e.reason.as_deref() == Some(reason)) {
            Ok(())
        } else {
            Err(format!("{} other events", events.len()))
        }
    })
    .await;
}

/// Waits until `name` is gone (its finalizer, if any, removed by the operator).
async fn wait_until_deleted(profiles: &Api<HardeningProfile>, name: &str) {
    eventually(&format!("profile {name} to be gone"), || async {
        match profiles.get_opt(name).await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(p) => Err(format!("still there, finalizers {:?}", p.finalizers())),
        }
    })
    .await;
}

fn q(s: &str) -> k8s_openapi::apimachinery::pkg::api::resource::Quantity {
    k8s_openapi::apimachinery::pkg::api::resource::Quantity(s.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardens_matching_namespaces_only() {
    let mut env = OperatorEnv::start("select").await;
    let selected = env.namespace(&[("team", "a")]).await;
    let other = env.unselected_namespace().await;
    let profile = env
        .create_profile(&env.profile("strict", strict_spec()))
        .await
        .unwrap();
    let name = profile.name_any();
    let status = env
        .status_where(&name, "one namespace in sync", in_sync(1))
        .await;
    assert_eq!(status.observed_generation, profile.metadata.generation);
    assert_eq!(
        condition(&status, "Ready"),
        Some(("True".into(), "InSync".into()))
    );
    assert_eq!(
        condition(&status, "Drifted"),
        Some(("False".into(), "NoDrift".into()))
    );
    // Every requirement of both catalogues has a verdict, with catalogue and edition.
    assert_eq!(status.compliance.len(), 47, "{:?}", status.compliance);
    let a5 = status
        .compliance
        .iter()
        .find(|e| e.id == "SYS.1.6.A5")
        .unwrap();
    assert_eq!(
        (a5.catalogue.as_str(), a5.edition.as_str()),
        ("BSI IT-Grundschutz SYS.1.6 Containerisierung", "2023")
    );
    assert_ne!(
        a5.verdict,
        hardening_operator::core::api::Verdict::Met,
        "{}",
        a5.reason
    );

    let client = &env.client;
    assert_eq!(
        policy_names(client, &selected).await,
        names(&GENERATED_POLICIES)
    );
    let quota = Api::<ResourceQuota>::namespaced(client.clone(), &selected)
        .get("hardening-quota")
        .await
        .unwrap();
    assert_eq!(
        quota.spec.unwrap().hard.unwrap(),
        BTreeMap::from([
            ("pods".into(), q("10")),
            ("requests.cpu".into(), q("2")),
            ("limits.memory".into(), q("4Gi"))
        ])
    );
    assert_eq!(
        quota.metadata.labels.as_ref().unwrap()["hardening.dev/profile"],
        name
    );
    let owner = &quota.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("HardeningProfile", name.as_str())
    );
    Api::<LimitRange>::namespaced(client.clone(), &selected)
        .get("hardening-limits")
        .await
        .unwrap();

    let ns = namespace(client, &selected).await;
    let labels = labels_of(&ns);
    assert_eq!(labels["pod-security.kubernetes.io/enforce"], "restricted");
    assert_eq!(labels["pod-security.kubernetes.io/warn"], "restricted");
    assert_eq!(
        labels["team"], "a",
        "labels the operator does not own are kept"
    );
    assert_eq!(ns.annotations()["hardening.dev/profile"], name);

    assert!(policy_names(client, &other).await.is_empty());
    let other_ns = namespace(client, &other).await;
    assert!(
        !labels_of(&other_ns)
            .keys()
            .any(|k| k.starts_with("pod-security.kubernetes.io/"))
    );
    assert!(
        Api::<ResourceQuota>::namespaced(client.clone(), &other)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_labelled_later_is_hardened_within_seconds() {
    let mut env = OperatorEnv::start("later").await;
    let profile = env
        .create_profile(&env.profile("strict", strict_spec()))
        .await
        .unwrap();
    let name = profile.name_any();
    env.status_where(&name, "profile reconciled", in_sync(0))
        .await;
    let ns = env.unselected_namespace().await;
    let started = Instant::now();
    env.set_namespace_labels(&ns, json!({ SHARD_LABEL: env.shard }))
        .await;
    let client = env.client.clone();
    eventually(
        "generated objects in the newly labelled namespace",
        || async {
            let found = policy_names(&client, &ns).await;
            let quota = Api::<ResourceQuota>::namespaced(client.clone(), &ns)
                .get_opt("hardening-quota")
                .await
                .unwrap();
            let labels = labels_of(&namespace(&client, &ns).await);
            if found == names(&GENERATED_POLICIES)
                && quota.is_some()
                && labels.contains_key("pod-security.kubernetes.io/enforce")
            {
                Ok(())
            } else {
                Err(format!("policies {found:?}, quota {}", quota.is_some()))
            }
        },
    )
    .await;
    eprintln!(
        "namespace hardened {} ms after it was labelled",
        started.elapsed().as_millis()
    );
    env.status_where(&name, "status counts the new namespace", in_sync(1))
        .await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_objects_are_enforced_by_the_api_server() {
    let (env, ns, _) = strict_namespace("enforced").await;
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), &ns);

    let privileged: Pod = serde_json::from_value(json!({
        "metadata": { "name": "privileged" },
        "spec": { "containers": [{ "name": "c", "image": "registry.example/app:1.0",
                                    "securityContext": { "privileged": true } }] }
    }))
    .unwrap();
    match pods.create(&PostParams::default(), &privileged).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 403);
            assert!(
                s.message
                    .contains("violates PodSecurity \"restricted:latest\""),
                "{}",
                s.message
            );
        }
        other => panic!("a privileged pod must be rejected, got {other:?}"),
    }

    // A compliant pod without resources gets the LimitRange's defaults.
    let compliant: Pod = serde_json::from_value(json!({
        "metadata": { "name": "compliant" },
        "spec": {
            "securityContext": { "runAsNonRoot": true, "seccompProfile": { "type": "RuntimeDefault" } },
            "containers": [{ "name": "c", "image": "registry.example/app:1.0",
                "securityContext": { "allowPrivilegeEscalation": false, "capabilities": { "drop": ["ALL"] } } }]
        }
    }))
    .unwrap();
    let created = pods
        .create(&PostParams::default(), &compliant)
        .await
        .unwrap();
    let resources = created.spec.unwrap().containers[0]
        .resources
        .clone()
        .unwrap();
    assert_eq!(
        resources.requests.unwrap(),
        BTreeMap::from([("cpu".into(), q("100m")), ("memory".into(), q("128Mi"))])
    );
    assert_eq!(
        resources.limits.unwrap(),
        BTreeMap::from([("cpu".into(), q("300m")), ("memory".into(), q("256Mi"))])
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforce_mode_repairs_edits_deletions_and_relabelling() {
    let (env, ns, name) = strict_namespace("repair").await;
    let client = env.client.clone();
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), &ns);
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), &ns);
    let ranges: Api<LimitRange> = Api::namespaced(client.clone(), &ns);
    let as_manager = |m: &str| PatchParams {
        field_manager: Some(m.into()),
        ..Default::default()
    };

    // Edited: someone raises the pod quota.
    quotas
        .patch(
            "hardening-quota",
            &as_manager("kubectl-edit"),
            &Patch::Merge(json!({ "spec": { "hard": { "pods": "99" } } })),
        )
        .await
        .unwrap();
    // Deleted: someone removes the default-deny policy.
    let old_uid = policies.get("hardening-default-deny").await.unwrap().uid();
    policies
        .delete("hardening-default-deny", &DeleteParams::default())
        .await
        .unwrap();
    // Relabelled: the LimitRange loses its managed-by label (and so leaves the watch).
    ranges
        .patch(
            "hardening-limits",
            &as_manager("kubectl-label"),
            &Patch::Merge(
                json!({ "metadata": { "labels": { "app.kubernetes.io/managed-by": null } } }),
            ),
        )
        .await
        .unwrap();
    // The namespace's Pod Security level lowered: the profile's mutating admission policy
    // puts it back in the same request once the API server has taken the policy in (about a
    // second after it is written), the operator repairs it before that.
    Api::<Namespace>::all(client.clone())
        .patch(&ns, &as_manager("kubectl-label"), &Patch::Merge(json!({ "metadata": { "labels": { "pod-security.kubernetes.io/enforce": "privileged" } } })))
        .await
        .unwrap();

    eventually("every drift repaired", || async {
        let pods = quotas
            .get("hardening-quota")
            .await
            .map_err(|e| e.to_string())?
            .spec
            .unwrap()
            .hard
            .unwrap()["pods"]
            .clone();
        let policy = policies
            .get_opt("hardening-default-deny")
            .await
            .map_err(|e| e.to_string())?;
        let range_labels = ranges
            .get("hardening-limits")
            .await
            .map_err(|e| e.to_string())?
            .metadata
            .labels
            .unwrap_or_default();
        let enforce = labels_of(&namespace(&client, &ns).await)
            .get("pod-security.kubernetes.io/enforce")
            .cloned();
        let state = (
            pods.0.as_str(),
            policy.as_ref().map(|p| p.uid() != old_uid),
            range_labels
                .get("app.kubernetes.io/managed-by")
                .map(String::as_str),
            enforce.as_deref(),
        );
        if state
            == (
                "10",
                Some(true),
                Some("hardening-operator"),
                Some("restricted"),
            )
        {
            Ok(())
        } else {
            Err(format!("{state:?}"))
        }
    })
    .await;

    let status = env
        .status_where(&name, "repairs counted", |s| {
            if s.repairs_total >= 3 {
                Ok(())
            } else {
                Err(format!("repairsTotal {}", s.repairs_total))
            }
        })
        .await;
    assert_eq!(status.in_sync_namespaces, 1);
    let notes: Vec<String> = eventually("Repaired events naming the field managers", || async {
        let notes: Vec<String> = events_for(&client, &name)
            .await
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("Repaired"))
            .filter_map(|e| e.note)
            .collect();
        let text = notes.join("\n");
        if text.contains("kubectl-edit") && text.contains("app.kubernetes.io/managed-by\"] removed")
        {
            Ok(notes)
        } else {
            Err(text)
        }
    })
    .await;
    assert!(
        notes.iter().any(|n| n.contains("ResourceQuota")
            && n.contains("spec.hard.pods")
            && n.contains("kubectl-edit")),
        "{notes:?}"
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_mode_reports_drift_with_the_field_manager_and_changes_nothing() {
    let (mut env, ns, name) = strict_namespace("audit").await;
    env.patch_spec(&name, json!({ "mode": "Audit" })).await;
    env.status_where(&name, "audited", |s| match condition(s, "Ready") {
        Some((st, reason)) if st == "True" && reason == "Audited" && s.drifted_namespaces == 0 => {
            Ok(())
        }
        other => Err(format!("Ready {other:?}")),
    })
    .await;

    let client = env.client.clone();
    let manager = |m: &str| PatchParams {
        field_manager: Some(m.into()),
        ..Default::default()
    };
    Api::<ResourceQuota>::namespaced(client.clone(), &ns)
        .patch(
            "hardening-quota",
            &manager("kubectl-edit"),
            &Patch::Merge(json!({ "spec": { "hard": { "pods": "99" } } })),
        )
        .await
        .unwrap();
    Api::<Namespace>::all(client.clone())
        .patch(&ns, &manager("kubectl-label"), &Patch::Merge(json!({ "metadata": { "labels": { "pod-security.kubernetes.io/enforce": "baseline" } } })))
        .await
        .unwrap();

    let status = env
        .status_where(&name, "drift reported", |s| {
            let entry = s
                .namespaces
                .iter()
                .find(|n| n.state == NamespaceState::Drifted)
                .ok_or("no drifted namespace")?;
            if entry.drift.len() >= 2 {
                Ok(())
            } else {
                Err("both drifts not reported yet".into())
            }
        })
        .await;
    assert_eq!(status.drifted_namespaces, 1);
    assert_eq!(condition(&status, "Drifted").unwrap().0, "True");
    let entry = &status.namespaces[0];
    assert_eq!(entry.name, ns);
    let quota_drift = entry
        .drift
        .iter()
        .find(|d| d.kind == "ResourceQuota")
        .expect("quota drift");
    assert_eq!(
        (
            quota_drift.name.as_str(),
            quota_drift.field.as_str(),
            quota_drift.expected.as_deref(),
            quota_drift.actual.as_deref(),
            quota_drift.manager.as_deref()
        ),
        (
            "hardening-quota",
            "spec.hard.pods",
            Some("10"),
            Some("99"),
            Some("kubectl-edit")
        )
    );
    let label_drift = entry
        .drift
        .iter()
        .find(|d| d.kind == "Namespace")
        .expect("label drift");
    assert_eq!(
        (
            label_drift.field.as_str(),
            label_drift.expected.as_deref(),
            label_drift.actual.as_deref(),
            label_drift.manager.as_deref()
        ),
        (
            "metadata.labels[\"pod-security.kubernetes.io/enforce\"]",
            Some("restricted"),
            Some("baseline"),
            Some("kubectl-label")
        )
    );
    // Audit mode wrote nothing back.
    let quota = Api::<ResourceQuota>::namespaced(client.clone(), &ns)
        .get("hardening-quota")
        .await
        .unwrap();
    assert_eq!(quota.spec.unwrap().hard.unwrap()["pods"], q("99"));
    assert_eq!(
        labels_of(&namespace(&client, &ns).await)["pod-security.kubernetes.io/enforce"],
        "baseline"
    );

    // A namespace that joins an Audit profile gets nothing, and is reported.
    let fresh = env.namespace(&[]).await;
    env.status_where(&name, "fresh namespace reported", |s| {
        if s.drifted_namespaces == 2 {
            Ok(())
        } else {
            Err(format!("drifted {}", s.drifted_namespaces))
        }
    })
    .await;
    assert!(policy_names(&client, &fresh).await.is_empty());
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_higher_priority_profile_wins_and_the_other_reports_the_conflict() {
    let mut env = OperatorEnv::start("priority").await;
    let ns = env.namespace(&[]).await;
    let low = env
        .create_profile(&env.profile(
            "low",
            json!({ "priority": 1, "podSecurity": { "enforce": { "level": "baseline" } } }),
        ))
        .await
        .unwrap()
        .name_any();
    let high = env
        .create_profile(&env.profile(
            "high",
            json!({ "priority": 10, "podSecurity": { "enforce": { "level": "restricted" } } }),
        ))
        .await
        .unwrap()
        .name_any();
    env.status_where(&high, "high governs", in_sync(1)).await;
    let status = env
        .status_where(&low, "low reports the conflict", |s| {
            if s.conflicting_namespaces == 1 {
                Ok(())
            } else {
                Err(format!("conflicting {}", s.conflicting_namespaces))
            }
        })
        .await;
    assert_eq!(condition(&status, "Conflicting").unwrap().0, "True");
    assert_eq!(status.namespaces[0].state, NamespaceState::Conflict);
    assert!(
        status.namespaces[0]
            .message
            .as_deref()
            .unwrap()
            .contains(&high)
    );
    let client = env.client.clone();
    let ns_obj = namespace(&client, &ns).await;
    assert_eq!(
        labels_of(&ns_obj)["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    assert_eq!(ns_obj.annotations()["hardening.dev/profile"], high);
    wait_for_event(&client, &low, "NamespaceConflict").await;

    // Without the winner, the other profile takes over.
    env.profiles_api()
        .delete(&high, &DeleteParams::default())
        .await
        .unwrap();
    env.status_where(&low, "low governs", in_sync(1)).await;
    let ns_obj = namespace(&client, &ns).await;
    assert_eq!(
        labels_of(&ns_obj)["pod-security.kubernetes.io/enforce"],
        "baseline"
    );
    assert_eq!(ns_obj.annotations()["hardening.dev/profile"], low);
    env.finish().await;
}

/// A profile being deleted may keep its namespace-mutating admission policy in force in
/// the API server for a moment after the operator deleted it, and change what the operator
/// writes to a namespace another profile now governs. Such a write is tried again with a
/// backoff until it takes, not held as "not converging" (which waited for a change that
/// never came: CI saw the takeover after deleting the winner stall that way). Here a
/// mutating policy of the test's own plays the lingering policy, and a profile whose
/// deletion a finalizer of the test's own holds open is the profile being deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_a_deleted_profiles_policy_undoes_is_tried_again_once_it_is_gone() {
    lingering_policy(Doomed::SelectsTheNamespace).await;
}

/// Only a profile being deleted that selects the namespace makes its write be tried again:
/// with one selecting other namespaces, a write that does not take is held (reported as
/// NotConverging, not repeated) until something changes, as any write that does not take.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_deleted_elsewhere_does_not_make_a_write_be_tried_again() {
    lingering_policy(Doomed::SelectsNothing).await;
}

#[derive(PartialEq)]
enum Doomed {
    SelectsTheNamespace,
    SelectsNothing,
}

async fn lingering_policy(doomed_selects: Doomed) {
    let mut env = OperatorEnv::start("lingering").await;
    let client = env.client.clone();
    let ns = env.namespace(&[]).await;
    let low = env
        .create_profile(&env.profile(
            "low",
            json!({ "podSecurity": { "enforce": { "level": "baseline" } } }),
        ))
        .await
        .unwrap()
        .name_any();
    env.status_where(&low, "low governs", in_sync(1)).await;
    // A profile below low (low keeps governing), deleted, its deletion held open.
    let selected = match doomed_selects {
        Doomed::SelectsTheNamespace => ns.as_str(),
        Doomed::SelectsNothing => "none",
    };
    let mut doomed = env.profile(
        "doomed",
        json!({
            "priority": -1,
            "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": selected } },
        }),
    );
    doomed.metadata.finalizers = Some(vec!["test.hardening.dev/hold".to_owned()]);
    let doomed = env.create_profile(&doomed).await.unwrap().name_any();
    env.profiles_api()
        .delete(&doomed, &DeleteParams::default())
        .await
        .unwrap();
    // The lingering policy: every update of the namespace gets `restricted`.
    let policy = format!("{ns}-lingering");
    let maps = hardening_tests::objects::admission_api(&client, "MutatingAdmissionPolicy");
    let bindings =
        hardening_tests::objects::admission_api(&client, "MutatingAdmissionPolicyBinding");
    let object = |kind: &str, spec: serde_json::Value| {
        serde_json::from_value::<kube::api::DynamicObject>(json!({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
            "metadata": { "name": policy }, "spec": spec,
        }))
        .unwrap()
    };
    maps.create(
        &PostParams::default(),
        &object(
            "MutatingAdmissionPolicy",
            json!({
                "failurePolicy": "Fail",
                "reinvocationPolicy": "Never",
                "matchConstraints": { "resourceRules": [{
                    "apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"],
                    "resources": ["namespaces"],
                }] },
                "matchConditions": [{ "name": "this", "expression": format!("object.metadata.name == '{ns}'") }],
                "mutations": [{ "patchType": "ApplyConfiguration", "applyConfiguration": {
                    "expression": "Object{metadata: Object.metadata{labels: {'pod-security.kubernetes.io/enforce': 'restricted'}}}",
                } }],
            }),
        ),
    )
    .await
    .unwrap();
    bindings
        .create(
            &PostParams::default(),
            &object(
                "MutatingAdmissionPolicyBinding",
                json!({ "policyName": policy }),
            ),
        )
        .await
        .unwrap();
    // The API server takes new admission policies in within about a second.
    tokio::time::sleep(Duration::from_secs(2)).await;
    // A new generation of low writes the namespace; the policy undoes its enforce label.
    env.profiles_api()
        .patch(
            &low,
            &PatchParams::default(),
            &Patch::Merge(
                json!({ "spec": { "podSecurity": { "warn": { "level": "restricted" } } } }),
            ),
        )
        .await
        .unwrap();
    eventually("the namespace's write undone by the policy", || async {
        let labels = labels_of(&namespace(&client, &ns).await);
        (labels
            .get("pod-security.kubernetes.io/warn")
            .map(String::as_str)
            == Some("restricted")
            && labels["pod-security.kubernetes.io/enforce"] == "restricted")
            .then_some(())
            .ok_or(format!("{labels:?}"))
    })
    .await;
    // The lingering policy goes; the operator's next try takes.
    bindings
        .delete(&policy, &DeleteParams::default())
        .await
        .unwrap();
    maps.delete(&policy, &DeleteParams::default())
        .await
        .unwrap();
    let enforced = || async {
        labels_of(&namespace(&client, &ns).await)["pod-security.kubernetes.io/enforce"].clone()
    };
    if doomed_selects == Doomed::SelectsTheNamespace {
        env.status_where(&low, "low in sync again", in_sync(1))
            .await;
        assert_eq!(enforced().await, "baseline");
    } else {
        let held = |s: &HardeningProfileStatus| match s.namespaces.first() {
            Some(entry) if entry.reason.as_deref() == Some("NotConverging") => Ok(()),
            other => Err(format!("{other:?}")),
        };
        env.status_where(&low, "low reports the write that did not take", held)
            .await;
        // Retries would have come within 1 + 2 + 4 s of the write that did not take.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let status = env
            .status_where(&low, "low still holds the write", held)
            .await;
        assert_eq!(status.in_sync_namespaces, 0);
        assert_eq!(enforced().await, "restricted");
    }
    env.profiles_api()
        .patch(
            &doomed,
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "finalizers": null } })),
        )
        .await
        .unwrap();
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deselected_namespaces_and_deleted_profiles_are_cleaned_up() {
    let mut env = OperatorEnv::start("cleanup").await;
    let leaving = env.namespace(&[("team", "a")]).await;
    let staying = env.namespace(&[]).await;
    let profile = env
        .create_profile(&env.profile("strict", strict_spec()))
        .await
        .unwrap();
    let name = profile.name_any();
    env.status_where(&name, "in sync", in_sync(2)).await;
    let client = env.client.clone();

    // Deselection: the shard label goes, and with it everything generated.
    env.set_namespace_labels(&leaving, json!({ SHARD_LABEL: null }))
        .await;
    eventually("cleanup of the deselected namespace", || async {
        let left = policy_names(&client, &leaving).await;
        let ns = namespace(&client, &leaving).await;
        let psa: Vec<String> = labels_of(&ns)
            .into_keys()
            .filter(|k| k.starts_with("pod-security"))
            .collect();
        if left.is_empty()
            && psa.is_empty()
            && !ns.annotations().contains_key("hardening.dev/profile")
        {
            Ok(())
        } else {
            Err(format!("policies {left:?}, labels {psa:?}"))
        }
    })
    .await;
    assert_eq!(labels_of(&namespace(&client, &leaving).await)["team"], "a");
    assert!(
        Api::<ResourceQuota>::namespaced(client.clone(), &leaving)
            .get_opt("hardening-quota")
            .await
            .unwrap()
            .is_none()
    );
    env.status_where(&name, "one namespace left", in_sync(1))
        .await;

    // Deletion of the profile: the finalizer holds it until the namespace is clean.
    env.profiles_api()
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    let profiles = env.profiles_api();
    wait_until_deleted(&profiles, &name).await;
    assert!(policy_names(&client, &staying).await.is_empty());
    assert!(
        Api::<LimitRange>::namespaced(client.clone(), &staying)
            .get_opt("hardening-limits")
            .await
            .unwrap()
            .is_none()
    );
    let ns = namespace(&client, &staying).await;
    assert!(
        !labels_of(&ns).keys().any(|k| k.starts_with("pod-security")),
        "{:?}",
        labels_of(&ns)
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_policy_orphan_keeps_what_was_generated() {
    let mut env = OperatorEnv::start("orphan").await;
    let ns = env.namespace(&[]).await;
    let mut spec = strict_spec();
    spec["cleanupPolicy"] = json!("Orphan");
    let profile = env
        .create_profile(&env.profile("keep", spec))
        .await
        .unwrap();
    let name = profile.name_any();
    env.status_where(&name, "in sync", in_sync(1)).await;
    env.profiles_api()
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    let profiles = env.profiles_api();
    wait_until_deleted(&profiles, &name).await;
    // Give the garbage collector time to act, were anything still owned by the profile.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let client = env.client.clone();
    assert_eq!(policy_names(&client, &ns).await, names(&GENERATED_POLICIES));
    let quota = Api::<ResourceQuota>::namespaced(client.clone(), &ns)
        .get("hardening-quota")
        .await
        .unwrap();
    assert!(
        quota.owner_references().is_empty(),
        "{:?}",
        quota.owner_references()
    );
    let ns_obj = namespace(&client, &ns).await;
    assert_eq!(
        labels_of(&ns_obj)["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    assert!(!ns_obj.annotations().contains_key("hardening.dev/profile"));
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_object_with_a_generated_name_is_left_alone_and_reported() {
    let mut env = OperatorEnv::start("foreign").await;
    let ns = env.namespace(&[]).await;
    let policies: Api<NetworkPolicy> = Api::namespaced(env.client.clone(), &ns);
    let theirs: NetworkPolicy = serde_json::from_value(json!({
        "metadata": { "name": "hardening-default-deny", "labels": { "owner": "someone-else" } },
        "spec": { "podSelector": { "matchLabels": { "app": "theirs" } }, "policyTypes": ["Ingress"] }
    }))
    .unwrap();
    let created = policies
        .create(
            &PostParams {
                field_manager: Some("someone-else".into()),
                ..Default::default()
            },
            &theirs,
        )
        .await
        .unwrap();
    let profile = env
        .create_profile(&env.profile("strict", strict_spec()))
        .await
        .unwrap();
    let name = profile.name_any();
    // The namespace cannot be brought to the profile: the profile is not Ready, and says why.
    let status = env
        .status_where(&name, "the foreign object reported", |s| {
            match (condition(s, "Ready"), condition(s, "Stalled")) {
                (Some((ready, reason)), Some((stalled, _)))
                    if ready == "False" && reason == "ForeignObject" && stalled == "True" =>
                {
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    assert_eq!(
        (status.failed_namespaces, status.conflicting_namespaces),
        (1, 0)
    );
    assert_eq!(
        status.namespaces[0].reason.as_deref(),
        Some("ForeignObject")
    );
    let message = status.namespaces[0].message.clone().unwrap_or_default();
    assert!(
        message.contains("NetworkPolicy hardening-default-deny exists"),
        "{message}"
    );
    // Everything else is generated; the foreign object is untouched.
    let client = env.client.clone();
    eventually("the other objects generated", || async {
        let quota = Api::<ResourceQuota>::namespaced(client.clone(), &ns)
            .get_opt("hardening-quota")
            .await
            .map_err(|e| e.to_string())?;
        if quota.is_some() && policy_names(&client, &ns).await == names(&GENERATED_POLICIES) {
            Ok(())
        } else {
            Err("not yet".into())
        }
    })
    .await;
    let now = policies.get("hardening-default-deny").await.unwrap();
    assert_eq!(
        now.resource_version(),
        created.resource_version(),
        "the foreign object was modified"
    );
    wait_for_event(&client, &name, "ForeignObject").await;
    // Once it is gone, the operator's own policy takes its place and the profile is Ready.
    policies
        .delete("hardening-default-deny", &DeleteParams::default())
        .await
        .unwrap();
    env.status_where(&name, "in sync once the foreign object is gone", in_sync(1))
        .await;
    let own = policies.get("hardening-default-deny").await.unwrap();
    assert!(hardening_operator::core::plan::applied_by_operator(
        &serde_json::from_value(serde_json::to_value(&own).unwrap()).unwrap()
    ));
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_profiles_are_rejected_with_messages_naming_the_field() {
    let mut env = OperatorEnv::start("invalid").await;
    let cases = [
        (
            json!({ "networkPolicy": { "egress": [{ "to": [{ "cidr": "10.0.0.0/33" }] }] } }),
            "spec.networkPolicy.egress[0].to[0]",
        ),
        (
            json!({ "resourceQuota": { "hard": { "pods": "abc" } } }),
            "spec.resourceQuota.hard",
        ),
        (
            json!({ "limitRange": { "limits": [{ "type": "Container", "min": { "cpu": "2" }, "max": { "cpu": "1" } }] } }),
            "min must not exceed max",
        ),
        (
            json!({ "networkPolicy": { "ingress": [{ "ports": [{ "port": 70000 }] }] } }),
            "spec.networkPolicy.ingress[0].ports[0].port",
        ),
        (
            json!({ "podSecurity": { "enforce": { "level": "superstrict" } } }),
            "spec.podSecurity.enforce.level",
        ),
        (json!({ "mode": "Sometimes" }), "spec.mode"),
        // Rules of the generated objects, stopped at the profile (issue 10).
        (
            json!({ "networkPolicy": { "egress": [{ "to": [{ "cidr": "10.0.0.1/8" }] }] } }),
            "spec.networkPolicy.egress[0].to[0].cidr: Invalid value: \"10.0.0.1/8\": cidr 10.0.0.1/8 has bits set beyond its prefix length",
        ),
        (
            json!({ "resourceQuota": { "hard": { "pods": "1.5" } } }),
            "spec.resourceQuota.hard: Invalid value: object counts",
        ),
        (
            json!({ "resourceQuota": { "hard": { "gpu": "1" } } }),
            "spec.resourceQuota.hard: Invalid value: resource names must be qualified names a ResourceQuota can cap",
        ),
        (
            json!({ "limitRange": { "limits": [{ "type": "Container", "min": { "cpu": "1" }, "max": { "cpu": "2" }, "maxLimitRequestRatio": { "cpu": "3" } }] } }),
            "spec.limitRange.limits[0]: Invalid value: maxLimitRequestRatio must not exceed max / min",
        ),
        (
            json!({ "podSecurity": { "enforce": { "level": "baseline", "version": "v1.01" } } }),
            "spec.podSecurity.enforce.version",
        ),
        (
            json!({ "apparmor": { "denyWrite": ["/etc/{passwd}"] } }),
            "spec.apparmor.denyWrite[0]",
        ),
    ];
    let resource =
        kube::core::ApiResource::erase::<hardening_operator::core::api::HardeningProfile>(&());
    let raw: Api<kube::api::DynamicObject> = Api::all_with(env.client.clone(), &resource);
    for (i, (spec, expected)) in cases.into_iter().enumerate() {
        // Sent as plain JSON: the typed client would refuse some of these before sending.
        let mut manifest =
            serde_json::to_value(env.profile(&format!("bad{i}"), json!({}))).unwrap();
        manifest["spec"]
            .as_object_mut()
            .unwrap()
            .extend(spec.as_object().unwrap().clone());
        let object: kube::api::DynamicObject = serde_json::from_value(manifest).unwrap();
        match raw.create(&PostParams::default(), &object).await {
            Err(kube::Error::Api(s)) => {
                assert_eq!(s.code, 422, "{}", s.message);
                assert!(
                    s.message.contains(expected),
                    "case {i}: {:?} does not name {expected:?}",
                    s.message
                );
            }
            other => panic!(
                "case {i} must be rejected, got {:?}",
                other.map(|p| p.name_any())
            ),
        }
    }

    // What the schema cannot check, the operator reports and then changes nothing.
    let ns = env.namespace(&[]).await;
    let profile = env
        .create_profile(&env.profile(
            "selector",
            json!({
                "namespaceSelector": { "matchExpressions": [{ "key": SHARD_LABEL, "operator": "In" }] },
                "podSecurity": { "enforce": { "level": "restricted" } }
            }),
        ))
        .await
        .unwrap();
    let status = env
        .status_where(
            &profile.name_any(),
            "InvalidSpec reported",
            |s| match condition(s, "Ready") {
                Some((st, reason)) if st == "False" && reason == "InvalidSpec" => Ok(()),
                other => Err(format!("Ready {other:?}")),
            },
        )
        .await;
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert!(
        ready
            .message
            .contains("spec.namespaceSelector.matchExpressions[0]"),
        "{}",
        ready.message
    );
    assert_eq!(
        condition(&status, "Stalled"),
        Some(("True".into(), "InvalidSpec".into()))
    );
    assert!(
        !labels_of(&namespace(&env.client, &ns).await)
            .contains_key("pod-security.kubernetes.io/enforce")
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_state_makes_no_writes() {
    let Some(audit_log) = cluster().audit_log() else {
        eprintln!("skipped: counting writes needs the local control plane's audit log");
        return;
    };
    let (env, ns, name) = strict_namespace("quiet").await;
    // Let the status write and any echo of it settle.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Changes that trigger reconciles but change nothing the operator owns.
    env.set_namespace_labels(&ns, json!({ "unrelated": "1" }))
        .await;
    env.profiles_api()
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "labels": { "unrelated": "1" } } })),
        )
        .await
        .unwrap();
    let mark = audit_lines(audit_log);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let writes = writes_since(audit_log, mark, &ns, &name);
    assert!(
        writes.is_empty(),
        "the operator wrote in steady state: {writes:#?}"
    );
    eprintln!("steady state: 0 writes in 5 s after 2 no-op triggers");

    // The count is real: a drift makes the operator write, and the log shows it (marked
    // before the drift: the repair may be logged before the drift's answer is read).
    let mark = audit_lines(audit_log);
    Api::<ResourceQuota>::namespaced(env.client.clone(), &ns)
        .patch(
            "hardening-quota",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "hard": { "pods": "99" } } })),
        )
        .await
        .unwrap();
    eventually("the repair to appear in the audit log", || async {
        let writes = writes_since(audit_log, mark, &ns, &name);
        if writes
            .iter()
            .any(|w| w.contains("resourcequotas") && w.contains("patch"))
        {
            Ok(())
        } else {
            Err(format!("{writes:?}"))
        }
    })
    .await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excluded_and_system_namespaces_are_never_touched() {
    let mut env = OperatorEnv::start("excluded").await;
    let by_profile = env.namespace(&[]).await;
    let by_config = env.namespace(&[]).await;
    let hardened = env.namespace(&[]).await;
    env.stop_operator().await;
    env.start_operator(hardening_operator::config::RunConfig {
        excluded_namespaces: vec![by_config.clone()],
        ..Default::default()
    });
    let mut spec = strict_spec();
    spec["excludedNamespaces"] = json!([by_profile]);
    let name = env
        .create_profile(&env.profile("strict", spec))
        .await
        .unwrap()
        .name_any();
    env.status_where(&name, "only the third namespace", in_sync(1))
        .await;

    // A profile that names kube-system explicitly still gets nothing there.
    let mut system = env.profile(
        "system",
        json!({ "podSecurity": { "enforce": { "level": "restricted" } } }),
    );
    system.spec.namespace_selector.match_labels = Some(BTreeMap::from([(
        "kubernetes.io/metadata.name".into(),
        "kube-system".into(),
    )]));
    let system = env.create_profile(&system).await.unwrap().name_any();
    env.status_where(&system, "nothing selected", |s| {
        match condition(s, "Ready") {
            Some((st, _)) if st == "True" && s.selected_namespaces == 0 => Ok(()),
            other => Err(format!(
                "Ready {other:?}, selected {}",
                s.selected_namespaces
            )),
        }
    })
    .await;

    let client = env.client.clone();
    assert_eq!(
        policy_names(&client, &hardened).await,
        names(&GENERATED_POLICIES)
    );
    for ns in [&by_profile, &by_config, &"kube-system".to_string()] {
        assert!(
            !policy_names(&client, ns)
                .await
                .iter()
                .any(|n| n.starts_with("hardening-")),
            "{ns} got policies"
        );
        let ns_obj = namespace(&client, ns).await;
        assert!(
            !ns_obj.annotations().contains_key("hardening.dev/profile"),
            "{ns} was claimed"
        );
        assert_ne!(
            labels_of(&ns_obj)
                .get("pod-security.kubernetes.io/enforce")
                .map(String::as_str),
            Some("restricted"),
            "{ns}"
        );
    }
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_profile_no_longer_wants_is_removed() {
    let (env, ns, name) = strict_namespace("shrink").await;
    let before = env
        .profiles_api()
        .get(&name)
        .await
        .unwrap()
        .metadata
        .generation;

    // The profile drops its quota and its warn mode.
    env.patch_spec(
        &name,
        json!({ "resourceQuota": null, "podSecurity": { "warn": null } }),
    )
    .await;
    env.status_where(&name, "in sync at the new generation", |s| {
        if s.observed_generation > before && s.in_sync_namespaces == 1 {
            Ok(())
        } else {
            Err("not yet".into())
        }
    })
    .await;
    let client = env.client.clone();
    eventually("the quota and the warn labels removed", || async {
        let quota = Api::<ResourceQuota>::namespaced(client.clone(), &ns)
            .get_opt("hardening-quota")
            .await
            .map_err(|e| e.to_string())?;
        let labels = labels_of(&namespace(&client, &ns).await);
        let warn: Vec<_> = labels
            .keys()
            .filter(|k| k.starts_with("pod-security.kubernetes.io/warn"))
            .collect();
        if quota.is_none() && warn.is_empty() {
            Ok(())
        } else {
            Err(format!("quota {}, warn labels {warn:?}", quota.is_some()))
        }
    })
    .await;
    let labels = labels_of(&namespace(&client, &ns).await);
    assert_eq!(labels["pod-security.kubernetes.io/enforce"], "restricted");
    assert_eq!(policy_names(&client, &ns).await, names(&GENERATED_POLICIES));
    env.finish().await;
}
