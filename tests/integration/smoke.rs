//! Proof that the control plane is real: each test asserts an answer that only a real
//! kube-apiserver (with its admission plugins) or kube-controller-manager gives.

use std::collections::BTreeMap;

use hardening_tests::{TestNamespace, cluster, eventually, unique_name};
use k8s_openapi::api::core::v1::{LimitRange, Pod, ResourceQuota};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Api, Client};
use serde_json::json;

fn pod(name: &str, container: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": { "name": name },
        "spec": { "containers": [container] }
    }))
    .unwrap()
}

fn api_error(err: kube::Error) -> kube::core::Status {
    match err {
        kube::Error::Api(status) => *status,
        other => panic!("expected an error answer of the API server, got {other}"),
    }
}

#[tokio::test]
async fn pod_security_admission_rejects_a_privileged_pod() {
    let client = cluster().client().await;
    let ns = TestNamespace::create(
        &client,
        "smoke-psa",
        &[("pod-security.kubernetes.io/enforce", "restricted")],
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(client, ns.name());
    let privileged = pod(
        "privileged",
        json!({ "name": "c", "image": "registry.example/app:1.0",
                "securityContext": { "privileged": true } }),
    );
    let err = api_error(
        pods.create(&PostParams::default(), &privileged)
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 403, "{err:?}");
    assert!(
        err.message
            .contains("violates PodSecurity \"restricted:latest\"")
            && err.message.contains(
                "privileged (container \"c\" must not set securityContext.privileged=true)"
            ),
        "unexpected PodSecurity message: {}",
        err.message
    );
}

#[tokio::test]
async fn limit_ranger_fills_missing_requests_and_limits() {
    let client = cluster().client().await;
    let ns = TestNamespace::create(&client, "smoke-limits", &[]).await;
    let ranges: Api<LimitRange> = Api::namespaced(client.clone(), ns.name());
    let range: LimitRange = serde_json::from_value(json!({
        "metadata": { "name": "defaults" },
        "spec": { "limits": [{
            "type": "Container",
            "default": { "cpu": "300m", "memory": "256Mi" },
            "defaultRequest": { "cpu": "100m", "memory": "128Mi" }
        }]}
    }))
    .unwrap();
    ranges.create(&PostParams::default(), &range).await.unwrap();

    let pods: Api<Pod> = Api::namespaced(client, ns.name());
    let created = pods
        .create(
            &PostParams::default(),
            &pod(
                "bare",
                json!({ "name": "c", "image": "registry.example/app:1.0" }),
            ),
        )
        .await
        .unwrap();
    let resources = created.spec.unwrap().containers[0]
        .resources
        .clone()
        .unwrap();
    let q = |s: &str| Quantity(s.to_string());
    assert_eq!(
        resources.requests.unwrap(),
        BTreeMap::from([
            ("cpu".to_string(), q("100m")),
            ("memory".to_string(), q("128Mi"))
        ])
    );
    assert_eq!(
        resources.limits.unwrap(),
        BTreeMap::from([
            ("cpu".to_string(), q("300m")),
            ("memory".to_string(), q("256Mi"))
        ])
    );
}

#[tokio::test]
async fn crd_validation_rule_rejects_a_bad_object_with_its_message() {
    let client = cluster().client().await;
    let ns = TestNamespace::create(&client, "smoke-cel", &[]).await;
    let group = format!("{}.smoke.hardening.dev", unique_name("g"));
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "metadata": { "name": format!("widgets.{group}") },
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": { "plural": "widgets", "singular": "widget", "kind": "Widget" },
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": { "openAPIV3Schema": {
                    "type": "object",
                    "properties": { "spec": {
                        "type": "object",
                        "properties": {
                            "min": { "type": "integer" },
                            "max": { "type": "integer" }
                        },
                        "x-kubernetes-validations": [{
                            "rule": "self.min <= self.max",
                            "message": "min must not exceed max"
                        }]
                    }}
                }}
            }]
        }
    }))
    .unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &crd).await.unwrap();

    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(&group, "v1", "Widget"));
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns.name(), &resource);
    let widget = |name: &str, min: i64, max: i64| -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": format!("{group}/v1"), "kind": "Widget",
            "metadata": { "name": name }, "spec": { "min": min, "max": max }
        }))
        .unwrap()
    };
    // The new type is served once its CRD is Established; until then creates answer 404.
    eventually("the Widget CRD to be served", || async {
        widgets
            .create(&PostParams::default(), &widget("good", 1, 2))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await;
    let err = api_error(
        widgets
            .create(&PostParams::default(), &widget("bad", 3, 2))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422, "{err:?}");
    assert!(
        err.message
            .contains("spec: Invalid value: min must not exceed max"),
        "unexpected validation message: {}",
        err.message
    );
    delete_crd(client, &format!("widgets.{group}")).await;
}

async fn delete_crd(client: Client, name: &str) {
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    crds.delete(name, &Default::default()).await.unwrap();
}

#[tokio::test]
async fn controller_manager_fills_resource_quota_status() {
    let client = cluster().client().await;
    let ns = TestNamespace::create(&client, "smoke-quota", &[]).await;
    let quotas: Api<ResourceQuota> = Api::namespaced(client, ns.name());
    let quota: ResourceQuota = serde_json::from_value(json!({
        "metadata": { "name": "q" },
        "spec": { "hard": { "pods": "3", "requests.cpu": "2" } }
    }))
    .unwrap();
    quotas.create(&PostParams::default(), &quota).await.unwrap();
    // Only the resource quota controller (kube-controller-manager) writes status.
    let status = eventually("ResourceQuota status.hard", || async {
        let q = quotas.get("q").await.map_err(|e| e.to_string())?;
        q.status
            .filter(|s| s.hard.is_some())
            .ok_or_else(|| "status.hard not set yet".to_string())
    })
    .await;
    let q = |s: &str| Quantity(s.to_string());
    assert_eq!(
        status.hard.unwrap(),
        BTreeMap::from([
            ("pods".to_string(), q("3")),
            ("requests.cpu".to_string(), q("2"))
        ])
    );
    assert_eq!(status.used.unwrap().get("pods"), Some(&q("0")));
}
