//! GitOps tools track what they deploy by labels and annotations: Argo CD by
//! `app.kubernetes.io/instance` (or `argocd.argoproj.io/instance`, or the annotation
//! `argocd.argoproj.io/tracking-id`), Flux by `kustomize.toolkit.fluxcd.io/*` and
//! `helm.toolkit.fluxcd.io/*`, Helm by `meta.helm.sh/*`. An object that carries them is
//! taken as part of the application: shown out of sync and pruned by Argo CD, claimed by
//! Flux. So generated objects must never inherit them from the profile (which such a tool
//! deploys) or from the namespace (which it may deploy too). Tested on the real API server
//! with a profile and a namespace carrying every such key: each generated object carries
//! exactly the operator's own labels and annotations, and the namespace keeps the tool's
//! keys untouched while the operator owns only its Pod Security labels and annotations.

use std::collections::BTreeSet;

use hardening_operator::core::api::HardeningProfile;
use hardening_tests::profiles::{condition, strict_spec};
use kube::api::{DynamicObject, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

use crate::operator_env::OperatorEnv;
use k8s_openapi::api::core::v1::Namespace;

/// What Argo CD, Flux and Helm put on what they deploy.
const TRACKING_LABELS: [(&str, &str); 6] = [
    ("app.kubernetes.io/instance", "platform-hardening"),
    ("argocd.argoproj.io/instance", "platform-hardening"),
    ("kustomize.toolkit.fluxcd.io/name", "platform"),
    ("kustomize.toolkit.fluxcd.io/namespace", "flux-system"),
    ("helm.toolkit.fluxcd.io/name", "hardening"),
    ("app.kubernetes.io/part-of", "platform"),
];
const TRACKING_ANNOTATIONS: [(&str, &str); 4] = [
    (
        "argocd.argoproj.io/tracking-id",
        "platform-hardening:hardening.dev/HardeningProfile:/strict",
    ),
    ("argocd.argoproj.io/sync-options", "Prune=false"),
    ("meta.helm.sh/release-name", "hardening"),
    ("kustomize.toolkit.fluxcd.io/reconcile", "disabled"),
];

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn keys(map: Option<&serde_json::Map<String, Value>>) -> BTreeSet<String> {
    map.map(|m| m.keys().cloned().collect()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_objects_carry_no_gitops_tracking_labels() {
    let mut env = OperatorEnv::start("gitops").await;
    let ns = env.namespace(&TRACKING_LABELS).await;
    let annotations: serde_json::Map<String, Value> = TRACKING_ANNOTATIONS
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    let namespaces: Api<Namespace> = Api::all(env.client.clone());
    namespaces
        .patch(
            &ns,
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "annotations": annotations } })),
        )
        .await
        .unwrap();
    let mut spec = strict_spec();
    spec["guardrails"] = json!({ "denyExec": true, "requireImageTag": true });
    let mut manifest = serde_json::to_value(env.profile("strict", spec)).unwrap();
    for (key, value) in TRACKING_LABELS {
        manifest["metadata"]["labels"][key] = json!(value);
    }
    manifest["metadata"]["annotations"] = Value::Object(annotations.clone());
    let profile: HardeningProfile = serde_json::from_value(manifest).unwrap();
    let created = env.create_profile(&profile).await.unwrap();
    let name = created.name_any();
    env.status_where(&name, "Ready", |s| match condition(s, "Ready") {
        Some((ready, _)) if ready == "True" => Ok(()),
        other => Err(format!("{other:?}")),
    })
    .await;

    let own_labels: BTreeSet<String> = ["app.kubernetes.io/managed-by", "hardening.dev/profile"]
        .map(str::to_owned)
        .into();
    let own_annotations: BTreeSet<String> = ["hardening.dev/rendered"].map(str::to_owned).into();
    let namespaced = [
        resource(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "networkpolicies",
        ),
        resource("", "v1", "ResourceQuota", "resourcequotas"),
        resource("", "v1", "LimitRange", "limitranges"),
    ];
    let cluster_scoped = [
        resource(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingAdmissionPolicy",
            "validatingadmissionpolicies",
        ),
        resource(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingAdmissionPolicyBinding",
            "validatingadmissionpolicybindings",
        ),
    ];
    let by_profile = ListParams::default().labels(&format!("hardening.dev/profile={name}"));
    let mut seen = Vec::new();
    for api in namespaced
        .iter()
        .map(|r| Api::<DynamicObject>::namespaced_with(env.client.clone(), &ns, r))
        .chain(
            cluster_scoped
                .iter()
                .map(|r| Api::<DynamicObject>::all_with(env.client.clone(), r)),
        )
    {
        for object in api.list(&by_profile).await.unwrap() {
            let json = serde_json::to_value(&object).unwrap();
            let what = format!(
                "{} {}",
                json["kind"].as_str().unwrap_or_default(),
                object.name_any()
            );
            assert_eq!(
                keys(json["metadata"]["labels"].as_object()),
                own_labels,
                "{what}: labels"
            );
            assert!(
                keys(json["metadata"]["annotations"].as_object()).is_subset(&own_annotations),
                "{what}: annotations {:?}",
                json["metadata"]["annotations"]
            );
            seen.push(what);
        }
    }
    // 3 NetworkPolicies, quota, limits, the guardrails' policy and binding, the creation
    // gate's policy and binding, its stamp's policy and binding.
    assert_eq!(seen.len(), 11, "{seen:?}");

    // The namespace keeps the tools' keys as they were; the operator owns only its own.
    let stored = namespaces.get(&ns).await.unwrap();
    for (key, value) in TRACKING_LABELS {
        assert_eq!(stored.labels().get(key).map(String::as_str), Some(value));
    }
    for (key, value) in TRACKING_ANNOTATIONS {
        assert_eq!(
            stored.annotations().get(key).map(String::as_str),
            Some(value)
        );
    }
    let owned = stored
        .managed_fields()
        .iter()
        .filter(|m| m.manager.as_deref() == Some("hardening-operator"))
        .filter_map(|m| m.fields_v1.as_ref())
        .map(|f| f.0.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    for (key, _) in TRACKING_LABELS.iter().chain(&TRACKING_ANNOTATIONS) {
        assert!(
            !owned.contains(&format!("\"f:{key}\"")),
            "the operator owns {key} on the namespace: {owned}"
        );
    }
    assert!(
        owned.contains("f:pod-security.kubernetes.io/enforce"),
        "{owned}"
    );
    env.finish().await;
}
