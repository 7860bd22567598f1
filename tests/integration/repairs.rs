//! Every repair happens and every report stays current, under a hostile tenant and across
//! restarts (issue 19). Each test fails on an operator that lets its record of its own writes
//! hide a deletion that arrived first, tells repairs of the guardrails from rollouts by what
//! the running process applied, waits for a resync when a foreign object with a generated
//! name goes, keeps a preview by pod names, or writes a report only when its content changes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use hardening_operator::core::api::{HardeningProfile, HardeningProfileStatus, Verdict};
use hardening_operator::core::policy_report::{REPORT_NAME, ReportApi, cluster_report_name};
use hardening_operator::core::render::names::QUOTA;
use hardening_operator::fixtures;
use hardening_tests::objects::events_for;
use hardening_tests::profiles::{condition, in_sync, strict_spec};
use hardening_tests::{eventually, eventually_within};
use k8s_openapi::api::core::v1::{LimitRange, Namespace, Pod, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

use crate::operator_env::OperatorEnv;
use hardening_tests::reports::{cluster_report_of, install, report_of, result_of};

const DEFAULT_DENY: &str = "hardening-default-deny";
/// The network requirement (BSI SYS.1.6 (2023) A5), a rule of the namespace's policy report.
const NETWORK: &str = "SYS.1.6.A5";

/// Waits until the namespace's policy report holds the network requirement (`Met` or
/// `Partial`: pass or warn), as for a hardened namespace.
async fn report_holds_network(client: &kube::Client, namespace: &str) -> Value {
    eventually(
        &format!("{NETWORK} held in the policy report of {namespace}"),
        || async {
            let report = report_of(client, ReportApi::OpenReports, namespace)
                .await
                .ok_or("no report")?;
            match result_of(&report, NETWORK).as_deref() {
                Some("pass" | "warn") => Ok(report),
                other => Err(format!("{NETWORK}: {other:?}")),
            }
        },
    )
    .await
}

/// What the status and the report must not claim about a namespace whose default deny has
/// been missing for longer than a repair takes.
fn claims_isolation(status: &HardeningProfileStatus, report: Option<&Value>) -> Vec<String> {
    let mut claims = Vec::new();
    if condition(status, "Ready").is_some_and(|(s, _)| s == "True") {
        claims.push("Ready=True".to_owned());
    }
    if status.in_sync_namespaces > 0 {
        claims.push("the namespace InSync".to_owned());
    }
    // The network requirement (BSI SYS.1.6 (2023) A5) held, fully or in part.
    if let Some(network) = status.compliance.iter().find(|r| r.id == "SYS.1.6.A5")
        && matches!(network.verdict, Verdict::Met | Verdict::Partial)
    {
        claims.push(format!(
            "SYS.1.6.A5 {:?}: {}",
            network.verdict, network.reason
        ));
    }
    if let Some(result) = report.and_then(|r| result_of(r, NETWORK))
        && result != "fail"
    {
        claims.push(format!("{NETWORK} {result} in the policy report"));
    }
    claims
}

/// The race a tenant with the `edit` role won before: a client that watches the generated
/// default deny and deletes it the instant it comes back, for a minute. The operator must
/// bring it back every time, within a second once the client stops, and while it is missing
/// for longer than a repair takes neither the status nor the policy report may say the
/// namespace is isolated. (Before: after 140 to 1,550 deletes the operator's record of its
/// own create, kept after the tenant's deletion arrived, hid the deletion for good.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tenant_deleting_the_default_deny_the_moment_it_returns_never_outlasts_the_repair() {
    let Some((_plane, client)) = hardening_tests::own_control_plane("installing report CRDs").await
    else {
        return;
    };
    crate::operator_env::install_crd(&client).await;
    for file in [
        "openreports.io_reports.yaml",
        "openreports.io_clusterreports.yaml",
    ] {
        install(&client, file).await;
    }
    let ns = "tenant";
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({ "metadata": { "name": ns, "labels": { "tier": "strict" } } }),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let profiles: Api<HardeningProfile> = Api::all(client.clone());
    let mut spec = strict_spec();
    spec["namespaceSelector"] = json!({ "matchLabels": { "tier": "strict" } });
    profiles
        .create(
            &PostParams::default(),
            &fixtures::profile("strict").spec(spec).build(),
        )
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let operator = tokio::spawn(hardening_operator::controller::run(
        client.clone(),
        hardening_operator::config::RunConfig::default(),
        async {
            let _ = stopped.await;
        },
    ));
    report_holds_network(&client, ns).await;
    eventually("the profile in sync", || async {
        let status = profiles
            .get("strict")
            .await
            .unwrap()
            .status
            .ok_or("no status")?;
        in_sync(1)(&status)
    })
    .await;

    // The attacker: deletes the default deny whenever the watch shows it.
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), ns);
    #[derive(Default)]
    struct Attack {
        deletes: u32,
        /// Since when the object has been missing (after a delete of the attacker's).
        missing_since: Option<Instant>,
        longest_gap: Duration,
    }
    let attack = Arc::new(Mutex::new(Attack::default()));
    let attacker = {
        let (policies, attack) = (policies.clone(), attack.clone());
        tokio::spawn(async move {
            let config =
                watcher::Config::default().fields(&format!("metadata.name={DEFAULT_DENY}"));
            let mut events = watcher(policies.clone(), config).boxed();
            while let Some(event) = events.next().await {
                let Ok(watcher::Event::Apply(_) | watcher::Event::InitApply(_)) = event else {
                    continue;
                };
                {
                    let mut attack = attack.lock().unwrap();
                    if let Some(since) = attack.missing_since.take() {
                        attack.longest_gap = attack.longest_gap.max(since.elapsed());
                    }
                }
                if policies
                    .delete(DEFAULT_DENY, &DeleteParams::default())
                    .await
                    .is_ok()
                {
                    let mut attack = attack.lock().unwrap();
                    attack.deletes += 1;
                    attack.missing_since = Some(Instant::now());
                }
            }
        })
    };
    // The auditor: what the status and the report claim while the object has been missing
    // for longer than a repair takes.
    const REPAIR: Duration = Duration::from_secs(1);
    let mut false_claims = Vec::new();
    let attack_for = Duration::from_secs(60);
    let started = Instant::now();
    while started.elapsed() < attack_for {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let missing_before = attack.lock().unwrap().missing_since;
        let status = profiles
            .get("strict")
            .await
            .unwrap()
            .status
            .unwrap_or_default();
        let report = report_of(&client, ReportApi::OpenReports, ns).await;
        let missing_after = attack.lock().unwrap().missing_since;
        // Missing throughout the reads, for longer than a repair takes.
        if let (Some(before), Some(after)) = (missing_before, missing_after)
            && before == after
            && before.elapsed() > REPAIR
        {
            let claims = claims_isolation(&status, report.as_ref());
            if !claims.is_empty() {
                false_claims.push(format!(
                    "missing for {:?}, yet {}",
                    before.elapsed(),
                    claims.join(", ")
                ));
            }
        }
    }
    attacker.abort();
    let _ = attacker.await;
    let (deletes, longest_gap, missing_since) = {
        let attack = attack.lock().unwrap();
        (attack.deletes, attack.longest_gap, attack.missing_since)
    };
    // Once the client stops, the object is back within a second.
    let back = eventually_within(REPAIR, "the default deny back after the attack", || async {
        match policies.get_opt(DEFAULT_DENY).await {
            Ok(Some(_)) => Ok(Instant::now()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let last_gap = missing_since.map(|since| back.duration_since(since));
    eprintln!(
        "attack: {deletes} deletes in {attack_for:?}, longest gap before the object returned \
         {longest_gap:?}, back {last_gap:?} after the last delete"
    );
    assert!(
        deletes >= 20,
        "only {deletes} deletes: the attack proved nothing"
    );
    assert!(
        false_claims.is_empty(),
        "claims made while the default deny was missing: {false_claims:#?}"
    );
    assert!(
        longest_gap < Duration::from_secs(2),
        "the default deny was missing for {longest_gap:?} during the attack"
    );
    // And the status and report are right again.
    report_holds_network(&client, ns).await;
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(20), operator).await;
}

fn binding_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicyBinding",
    ))
}

