//! The status tells the truth: every drift seen and repaired for real, no write loops,
//! recovery after an API server restart, rollouts apart from repairs, backoff on every
//! failure, and tenant NetworkPolicies that undo the default deny reported. Each test fails
//! on an operator that compares only what it sets, loops on values the API server rewrites,
//! waits for its watch backoff after a restart, counts rollouts as repairs, retries failures
//! at a fixed rate, or ignores tenant policies.

use std::time::{Duration, Instant};

use hardening_operator::config::{LeaderElection, RunConfig};
use hardening_operator::core::api::HardeningProfileStatus;
use hardening_operator::fixtures;
use hardening_tests::audit::{audit_lines, writes_since};
use hardening_tests::clients::client_as;
use hardening_tests::objects::{events_for, labels_of, namespace};
use hardening_tests::profiles::{condition, in_sync, strict_spec};
use hardening_tests::{cluster, eventually, unique_name};
use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::operator_env::{OperatorEnv, SHARD_LABEL, install_crd};

fn as_manager(manager: &str) -> PatchParams {
    PatchParams {
        field_manager: Some(manager.into()),
        ..Default::default()
    }
}

/// The strict profile plus an egress allow-list, so every generated kind is there.
fn strict_with_egress() -> Value {
    let mut spec = strict_spec();
    spec["networkPolicy"]["egress"] =
        json!([{ "to": [{ "cidr": "10.0.0.0/8" }], "ports": [{ "port": 443 }] }]);
    spec
}

async fn spec_of<K>(api: &Api<K>, name: &str) -> Value
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let object = api.get(name).await.unwrap();
    serde_json::to_value(object).unwrap()["spec"].clone()
}

fn repaired_notes(events: &[k8s_openapi::api::events::v1::Event]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("Repaired"))
        .filter_map(|e| e.note.clone())
        .collect()
}

/// Class 1: additions inside what the operator generates (a label in the empty
/// podSelector, an endPort, a quota scope and key, a Pod Security label, a LimitRange bound)
/// are drift, and the repair really restores the rendered object, although server-side
/// apply leaves fields another manager owns in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn widening_edits_are_repaired_until_the_objects_equal_the_rendered_ones() {
    let mut env = OperatorEnv::start("widen").await;
    let ns = env.namespace(&[]).await;
    let name = env
        .create_profile(&env.profile("strict", strict_with_egress()))
        .await
        .unwrap()
        .name_any();
    env.status_where(&name, "in sync", in_sync(1)).await;
    let client = env.client.clone();
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), &ns);
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), &ns);
    let ranges: Api<LimitRange> = Api::namespaced(client.clone(), &ns);
    let rendered = (
        spec_of(&policies, "hardening-default-deny").await,
        spec_of(&policies, "hardening-allow-egress").await,
        spec_of(&quotas, "hardening-quota").await,
        spec_of(&ranges, "hardening-limits").await,
    );
    let edit = as_manager("kubectl-edit");

    // The default deny then covers no pod.
    policies
        .patch(
            "hardening-default-deny",
            &edit,
            &Patch::Merge(
                json!({ "spec": { "podSelector": { "matchLabels": { "nobody": "x" } } } }),
            ),
        )
        .await
        .unwrap();
    // 443 becomes 443-65535.
    let mut egress = rendered.1["egress"].clone();
    egress[0]["ports"][0]["endPort"] = json!(65535);
    policies
        .patch(
            "hardening-allow-egress",
            &edit,
            &Patch::Merge(json!({ "spec": { "egress": egress } })),
        )
        .await
        .unwrap();
    // A key of a map the operator shares with others (scopes cannot be added: immutable).
    quotas
        .patch(
            "hardening-quota",
            &edit,
            &Patch::Merge(json!({ "spec": { "hard": { "services": "3" } } })),
        )
        .await
        .unwrap();
    // A bound the profile does not set.
    let mut limits = rendered.3["limits"].clone();
    limits[0]["min"] = json!({ "cpu": "1m" });
    ranges
        .patch(
            "hardening-limits",
            &edit,
            &Patch::Merge(json!({ "spec": { "limits": limits } })),
        )
        .await
        .unwrap();
    // A Pod Security mode the profile does not set.
    Api::<Namespace>::all(client.clone())
        .patch(
            &ns,
            &as_manager("kubectl-label"),
            &Patch::Merge(json!({ "metadata": { "labels": { "pod-security.kubernetes.io/audit": "privileged" } } })),
        )
        .await
        .unwrap();

    eventually("every object back to its rendered form", || async {
        let now = (
            spec_of(&policies, "hardening-default-deny").await,
            spec_of(&policies, "hardening-allow-egress").await,
            spec_of(&quotas, "hardening-quota").await,
            spec_of(&ranges, "hardening-limits").await,
        );
        let audit_label = labels_of(&namespace(&client, &ns).await)
            .get("pod-security.kubernetes.io/audit")
            .cloned();
        if now == rendered && audit_label.is_none() {
            Ok(())
        } else {
            Err(format!("{now:#?}, audit label {audit_label:?}"))
        }
    })
    .await;
    let notes = eventually("Repaired events naming the fields and managers", || async {
        let notes = repaired_notes(&events_for(&client, &name).await);
        let text = notes.join("\n");
        let wanted = [
            "spec.podSelector.matchLabels.nobody added by kubectl-edit",
            "spec.egress changed by kubectl-edit",
            "spec.hard.services added by kubectl-edit",
            "spec.limits changed by kubectl-edit",
            r#"metadata.labels["pod-security.kubernetes.io/audit"] added by kubectl-label"#,
        ];
        match wanted.iter().find(|w| !text.contains(*w)) {
            None => Ok(notes),
            Some(missing) => Err(format!("no {missing:?} in {text}")),
        }
    })
    .await;
    eprintln!("repaired: {notes:#?}");
    let status = env
        .status_where(&name, "in sync with the repairs counted", |s| {
            in_sync(1)(s)?;
            if s.repairs_total == 5 {
                Ok(())
            } else {
                Err(format!("repairsTotal {}", s.repairs_total))
            }
        })
        .await;
    assert_eq!(condition(&status, "Ready").unwrap().1, "InSync");
    env.finish().await;
}

