//! What the benchmark rolls out: the lean profile (`profile.yaml`) or the full one
//! (`examples/bsi-strict.yaml` as users run it: guardrails, seccomp, AppArmor), the pods the
//! full profile's namespaces hold before the rollout, and what the floor must write besides
//! the namespaces' objects: the profile's admission policies and bindings, and with the
//! full profile the policy reports, computed by the operator's own pure functions.

use std::collections::BTreeSet;

use hardening_operator::config::RunConfig;
use hardening_operator::core::api::{HardeningProfile, NamespaceState, workload_security_context};
use hardening_operator::core::compliance::ProfileFacts;
use hardening_operator::core::guardrails::{AdmissionEnv, render as render_guardrails};
use hardening_operator::core::policy_report::{
    ReportApi, cluster_report_object, cluster_results, namespace_results, report_object,
};
use hardening_operator::core::preview::{judge, namespace_preview};
use hardening_operator::core::status::NamespaceOutcome;
use hardening_operator::core::workloads::{JudgedPod, PodView, assess, pod_profiles};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::ApiResource;
use kube::core::GroupVersionKind;
use serde_json::{Value, json};

use crate::setup::SELECTED_LABEL;

/// Which profile the benchmark rolls out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProfileKind {
    /// Pod Security labels, 3 NetworkPolicies, a ResourceQuota, a LimitRange; no pods, no
    /// report CRDs.
    Lean,
    /// `examples/bsi-strict.yaml`: Pod Security labels, 5 NetworkPolicies, a ResourceQuota,
    /// a LimitRange, seccomp and AppArmor, guardrails; the OpenReports CRDs installed (one
    /// report per namespace) and two pods per namespace created before the rollout.
    Full,
}

/// The pods each namespace of the full profile holds before the rollout, by the name of
/// their Deployment: one as the profile wants pods to be, one as many legacy pods are (the
/// preview reports it).
pub const PODS: [&str; 2] = ["app", "legacy"];

/// A pod's name as a Deployment's ReplicaSet names it: `<deployment>-<template hash>-<5
/// random characters>`. The random part differs per namespace, as in a cluster: pods of
/// the same name in every namespace would let the operator share whole findings (they name
/// the pod) that real clusters never share.
fn replica_name(deployment: &str, namespace: &str) -> String {
    // The alphabet of Kubernetes' random suffixes (no vowels, no look-alikes).
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    // FNV-1a: stable across runs, different per namespace.
    let mut hash = namespace
        .bytes()
        .chain(deployment.bytes())
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    let suffix: String = (0..5)
        .map(|_| {
            let c = ALPHABET[(hash % ALPHABET.len() as u64) as usize];
            hash /= ALPHABET.len() as u64;
            char::from(c)
        })
        .collect();
    format!("{deployment}-5d8f7c9b4-{suffix}")
}

impl ProfileKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Lean => "lean",
            Self::Full => "full",
        }
    }

    /// The profile, named `bench` and selecting [`SELECTED_LABEL`].
    pub fn manifest(self) -> HardeningProfile {
        let mut profile: HardeningProfile = match self {
            Self::Lean => serde_yaml_ng::from_str(include_str!("profile.yaml")),
            Self::Full => serde_yaml_ng::from_str(include_str!("../../examples/bsi-strict.yaml")),
        }
        .expect("the benchmark's profile parses");
        profile.metadata.name = Some("bench".to_owned());
        profile.spec.namespace_selector = serde_json::from_value(json!({
            "matchLabels": { SELECTED_LABEL.0: SELECTED_LABEL.1 }
        }))
        .expect("a label selector");
        profile
    }

    pub fn pods_per_namespace(self) -> usize {
        match self {
            Self::Lean => 0,
            Self::Full => PODS.len(),
        }
    }

    /// Whether the report CRDs are installed (so the operator writes policy reports).
    pub fn reports(self) -> bool {
        self == Self::Full
    }
}

/// The image of the pods that pass the full profile's guardrails (its allowed registry,
/// a tag).
const CONFORMING_IMAGE: &str = "registry.example/bench/app:1.0";

/// A pod `profile` admits: Pod Security `restricted`, its seccomp and AppArmor profiles, an
/// allowed and tagged image, a read-only root file system, resources within the LimitRange.
pub fn conforming_pod(profile: &HardeningProfile, namespace: &str, name: &str) -> Pod {
    pod(profile, namespace, name, CONFORMING_IMAGE)
}

fn pod(profile: &HardeningProfile, namespace: &str, name: &str, image: &str) -> Pod {
    let mut pod_context = json!({ "runAsNonRoot": true, "runAsUser": 10001 });
    if let Some(confinement) = workload_security_context(profile) {
        let confinement = serde_json::to_value(confinement).expect("serializes");
        for (key, value) in confinement.as_object().into_iter().flatten() {
            pod_context[key] = value.clone();
        }
    }
    if pod_context.get("seccompProfile").is_none() {
        pod_context["seccompProfile"] = json!({ "type": "RuntimeDefault" });
    }
    serde_json::from_value(json!({
        "metadata": { "name": name, "namespace": namespace, "labels": { "app": name } },
        "spec": {
            "securityContext": pod_context,
            "automountServiceAccountToken": false,
            "containers": [{
                "name": "app",
                "image": image,
                "ports": [{ "containerPort": 8080 }],
                "securityContext": {
                    "allowPrivilegeEscalation": false,
                    "readOnlyRootFilesystem": true,
                    "capabilities": { "drop": ["ALL"] },
                },
                "resources": {
                    "requests": { "cpu": "100m", "memory": "64Mi" },
                    "limits": { "cpu": "200m", "memory": "128Mi" },
                },
            }],
        },
    }))
    .expect("a pod")
}

