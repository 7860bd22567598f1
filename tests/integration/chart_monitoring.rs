//! The chart's Grafana dashboard (a ConfigMap for Grafana's dashboard sidecar) and its
//! PrometheusRule alerts: both off by default; every expression parses with Prometheus' own
//! PromQL parser (`tests/controlplane/build-promql.sh`); every metric they name is served by
//! a running operator's `/metrics`.

use std::collections::BTreeSet;

use hardening_tests::clients::admin_config;
use hardening_tests::eventually;
use hardening_tests::profiles::{condition, quota_spec};
use hardening_tests::promql::{self, Parsed};
use hardening_tests::scrape::scrape;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::PostParams;
use kube::{Api, ResourceExt};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::operator_env::{OperatorEnv, operator_config};
use hardening_tests::helm::{chart_dir, one, render};

/// Grafana's variables in the dashboard's queries, and what the test puts in their place
/// before parsing (as Grafana interpolates them before sending a query).
const GRAFANA_VARIABLES: &[(&str, &str)] = &[("$__rate_interval", "5m"), ("$job", ".*")];

/// Series that Prometheus makes itself, not the operator: `up` of the scrape target.
const PROMETHEUS_OWN: &[&str] = &["up"];

/// The alerts the chart must have (issue 13).
const ALERTS: &[&str] = &[
    "HardeningExceptionExpiring",
    "HardeningOperatorDown",
    "HardeningProfileNotReady",
    "HardeningReconcileErrors",
    "HardeningRepeatedDrift",
    "HardeningUnconfinedPods",
];

/// Metrics the dashboard must show (issue 13): managed namespaces, drift repaired and
/// detected, reconcile errors, unconfined pods, queue depth, reconcile latency.
const DASHBOARD_METRICS: &[&str] = &[
    "hardening_managed_namespaces",
    "hardening_drifts_repaired_total",
    "hardening_drifts_detected_total",
    "hardening_reconcile_errors_total",
    "hardening_unconfined_pods",
    "hardening_queue_depth",
    "hardening_reconcile_duration_seconds_bucket",
];

fn enabled() -> Vec<Value> {
    render(
        "mon",
        "monitoring-ns",
        &["grafanaDashboard.enabled=true,prometheusRule.enabled=true"],
    )
}

fn dashboard_config_map(docs: &[Value]) -> &Value {
    let maps: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == "ConfigMap" && d["data"]["hardening-operator.json"].is_string())
        .collect();
    assert_eq!(maps.len(), 1, "one dashboard ConfigMap");
    maps[0]
}

fn dashboard(docs: &[Value]) -> Value {
    let json = dashboard_config_map(docs)["data"]["hardening-operator.json"]
        .as_str()
        .unwrap();
    serde_json::from_str(json).expect("the dashboard is JSON")
}

/// Every query of the dashboard (panel targets, and the `label_values(<selector>, label)`
/// of query variables as their selector), with Grafana's variables put in.
fn dashboard_queries(dashboard: &Value) -> Vec<String> {
    let mut raw = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            raw.push(target["expr"].as_str().expect("a target expr").to_owned());
        }
    }
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if variable["type"] == "query" {
            let query = variable["query"]["query"]
                .as_str()
                .expect("a variable query");
            let selector = query
                .strip_prefix("label_values(")
                .and_then(|rest| rest.rsplit_once(','))
                .map(|(selector, _)| selector.to_owned())
                .unwrap_or_else(|| panic!("unexpected variable query {query}"));
            raw.push(selector);
        }
    }
    raw.into_iter()
        .map(|mut query| {
            for (variable, value) in GRAFANA_VARIABLES {
                query = query.replace(variable, value);
            }
            assert!(
                !query.contains('$'),
                "a Grafana variable the test does not know in {query}"
            );
            query
        })
        .collect()
}

