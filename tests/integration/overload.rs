//! The operator against an API server that rejects most of its requests: its user is
//! classified by API Priority and Fairness into a priority level of its own with about 3
//! seats and no queue (`limitResponse: Reject`), so whatever exceeds them is answered 429
//! with Retry-After at once. The operator (started like `hardening-operator run`, so with
//! its write limiter and retries) must still bring every namespace in sync, honour the
//! Retry-After instead of hammering, and lower the writes it keeps in flight.

use std::time::Duration;

use hardening_operator::config::RunConfig;
use hardening_tests::clients::admin_config;
use hardening_tests::profiles::{in_sync, quota_spec};
use hardening_tests::scrape::scrape;
use hardening_tests::{cluster, eventually_within};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::sync::oneshot;

use crate::operator_env::{OperatorEnv, operator_config};

/// The user the throttled operator acts as (impersonated by the admin).
const USER: &str = "hardening-throttled-operator";
const NAMESPACES: u32 = 24;

fn apf(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("flowcontrol.apiserver.k8s.io", "v1", kind),
        plural,
    )
}

/// The priority level (one nominal share: ceil(600 seats x 1 / 246 shares) = 3 seats, none
/// lent or borrowed, rejecting at once) and the FlowSchema putting [`USER`] in it.
async fn throttle(admin: &Client) -> (Api<DynamicObject>, Api<DynamicObject>) {
    let levels: Api<DynamicObject> = Api::all_with(
        admin.clone(),
        &apf("PriorityLevelConfiguration", "prioritylevelconfigurations"),
    );
    let schemas: Api<DynamicObject> =
        Api::all_with(admin.clone(), &apf("FlowSchema", "flowschemas"));
    let apply = PatchParams::apply("hardening-tests").force();
    let level: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "PriorityLevelConfiguration",
        "metadata": { "name": USER },
        "spec": {
            "type": "Limited",
            "limited": {
                "nominalConcurrencyShares": 1,
                "lendablePercent": 0,
                "borrowingLimitPercent": 0,
                "limitResponse": { "type": "Reject" },
            },
        },
    }))
    .unwrap();
    levels
        .patch(USER, &apply, &Patch::Apply(&level))
        .await
        .unwrap();
    let schema: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "FlowSchema",
        "metadata": { "name": USER },
        "spec": {
            "priorityLevelConfiguration": { "name": USER },
            "matchingPrecedence": 100,
            "distinguisherMethod": { "type": "ByUser" },
            "rules": [{
                "subjects": [{ "kind": "User", "user": { "name": USER } }],
                "resourceRules": [{
                    "verbs": ["*"], "apiGroups": ["*"], "resources": ["*"],
                    "clusterScope": true, "namespaces": ["*"],
                }],
                "nonResourceRules": [{ "verbs": ["*"], "nonResourceURLs": ["*"] }],
            }],
        },
    }))
    .unwrap();
    schemas
        .patch(USER, &apply, &Patch::Apply(&schema))
        .await
        .unwrap();
    (levels, schemas)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_the_api_server_mostly_rejects_converges_without_hammering() {
    let Some(audit_log) = cluster().audit_log().map(std::path::Path::to_path_buf) else {
        eprintln!("skipped: needs the local control plane's audit log");
        return;
    };
    let mut env = OperatorEnv::without_operator("overload").await;
    let (levels, schemas) = throttle(&env.client).await;
    for _ in 0..NAMESPACES {
        env.namespace(&[]).await;
    }
    let mut kube = admin_config().await;
    // Not in system:masters, which APF exempts from every limit: cluster-admin by binding.
    kube.auth_info.impersonate = Some(USER.into());
    let bindings: Api<ClusterRoleBinding> = Api::all(env.client.clone());
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": { "name": USER },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin" },
        "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER }],
    }))
    .unwrap();
    bindings
        .patch(
            USER,
            &PatchParams::apply("hardening-tests").force(),
            &Patch::Apply(&binding),
        )
        .await
        .unwrap();
    let config: RunConfig = operator_config(&env);
    // Default flags: 64 namespaces reconciled at once, up to 128 writes in flight.
    assert_eq!(config.concurrency, 64);
    let (stop, stopped) = oneshot::channel::<()>();
    let operator = hardening_operator::run::start(kube, config, async {
        let _ = stopped.await;
    })
    .await
    .expect("the operator starts");
    let name = env
        .create_profile(&env.profile("tiny", quota_spec()))
        .await
        .unwrap()
        .name_any();
    // Slowly: most requests are rejected and wait for their Retry-After.
    eventually_within(
        Duration::from_secs(240),
        "every namespace in sync",
        || async {
            let profile = env
                .profiles_api()
                .get(&name)
                .await
                .map_err(|e| e.to_string())?;
            let status = profile.status.ok_or("no status yet")?;
            in_sync(NAMESPACES)(&status)
        },
    )
    .await;

    let metrics = scrape(operator.metrics_address).await;
    let limit = metrics.value("hardening_api_write_limit", &[]);
    // The audit log (writes only): what the API server answered this user's writes.
    let text = std::fs::read_to_string(&audit_log).unwrap();
    let answers: Vec<(i64, u16)> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|e| e["impersonatedUser"]["username"] == USER && e["stage"] == "ResponseComplete")
        .map(|e| {
            let at = e["stageTimestamp"]
                .as_str()
                .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
                .map_or(0, |t| t.as_millisecond());
            (at, e["responseStatus"]["code"].as_u64().unwrap_or(0) as u16)
        })
        .collect();
    let rejected = answers.iter().filter(|(_, code)| *code == 429).count();
    eprintln!(
        "{} answers to the throttled operator, {rejected} of them 429; write limit now {limit}",
        answers.len()
    );
    assert!(
        rejected > 0,
        "the priority level never rejected anything: no test"
    );
    assert!(
        limit < 32.0,
        "the write limit ({limit}) did not come down from its start (32)"
    );
    // Not hammering: a rejected request is sent again only after its Retry-After (a
    // second or more), so a second holds at most one rejection per request outstanding:
    // the writes in flight (at most twice --concurrency: 128) and the watches (about 20).
    // Sent again at once, thousands would.
    let mut per_second = std::collections::BTreeMap::<i64, usize>::new();
    for (at, code) in &answers {
        if *code == 429 {
            *per_second.entry(at / 1000).or_default() += 1;
        }
    }
    let worst = per_second.values().copied().max().unwrap_or(0);
    assert!(
        worst <= 150,
        "{worst} rejections in one second: the operator does not wait before sending again"
    );

    env.finish_with(async {
        let _ = stop.send(());
        let _ = operator.wait().await;
    })
    .await;
    let _ = schemas.delete(USER, &DeleteParams::default()).await;
    let _ = bindings.delete(USER, &DeleteParams::default()).await;
    let _ = levels.delete(USER, &DeleteParams::default()).await;
}