/// Class 1 in Audit mode: the same additions are reported with the manager that made them,
/// and nothing is changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_mode_reports_additions_with_the_manager_that_made_them() {
    let mut env = OperatorEnv::start("widen-audit").await;
    let ns = env.namespace(&[]).await;
    let name = env
        .create_profile(&env.profile("strict", strict_with_egress()))
        .await
        .unwrap()
        .name_any();
    env.status_where(&name, "in sync", in_sync(1)).await;
    env.patch_spec(&name, json!({ "mode": "Audit" })).await;
    env.status_where(&name, "audited", |s| match condition(s, "Ready") {
        Some((st, r)) if st == "True" && r == "Audited" && s.drifted_namespaces == 0 => Ok(()),
        other => Err(format!("{other:?}")),
    })
    .await;
    let policies: Api<NetworkPolicy> = Api::namespaced(env.client.clone(), &ns);
    policies
        .patch(
            "hardening-default-deny",
            &as_manager("tenant-edit"),
            &Patch::Merge(
                json!({ "spec": { "podSelector": { "matchLabels": { "nobody": "x" } } } }),
            ),
        )
        .await
        .unwrap();
    let status = env
        .status_where(&name, "the addition reported", |s| {
            let drift = s
                .namespaces
                .first()
                .map(|n| n.drift.clone())
                .unwrap_or_default();
            if drift.iter().any(|d| {
                d.name == "hardening-default-deny"
                    && d.field == "spec.podSelector.matchLabels.nobody"
                    && d.manager.as_deref() == Some("tenant-edit")
            }) {
                Ok(())
            } else {
                Err(format!("{drift:?}"))
            }
        })
        .await;
    assert_eq!(status.drifted_namespaces, 1);
    let live = policies.get("hardening-default-deny").await.unwrap();
    assert!(
        live.spec
            .unwrap()
            .pod_selector
            .unwrap()
            .match_labels
            .is_some(),
        "Audit mode changed the policy"
    );
    env.finish().await;
}

/// Class 2, first half: a value the API server stores in another form (`0.1m` as `1m`) is
/// in sync, and the operator does not write it again and again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_the_api_server_rounds_is_in_sync_and_written_once() {
    let Some(audit_log) = cluster().audit_log() else {
        eprintln!("skipped: counting writes needs the local control plane's audit log");
        return;
    };
    let mut env = OperatorEnv::start("rounded").await;
    let ns = env.namespace(&[]).await;
    let spec = json!({ "resourceQuota": { "hard": { "requests.cpu": "0.1m", "limits.cpu": "1.0001", "pods": "10" } } });
    let name = env
        .create_profile(&env.profile("rounded", spec))
        .await
        .unwrap()
        .name_any();
    env.status_where(&name, "in sync", in_sync(1)).await;
    let mark = audit_lines(audit_log);
    tokio::time::sleep(Duration::from_secs(30)).await;
    let writes = writes_since(audit_log, mark, &ns, &name);
    eprintln!(
        "writes in 30 s after converging on a rounded quantity: {}",
        writes.len()
    );
    assert!(writes.is_empty(), "{writes:#?}");
    let stored = Api::<ResourceQuota>::namespaced(env.client.clone(), &ns)
        .get("hardening-quota")
        .await
        .unwrap();
    assert_eq!(stored.spec.unwrap().hard.unwrap()["requests.cpu"].0, "1m");
    env.finish().await;
}