fn policy_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicy",
    ))
}

/// `status` counts exactly `more` repairs more than `before`.
fn counted_repairs(
    status: &HardeningProfileStatus,
    before: &HardeningProfileStatus,
    more: u64,
) -> Result<(), String> {
    if status.repairs_total == before.repairs_total + more {
        Ok(())
    } else {
        Err(format!(
            "repairsTotal {} (was {}, {more} more expected)",
            status.repairs_total, before.repairs_total
        ))
    }
}

fn repaired_notes(events: &[k8s_openapi::api::events::v1::Event]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("Repaired"))
        .filter_map(|e| e.note.clone())
        .collect()
}

/// A restarted operator tells repairs from rollouts by what is on the cluster, not by what
/// it applied itself: deleting the guardrails' binding or a generated NetworkPolicy after a
/// restart gives a `Repaired` Event and counts in `repairsTotal`, as before the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repairs_after_a_restart_are_repairs() {
    let mut env = OperatorEnv::start("restart-repair").await;
    let ns = env.namespace(&[]).await;
    let mut spec = strict_spec();
    spec["guardrails"] = json!({ "requireImageTag": true });
    let name = env
        .create_profile(&env.profile("strict", spec))
        .await
        .unwrap()
        .name_any();
    let enforced = |s: &HardeningProfileStatus| {
        in_sync(1)(s)?;
        match condition(s, "GuardrailsEnforced") {
            Some((status, _)) if status == "True" => Ok(()),
            other => Err(format!("GuardrailsEnforced {other:?}")),
        }
    };
    let before = env
        .status_where(&name, "in sync, guardrails enforced", enforced)
        .await;
    env.stop_operator().await;
    env.start_operator(hardening_operator::config::RunConfig::default());

    let client = env.client.clone();
    let object = hardening_operator::core::guardrails::object_name(&name);
    let bindings: Api<DynamicObject> = Api::all_with(client.clone(), &binding_resource());
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), &ns);
    // The restarted operator has looked at everything (its status is current again).
    tokio::time::sleep(Duration::from_secs(2)).await;
    bindings
        .delete(&object, &DeleteParams::default())
        .await
        .unwrap();
    policies
        .delete(DEFAULT_DENY, &DeleteParams::default())
        .await
        .unwrap();

    eventually("both repaired, with Repaired Events", || async {
        let back = bindings
            .get_opt(&object)
            .await
            .map_err(|e| e.to_string())?
            .is_some()
            && policies
                .get_opt(DEFAULT_DENY)
                .await
                .map_err(|e| e.to_string())?
                .is_some();
        let notes = repaired_notes(&events_for(&client, &name).await).join("\n");
        let announced = notes.contains(&format!("ValidatingAdmissionPolicyBinding {object}"))
            && notes.contains(&format!("NetworkPolicy {ns}/{DEFAULT_DENY}"));
        if back && announced {
            Ok(())
        } else {
            Err(format!("back: {back}; Repaired notes: {notes}"))
        }
    })
    .await;
    env.status_where(&name, "both repairs counted", |s| {
        enforced(s)?;
        counted_repairs(s, &before, 2)
    })
    .await;
    env.finish().await;
}

