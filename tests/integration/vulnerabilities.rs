//! Vulnerability status (issue 23 item 3): on a control plane with the Trivy Operator's
//! published VulnerabilityReport CRD (v0.29.0, `fetch-report-crds.sh`), reports written as
//! the scanner writes them (its labels, `summary`, `vulnerabilities[].fixedVersion`) make
//! the workload a finding of its namespace: in the profile's status (count, entry,
//! condition `ImagesPatched`), withdrawing the image requirements, in the policy report and
//! in the compliance report; a rescan without fixable findings takes them back.

use hardening_operator::cli::Exclusions;
use hardening_operator::cli::report::{Format, ReportArgs, read, render};
use hardening_operator::core::api::HardeningProfile;
use hardening_operator::core::policy_report::ReportApi;
use hardening_operator::fixtures::profile;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Api, Client};
use serde_json::{Value, json};

use hardening_tests::reports::{install, wait_for_result};

fn reports_api(client: &Client, namespace: &str) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("aquasecurity.github.io", "v1alpha1", "VulnerabilityReport"),
        "vulnerabilityreports",
    );
    Api::namespaced_with(client.clone(), namespace, &resource)
}

/// A report as the Trivy Operator writes it for container `app` of `ReplicaSet/<workload>`.
fn scanner_report(workload: &str, findings: Value) -> Value {
    let count = |severity: &str| {
        findings
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] == severity)
            .count()
    };
    json!({
        "apiVersion": "aquasecurity.github.io/v1alpha1",
        "kind": "VulnerabilityReport",
        "metadata": {
            "name": format!("replicaset-{workload}-app"),
            "labels": {
                "trivy-operator.resource.kind": "ReplicaSet",
                "trivy-operator.resource.name": workload,
                "trivy-operator.resource.namespace": "shop",
                "trivy-operator.container.name": "app",
            },
        },
        "report": {
            "artifact": { "repository": "shop/web", "tag": "1.2" },
            "registry": { "server": "registry.example" },
            "os": { "family": "debian", "name": "12.5" },
            "scanner": { "name": "Trivy", "vendor": "Aqua Security", "version": "0.62.1" },
            "summary": {
                "criticalCount": count("CRITICAL"), "highCount": count("HIGH"),
                "mediumCount": count("MEDIUM"), "lowCount": 0, "unknownCount": 0,
            },
            "updateTimestamp": "2026-12-07T00:00:00Z",
            "vulnerabilities": findings,
        },
    })
}