/// Class 2, second half: when the API server stores something other than what the operator
/// applies (here a MutatingAdmissionPolicy rewrites the quota inside the operator's own
/// request, so no one else writes in between), the operator notices after its write, stops,
/// reports NotConverging and writes no more until something changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_does_not_take_is_reported_and_not_repeated() {
    let Some(audit_log) = cluster().audit_log() else {
        eprintln!("skipped: counting writes needs the local control plane's audit log");
        return;
    };
    let mut env = OperatorEnv::start("loop").await;
    let ns = env.namespace(&[]).await;
    let policy_name = unique_name("rewrite-quota");
    let admin = env.client.clone();
    let policy = dynamic_api(&admin, "MutatingAdmissionPolicy");
    let binding = dynamic_api(&admin, "MutatingAdmissionPolicyBinding");
    apply_dynamic(
        &policy,
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicy",
            "metadata": { "name": policy_name },
            "spec": {
                "failurePolicy": "Fail",
                "reinvocationPolicy": "Never",
                "matchConstraints": { "resourceRules": [{
                    "apiGroups": [""], "apiVersions": ["v1"],
                    "operations": ["CREATE", "UPDATE"], "resources": ["resourcequotas"]
                }]},
                "mutations": [{
                    "patchType": "JSONPatch",
                    "jsonPatch": { "expression": "[JSONPatch{op: \"replace\", path: \"/spec/hard/pods\", value: \"7\"}]" }
                }]
            }
        }),
    )
    .await;
    apply_dynamic(
        &binding,
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicyBinding",
            "metadata": { "name": policy_name },
            "spec": {
                "policyName": policy_name,
                "matchResources": { "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": ns } } }
            }
        }),
    )
    .await;
    // Admission policies take effect asynchronously: wait until a write is rewritten.
    let probe: Api<ResourceQuota> = Api::namespaced(admin.clone(), &ns);
    eventually("the mutating policy to take effect", || async {
        let quota: ResourceQuota = serde_json::from_value(json!({
            "metadata": { "name": "probe" }, "spec": { "hard": { "pods": "1" } }
        }))
        .unwrap();
        let created = probe
            .create(
                &PostParams {
                    dry_run: true,
                    ..Default::default()
                },
                &quota,
            )
            .await
            .map_err(|e| e.to_string())?;
        match created
            .spec
            .and_then(|s| s.hard)
            .map(|h| h["pods"].0.clone())
        {
            Some(pods) if pods == "7" => Ok(()),
            other => Err(format!("pods {other:?}")),
        }
    })
    .await;

    let mark = audit_lines(audit_log);
    let name = env
        .create_profile(&env.profile("strict", strict_spec()))
        .await
        .unwrap()
        .name_any();
    let status = env
        .status_where(&name, "NotConverging reported", |s| {
            match (condition(s, "Ready"), condition(s, "Stalled")) {
                (Some((r, reason)), Some((stalled, _)))
                    if r == "False" && reason == "NotConverging" && stalled == "True" =>
                {
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    let entry = &status.namespaces[0];
    assert_eq!(entry.reason.as_deref(), Some("NotConverging"));
    let message = entry.message.clone().unwrap_or_default();
    assert!(
        message.contains("hardening-quota") && message.contains("spec.hard.pods"),
        "{message}"
    );
    tokio::time::sleep(Duration::from_secs(20)).await;
    let quota_writes: Vec<String> = writes_since(audit_log, mark, &ns, &name)
        .into_iter()
        // The quota controller's status updates are not the operator's.
        .filter(|w| w.contains("resourcequotas") && !w.contains("\"status\""))
        .collect();
    eprintln!(
        "quota writes while the API server rewrites it, over about 20 s: {}",
        quota_writes.len()
    );
    assert_eq!(
        quota_writes.len(),
        1,
        "the operator wrote again: {quota_writes:#?}"
    );

    // A change of the profile is a new attempt: asking for what is stored converges.
    env.patch_spec(
        &name,
        json!({ "resourceQuota": { "hard": { "pods": "7" } } }),
    )
    .await;
    env.status_where(&name, "in sync again", in_sync(1)).await;
    let _ = binding.delete(&policy_name, &DeleteParams::default()).await;
    let _ = policy.delete(&policy_name, &DeleteParams::default()).await;
    env.finish().await;
}

fn dynamic_api(client: &Client, kind: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("admissionregistration.k8s.io", "v1", kind);
    Api::all_with(client.clone(), &ApiResource::from_gvk(&gvk))
}

async fn apply_dynamic(api: &Api<DynamicObject>, body: Value) {
    let name = body["metadata"]["name"].as_str().unwrap().to_owned();
    api.patch(
        &name,
        &PatchParams::apply("hardening-tests").force(),
        &Patch::Apply(&body),
    )
    .await
    .unwrap_or_else(|e| panic!("applying {name}: {e}"));
}

/// Class 3: after kube-apiserver restarts (same etcd, down for 15 s), every cache lists
/// afresh at once and drift made as soon as it is back is repaired within seconds, for
/// every kind. Runs its own control plane: the restart must not disturb the other tests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_repaired_within_seconds_after_the_api_server_restarts() {
    let Some((mut plane, client)) =
        hardening_tests::own_control_plane("restarting the API server").await
    else {
        return;
    };
    install_crd(&client).await;
    let (stop, stopped) = oneshot::channel::<()>();
    let operator = {
        let client = client.clone();
        tokio::spawn(async move {
            hardening_operator::controller::run(client, RunConfig::default(), async {
                let _ = stopped.await;
            })
            .await
        })
    };
    let shard = unique_name("restart");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({
        "metadata": { "name": shard, "labels": { SHARD_LABEL: shard } }
    }))
    .unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let profiles: Api<hardening_operator::core::api::HardeningProfile> = Api::all(client.clone());
    let mut spec = strict_spec();
    spec["namespaceSelector"] = json!({ "matchLabels": { SHARD_LABEL: shard } });
    let profile = fixtures::profile(&shard).spec(spec).build();
    profiles
        .create(&PostParams::default(), &profile)
        .await
        .unwrap();
    let ready = |s: &HardeningProfileStatus| in_sync(1)(s);
    wait_status(&profiles, &shard, ready).await;

    let plane = tokio::task::spawn_blocking(move || {
        plane
            .restart_apiserver(Duration::from_secs(15))
            .expect("kube-apiserver restarts");
        plane
    })
    .await
    .unwrap();
    // Back: drift on every kind at once, by another manager. A restarted API server refuses
    // requests its admission policies match until it has found their parameter's kind (the
    // HardeningProfile CRD) again, for a few seconds: the first write is retried until then.
    let edit = as_manager("kubectl-edit");
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), &shard);
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), &shard);
    let ranges: Api<LimitRange> = Api::namespaced(client.clone(), &shard);
    let refused_since = Instant::now();
    eventually(
        "the restarted API server judging with its admission policies",
        || async {
            policies
                .delete("hardening-default-deny", &DeleteParams::default())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        },
    )
    .await;
    eprintln!(
        "writes the admission policies match were refused for {:?} after the restart",
        refused_since.elapsed()
    );
    let drifted_at = Instant::now();
    quotas
        .patch(
            "hardening-quota",
            &edit,
            &Patch::Merge(json!({ "spec": { "hard": { "pods": "99" } } })),
        )
        .await
        .unwrap();
    let mut limits = spec_of(&ranges, "hardening-limits").await["limits"].clone();
    limits[0]["default"]["cpu"] = json!("1");
    ranges
        .patch(
            "hardening-limits",
            &edit,
            &Patch::Merge(json!({ "spec": { "limits": limits } })),
        )
        .await
        .unwrap();
    // Each admission policy finds its parameter's kind on its own after the restart: the
    // namespaces' policy can still refuse for a moment after the NetworkPolicies' one admits.
    eventually(
        "the restarted API server judging namespaces with their admission policy",
        || async {
            namespaces
                .patch(
                    &shard,
                    &as_manager("kubectl-label"),
                    &Patch::Merge(json!({ "metadata": { "labels": { "pod-security.kubernetes.io/enforce": "privileged" } } })),
                )
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        },
    )
    .await;
    let mut repaired: Vec<(&str, Duration)> = Vec::new();
    let deadline = drifted_at + Duration::from_secs(30);
    while repaired.len() < 4 && Instant::now() < deadline {
        let checks = [
            (
                "NetworkPolicy",
                policies
                    .get_opt("hardening-default-deny")
                    .await
                    .ok()
                    .flatten()
                    .is_some(),
            ),
            (
                "ResourceQuota",
                quotas
                    .get("hardening-quota")
                    .await
                    .ok()
                    .and_then(|q| q.spec?.hard)
                    .is_some_and(|h| h["pods"].0 == "10"),
            ),
            (
                "LimitRange",
                ranges.get("hardening-limits").await.ok().is_some_and(|r| {
                    r.spec.unwrap().limits[0]
                        .default
                        .as_ref()
                        .is_some_and(|d| d["cpu"].0 == "300m")
                }),
            ),
            (
                "Namespace",
                namespaces.get(&shard).await.ok().is_some_and(|n| {
                    labels_of(&n)
                        .get("pod-security.kubernetes.io/enforce")
                        .map(String::as_str)
                        == Some("restricted")
                }),
            ),
        ];
        for (kind, ok) in checks {
            if ok && !repaired.iter().any(|(k, _)| *k == kind) {
                repaired.push((kind, drifted_at.elapsed()));
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("repair latency after the API server restart: {repaired:?}");
    assert_eq!(repaired.len(), 4, "not repaired within 30 s: {repaired:?}");
    for (kind, latency) in &repaired {
        assert!(
            *latency <= Duration::from_secs(5),
            "{kind} repaired only after {latency:?}"
        );
    }
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(20), operator).await;
    drop(plane);
}

async fn wait_status(
    profiles: &Api<hardening_operator::core::api::HardeningProfile>,
    name: &str,
    check: impl Fn(&HardeningProfileStatus) -> Result<(), String>,
) -> HardeningProfileStatus {
    let check = &check;
    eventually(&format!("profile {name}'s status"), || async move {
        let profile = profiles.get(name).await.map_err(|e| e.to_string())?;
        let status = profile.status.ok_or("no status yet")?;
        check(&status)?;
        Ok(status)
    })
    .await
}

/// Class 5: changing a profile over many namespaces is a rollout, counted and announced as
/// such; repairs count only changes made by others, each named with its field and manager.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollouts_are_counted_apart_from_repairs() {
    const NAMESPACES: u32 = 12;
    let mut env = OperatorEnv::start("rollout").await;
    let mut names = Vec::new();
    for _ in 0..NAMESPACES {
        names.push(env.namespace(&[]).await);
    }
    let name = env
        .create_profile(&env.profile("strict", strict_spec()))
        .await
        .unwrap()
        .name_any();
    let rollout = |generation: i64| {
        move |s: &HardeningProfileStatus| {
            in_sync(NAMESPACES)(s)?;
            match &s.rollout {
                Some(r) if r.generation == generation && r.updated_namespaces == NAMESPACES => {
                    Ok(())
                }
                other => Err(format!("rollout {other:?}")),
            }
        }
    };
    let first = env.status_where(&name, "set up", rollout(1)).await;
    assert_eq!(first.repairs_total, 0, "setting up is no repair");

    env.patch_spec(
        &name,
        json!({ "resourceQuota": { "hard": { "pods": "11" } } }),
    )
    .await;
    let second = env.status_where(&name, "rolled out", rollout(2)).await;
    assert_eq!(second.repairs_total, 0, "a rollout is no repair");
    let client = env.client.clone();
    eventually("one RolledOut event for generation 2", || async {
        let events = events_for(&client, &name).await;
        let rolled: Vec<String> = events
            .iter()
            .filter(|e| e.reason.as_deref() == Some("RolledOut"))
            .filter_map(|e| e.note.clone())
            .filter(|n| n.contains("generation 2"))
            .collect();
        if rolled.len() == 1 && rolled[0].contains(&format!("{NAMESPACES} namespaces updated")) {
            Ok(())
        } else {
            Err(format!("{rolled:?}"))
        }
    })
    .await;
    assert!(repaired_notes(&events_for(&client, &name).await).is_empty());

    // Someone else's edit and deletion: two repairs, each named.
    Api::<ResourceQuota>::namespaced(client.clone(), &names[0])
        .patch(
            "hardening-quota",
            &as_manager("kubectl-edit"),
            &Patch::Merge(json!({ "spec": { "hard": { "pods": "99" } } })),
        )
        .await
        .unwrap();
    Api::<LimitRange>::namespaced(client.clone(), &names[1])
        .delete("hardening-limits", &DeleteParams::default())
        .await
        .unwrap();
    env.status_where(&name, "two repairs", |s| {
        if s.repairs_total == 2 {
            Ok(())
        } else {
            Err(format!("repairsTotal {}", s.repairs_total))
        }
    })
    .await;
    let notes = eventually("both Repaired events", || async {
        let notes = repaired_notes(&events_for(&client, &name).await);
        if notes.len() == 2 {
            Ok(notes)
        } else {
            Err(format!("{notes:?}"))
        }
    })
    .await;
    assert!(
        notes
            .iter()
            .any(|n| n.contains("ResourceQuota")
                && n.contains("spec.hard.pods changed by kubectl-edit")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("LimitRange") && n.contains("the object was deleted")),
        "{notes:?}"
    );
    env.finish().await;
}