fn as_someone_else() -> PostParams {
    PostParams {
        field_manager: Some("someone-else".into()),
        ..Default::default()
    }
}

/// A foreign object holding a generated name keeps the operator out; its deletion lets the
/// operator in at once (not at the hourly resync), for every kind the operator generates, and
/// the conflict leaves the status with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_moves_in_as_soon_as_a_foreign_object_with_a_generated_name_goes() {
    let mut env = OperatorEnv::start("foreign-gone").await;
    let quota_ns = env.namespace(&[]).await;
    let limits_ns = env.namespace(&[]).await;
    let client = env.client.clone();
    let profile_name = format!("{}-strict", env.shard);
    let object = hardening_operator::core::guardrails::object_name(&profile_name);
    // Someone else's objects, with the names the profile generates.
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), &quota_ns);
    quotas
        .create(
            &as_someone_else(),
            &serde_json::from_value(json!({
                "metadata": { "name": "hardening-quota" }, "spec": { "hard": { "pods": "99" } }
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let ranges: Api<LimitRange> = Api::namespaced(client.clone(), &limits_ns);
    ranges
        .create(
            &as_someone_else(),
            &serde_json::from_value(json!({
                "metadata": { "name": "hardening-limits" },
                "spec": { "limits": [{ "type": "Container", "max": { "cpu": "9" } }] }
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let vaps: Api<DynamicObject> = Api::all_with(client.clone(), &policy_resource());
    vaps.create(
        &as_someone_else(),
        &serde_json::from_value(json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": { "name": object },
            "spec": {
                "matchConstraints": { "resourceRules": [{
                    "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                    "resources": ["configmaps"] }] },
                "validations": [{ "expression": "true" }]
            }
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    let mut spec = strict_spec();
    spec["guardrails"] = json!({ "requireImageTag": true });
    let name = env
        .create_profile(&env.profile("strict", spec))
        .await
        .unwrap()
        .name_any();
    assert_eq!(name, profile_name);
    env.status_where(&name, "three foreign objects reported", |s| {
        let failed = s.failed_namespaces == 2;
        let guardrails = s
            .guardrails
            .as_ref()
            .and_then(|g| g.message.as_deref())
            .is_some_and(|m| m.contains(&format!("ValidatingAdmissionPolicy {object} exists")));
        if failed && guardrails {
            Ok(())
        } else {
            Err(format!(
                "{} failed namespaces, guardrails {:?}",
                s.failed_namespaces, s.guardrails
            ))
        }
    })
    .await;

    // Each foreign object goes; the operator's own takes its place at once. The namespaced
    // ones first: their namespaces' outcomes change, which asks for the profile's status
    // too, so the admission policy alone is left for the second step.
    const AT_ONCE: Duration = Duration::from_secs(10);
    quotas
        .delete("hardening-quota", &DeleteParams::default())
        .await
        .unwrap();
    ranges
        .delete("hardening-limits", &DeleteParams::default())
        .await
        .unwrap();
    let profiles = env.profiles_api();
    let status = || async {
        profiles
            .get(&name)
            .await
            .map_err(|e| e.to_string())?
            .status
            .ok_or_else(|| "no status".to_owned())
    };
    eventually_within(
        AT_ONCE,
        "both namespaces in sync, no conflict left",
        || async {
            let status = status().await?;
            in_sync(2)(&status).or_else(|e| {
                // Ready stays False while the guardrails are blocked: only the counts matter.
                (status.in_sync_namespaces == 2).then_some(()).ok_or(e)
            })?;
            if status.namespaces.iter().any(|n| n.message.is_some()) {
                return Err(format!(
                    "a namespace still names a problem: {:?}",
                    status.namespaces
                ));
            }
            Ok(())
        },
    )
    .await;
    // Quiet now: nothing else will ask for the profile's reconcile.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let blocked = status().await.unwrap();
    assert!(
        blocked
            .guardrails
            .as_ref()
            .and_then(|g| g.message.as_deref())
            .is_some_and(|m| m.contains("exists")),
        "the foreign policy is still reported: {:?}",
        blocked.guardrails
    );
    vaps.delete(&object, &DeleteParams::default())
        .await
        .unwrap();
    eventually_within(
        AT_ONCE,
        "the guardrails in place, the conflict gone",
        || async {
            let status = status().await?;
            in_sync(2)(&status)?;
            match condition(&status, "GuardrailsEnforced") {
                Some((s, _)) if s == "True" => Ok(()),
                other => Err(format!(
                    "GuardrailsEnforced {other:?}, guardrails {:?}",
                    status.guardrails
                )),
            }
        },
    )
    .await;
    let own = |o: &DynamicObject| hardening_operator::core::plan::applied_by_operator(o);
    let dynamic = |v: Value| serde_json::from_value::<DynamicObject>(v).unwrap();
    let quota = quotas.get("hardening-quota").await.unwrap();
    let range = ranges.get("hardening-limits").await.unwrap();
    assert!(own(&dynamic(serde_json::to_value(quota).unwrap())));
    assert!(own(&dynamic(serde_json::to_value(range).unwrap())));
    assert!(own(&vaps.get(&object).await.unwrap()));
    env.finish().await;
}

/// The preview judges a pod again when what is judged of it changes in place: its image,
/// an ephemeral container added. (Before: it was kept by the set of pod names, and
/// `ReadyToEnforce` said a namespace was ready while enforcing would reject its pods.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preview_judges_a_pod_again_when_its_spec_changes() {
    let mut env = OperatorEnv::start("preview-change").await;
    let ns = env.namespace(&[]).await;
    let name = env
        .create_profile(&env.profile(
            "audit",
            json!({ "mode": "Audit", "guardrails": { "allowedRegistries": ["registry.example"] } }),
        ))
        .await
        .unwrap()
        .name_any();
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), &ns);
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": { "name": "web" },
            "spec": { "containers": [{ "name": "app", "image": "registry.example/app:1" }] }
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    let ready_to_enforce = |wanted: &'static str, pod_named: bool| {
        move |s: &HardeningProfileStatus| match condition(s, "ReadyToEnforce") {
            Some((status, _)) if status == wanted => {
                let message = s
                    .conditions
                    .iter()
                    .find(|c| c.type_ == "ReadyToEnforce")
                    .map(|c| c.message.clone())
                    .unwrap_or_default();
                if !pod_named || message.contains("web") {
                    Ok(())
                } else {
                    Err(format!("the message does not name the pod: {message}"))
                }
            }
            other => Err(format!("ReadyToEnforce {other:?}")),
        }
    };
    env.status_where(&name, "ready to enforce", ready_to_enforce("True", false))
        .await;

    // The image changes in place to one from another registry.
    pods.patch(
        "web",
        &PatchParams::default(),
        &Patch::Strategic(json!({ "spec": { "containers": [
            { "name": "app", "image": "docker.io/library/busybox:1.36" }] } })),
    )
    .await
    .unwrap();
    env.status_where(
        &name,
        "not ready: the new image",
        ready_to_enforce("False", true),
    )
    .await;

    // Back to an allowed image, then an ephemeral container from elsewhere.
    pods.patch(
        "web",
        &PatchParams::default(),
        &Patch::Strategic(json!({ "spec": { "containers": [
            { "name": "app", "image": "registry.example/app:1" }] } })),
    )
    .await
    .unwrap();
    env.status_where(&name, "ready again", ready_to_enforce("True", false))
        .await;
    pods.patch_ephemeral_containers(
        "web",
        &PatchParams::default(),
        &Patch::Strategic(json!({ "spec": { "ephemeralContainers": [
            { "name": "debug", "image": "docker.io/library/busybox:1.36" }] } })),
    )
    .await
    .unwrap();
    env.status_where(
        &name,
        "not ready: the ephemeral container",
        ready_to_enforce("False", true),
    )
    .await;
    env.finish().await;
}

/// The operator's policy reports are kept like any generated object: one someone deletes or
/// edits is written again (with a `Repaired` Event), the namespace's and the profile's.
/// (Before: a report was written again only when the namespace's outcome changed.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_or_edited_policy_report_is_restored() {
    let Some((_plane, client)) = hardening_tests::own_control_plane("installing report CRDs").await
    else {
        return;
    };
    crate::operator_env::install_crd(&client).await;
    for file in [
        "openreports.io_reports.yaml",
        "openreports.io_clusterreports.yaml",
    ] {
        install(&client, file).await;
    }
    let ns = "team";
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({ "metadata": { "name": ns, "labels": { "tier": "strict" } } }),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let mut spec = strict_spec();
    spec["namespaceSelector"] = json!({ "matchLabels": { "tier": "strict" } });
    Api::<HardeningProfile>::all(client.clone())
        .create(
            &PostParams::default(),
            &fixtures::profile("strict").spec(spec).build(),
        )
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let operator = tokio::spawn(hardening_operator::controller::run(
        client.clone(),
        hardening_operator::config::RunConfig::default(),
        async {
            let _ = stopped.await;
        },
    ));
    let api = ReportApi::OpenReports;
    let written = report_holds_network(&client, ns).await;
    let resource = |(kind, plural): (&str, &str)| {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(api.group(), api.version(), kind),
            plural,
        )
    };
    let reports: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), ns, &resource(api.kind()));
    let cluster_reports: Api<DynamicObject> =
        Api::all_with(client.clone(), &resource(api.cluster_kind()));
    let cluster_name = cluster_report_name("strict");
    let cluster_written = eventually("the profile's cluster report", || async {
        cluster_report_of(&client, api, "strict")
            .await
            .ok_or_else(|| "none yet".to_owned())
    })
    .await;

    // Deleted: written again.
    reports
        .delete(REPORT_NAME, &DeleteParams::default())
        .await
        .unwrap();
    cluster_reports
        .delete(&cluster_name, &DeleteParams::default())
        .await
        .unwrap();
    eventually("both reports written again", || async {
        let namespaced = report_of(&client, api, ns)
            .await
            .ok_or("no namespace report")?;
        let cluster = cluster_report_of(&client, api, "strict")
            .await
            .ok_or("no cluster report")?;
        if namespaced["results"] == written["results"]
            && cluster["results"] == cluster_written["results"]
        {
            Ok(())
        } else {
            Err("written again with other results".to_owned())
        }
    })
    .await;

    // Edited: a result turned from pass to fail by someone else is put back.
    let mut results = written["results"].clone();
    for result in results.as_array_mut().unwrap() {
        result["result"] = json!("fail");
    }
    reports
        .patch(
            REPORT_NAME,
            &PatchParams::default(),
            &Patch::Merge(json!({ "results": results })),
        )
        .await
        .unwrap();
    eventually("the edited report put back", || async {
        let now = report_of(&client, api, ns).await.ok_or("no report")?;
        if now["results"] == written["results"] {
            Ok(())
        } else {
            Err(format!("results {}", now["results"]))
        }
    })
    .await;
    let notes = eventually("Repaired Events for the reports", || async {
        let notes = repaired_notes(&events_for(&client, "strict").await);
        let text = notes.join("\n");
        if text.contains(&format!("Report {ns}/{REPORT_NAME}"))
            && text.contains(&format!("ClusterReport {cluster_name}"))
        {
            Ok(notes)
        } else {
            Err(text)
        }
    })
    .await;
    eprintln!("{notes:#?}");
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(20), operator).await;
}

/// A repair counts and is announced even when another write of the same reconcile fails:
/// with the namespace's quota write refused (a policy of the test's own refuses the operator's
/// real, not dry-run, writes of quotas there), a deleted default deny comes back with its
/// `Repaired` Event and one more in `repairsTotal`, and the quota's repair counts on its own
/// once the refusal goes. (Before a0a1cae the failed quota write dropped what the whole
/// reconcile had repaired: the retry found the default deny in sync, so it was never counted
/// or announced.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repair_counts_when_another_write_of_its_reconcile_fails() {
    let mut env = OperatorEnv::start("partial-repair").await;
    let ns = env.namespace(&[]).await;
    let name = env
        .create_profile(&env.profile("strict", strict_spec()))
        .await
        .unwrap()
        .name_any();
    let before = env.status_where(&name, "in sync", in_sync(1)).await;

    // The refusal: every real write of a quota in `ns`, but the break-glass group's.
    let client = env.client.clone();
    let refusal = hardening_tests::unique_name("refuse-quota-writes");
    let policies: Api<DynamicObject> = Api::all_with(client.clone(), &policy_resource());
    let bindings: Api<DynamicObject> = Api::all_with(client.clone(), &binding_resource());
    let policy: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": { "name": refusal },
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": { "resourceRules": [{
                "apiGroups": [""], "apiVersions": ["v1"],
                "operations": ["CREATE", "UPDATE"], "resources": ["resourcequotas"]
            }]},
            "matchConditions": [
                { "name": "not-a-dry-run", "expression": "!request.dryRun" },
                { "name": "not-break-glass", "expression": format!(
                    "!('{}' in request.userInfo.?groups.orValue([]))",
                    hardening_operator::core::guardrails::DEFAULT_BREAK_GLASS_GROUP
                )}
            ],
            "validations": [{ "expression": "false", "message": "the test refuses quota writes" }]
        }
    }))
    .unwrap();
    let binding: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": { "name": refusal },
        "spec": {
            "policyName": refusal,
            "validationActions": ["Deny"],
            "matchResources": { "namespaceSelector": {
                "matchLabels": { "kubernetes.io/metadata.name": ns }
            }}
        }
    }))
    .unwrap();
    policies
        .create(&PostParams::default(), &policy)
        .await
        .unwrap();
    bindings
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), &ns);
    // In effect: a write that changes nothing is refused.
    eventually("the test's refusal of quota writes in effect", || async {
        match quotas
            .patch(QUOTA, &PatchParams::default(), &Patch::Merge(json!({})))
            .await
        {
            Err(kube::Error::Api(e)) if e.message.contains("the test refuses quota writes") => {
                Ok(())
            }
            other => Err(format!("not yet refused: {other:?}")),
        }
    })
    .await;

    // The quota drifts, and its repair is refused: the namespace fails.
    let break_glass = hardening_tests::clients::break_glass().await;
    Api::<ResourceQuota>::namespaced(break_glass.clone(), &ns)
        .patch(
            QUOTA,
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "hard": { "pods": "20" } } })),
        )
        .await
        .unwrap();
    env.status_where(&name, "the namespace failing on its quota", |s| {
        if s.failed_namespaces == 1 {
            Ok(())
        } else {
            Err(format!(
                "failed {} in sync {}",
                s.failed_namespaces, s.in_sync_namespaces
            ))
        }
    })
    .await;

    // Every reconcile of the namespace now has a failing write: the default deny's repair
    // must count all the same.
    Api::<NetworkPolicy>::namespaced(break_glass, &ns)
        .delete(DEFAULT_DENY, &DeleteParams::default())
        .await
        .unwrap();
    let policies_in_ns: Api<NetworkPolicy> = Api::namespaced(client.clone(), &ns);
    eventually("the default deny repaired and announced", || async {
        let back = policies_in_ns
            .get_opt(DEFAULT_DENY)
            .await
            .map_err(|e| e.to_string())?
            .is_some();
        let notes = repaired_notes(&events_for(&client, &name).await).join("\n");
        let announced = notes.contains(&format!("NetworkPolicy {ns}/{DEFAULT_DENY}"));
        if back && announced {
            Ok(())
        } else {
            Err(format!("back: {back}; Repaired notes: {notes}"))
        }
    })
    .await;
    env.status_where(&name, "the repair counted, the quota still failing", |s| {
        counted_repairs(s, &before, 1)?;
        if s.failed_namespaces == 1 {
            Ok(())
        } else {
            Err(format!("failed namespaces {}", s.failed_namespaces))
        }
    })
    .await;
    let quota = quotas.get(QUOTA).await.unwrap();
    assert_eq!(
        quota.spec.unwrap().hard.unwrap()["pods"].0,
        "20",
        "the quota's repair was refused"
    );

    // The refusal goes: the quota is repaired and counts on its own.
    bindings
        .delete(&refusal, &DeleteParams::default())
        .await
        .unwrap();
    policies
        .delete(&refusal, &DeleteParams::default())
        .await
        .unwrap();
    eventually("the test's refusal gone", || async {
        quotas
            .patch(QUOTA, &PatchParams::default(), &Patch::Merge(json!({})))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await;
    // A refused write waits for a change (it is not retried in a loop): someone edits the
    // quota again.
    Api::<ResourceQuota>::namespaced(hardening_tests::clients::break_glass().await, &ns)
        .patch(
            QUOTA,
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "hard": { "pods": "30" } } })),
        )
        .await
        .unwrap();
    env.status_where(&name, "both repairs counted, in sync", |s| {
        in_sync(1)(s)?;
        counted_repairs(s, &before, 2)
    })
    .await;
    assert_eq!(
        quotas.get(QUOTA).await.unwrap().spec.unwrap().hard.unwrap()["pods"].0,
        "10"
    );
    env.finish().await;
}