/// A pod as older workloads are: an untagged image from Docker Hub, no security context.
fn legacy_pod(namespace: &str, name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": { "name": name, "namespace": namespace, "labels": { "app": name } },
        "spec": {
            "automountServiceAccountToken": false,
            "containers": [{
                "name": "web",
                "image": "nginx",
                "resources": {
                    "requests": { "cpu": "100m", "memory": "64Mi" },
                    "limits": { "cpu": "200m", "memory": "128Mi" },
                },
            }],
        },
    }))
    .expect("a pod")
}

/// The pods of `namespace`, one of each Deployment in [`PODS`].
pub fn pods(profile: &HardeningProfile, namespace: &str) -> Vec<Pod> {
    vec![
        conforming_pod(profile, namespace, &replica_name(PODS[0], namespace)),
        legacy_pod(namespace, &replica_name(PODS[1], namespace)),
    ]
}

/// An object the floor writes besides the rendered namespace objects.
pub struct Extra {
    pub resource: ApiResource,
    /// `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    pub body: Value,
}

impl Extra {
    pub fn name(&self) -> &str {
        self.body["metadata"]["name"].as_str().unwrap_or_default()
    }
}

/// What the operator's own identity is in the benchmark: the measured user (the operator
/// asks the API server, the floor is told).
fn admission_env(measured_user: &str) -> AdmissionEnv {
    AdmissionEnv {
        operator: Some(measured_user.to_owned()),
        ..AdmissionEnv::default()
    }
}

/// The cluster-scoped objects the operator writes for `profile` with default flags: its
/// admission policies and bindings, and with reports its cluster report.
pub fn cluster_objects(profile: &HardeningProfile, kind: ProfileKind, user: &str) -> Vec<Extra> {
    let config = RunConfig::default();
    let not_governed: BTreeSet<String> = config.excluded();
    let mut objects: Vec<Extra> = render_guardrails(
        profile,
        &not_governed,
        &config.protected_networks,
        &admission_env(user),
    )
    .map(|rendered| {
        rendered
            .iter()
            .map(|(kind, body)| Extra {
                resource: admission_resource(kind),
                namespace: None,
                body: body.clone(),
            })
            .collect()
    })
    .unwrap_or_default();
    if kind.reports() {
        let name = profile.name_any();
        objects.push(Extra {
            resource: report_resource(false),
            namespace: None,
            body: cluster_report_object(ReportApi::OpenReports, &name, &cluster_results(profile)),
        });
    }
    objects
}

fn admission_resource(kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "admissionregistration.k8s.io",
        "v1",
        kind,
    ))
}

/// The OpenReports `Report` (namespaced) or `ClusterReport`.
pub fn report_resource(namespaced: bool) -> ApiResource {
    let api = ReportApi::OpenReports;
    let (kind, plural) = if namespaced {
        api.kind()
    } else {
        api.cluster_kind()
    };
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(api.group(), api.version(), kind),
        plural,
    )
}

/// The policy report the operator converges to in `namespace`, holding `pods`: every
/// object in sync, the pods judged, the guardrails enforced. Computed as the operator
/// computes it (`namespace_results`), from an outcome built as its namespace reconciler
/// builds one.
pub fn namespace_report(profile: &HardeningProfile, namespace: &str, pods: &[Pod]) -> Value {
    let views: Vec<PodView> = pods
        .iter()
        .map(|pod| {
            serde_json::from_value(serde_json::to_value(pod).expect("serializes"))
                .expect("a pod decodes as a PodView")
        })
        .collect();
    let profiles: Vec<(String, Vec<_>)> = views
        .iter()
        .map(|view| (view.name_any(), pod_profiles(view)))
        .collect();
    let unconfined = workload_security_context(profile).map(|required| {
        assess(
            profiles
                .iter()
                .map(|(name, p)| (name.as_str(), p.as_slice())),
            &required,
        )
    });
    let verdicts: Vec<(String, _)> = views
        .iter()
        .map(|view| {
            (
                view.name_any(),
                judge(profile, &JudgedPod::of(view).pod(), &[]),
            )
        })
        .collect();
    let preview = hardening_operator::core::preview::applies(profile).then(|| {
        // The benchmark grants no HardeningExceptions.
        namespace_preview(
            profile,
            namespace,
            &[],
            verdicts.iter().map(|(name, v)| (name.as_str(), v)),
        )
    });
    let widening = profile
        .spec
        .network_policy
        .as_ref()
        .filter(|rules| !rules.isolated_directions().is_empty())
        .map(|_| Vec::new());
    let outcome = NamespaceOutcome {
        candidates: vec![(profile.name_any(), profile.metadata.generation.unwrap_or(0))],
        state: Some(NamespaceState::InSync),
        unconfined: unconfined.map(Into::into),
        widening,
        preview: preview.map(Into::into),
        ..NamespaceOutcome::default()
    };
    let facts = ProfileFacts {
        pods_watched: true,
        guardrails_enforced: true,
        images_scanned: false,
    };
    report_object(
        ReportApi::OpenReports,
        namespace,
        &namespace_results(profile, namespace, &outcome, &facts),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_names_differ_per_namespace_as_in_a_cluster() {
        let names: BTreeSet<String> = (0..1000)
            .map(|i| replica_name("app", &format!("bench-{i}")))
            .collect();
        // 27^5 suffixes: 1,000 namespaces hardly ever share one.
        assert!(names.len() >= 995, "{}", names.len());
        let name = replica_name("legacy", "bench-0");
        assert_eq!(name, replica_name("legacy", "bench-0"));
        let suffix = name.strip_prefix("legacy-5d8f7c9b4-").expect(&name);
        assert_eq!(suffix.len(), 5);
        assert!(
            suffix
                .bytes()
                .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b))
        );
    }
}