async fn apply_admin(client: &Client, api_version: &str, kind: &str, body: Value) {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let resource = ApiResource::from_gvk(&gvk);
    let namespace = body["metadata"]["namespace"].as_str().map(str::to_owned);
    let api: Api<DynamicObject> = match &namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    apply_dynamic(&api, body).await;
}

/// Class 6: a reconcile that really fails against the API server (a missing RBAC rule)
/// backs off exponentially per object, for both controllers; the profile's status write
/// also while new namespaces keep asking for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_back_off_per_object() {
    let Some(audit_log) = cluster().audit_log() else {
        eprintln!("skipped: counting requests needs the local control plane's audit log");
        return;
    };
    let mut env = OperatorEnv::without_operator("backoff").await;
    let admin = env.client.clone();
    let home = env.namespace(&[]).await;
    let target = env.namespace(&[]).await;
    let account = "operator-without-some-rights";
    let role = unique_name("backoff-operator");
    // The operator's rights, minus writing profile status and creating LimitRanges.
    let rule = |groups: &[&str], resources: &[&str], verbs: &[&str]| json!({ "apiGroups": groups, "resources": resources, "verbs": verbs });
    apply_admin(
        &admin,
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": { "name": role },
            "rules": [
                rule(&[""], &["namespaces"], &["list", "watch", "patch"]),
                rule(&["networking.k8s.io"], &["networkpolicies"], &["list", "watch", "create", "patch", "delete"]),
                rule(&[""], &["resourcequotas"], &["list", "watch", "create", "patch", "delete"]),
                rule(&[""], &["limitranges"], &["list", "watch", "patch", "delete"]),
                rule(&[""], &["pods"], &["list", "watch"]),
                rule(&["admissionregistration.k8s.io"], &["validatingadmissionpolicies", "validatingadmissionpolicybindings", "mutatingadmissionpolicies", "mutatingadmissionpolicybindings"], &["list", "watch", "create", "patch", "delete"]),
                rule(&["rbac.authorization.k8s.io"], &["clusterroles", "clusterrolebindings", "roles", "rolebindings"], &["list", "watch"]),
                rule(&["policy"], &["poddisruptionbudgets"], &["list", "watch"]),
                rule(&["hardening.dev"], &["hardeningprofiles"], &["list", "watch", "get", "patch"]),
                rule(&["hardening.dev"], &["hardeningexceptions"], &["list", "watch"]),
                rule(&["hardening.dev"], &["hardeningexceptions/status"], &["patch"]),
                rule(&["events.k8s.io"], &["events"], &["create", "patch"]),
            ]
        }),
    )
    .await;
    apply_admin(
        &admin,
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": { "name": role },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role },
            "subjects": [{ "kind": "ServiceAccount", "name": account, "namespace": home }]
        }),
    )
    .await;
    let (_, config) = client_as(&admin, &home, account).await;
    let user = format!("system:serviceaccount:{home}:{account}");
    let (stop, stopped) = oneshot::channel::<()>();
    let run_config = RunConfig {
        profile_selector: Some(env.selector()),
        metrics_address: "127.0.0.1:0".parse().unwrap(),
        leader_election: LeaderElection::Off,
        ..Default::default()
    };
    let operator = hardening_operator::run::start(config, run_config, async {
        let _ = stopped.await;
    })
    .await
    .unwrap();
    let mark = audit_lines(audit_log);
    let name = env
        .create_profile(&env.profile("strict", strict_spec()))
        .await
        .unwrap()
        .name_any();
    // A new selected namespace every second asks for a status update each time (a
    // rollout does so all along): the failed status write still waits for its backoff.
    let started = tokio::time::Instant::now();
    while started.elapsed() < Duration::from_secs(25) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        env.namespace(&[]).await;
    }
    let refused = |resource: &str, subresource: Option<&str>, namespace: Option<&str>| {
        std::fs::read_to_string(audit_log)
            .unwrap_or_default()
            .lines()
            .skip(mark)
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["stage"] == "ResponseComplete" && e["user"]["username"] == user.as_str())
            .filter(|e| e["responseStatus"]["code"] == 403)
            .filter(|e| e["objectRef"]["resource"] == resource)
            .filter(|e| e["objectRef"]["subresource"].as_str() == subresource)
            .filter(|e| namespace.is_none_or(|ns| e["objectRef"]["namespace"] == ns))
            .count()
    };
    let status_attempts = refused("hardeningprofiles", Some("status"), None);
    let limit_attempts = refused("limitranges", None, Some(&target));
    eprintln!(
        "attempts refused in 25 s: profile status {status_attempts}, LimitRange in one namespace {limit_attempts}"
    );
    // 1 s, 2 s, 4 s, 8 s, 16 s between attempts: at most 5 within 25 s (a fixed 1.5 s
    // retry makes about 16).
    assert!((1..=6).contains(&status_attempts), "{status_attempts}");
    assert!((1..=6).contains(&limit_attempts), "{limit_attempts}");
    let errors = operator.metrics.encode();
    for controller in ["profile", "namespace"] {
        let line = format!(
            "hardening_reconcile_errors_total{{controller=\"{controller}\",reason=\"Forbidden\"}} "
        );
        let count: f64 = errors
            .lines()
            .find_map(|l| l.strip_prefix(&line))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0);
        assert!(
            count >= 1.0,
            "no Forbidden counted for {controller}:\n{errors}"
        );
    }
    let _ = stop.send(());
    let _ = operator.wait().await;
    // Cleanup with the admin's rights: the profile's finalizer is there to stay otherwise.
    env.start_operator(RunConfig::default());
    let _ = name;
    env.finish().await;
    for kind in ["ClusterRoleBinding", "ClusterRole"] {
        let gvk = GroupVersionKind::gvk("rbac.authorization.k8s.io", "v1", kind);
        let _ = Api::<DynamicObject>::all_with(admin.clone(), &ApiResource::from_gvk(&gvk))
            .delete(&role, &DeleteParams::default())
            .await;
    }
}

