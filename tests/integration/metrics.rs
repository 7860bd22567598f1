//! The metrics and health listener of an operator started like `hardening-operator run`
//! (`hardening_operator::run::start`, in-process, on `127.0.0.1:0`): `/readyz` (503 until
//! the watch caches are synced, then 200), `/livez`, and `/metrics` after a profile
//! hardened a namespace and a drift was repaired.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::SocketAddr;

use hardening_operator::config::{LeaderElection, RunConfig};
use hardening_operator::metrics::VERBS;
use hardening_tests::{cluster, eventually, wait_until};
use k8s_openapi::api::core::v1::ResourceQuota;
use kube::api::{Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::operator_env::OperatorEnv;

/// The kube configuration of the test cluster, for `run::start`.
pub async fn kube_config() -> kube::Config {
    let path = cluster().kubeconfig();
    let file = Kubeconfig::read_from(path).expect("the test kubeconfig");
    kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
        .await
        .expect("a kube config from the test kubeconfig")
}

/// `run` flags for an operator of `env`'s shard: metrics on a free loopback port, no
/// leader election, no rate limit.
pub fn operator_config(env: &OperatorEnv) -> RunConfig {
    RunConfig {
        profile_selector: Some(env.selector()),
        metrics_address: SocketAddr::from(([127, 0, 0, 1], 0)),
        leader_election: LeaderElection::Off,
        api_qps: 0.0,
        ..RunConfig::default()
    }
}

/// A profile with a quota and the default NetworkPolicies.
pub fn quota_spec() -> Value {
    json!({
        "podSecurity": { "enforce": { "level": "baseline" } },
        "resourceQuota": { "hard": { "pods": "10" } }
    })
}

pub struct Response {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// A plain HTTP/1.1 GET (the listener is on loopback; no HTTP client needed).
pub async fn get(address: SocketAddr, path: &str) -> Response {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address)
            .unwrap_or_else(|e| panic!("connecting to {address}: {e}"));
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status code");
        let content_type = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-type:")
                    .map(|v| v.trim().to_owned())
            })
            .unwrap_or_default();
        Response {
            status,
            content_type,
            body: body.to_owned(),
        }
    })
    .await
    .unwrap()
}

/// One scrape of `/metrics`: the families (`# TYPE`) and the samples.
pub struct Scrape {
    pub types: BTreeMap<String, String>,
    pub samples: Vec<(String, BTreeMap<String, String>, f64)>,
    pub text: String,
}

impl Scrape {
    pub fn parse(text: &str) -> Scrape {
        let mut types = BTreeMap::new();
        let mut samples = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("# TYPE name type");
                types.insert(name.to_owned(), kind.to_owned());
                continue;
            }
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("name value");
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once("=\"").expect("key=\"value\"");
                    (key.to_owned(), value.trim_end_matches('"').to_owned())
                })
                .collect();
            samples.push((name.to_owned(), labels, value.parse().expect("a number")));
        }
        Scrape {
            types,
            samples,
            text: text.to_owned(),
        }
    }

    /// The value of the sample `name` with exactly these labels; 0 when absent.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples
            .iter()
            .find(|(n, l, _)| n == name && *l == wanted)
            .map_or(0.0, |(_, _, v)| *v)
    }

    /// Requests that change something in the cluster.
    pub fn writes(&self) -> f64 {
        ["create", "update", "patch", "delete", "deletecollection"]
            .iter()
            .map(|verb| self.value("hardening_api_requests_total", &[("verb", verb)]))
            .sum()
    }

    pub fn reconciles(&self) -> f64 {
        ["namespace", "profile"]
            .iter()
            .map(|c| self.value("hardening_reconciles_total", &[("controller", c)]))
            .sum()
    }
}

pub async fn scrape(address: SocketAddr) -> Scrape {
    let response = get(address, "/metrics").await;
    assert_eq!(response.status, 200, "{}", response.body);
    Scrape::parse(&response.body)
}

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
    let operator = hardening_operator::run::start(kube_config().await, config, async {
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