fn finding(id: &str, severity: &str, fixed: &str) -> Value {
    json!({
        "vulnerabilityID": id, "severity": severity, "fixedVersion": fixed,
        "installedVersion": "1.0", "resource": "openssl", "title": id,
        "lastModifiedDate": "2026-11-01T00:00:00Z", "publishedDate": "2026-10-01T00:00:00Z",
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixable_critical_and_high_findings_are_findings_of_their_namespace() {
    let Some((_plane, client)) =
        hardening_tests::own_control_plane("installing the VulnerabilityReport CRD").await
    else {
        return;
    };
    crate::operator_env::install_crd(&client).await;
    install(&client, "aquasecurity.github.io_vulnerabilityreports.yaml").await;
    install(&client, "openreports.io_reports.yaml").await;
    install(&client, "openreports.io_clusterreports.yaml").await;
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({ "metadata": { "name": "shop", "labels": { "tier": "shop" } } }),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    // Written before the operator starts: its first listing finds it.
    let reports = reports_api(&client, "shop");
    let vulnerable = scanner_report(
        "web-1",
        json!([
            finding("CVE-2026-1", "CRITICAL", "3.0.9"),
            finding("CVE-2026-2", "HIGH", "3.0.9"),
            finding("CVE-2026-3", "CRITICAL", ""),
            finding("CVE-2026-4", "MEDIUM", "3.0.9"),
        ]),
    );
    reports
        .create(
            &PostParams::default(),
            &serde_json::from_value(vulnerable).unwrap(),
        )
        .await
        .unwrap();
    // Only unfixable or minor findings: not a finding.
    let clean = scanner_report(
        "api-1",
        json!([
            finding("CVE-2026-5", "CRITICAL", ""),
            finding("CVE-2026-6", "LOW", "1.1")
        ]),
    );
    reports
        .create(
            &PostParams::default(),
            &serde_json::from_value(clean).unwrap(),
        )
        .await
        .unwrap();
    let profiles: Api<HardeningProfile> = Api::all(client.clone());
    profiles
        .create(
            &PostParams::default(),
            &profile("shop")
                .spec(json!({
                    "namespaceSelector": { "matchLabels": { "tier": "shop" } },
                    "networkPolicy": { "defaultDeny": ["Ingress", "Egress"] },
                    "guardrails": { "allowedRegistries": ["registry.example"], "requireImageTag": true },
                }))
                .build(),
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

    let status_where =
        |what: &'static str,
         check: fn(&hardening_operator::core::api::HardeningProfileStatus) -> bool| {
            let profiles = profiles.clone();
            async move {
                hardening_tests::eventually(what, || {
                    let profiles = profiles.clone();
                    async move {
                        let status = profiles
                            .get("shop")
                            .await
                            .map_err(|e| e.to_string())?
                            .status;
                        match status {
                            Some(s) if check(&s) => Ok(s),
                            other => Err(serde_json::to_string(&other).unwrap()),
                        }
                    }
                })
                .await
            }
        };
    let images = |s: &hardening_operator::core::api::HardeningProfileStatus| {
        s.conditions
            .iter()
            .find(|c| c.type_ == "ImagesPatched")
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    };
    let status = status_where("the vulnerable workload reported", |s| {
        s.vulnerable_workloads == Some(1)
            && s.conditions
                .iter()
                .any(|c| c.type_ == "GuardrailsEnforced" && c.status == "True")
    })
    .await;
    let want = "ReplicaSet/web-1 container app (registry.example/shop/web:1.2): 1 CRITICAL and 1 HIGH vulnerabilities with a fix";
    assert_eq!(
        images(&status),
        Some((
            "False".to_owned(),
            "FixableVulnerabilities".to_owned(),
            format!(
                "1 workload container in 1 namespace runs images with CRITICAL or HIGH vulnerabilities that have a fix; first: shop/{want}"
            )
        ))
    );
    let shop = status.namespaces.iter().find(|n| n.name == "shop").unwrap();
    assert_eq!(shop.vulnerable_workloads, 1);
    assert_eq!(shop.vulnerabilities, vec![want.to_owned()]);
    // BSI SYS.1.6 (2023) A6 is not met while they run: in the status, the namespace's
    // policy report and the compliance report.
    let a6 = status
        .compliance
        .iter()
        .find(|c| c.id == "SYS.1.6.A6")
        .unwrap();
    assert_eq!(
        a6.verdict,
        hardening_operator::core::api::Verdict::NotMet,
        "{}",
        a6.reason
    );
    assert!(a6.reason.contains("CRITICAL or HIGH"), "{}", a6.reason);
    let policy = wait_for_result(
        &client,
        ReportApi::OpenReports,
        "shop",
        "SYS.1.6.A6",
        "fail",
    )
    .await;
    let message = policy["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "SYS.1.6.A6")
        .map(|r| r["message"].as_str().unwrap_or_default().to_owned())
        .unwrap();
    assert!(message.contains(want), "{message}");
    let args = ReportArgs {
        format: Format::Markdown,
        output: None,
        profile_selector: None,
        namespace_selector: None,
        exclusions: Exclusions::default(),
        cluster: Default::default(),
    };
    let text = render(
        &read(
            &client,
            &args,
            hardening_operator::core::compliance_report::ClusterIdentity::default(),
        )
        .await
        .expect("the report"),
        Format::Markdown,
    );
    assert!(
        text.contains("1 workload container with CRITICAL or HIGH vulnerabilities that have a fix"),
        "the compliance report says why SYS.1.6 A6 is not met:\n{text}"
    );

    // Rebuilt and rescanned: the scanner rewrites the report without fixable findings.
    let rescanned = scanner_report("web-1", json!([finding("CVE-2026-4", "MEDIUM", "3.0.9")]));
    reports
        .patch(
            "replicaset-web-1-app",
            &PatchParams::apply("trivy-operator").force(),
            &Patch::Apply(&rescanned),
        )
        .await
        .unwrap();
    let status = status_where("no vulnerable workload left", |s| {
        s.vulnerable_workloads == Some(0)
    })
    .await;
    assert_eq!(
        images(&status).map(|(s, r, _)| (s, r)),
        Some(("True".to_owned(), "NoFixableVulnerabilities".to_owned()))
    );
    // A6 is what the rest of the profile lets it be again (Partial at best: the images'
    // creators are not checked), no longer NotMet for vulnerabilities.
    let a6 = status
        .compliance
        .iter()
        .find(|c| c.id == "SYS.1.6.A6")
        .unwrap();
    assert!(!a6.reason.contains("CRITICAL or HIGH"), "{}", a6.reason);
    hardening_tests::eventually("the policy report no longer failing A6", || async {
        let report = hardening_tests::reports::report_of(&client, ReportApi::OpenReports, "shop")
            .await
            .ok_or("no report")?;
        match hardening_tests::reports::result_of(&report, "SYS.1.6.A6").as_deref() {
            Some("fail") | None => Err("still failing".to_owned()),
            Some(_) => Ok(()),
        }
    })
    .await;

    let _ = stop.send(());
    operator.await.unwrap();
}