/// Class 7: a tenant with the common `edit` role in a governed namespace creates policies
/// that open what the profile denies: each is reported with what it opens, the condition
/// NetworkIsolated turns False and the compliance IDs it undermines are withdrawn, until the
/// tenant removes it. A tenant policy within the profile's allowances is not reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_policies_that_open_what_the_profile_denies_are_reported() {
    let mut env = OperatorEnv::without_operator("tenant").await;
    let (stop, stopped) = oneshot::channel::<()>();
    let operator = hardening_operator::run::start(
        hardening_tests::clients::admin_config().await,
        crate::operator_env::operator_config(&env),
        async {
            let _ = stopped.await;
        },
    )
    .await
    .unwrap();
    let gauge = || {
        let text = operator.metrics.encode();
        text.lines()
            .find_map(|l| l.strip_prefix("hardening_widening_network_policies "))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let ns = env.namespace(&[]).await;
    let name = env
        .create_profile(&env.profile("strict", strict_spec()))
        .await
        .unwrap()
        .name_any();
    let status = env.status_where(&name, "in sync", in_sync(1)).await;
    assert_eq!(
        condition(&status, "NetworkIsolated"),
        Some(("True".into(), "NoWideningPolicies".into()))
    );
    assert!(!a5_opened(&status), "{:?}", status.compliance);

    let admin = env.client.clone();
    apply_admin(
        &admin,
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": { "name": "tenant-edit", "namespace": ns },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit" },
            "subjects": [{ "kind": "ServiceAccount", "name": "tenant", "namespace": ns }]
        }),
    )
    .await;
    let (tenant, _) = client_as(&admin, &ns, "tenant").await;
    let tenant_policies: Api<NetworkPolicy> = Api::namespaced(tenant, &ns);
    let create = |name: &str, spec: Value| {
        let api = tenant_policies.clone();
        let policy: NetworkPolicy =
            serde_json::from_value(json!({ "metadata": { "name": name }, "spec": spec })).unwrap();
        async move {
            api.create(&PostParams::default(), &policy)
                .await
                .unwrap_or_else(|e| panic!("the tenant creating {}: {e}", policy.name_any()))
        }
    };
    create(
        "allow-all",
        json!({ "podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [{}], "egress": [{}] }),
    )
    .await;
    // Within what the profile allows anyway (pods of the namespace): not reported.
    create(
        "allow-same-namespace-web",
        json!({ "podSelector": { "matchLabels": { "app": "web" } }, "ingress": [{ "from": [{ "podSelector": {} }], "ports": [{ "port": 8080 }] }] }),
    )
    .await;

    let status = env
        .status_where(&name, "the allow-all policy reported", |s| {
            if s.widening_policies == Some(2)
                && condition(s, "NetworkIsolated").is_some_and(|c| c.0 == "False")
            {
                Ok(())
            } else {
                Err(format!("widening {:?}", s.widening_policies))
            }
        })
        .await;
    let entry = status.namespaces.iter().find(|n| n.name == ns).unwrap();
    let listed: Vec<(String, String, String)> = entry
        .policies
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.direction.as_str().to_owned(),
                p.opens.clone(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            (
                "allow-all".to_owned(),
                "Ingress".to_owned(),
                "from anywhere on all ports, to all pods".to_owned()
            ),
            (
                "allow-all".to_owned(),
                "Egress".to_owned(),
                "to anywhere on all ports, from all pods; reaches protected network 169.254.169.254/32 (every port)"
                    .to_owned()
            ),
        ]
    );
    assert_eq!(
        condition(&status, "NetworkIsolated").unwrap().1,
        "WideningPolicies"
    );
    assert!(a5_opened(&status), "{:?}", status.compliance);
    // Counted without names: a gauge without labels.
    assert_eq!(gauge(), "2");
    // The operator's own objects are as declared, and tenants' objects are not its to repair.
    assert_eq!(condition(&status, "Ready").unwrap().0, "True");

    tenant_policies
        .delete("allow-all", &DeleteParams::default())
        .await
        .unwrap();
    let status = env
        .status_where(&name, "isolated again", |s| {
            match condition(s, "NetworkIsolated") {
                Some((st, _)) if st == "True" && s.widening_policies == Some(0) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    assert!(!a5_opened(&status), "{:?}", status.compliance);
    assert_eq!(gauge(), "0");
    // The operator of this test must stay up for `finish` to remove its finalizer.
    env.finish_with(async move {
        let _ = stop.send(());
        let _ = operator.wait().await;
    })
    .await;
}

/// The diff against the real API server, over random objects and random foreign edits: the
/// rendered objects as the API server stores them (its defaults, its rounding) show no
/// drift, and after an edit by another manager the diff reports drift exactly when the
/// stored object changed, naming that manager for every field it still owns.
#[test]
fn the_diff_agrees_with_the_api_server_on_random_edits() {
    use hardening_operator::core::canonical::canonical;
    use hardening_operator::core::diff::diff_object;
    use hardening_operator::core::render::{DesiredObject, render};
    use proptest::prelude::*;
    use proptest::test_runner::{Config as RunnerConfig, TestRunner};

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = runtime.block_on(cluster().client());
    let ns = runtime.block_on(hardening_tests::TestNamespace::create(
        &client,
        "diff-oracle",
        &[],
    ));
    let namespace = ns.name().to_owned();

    let quantity = prop::sample::select(vec![
        "1", "2", "1000m", "1500m", "0.5", "250m", "1Gi", "1024Mi", "512Mi", "0.5Gi", "1e3", "100",
        "0.1m", "1.0001",
    ]);
    // Integer quantities for pods (anything else is invalid input, rejected before writing).
    let pods = prop::sample::select(vec!["1", "10", "1e1", "100", "1k"]);
    let spec = (
        pods,
        quantity.clone(),
        prop::option::of(quantity.clone()),
        1u16..1000,
        any::<bool>(),
    )
        .prop_map(|(pods, cpu, default_memory, port, with_min)| {
            let mut item = json!({ "type": "Container", "max": { "cpu": "4", "memory": "2Gi" } });
            if let Some(memory) = default_memory {
                item["default"] = json!({ "memory": memory });
            }
            if with_min {
                item["min"] = json!({ "cpu": "1m" });
            }
            json!({
                "networkPolicy": { "egress": [{ "to": [{ "cidr": "10.0.0.0/8" }], "ports": [{ "port": port }] }] },
                "resourceQuota": { "hard": { "pods": pods, "requests.cpu": cpu } },
                "limitRange": { "limits": [item] }
            })
        });
    let edit = prop::sample::select(vec![
        (
            "NetworkPolicy",
            "hardening-default-deny",
            json!({ "spec": { "podSelector": { "matchLabels": { "app": "x" } } } }),
        ),
        (
            "NetworkPolicy",
            "hardening-default-deny",
            json!({ "spec": { "policyTypes": ["Ingress"] } }),
        ),
        (
            "NetworkPolicy",
            "hardening-allow-egress",
            json!({ "spec": { "egress": [{ "to": [{ "ipBlock": { "cidr": "10.0.0.0/8" } }], "ports": [{ "port": 443, "endPort": 8443, "protocol": "TCP" }] }] } }),
        ),
        (
            "NetworkPolicy",
            "hardening-allow-egress",
            json!({ "spec": { "ingress": [{}], "policyTypes": ["Egress", "Ingress"] } }),
        ),
        (
            "ResourceQuota",
            "hardening-quota",
            json!({ "spec": { "hard": { "services": "2" } } }),
        ),
        (
            "ResourceQuota",
            "hardening-quota",
            json!({ "spec": { "hard": { "pods": "999" } } }),
        ),
        (
            "ResourceQuota",
            "hardening-quota",
            json!({ "spec": { "hard": { "requests.cpu": null } } }),
        ),
        (
            "ResourceQuota",
            "hardening-quota",
            json!({ "metadata": { "labels": { "team": "a" } } }),
        ),
        (
            "LimitRange",
            "hardening-limits",
            json!({ "spec": { "limits": [{ "type": "Container", "max": { "cpu": "4", "memory": "2Gi" } }] } }),
        ),
        (
            "LimitRange",
            "hardening-limits",
            json!({ "metadata": { "annotations": { "note": "unrelated" } } }),
        ),
    ]);

    let mut runner = TestRunner::new(RunnerConfig {
        cases: 40,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let checked = std::cell::Cell::new(0u32);
    let result = runner.run(&(spec, edit), |(spec, (kind, name, patch))| {
        runtime.block_on(async {
            let profile = fixtures::profile("oracle").spec(spec.clone()).build();
            let desired = render(&profile, &namespace).unwrap();
            let object = desired
                .objects
                .iter()
                .find(|o| o.kind().kind() == kind && o.name() == name)
                .expect("the edit's object is rendered");
            let api = |o: &DesiredObject| {
                Api::<DynamicObject>::namespaced_with(
                    client.clone(),
                    &namespace,
                    &hardening_operator::live::api_resource(o.kind()),
                )
            };
            let body = object.to_json();
            let objects = api(object);
            let _ = objects.delete(name, &DeleteParams::default()).await;
            let applied = objects
                .patch(name, &PatchParams::apply("hardening-operator").force(), &Patch::Apply(&body))
                .await
                .map_err(|e| TestCaseError::fail(format!("applying {name}: {e}")))?;
            let applied_json = serde_json::to_value(&applied).unwrap();
            let drift = diff_object(&canonical(&body), Some(&applied_json), "hardening-operator");
            prop_assert!(drift.is_empty(), "{kind} as stored differs from its canonical form: {drift:#?}\nstored: {applied_json:#}");

            let edited = objects
                .patch(name, &as_manager("tenant-edit"), &Patch::Merge(&patch))
                .await
                .map_err(|e| TestCaseError::fail(format!("editing {name}: {e}")))?;
            let edited_json = serde_json::to_value(&edited).unwrap();
            let changed = applied_json["spec"] != edited_json["spec"];
            let drift = diff_object(&canonical(&body), Some(&edited_json), "hardening-operator");
            prop_assert_eq!(!drift.is_empty(), changed, "edit {} of {}: drift {:#?}\nstored: {:#}", patch, kind, drift, edited_json);
            for d in &drift {
                if d.actual.is_some() {
                    prop_assert_eq!(d.manager.as_deref(), Some("tenant-edit"), "{:?}", d);
                }
            }
            checked.set(checked.get() + 1);
            Ok(())
        })
    });
    eprintln!(
        "diff checked against the API server on {} random objects and edits",
        checked.get()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    drop(ns);
}

/// Whether `status.compliance` says SYS.1.6.A5 is not met because a tenant rule opens what
/// the profile denies.
fn a5_opened(status: &hardening_operator::core::api::HardeningProfileStatus) -> bool {
    status.compliance.iter().any(|e| {
        e.id == "SYS.1.6.A5"
            && e.verdict == hardening_operator::core::api::Verdict::NotMet
            && e.reason.contains("allow")
    })
}