fn rules(docs: &[Value]) -> Vec<Value> {
    one(docs, "PrometheusRule")["spec"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .collect()
}

fn rule_exprs(docs: &[Value]) -> Vec<String> {
    rules(docs)
        .iter()
        .map(|r| r["expr"].as_str().expect("a rule expr").to_owned())
        .collect()
}

/// Parses with Prometheus' parser; fails naming each expression that does not parse.
fn parse_all(what: &str, exprs: &[String]) -> Vec<Parsed> {
    let parsed = promql::parse(exprs).unwrap_or_else(|e| panic!("{e}"));
    let errors: Vec<String> = parsed
        .iter()
        .filter_map(|p| p.error.as_ref().map(|e| format!("{}: {e}", p.expr)))
        .collect();
    assert!(errors.is_empty(), "{what} that do not parse:\n{errors:#?}");
    parsed
}

#[test]
fn chart_dashboard_and_alerts_are_off_by_default_and_parse_as_promql() {
    let defaults = render("mon", "monitoring-ns", &[]);
    assert!(
        !defaults
            .iter()
            .any(|d| d["kind"] == "PrometheusRule" || d["kind"] == "ConfigMap"),
        "dashboard and alerts are off by default"
    );

    // The parser is a real judge: it rejects what Prometheus rejects.
    let broken = promql::parse(&[
        "rate(hardening_reconciles_total[5m]".to_owned(),
        "sum by (kind) hardening_drifts_detected_total".to_owned(),
        "hardening_queue_depth > bool".to_owned(),
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    for p in &broken {
        assert!(p.error.is_some(), "promql-check accepted {}", p.expr);
    }

    let docs = enabled();
    // The dashboard: the file, in a ConfigMap with the sidecar's label.
    let map = dashboard_config_map(&docs);
    assert_eq!(map["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(map["metadata"]["namespace"], "monitoring-ns");
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(chart_dir().join("files/dashboards/hardening-operator.json"))
            .unwrap(),
    )
    .unwrap();
    let board = dashboard(&docs);
    assert_eq!(board, file);
    // Grafana's sidecar label and the ConfigMap's namespace can be set.
    let custom = render(
        "mon",
        "monitoring-ns",
        &[
            "grafanaDashboard.enabled=true,grafanaDashboard.namespace=grafana",
            "grafanaDashboard.labels.grafana_dashboard=null,grafanaDashboard.labels.dashboards=hardening",
            "grafanaDashboard.annotations.grafana_folder=Security",
        ],
    );
    let custom_map = dashboard_config_map(&custom);
    assert_eq!(custom_map["metadata"]["namespace"], "grafana");
    assert_eq!(custom_map["metadata"]["labels"]["dashboards"], "hardening");
    assert!(custom_map["metadata"]["labels"]["grafana_dashboard"].is_null());
    assert_eq!(
        custom_map["metadata"]["annotations"]["grafana_folder"],
        "Security"
    );

    let queries = dashboard_queries(&board);
    let named: BTreeSet<String> = parse_all("dashboard queries", &queries)
        .into_iter()
        .flat_map(|p| p.metrics)
        .collect();
    for metric in DASHBOARD_METRICS {
        assert!(
            named.contains(*metric),
            "no panel shows {metric}: {named:?}"
        );
    }
    let ids: Vec<u64> = board["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().expect("a panel id"))
        .collect();
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        ids.len(),
        "panel ids are unique"
    );

    // The alerts: the required ones, each with a severity and a summary, parsing.
    let all = rules(&docs);
    let names: BTreeSet<&str> = all.iter().map(|r| r["alert"].as_str().unwrap()).collect();
    assert_eq!(names, ALERTS.iter().copied().collect());
    for rule in &all {
        assert!(
            ["warning", "critical"].contains(&rule["labels"]["severity"].as_str().unwrap_or("")),
            "{rule}"
        );
        assert!(rule["annotations"]["summary"].is_string(), "{rule}");
    }
    let parsed = parse_all("alert expressions", &rule_exprs(&docs));
    // They select the chart's own scrape target: the metrics Service's job and namespace.
    for p in &parsed {
        assert!(
            p.expr
                .contains(r#"job="mon-hardening-operator-metrics", namespace="monitoring-ns""#),
            "{}",
            p.expr
        );
    }
    // The threshold of HardeningRepeatedDrift is a value.
    let tuned = render(
        "mon",
        "monitoring-ns",
        &["prometheusRule.enabled=true,prometheusRule.repeatedDrift=10"],
    );
    let drift = rules(&tuned)
        .into_iter()
        .find(|r| r["alert"] == "HardeningRepeatedDrift")
        .unwrap();
    assert!(
        drift["expr"].as_str().unwrap().ends_with("> 10"),
        "{}",
        drift["expr"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_and_alerts_name_only_metrics_the_operator_serves() {
    let docs = enabled();
    let mut exprs = dashboard_queries(&dashboard(&docs));
    exprs.extend(rule_exprs(&docs));
    let parsed = tokio::task::spawn_blocking(move || parse_all("expressions", &exprs))
        .await
        .unwrap();

    // A running operator that has reconciled a profile (so even the per-profile series are
    // past their first value).
    let mut env = OperatorEnv::without_operator("monitoring").await;
    let ns = env.namespace(&[]).await;
    let (stop, stopped) = oneshot::channel::<()>();
    let operator =
        hardening_operator::run::start(admin_config().await, operator_config(&env), async {
            let _ = stopped.await;
        })
        .await
        .expect("the operator starts");
    let address = operator.metrics_address;
    let profile = env
        .create_profile(&env.profile("monitored", quota_spec()))
        .await
        .unwrap();
    env.status_where(&profile.name_any(), "Ready", |s| {
        match condition(s, "Ready") {
            Some((status, _)) if status == "True" => Ok(()),
            other => Err(format!("Ready {other:?}")),
        }
    })
    .await;
    let scraped = eventually("hardening_profiles{ready=\"true\"} 1", || async {
        let scraped = scrape(address).await;
        if scraped.value("hardening_profiles", &[("ready", "true")]) == 1.0 {
            Ok(scraped)
        } else {
            Err(scraped.text)
        }
    })
    .await;
    let served: BTreeSet<&str> = scraped.samples.iter().map(|(n, _, _)| n.as_str()).collect();
    let mut missing = Vec::new();
    for p in &parsed {
        for metric in &p.metrics {
            if !PROMETHEUS_OWN.contains(&metric.as_str()) && !served.contains(metric.as_str()) {
                missing.push(format!("{metric} (in {})", p.expr));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "named by the dashboard or the alerts but not on /metrics: {missing:#?}\nserved: {served:?}"
    );
    for p in &parsed {
        assert!(!p.metrics.is_empty(), "{} names no metric", p.expr);
    }

    // The API server accepts the dashboard's ConfigMap (server-side dry run).
    let mut map: ConfigMap = serde_json::from_value(dashboard_config_map(&docs).clone()).unwrap();
    map.metadata.namespace = Some(ns.clone());
    Api::<ConfigMap>::namespaced(env.client.clone(), &ns)
        .create(
            &PostParams {
                dry_run: true,
                ..Default::default()
            },
            &map,
        )
        .await
        .unwrap_or_else(|e| panic!("the API server rejects the dashboard ConfigMap: {e}"));

    env.finish().await;
    let _ = stop.send(());
    operator.wait().await.expect("a clean stop");
}
