//! Policy reports against the real published CRDs (`tests/controlplane/fetch-report-crds.sh`:
//! OpenReports v0.2.1, wgpolicyk8s.io v1alpha2 of Kyverno v1.19.1), on a control plane of
//! this test's own (the CRDs decide what start-up detects, which the other tests must not
//! see change): detection prefers OpenReports, falls back to wgpolicyk8s.io and else finds
//! none; the API server accepts the reports the operator builds for both APIs as they are
//! (nothing pruned), and a result flips with drift and back.

use hardening_operator::core::api::{DriftEntry, HardeningProfile, NamespaceState};
use hardening_operator::core::compliance::ProfileFacts;
use hardening_operator::core::policy_report::{
    REPORT_NAME, ReportApi, cluster_report_object, cluster_results, namespace_results,
    report_object,
};
use hardening_operator::core::status::NamespaceOutcome;
use hardening_operator::fixtures::{profile, specs};
use hardening_tests::reports::{
    cluster_report_of, install, report_of, result_of, wait_for_cluster_result, wait_for_result,
};
use hardening_tests::{eventually, eventually_within};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Api, Client};
use serde_json::{Value, json};

/// Applies the report and reads it back; what the API server stored (pruning unknown
/// fields) must be what was sent.
async fn apply_and_read(client: &Client, api: ReportApi, report: &Value) -> Value {
    let namespace = report["metadata"]["namespace"].as_str();
    let (kind, plural) = match namespace {
        Some(_) => api.kind(),
        None => api.cluster_kind(),
    };
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(api.group(), api.version(), kind),
        plural,
    );
    let reports: Api<DynamicObject> = match namespace {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    let name = report["metadata"]["name"].as_str().unwrap();
    let object: DynamicObject = serde_json::from_value(report.clone()).unwrap();
    // The CRD's schema may not be served at once after Established.
    eventually(&format!("{kind} applied"), || async {
        reports
            .patch(
                name,
                &PatchParams::apply("hardening-operator").force(),
                &Patch::Apply(&object),
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await;
    let stored = reports.get(name).await.unwrap();
    serde_json::to_value(stored).unwrap()
}

fn strict() -> HardeningProfile {
    profile("strict")
        .spec_yaml(specs::RESTRICTED_DENY_ALL)
        .build()
}

const FACTS: ProfileFacts = ProfileFacts {
    images_scanned: false,
    pods_watched: true,
    guardrails_enforced: false,
};

fn outcome(drift: Vec<DriftEntry>) -> NamespaceOutcome {
    NamespaceOutcome {
        candidates: vec![("strict".into(), 1)],
        state: Some(if drift.is_empty() {
            NamespaceState::InSync
        } else {
            NamespaceState::Drifted
        }),
        drift,
        ..Default::default()
    }
}

/// The result of SYS.1.6.A5 (separation of networks), which the default deny serves.
fn network_result(stored: &Value) -> String {
    stored["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "SYS.1.6.A5")
        .unwrap()["result"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_are_detected_and_accepted_by_the_published_crds() {
    let Some((plane, client)) = hardening_tests::own_control_plane("installing report CRDs").await
    else {
        return;
    };
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({ "metadata": { "name": "team" } })).unwrap(),
        )
        .await
        .unwrap();

    assert_eq!(
        hardening_operator::controller::detect_report_api(&client)
            .await
            .unwrap(),
        None,
        "no report CRDs yet"
    );
    // Only one kind of an API is not enough.
    install(&client, "wgpolicyk8s.io_policyreports.yaml").await;
    assert_eq!(
        hardening_operator::controller::detect_report_api(&client)
            .await
            .unwrap(),
        None
    );
    install(&client, "wgpolicyk8s.io_clusterpolicyreports.yaml").await;
    assert_eq!(
        hardening_operator::controller::detect_report_api(&client)
            .await
            .unwrap(),
        Some(ReportApi::WgPolicy)
    );

    let drift = DriftEntry {
        kind: "NetworkPolicy".into(),
        name: "hardening-default-deny".into(),
        field: "spec.policyTypes".into(),
        expected: Some("[Ingress, Egress]".into()),
        actual: Some("[Ingress]".into()),
        manager: Some("kubectl-edit".into()),
    };
    for api in [ReportApi::WgPolicy, ReportApi::OpenReports] {
        if api == ReportApi::OpenReports {
            install(&client, "openreports.io_reports.yaml").await;
            install(&client, "openreports.io_clusterreports.yaml").await;
            assert_eq!(
                hardening_operator::controller::detect_report_api(&client)
                    .await
                    .unwrap(),
                Some(ReportApi::OpenReports),
                "OpenReports is preferred"
            );
        }
        // In sync, drifted, repaired: the result flips and flips back; the API server
        // stores every report exactly as built.
        let mut seen = Vec::new();
        for drift in [vec![], vec![drift.clone()], vec![]] {
            let report = report_object(
                api,
                "team",
                &namespace_results(&strict(), "team", &outcome(drift), &FACTS),
            );
            let stored = apply_and_read(&client, api, &report).await;
            for field in ["scope", "summary", "results"] {
                assert_eq!(
                    stored[field], report[field],
                    "{api:?} {field} pruned or changed"
                );
            }
            if api == ReportApi::OpenReports {
                assert_eq!(stored["source"], report["source"]);
            }
            seen.push(network_result(&stored));
        }
        // Partial at best (the hosts' networks are outside the cluster), NotMet while drifted.
        assert_eq!(seen, ["warn", "fail", "warn"], "{api:?}");

        // The cluster-scoped report, with every kind of result it has (guardrails
        // included), stored as built too.
        let guarded = profile("strict")
            .spec_yaml(specs::RESTRICTED_DENY_ALL)
            .spec(json!({ "guardrails": { "denyExec": true, "requireImageTag": true } }))
            .generation(1)
            .status(json!({
                "observedGeneration": 1,
                "conditions": [
                    { "type": "Ready", "status": "False", "reason": "Drifted",
                      "message": "1 namespace drifted", "lastTransitionTime": "2026-12-01T00:00:00Z" },
                    { "type": "Conflicting", "status": "True", "reason": "NamespaceConflict",
                      "message": "1 namespace governed by another profile",
                      "lastTransitionTime": "2026-12-01T00:00:00Z" },
                    { "type": "GuardrailsEnforced", "status": "True", "reason": "Enforced",
                      "message": "enforced", "lastTransitionTime": "2026-12-01T00:00:00Z" }
                ],
                "guardrails": { "policy": "hardening.dev-strict", "validationActions": ["Deny"],
                                "state": "InSync" }
            }))
            .build();
        let results = cluster_results(&guarded);
        // The operator's 3 checks and the 20 requirements it assesses.
        assert_eq!(results.len(), 3 + 20, "{results:?}");
        let report = cluster_report_object(api, "strict", &results);
        let stored = apply_and_read(&client, api, &report).await;
        for field in ["scope", "summary", "results"] {
            assert_eq!(
                stored[field], report[field],
                "{api:?} cluster report {field} pruned or changed"
            );
        }
    }
    // The CRDs' enum holds: a result outside it is refused (the schema is really checked).
    let mut bad = report_object(
        ReportApi::OpenReports,
        "team",
        &namespace_results(&strict(), "team", &outcome(vec![]), &FACTS),
    );
    bad["results"][0]["result"] = json!("maybe");
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("openreports.io", "v1alpha1", "Report"),
        "reports",
    );
    let refused = Api::<DynamicObject>::namespaced_with(client.clone(), "team", &resource)
        .patch(
            REPORT_NAME,
            &PatchParams::apply("hardening-operator").force(),
            &Patch::Apply(&serde_json::from_value::<DynamicObject>(bad).unwrap()),
        )
        .await;
    assert!(refused.is_err(), "an invalid result was accepted");
    drop(plane);
}

async fn label(client: &Client, namespace: &str, labels: Value) {
    Api::<Namespace>::all(client.clone())
        .patch(
            namespace,
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "labels": labels } })),
        )
        .await
        .unwrap();
}

