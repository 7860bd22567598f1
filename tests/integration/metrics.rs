//! The metrics and health listener of an operator started like `hardening-operator run`
//! (`hardening_operator::run::start`, in-process, on `127.0.0.1:0`): `/readyz` (503 until
//! the watch caches are synced, then 200), `/livez`, and `/metrics` after a profile
//! hardened a namespace and a drift was repaired.

use std::collections::{BTreeMap, BTreeSet};

use hardening_operator::config::RunConfig;
use hardening_operator::metrics::VERBS;
use hardening_tests::clients::admin_config;
use hardening_tests::profiles::quota_spec;
use hardening_tests::scrape::{get, scrape};
use hardening_tests::{eventually, wait_until};
use k8s_openapi::api::core::v1::ResourceQuota;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use tokio::sync::oneshot;

use crate::operator_env::{OperatorEnv, operator_config};

#[tokio::test]
async fn metrics_and_health_endpoints() {
    let mut env = OperatorEnv::without_operator("metrics").await;
    let ns = env.namespace(&[]).await;
    let (stop, stopped) = oneshot::channel::<()>();
    // Throttled to 5 requests per second with bursts of 1, the first listings take about
    // a second: long enough to see /readyz answer 503 first.
    let config = RunConfig {
        api_qps: 5.0,
        api_burst: 1,
        ..operator_config(&env)
    };
    let operator = hardening_operator::run::start(admin_config().await, config, async {
        let _ = stopped.await;
    })
    .await
    .expect("the operator starts");
    let address = operator.metrics_address;
    assert_ne!(address.port(), 0, "the bound port is reported");

    let first = get(address, "/readyz").await;
    assert_eq!(
        (first.status, first.body.trim()),
        (503, "watch caches not synced yet")
    );
    let live = get(address, "/livez").await;
    assert_eq!((live.status, live.body.trim()), (200, "ok"));
    wait_until("/readyz to answer 200", || async {
        get(address, "/readyz").await.status == 200
    })
    .await;

    // A pod that does not use the profile's seccomp profile: hardening_unconfined_pods.
    let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
        "metadata": { "name": "unconfined" },
        "spec": { "containers": [{ "name": "app", "image": "registry.invalid/app:1" }] },
    }))
    .unwrap();
    Api::namespaced(env.client.clone(), &ns)
        .create(&Default::default(), &pod)
        .await
        .unwrap();
    let mut spec = quota_spec();
    spec["seccomp"] = json!({});
    let profile = env
        .create_profile(&env.profile("quota", spec))
        .await
        .unwrap();
    let name = profile.name_any();
    env.status_where(&name, "in sync", |s| {
        if s.in_sync_namespaces == 1 {
            Ok(())
        } else {
            Err("not in sync".into())
        }
    })
    .await;

    // A drift: someone raises the pod quota; the operator puts it back.
    let quotas: Api<ResourceQuota> = Api::namespaced(env.client.clone(), &ns);
    quotas
        .patch(
            "hardening-quota",
            &PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({ "spec": { "hard": { "pods": "99" } } })),
        )
        .await
        .unwrap();
    let scraped = eventually("the repair to show in /metrics", || async {
        let scraped = scrape(address).await;
        let repaired = scraped.value(
            "hardening_drifts_repaired_total",
            &[("kind", "ResourceQuota")],
        );
        if repaired >= 1.0 {
            Ok(scraped)
        } else {
            Err(format!(
                "drifts_repaired_total{{kind=ResourceQuota}} = {repaired}"
            ))
        }
    })
    .await;
    let pods = quotas
        .get("hardening-quota")
        .await
        .unwrap()
        .spec
        .unwrap()
        .hard
        .unwrap()["pods"]
        .0
        .clone();
    assert_eq!(pods, "10");

    // Once everything settled, no request is pending.
    eventually("hardening_queue_depth 0", || async {
        let depth = scrape(address).await.value("hardening_queue_depth", &[]);
        (depth == 0.0)
            .then_some(())
            .ok_or_else(|| format!("hardening_queue_depth {depth}"))
    })
    .await;

    // Nor does any write wait for a slot or an answer (each is counted while it waits or
    // holds its slot, so one that ended in an error is not counted for ever).
    eventually("no write waiting or in flight", || async {
        let scraped = scrape(address).await;
        let waiting = scraped.value("hardening_api_writes_waiting", &[]);
        let in_flight = scraped.value("hardening_api_writes_in_flight", &[]);
        (waiting == 0.0 && in_flight == 0.0)
            .then_some(())
            .ok_or_else(|| format!("{waiting} waiting, {in_flight} in flight"))
    })
    .await;

    let response = get(address, "/metrics").await;
    assert!(
        response
            .content_type
            .starts_with("application/openmetrics-text"),
        "{}",
        response.content_type
    );
    let families: BTreeMap<&str, &str> = scraped
        .types
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        families,
        BTreeMap::from([
            ("hardening_api_requests", "counter"),
            ("hardening_api_write_limit", "gauge"),
            ("hardening_api_writes_in_flight", "gauge"),
            ("hardening_api_writes_waiting", "gauge"),
            ("hardening_drifts_detected", "counter"),
            ("hardening_drifts_repaired", "counter"),
            ("hardening_exceptions", "gauge"),
            ("hardening_managed_namespaces", "gauge"),
            ("hardening_objects_rolled_out", "counter"),
            ("hardening_profiles", "gauge"),
            ("hardening_queue_depth", "gauge"),
            ("hardening_reconcile_duration_seconds", "histogram"),
            ("hardening_reconcile_errors", "counter"),
            ("hardening_reconciles", "counter"),
            ("hardening_unconfined_pods", "gauge"),
            ("hardening_widening_network_policies", "gauge"),
        ]),
        "{}",
        scraped.text
    );
    let value = |name: &str, labels: &[(&str, &str)]| scraped.value(name, labels);
    // The adaptive limit of writes in flight, within 1 and --concurrency.
    let write_limit = value("hardening_api_write_limit", &[]);
    assert!((1.0..=128.0).contains(&write_limit), "{write_limit}");
    assert!(value("hardening_reconciles_total", &[("controller", "namespace")]) > 0.0);
    assert!(value("hardening_reconciles_total", &[("controller", "profile")]) > 0.0);
    assert!(
        value(
            "hardening_reconcile_duration_seconds_count",
            &[("controller", "namespace")]
        ) > 0.0
    );
    assert!(
        value(
            "hardening_drifts_detected_total",
            &[("kind", "ResourceQuota")]
        ) >= 1.0
    );
    assert!(value("hardening_api_requests_total", &[("verb", "patch")]) > 0.0);
    assert!(value("hardening_api_requests_total", &[("verb", "list")]) > 0.0);
    assert!(value("hardening_api_requests_total", &[("verb", "watch")]) > 0.0);
    assert_eq!(value("hardening_managed_namespaces", &[]), 1.0);
    eventually("hardening_unconfined_pods 1", || async {
        let unconfined = scrape(address)
            .await
            .value("hardening_unconfined_pods", &[]);
        (unconfined == 1.0)
            .then_some(())
            .ok_or_else(|| format!("hardening_unconfined_pods {unconfined}"))
    })
    .await;
    assert!(
        scraped
            .samples
            .iter()
            .any(|(n, l, _)| n == "hardening_queue_depth" && l.is_empty())
    );

    // Bounded labels only: known keys with values from fixed sets; no object names.
    let kinds = [
        "Namespace",
        "NetworkPolicy",
        "ResourceQuota",
        "LimitRange",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
        "Report",
        "ClusterReport",
        "PolicyReport",
        "ClusterPolicyReport",
        "Other",
    ];
    for (series, labels, _) in &scraped.samples {
        for (key, value) in labels {
            for name in [ns.as_str(), name.as_str(), env.shard.as_str()] {
                assert!(
                    !value.contains(name),
                    "{series}{{{key}={value:?}}} names {name}"
                );
            }
            let allowed = match key.as_str() {
                "controller" => ["namespace", "profile", "exception"].contains(&value.as_str()),
                "state" => ["active", "expiring", "expired", "invalid", "pending"]
                    .contains(&value.as_str()),
                "kind" => kinds.contains(&value.as_str()),
                "verb" => VERBS.contains(&value.as_str()),
                "reason" => value.chars().all(|c| c.is_ascii_alphabetic()),
                "le" => value == "+Inf" || value.parse::<f64>().is_ok(),
                "ready" => ["true", "false"].contains(&value.as_str()),
                _ => false,
            };
            assert!(allowed, "unexpected label {series}{{{key}={value:?}}}");
        }
    }
    let label_keys: BTreeSet<&str> = scraped
        .samples
        .iter()
        .flat_map(|(_, l, _)| l.keys().map(String::as_str))
        .collect();
    assert!(label_keys.is_subset(&BTreeSet::from([
        "controller",
        "kind",
        "le",
        "verb",
        "reason",
        "ready",
        "state"
    ])));

    env.finish().await;
    let _ = stop.send(());
    operator.wait().await.expect("a clean stop");
}