/// The operator with the OpenReports CRDs installed: a report per governed namespace, a
/// result that flips with drift and back, no write while nothing changes, and the report
/// deleted when the namespace is no longer governed; a cluster-scoped report per profile
/// (its readiness, its conflicts), deleted with the profile; `/readyz` names the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_writes_one_report_per_governed_namespace_when_it_changes() {
    the_operator_writes_reports(ReportApi::OpenReports).await;
}

/// The same with only the wgpolicyk8s.io CRDs installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_writes_wgpolicyk8s_reports_without_openreports() {
    the_operator_writes_reports(ReportApi::WgPolicy).await;
}

async fn the_operator_writes_reports(api: ReportApi) {
    let Some((plane, client)) = hardening_tests::own_control_plane("installing report CRDs").await
    else {
        return;
    };
    crate::operator_env::install_crd(&client).await;
    let files = match api {
        ReportApi::OpenReports => [
            "openreports.io_reports.yaml",
            "openreports.io_clusterreports.yaml",
        ],
        ReportApi::WgPolicy => [
            "wgpolicyk8s.io_policyreports.yaml",
            "wgpolicyk8s.io_clusterpolicyreports.yaml",
        ],
    };
    for file in files {
        install(&client, file).await;
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for (name, labels) in [
        ("strict-ns", json!({ "tier": "strict" })),
        // Audit mode writes nothing: the labels its profile declares are set by hand.
        (
            "audit-ns",
            json!({ "tier": "audit", "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest" }),
        ),
    ] {
        namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({ "metadata": { "name": name, "labels": labels } }))
                    .unwrap(),
            )
            .await
            .unwrap();
    }
    let profiles: Api<HardeningProfile> = Api::all(client.clone());
    for (name, spec) in [
        (
            "strict",
            json!({
                "namespaceSelector": { "matchLabels": { "tier": "strict" } },
                "podSecurity": { "enforce": { "level": "restricted" } },
                "networkPolicy": { "defaultDeny": ["Ingress", "Egress"] },
                "resourceQuota": { "hard": { "pods": "10" } }
            }),
        ),
        (
            "audit",
            json!({
                "namespaceSelector": { "matchLabels": { "tier": "audit" } },
                "mode": "Audit",
                "podSecurity": { "enforce": { "level": "restricted" } }
            }),
        ),
    ] {
        profiles
            .create(&PostParams::default(), &profile(name).spec(spec).build())
            .await
            .unwrap();
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let health = std::sync::Arc::new(hardening_operator::server::Health::default());
    let operator = tokio::spawn(hardening_operator::controller::run_with(
        client.clone(),
        hardening_operator::config::RunConfig::default(),
        std::sync::Arc::new(hardening_operator::metrics::Metrics::new()),
        health.clone(),
        None,
        async {
            let _ = stopped.await;
        },
    ));

    // One result per requirement the operator assesses, as its verdict in the namespace.
    let strict = wait_for_result(&client, api, "strict-ns", "SYS.1.6.A17", "warn").await;
    for (rule, wanted) in [
        ("SYS.1.6.A5", "warn"),
        ("SYS.1.6.A15", "fail"),
        // Network isolation without seccomp or AppArmor profiles: a part of three.
        ("SYS.1.6.A21", "warn"),
        ("APP.4.4.A18", "fail"),
    ] {
        assert_eq!(result_of(&strict, rule).as_deref(), Some(wanted), "{rule}");
    }
    let a17 = strict["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "SYS.1.6.A17")
        .unwrap();
    assert_eq!(a17["policy"], "BSI SYS.1.6 (2023)");
    assert_eq!(a17["category"], "BSI SYS.1.6 (2023), level S");
    assert_eq!(a17["properties"]["profile"], "strict");
    assert_eq!(strict["kind"], api.kind().0);
    if api == ReportApi::OpenReports {
        assert_eq!(strict["source"], "hardening-operator");
    }
    assert_eq!(strict["scope"]["name"], "strict-ns");
    assert_eq!(strict["results"].as_array().unwrap().len(), 20);
    // /readyz says which API the reports are written in.
    let notes = health.notes();
    assert!(
        notes.contains(&format!("policy reports: {}", api.api_version())),
        "{notes}"
    );

    // The cluster-scoped report of each profile: ready, no conflict.
    let cluster = wait_for_cluster_result(&client, api, "strict", "profile-ready", "pass").await;
    assert_eq!(cluster["kind"], api.cluster_kind().0);
    assert_eq!(cluster["scope"]["name"], "strict");
    assert_eq!(
        result_of(&cluster, "profile-conflicts").as_deref(),
        Some("pass")
    );
    wait_for_cluster_result(&client, api, "audit", "profile-ready", "pass").await;
    // A second profile selecting strict-ns, with a lower priority, is in conflict there;
    // deleted, its cluster report goes with it.
    profiles
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "hardening.dev/v1alpha1", "kind": "HardeningProfile",
                "metadata": { "name": "overlap" },
                "spec": {
                    "namespaceSelector": { "matchLabels": { "tier": "strict" } },
                    "priority": -1,
                    "resourceQuota": { "hard": { "pods": "5" } }
                }
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let overlap =
        wait_for_cluster_result(&client, api, "overlap", "profile-conflicts", "warn").await;
    assert_eq!(overlap["summary"]["warn"], 1);
    profiles
        .delete("overlap", &Default::default())
        .await
        .unwrap();
    eventually("the cluster report of overlap deleted", || async {
        match cluster_report_of(&client, api, "overlap").await {
            None => Ok(()),
            Some(_) => Err("still there".to_owned()),
        }
    })
    .await;

    // Drift the operator only reports (Audit): the result flips, and flips back (Partial at
    // best in Audit mode, which enforces nothing).
    wait_for_result(&client, api, "audit-ns", "SYS.1.6.A17", "warn").await;
    label(
        &client,
        "audit-ns",
        json!({ "pod-security.kubernetes.io/enforce": null }),
    )
    .await;
    let drifted = wait_for_result(&client, api, "audit-ns", "SYS.1.6.A17", "fail").await;
    assert!(drifted["summary"]["fail"].as_u64().unwrap() >= 1);
    label(
        &client,
        "audit-ns",
        json!({ "pod-security.kubernetes.io/enforce": "restricted" }),
    )
    .await;
    wait_for_result(&client, api, "audit-ns", "SYS.1.6.A17", "warn").await;

    // Nothing changes: nothing is written.
    let version = |report: Option<Value>| report.unwrap()["metadata"]["resourceVersion"].clone();
    let before = version(report_of(&client, api, "strict-ns").await);
    let cluster_before = version(cluster_report_of(&client, api, "strict").await);
    tokio::time::sleep(hardening_operator::controller::REPORT_PERIOD * 3).await;
    let after = version(report_of(&client, api, "strict-ns").await);
    assert_eq!(before, after, "the report was rewritten without a change");
    let cluster_after = version(cluster_report_of(&client, api, "strict").await);
    assert_eq!(
        cluster_before, cluster_after,
        "the cluster report was rewritten without a change"
    );

    // No longer governed: the report goes with the namespace's cleanup.
    label(&client, "strict-ns", json!({ "tier": null })).await;
    eventually("the report of strict-ns deleted", || async {
        match report_of(&client, api, "strict-ns").await {
            None => Ok(()),
            Some(_) => Err("still there".to_owned()),
        }
    })
    .await;

    let _ = stop.send(());
    let _ = tokio::time::timeout(std::time::Duration::from_secs(20), operator).await;
    drop(plane);
}

/// Item 4 of issue 20, one source of findings: the same cluster states driven through the
/// profile's `status.compliance`, the compliance report (`hardening-operator report`'s own
/// code reading the cluster) and the policy reports the operator writes (one result per
/// requirement per namespace, one per requirement per profile); they must agree requirement
/// by requirement, for every profile, in each state: a tenant NetworkPolicy opening one
/// namespace, an Audit profile whose namespace lacks what it declares, then the tenant
/// policy removed and the audited namespace given its labels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_report_and_policy_reports_agree_requirement_by_requirement() {
    use hardening_operator::cli::Exclusions;
    use hardening_operator::cli::report::{Format, ReportArgs, read};
    use hardening_operator::core::api::Verdict;
    use hardening_operator::core::compliance_report::ClusterIdentity;
    use hardening_operator::core::policy_report::outcome as result_of_verdict;
    use k8s_openapi::api::networking::v1::NetworkPolicy;

    let Some((plane, client)) = hardening_tests::own_control_plane("installing report CRDs").await
    else {
        return;
    };
    crate::operator_env::install_crd(&client).await;
    let api = ReportApi::OpenReports;
    install(&client, "openreports.io_reports.yaml").await;
    install(&client, "openreports.io_clusterreports.yaml").await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for (name, tier) in [
        ("s-a", "strict"),
        ("s-b", "strict"),
        ("base", "baseline"),
        ("aud", "audit"),
    ] {
        namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(
                    json!({ "metadata": { "name": name, "labels": { "tier": tier } } }),
                )
                .unwrap(),
            )
            .await
            .unwrap();
    }
    let profiles: Api<HardeningProfile> = Api::all(client.clone());
    for (name, spec) in [
        (
            "strict",
            json!({
                "namespaceSelector": { "matchLabels": { "tier": "strict" } },
                "podSecurity": { "enforce": { "level": "restricted" } },
                "networkPolicy": { "defaultDeny": ["Ingress", "Egress"] },
                "limitRange": { "limits": [{ "type": "Container", "default": { "cpu": "500m", "memory": "256Mi" } }] },
                "seccomp": { "baseline": "Strict" },
                "apparmor": { "denyWrite": ["/etc/**"] },
                "guardrails": { "allowedRegistries": ["registry.example"], "requireImageTag": true,
                                "requireReadOnlyRootFilesystem": true }
            }),
        ),
        (
            "baseline",
            json!({
                "namespaceSelector": { "matchLabels": { "tier": "baseline" } },
                "podSecurity": { "enforce": { "level": "baseline" } },
                "networkPolicy": { "defaultDeny": ["Ingress"] }
            }),
        ),
        (
            "audit",
            json!({
                "namespaceSelector": { "matchLabels": { "tier": "audit" } },
                "mode": "Audit",
                "podSecurity": { "enforce": { "level": "restricted" } }
            }),
        ),
    ] {
        profiles
            .create(&PostParams::default(), &profile(name).spec(spec).build())
            .await
            .unwrap();
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let operator = tokio::spawn(hardening_operator::controller::run_with(
        client.clone(),
        hardening_operator::config::RunConfig::default(),
        std::sync::Arc::new(hardening_operator::metrics::Metrics::new()),
        std::sync::Arc::new(hardening_operator::server::Health::default()),
        None,
        async {
            let _ = stopped.await;
        },
    ));
    let open: NetworkPolicy = serde_json::from_value(json!({
        "metadata": { "name": "allow-all-ingress" },
        "spec": { "podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}] }
    }))
    .unwrap();
    Api::<NetworkPolicy>::namespaced(client.clone(), "s-b")
        .create(&PostParams::default(), &open)
        .await
        .unwrap();

    let governed: [(&str, &[&str]); 3] = [
        ("strict", &["s-a", "s-b"]),
        ("baseline", &["base"]),
        ("audit", &["aud"]),
    ];
    let severity = |r: &str| match r {
        "fail" => 2,
        "warn" => 1,
        _ => 0,
    };
    // Reads all three and says where they disagree; None when they agree everywhere.
    let disagreement = || async {
        let args = ReportArgs {
            format: Format::Markdown,
            output: None,
            profile_selector: None,
            namespace_selector: None,
            exclusions: Exclusions::default(),
            cluster: Default::default(),
        };
        let report = read(&client, &args, ClusterIdentity::default())
            .await
            .map_err(|e| e.to_string())?;
        let mut verdicts: Vec<(String, String, Verdict)> = Vec::new();
        for (name, namespaces) in governed {
            let profile = profiles.get(name).await.map_err(|e| e.to_string())?;
            let status = profile.status.clone().ok_or("no status")?;
            if status.observed_generation != profile.metadata.generation
                || status.compliance.len() != 47
            {
                return Err(format!("{name}: status not current"));
            }
            let row = report
                .profiles
                .iter()
                .find(|p| p.name == name)
                .ok_or("no row")?;
            if row.compliance != status.compliance {
                return Err(format!(
                    "{name}: the report's verdicts differ from the status"
                ));
            }
            let cluster = cluster_report_of(&client, api, name)
                .await
                .ok_or("no cluster report")?;
            let mut reports = Vec::new();
            for ns in namespaces {
                reports.push(
                    report_of(&client, api, ns)
                        .await
                        .ok_or(format!("no report in {ns}"))?,
                );
            }
            for entry in &status.compliance {
                verdicts.push((name.to_owned(), entry.id.clone(), entry.verdict));
                let wanted = result_of_verdict(entry.verdict).map(|o| {
                    serde_json::to_value(o)
                        .unwrap()
                        .as_str()
                        .unwrap()
                        .to_owned()
                });
                let in_cluster = result_of(&cluster, &entry.id);
                if in_cluster != wanted {
                    return Err(format!(
                        "{name} {}: status {:?}, cluster report {in_cluster:?}",
                        entry.id, entry.verdict
                    ));
                }
                let worst = reports
                    .iter()
                    .filter_map(|r| result_of(r, &entry.id))
                    .max_by_key(|r| severity(r));
                if worst != wanted {
                    return Err(format!(
                        "{name} {}: status {:?}, namespace reports {worst:?}",
                        entry.id, entry.verdict
                    ));
                }
            }
        }
        // The report's cluster-wide row is the worst of the profiles'.
        for row in report
            .requirements
            .iter()
            .filter(|r| r.requirement.assessed())
        {
            let worst = verdicts
                .iter()
                .filter(|(_, id, _)| id == row.requirement.id)
                .map(|(_, _, v)| *v)
                .max_by_key(|v| v.severity())
                .unwrap();
            if worst.severity() != row.verdict.severity() {
                return Err(format!(
                    "{}: report {:?}, profiles {worst:?}",
                    row.requirement.id, row.verdict
                ));
            }
        }
        Ok::<_, String>((report, verdicts))
    };
    let (report, first) = eventually("status, report and policy reports agree", || async {
        disagreement().await
    })
    .await;
    let verdict = |all: &[(String, String, Verdict)], profile: &str, id: &str| {
        all.iter()
            .find(|(p, i, _)| p == profile && i == id)
            .unwrap()
            .2
    };
    // The states show: the tenant rule breaks A5 for strict; the audited namespace lacks its
    // labels; baseline does not keep pods from running as root.
    assert_eq!(verdict(&first, "strict", "SYS.1.6.A5"), Verdict::NotMet);
    assert_eq!(verdict(&first, "audit", "SYS.1.6.A17"), Verdict::NotMet);
    assert_eq!(verdict(&first, "baseline", "SYS.1.6.A17"), Verdict::NotMet);
    assert_eq!(
        report
            .requirements
            .iter()
            .find(|r| r.requirement.id == "SYS.1.6.A5")
            .unwrap()
            .verdict,
        Verdict::NotMet
    );

    // The next state: the tenant policy gone, the audited namespace labelled as declared.
    Api::<NetworkPolicy>::namespaced(client.clone(), "s-b")
        .delete("allow-all-ingress", &Default::default())
        .await
        .unwrap();
    label(
        &client,
        "aud",
        json!({ "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest" }),
    )
    .await;
    let (_, second) = eventually("they agree in the next state too", || async {
        let (report, verdicts) = disagreement().await?;
        if verdict(&verdicts, "strict", "SYS.1.6.A5") == Verdict::NotMet
            || verdict(&verdicts, "audit", "SYS.1.6.A17") == Verdict::NotMet
        {
            return Err("the new state is not judged yet".to_owned());
        }
        Ok((report, verdicts))
    })
    .await;
    assert_eq!(verdict(&second, "strict", "SYS.1.6.A5"), Verdict::Partial);
    // Audit mode enforces nothing: Partial at best.
    assert_eq!(verdict(&second, "audit", "SYS.1.6.A17"), Verdict::Partial);

    // The third state (issue 24): an exception in force suspends the image rule in s-a.
    // The three still agree; a requirement it weakens is never met there ("met except
    // accepted deviations", warn, never pass), and the reports say whose, why and until
    // when. Once it has expired, the verdicts are those of before.
    use hardening_operator::core::api::HardeningException;
    let before_exception: Vec<(String, String, Verdict)> = second.clone();
    let expires = k8s_openapi::jiff::Timestamp::from_second(
        k8s_openapi::jiff::Timestamp::now().as_second() + 30,
    )
    .unwrap()
    .to_string();
    let exception: HardeningException = serde_json::from_value(json!({
        "apiVersion": "hardening.dev/v1alpha1", "kind": "HardeningException",
        "metadata": { "name": "strict-images" },
        "spec": {
            "profile": "strict",
            "namespaces": { "names": ["s-a"] },
            "rules": ["requireImageTag"],
            "reason": "vendor image without a version until the vendor ships one (RISK-7)",
            "owner": "team-a",
            "expires": expires,
        }
    }))
    .unwrap();
    let exceptions: Api<HardeningException> = Api::all(client.clone());
    exceptions
        .create(&PostParams::default(), &exception)
        .await
        .unwrap();
    let (report, third) = eventually("they agree with the exception in force", || async {
        let (report, verdicts) = disagreement().await?;
        let strict = profiles.get("strict").await.map_err(|e| e.to_string())?;
        let status = strict.status.ok_or("no status")?;
        let a10 = status
            .compliance
            .iter()
            .find(|c| c.id == "SYS.1.6.A10")
            .ok_or("no A10")?;
        if a10.accepted_deviations.is_empty() {
            return Err("the exception is not judged yet".to_owned());
        }
        Ok((report, verdicts))
    })
    .await;
    for id in ["SYS.1.6.A6", "SYS.1.6.A10", "APP.4.4.A13"] {
        assert_ne!(verdict(&third, "strict", id), Verdict::Met, "{id}");
    }
    let deviations = report.deviations();
    let row = deviations
        .iter()
        .find(|d| d.requirement.id == "SYS.1.6.A10")
        .expect("the report lists the deviation of A10");
    assert_eq!(
        (
            row.profile,
            row.deviation.exception.as_str(),
            row.deviation.owner.as_str(),
            row.deviation.expires.as_str(),
        ),
        ("strict", "strict-images", "team-a", expires.as_str())
    );
    let markdown = hardening_operator::core::compliance_report::markdown(&report);
    assert!(
        markdown.contains("## Accepted deviations") && markdown.contains("RISK-7"),
        "{markdown}"
    );
    let in_sa = report_of(&client, api, "s-a").await.unwrap();
    let exception_result = in_sa["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "exception")
        .expect("an exception result in the report of s-a");
    assert_eq!(exception_result["result"], "warn");
    assert_eq!(exception_result["properties"]["owner"], "team-a");
    assert!(
        exception_result["message"]
            .as_str()
            .unwrap()
            .contains("RISK-7"),
        "{exception_result}"
    );
    let a10 = in_sa["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "SYS.1.6.A10")
        .unwrap();
    assert_ne!(a10["result"], "pass", "{a10}");
    assert!(
        a10["message"]
            .as_str()
            .unwrap()
            .contains("accepted deviations"),
        "{a10}"
    );
    assert_eq!(
        result_of(&report_of(&client, api, "s-b").await.unwrap(), "exception"),
        None,
        "s-b is not covered"
    );
    let cluster = cluster_report_of(&client, api, "strict").await.unwrap();
    assert_eq!(result_of(&cluster, "exception").as_deref(), Some("warn"));

    // Expired: the cluster report skips it, the verdicts are those of before.
    let (_, fourth) = eventually_within(
        std::time::Duration::from_secs(60),
        "they agree once the exception has expired",
        || async {
            let (report, verdicts) = disagreement().await?;
            let cluster = cluster_report_of(&client, api, "strict")
                .await
                .ok_or("no cluster report")?;
            if result_of(&cluster, "exception").as_deref() != Some("skip") {
                return Err("the exception is not expired yet".to_owned());
            }
            // The cluster report follows the profile's status, which may say "expired"
            // a moment before the namespaces' verdicts are judged again.
            if let Some((profile, id, v)) = before_exception
                .iter()
                .find(|(p, id, v)| verdict(&verdicts, p, id) != *v)
            {
                return Err(format!(
                    "{profile} {id}: {:?}, before the exception {v:?}",
                    verdict(&verdicts, profile, id)
                ));
            }
            Ok((report, verdicts))
        },
    )
    .await;
    for (profile, id, v) in &before_exception {
        assert_eq!(verdict(&fourth, profile, id), *v, "{profile} {id}");
    }
    assert_eq!(
        result_of(&report_of(&client, api, "s-a").await.unwrap(), "exception"),
        None
    );
    exceptions
        .delete("strict-images", &Default::default())
        .await
        .unwrap();

    let _ = stop.send(());
    let _ = tokio::time::timeout(std::time::Duration::from_secs(20), operator).await;
    drop(plane);
}
