//! Admission cost: what the profile's ValidatingAdmissionPolicy adds to every pod creation.
//! On the same control plane, with the operator stopped, the admin creates pods the
//! profile admits, one after another, in blocks with the policy's binding in place (on)
//! and deleted (off), alternating (on, off, on, off), so that a drift of the machine's
//! speed over time touches both alike. Before each block a server-side dry-run shows that
//! the switch took (the API server loads policy changes asynchronously). Latency is each
//! creation's audit timestamps (received to response complete); the API server's admission
//! metrics give the time its ValidatingAdmissionPolicy plugin spent, per creation.

use std::time::{Duration, Instant};

use hardening_operator::core::api::HardeningProfile;
use hardening_operator::core::guardrails::{BINDING_KIND, object_name};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, ResourceQuota, ServiceAccount};
use kube::api::{DeleteParams, DynamicObject, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::audit::AuditLog;
use crate::report::percentile;
use crate::setup::{ADMIN_USER, SELECTED_LABEL};
use crate::workload;

/// Blocks of creations, alternating on and off.
const BLOCKS: [bool; 4] = [true, false, true, false];
/// Namespaces the pods are spread over (each pod counts against its namespace's quota).
const NAMESPACES: usize = 250;
/// A governed namespace the operator (stopped) never stamps: a pod there is rejected by
/// the policy's creation gate, and admitted once the binding is gone.
const PROBE_NAMESPACE: &str = "bench-admission-probe";
/// The service account and the owner (a ConfigMap) of the admission pods in each
/// namespace: the full profile asks for an application's own service account and a
/// controller for every pod.
const APP: &str = "bench-app";
/// How long the API server may take to load or unload the policy.
const SWITCH_TIMEOUT: Duration = Duration::from_secs(120);

/// Latencies (ms, sorted) and the plugin's time per creation (ms), policy on and off.
#[derive(Default)]
pub struct Cost {
    pub on_ms: Vec<f64>,
    pub off_ms: Vec<f64>,
    pub plugin_on_ms: Option<f64>,
    pub plugin_off_ms: Option<f64>,
    pub rejected: usize,
}

impl Cost {
    pub fn p(&self, on: bool, p: f64) -> Option<f64> {
        let values = if on { &self.on_ms } else { &self.off_ms };
        (!values.is_empty()).then(|| percentile(values, p))
    }
}

pub async fn run(
    admin: &Client,
    audit: &mut AuditLog,
    profile: &HardeningProfile,
    namespaces: &[String],
    pods: usize,
) -> Result<Cost, String> {
    let used: Vec<&String> = (0..NAMESPACES.min(namespaces.len()))
        .map(|i| &namespaces[i * namespaces.len() / NAMESPACES.min(namespaces.len())])
        .collect();
    wait_for_quotas(admin, &used).await?;
    let mut owners = Vec::new();
    for namespace in &used {
        owners.push(prepare(admin, namespace).await?);
    }
    let probe = probe_namespace(admin).await?;
    let bindings: Api<DynamicObject> = Api::all_with(
        admin.clone(),
        &kube::api::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
            "admissionregistration.k8s.io",
            "v1",
            BINDING_KIND,
        )),
    );
    let binding_name = object_name(&profile.name_any());
    let mut binding = bindings
        .get(&binding_name)
        .await
        .map_err(|e| format!("reading the binding {binding_name}: {e}"))?;
    binding.metadata = kube::api::ObjectMeta {
        name: binding.metadata.name.clone(),
        labels: binding.metadata.labels.clone(),
        ..Default::default()
    };

    let mut cost = Cost::default();
    let (mut plugin_on, mut plugin_off) = (Plugin::default(), Plugin::default());
    let per_block = pods.div_ceil(BLOCKS.len());
    for (block, on) in BLOCKS.into_iter().enumerate() {
        if on {
            if bindings
                .get_opt(&binding_name)
                .await
                .ok()
                .flatten()
                .is_none()
            {
                bindings
                    .create(&PostParams::default(), &binding)
                    .await
                    .map_err(|e| format!("creating the binding again: {e}"))?;
            }
        } else {
            bindings
                .delete(&binding_name, &DeleteParams::default())
                .await
                .map_err(|e| format!("deleting the binding: {e}"))?;
        }
        wait_for_switch(admin, profile, &probe, on).await?;
        let before = Plugin::read(admin).await?;
        audit.read_new();
        let mark = audit.mark();
        for i in 0..per_block {
            let namespace = used[i % used.len()];
            let name = format!("admission-{block}-{i:04}");
            let pod = admitted_pod(profile, namespace, &name, &owners[i % used.len()]);
            if let Err(e) = Api::<Pod>::namespaced(admin.clone(), namespace)
                .create(&PostParams::default(), &pod)
                .await
            {
                cost.rejected += 1;
                if cost.rejected == 1 {
                    eprintln!("  admission: {namespace}/{name} rejected: {e}");
                }
            }
        }
        let after = Plugin::read(admin).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        audit.read_new();
        let prefix = format!("admission-{block}-");
        let latencies = audit
            .since(mark)
            .iter()
            .filter(|e| e.user == ADMIN_USER && e.verb == "create" && e.complete)
            .filter(|e| e.resource == "pods" && e.subresource.is_empty() && e.code < 400)
            .filter(|e| e.name.starts_with(&prefix))
            .map(|e| (e.completed_us - e.received_us) as f64 / 1000.0);
        let delta = after.minus(&before);
        if on {
            cost.on_ms.extend(latencies);
            plugin_on.add(&delta);
        } else {
            cost.off_ms.extend(latencies);
            plugin_off.add(&delta);
        }
    }
    if bindings
        .get_opt(&binding_name)
        .await
        .ok()
        .flatten()
        .is_none()
    {
        let _ = bindings.create(&PostParams::default(), &binding).await;
    }
    cost.on_ms.sort_by(f64::total_cmp);
    cost.off_ms.sort_by(f64::total_cmp);
    cost.plugin_on_ms = plugin_on.mean_ms();
    cost.plugin_off_ms = plugin_off.mean_ms();
    Ok(cost)
}

/// Quota admission rejects pods until kube-controller-manager has written a quota's first
/// status: waits for it in every namespace used.
async fn wait_for_quotas(admin: &Client, namespaces: &[&String]) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(300);
    for namespace in namespaces {
        let quotas: Api<ResourceQuota> = Api::namespaced(admin.clone(), namespace);
        loop {
            let ready = quotas
                .list(&Default::default())
                .await
                .map_err(|e| format!("listing the quotas of {namespace}: {e}"))?
                .items
                .iter()
                .all(|q| q.status.as_ref().and_then(|s| s.hard.as_ref()).is_some());
            if ready {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the quota of {namespace} has no status after 300 s"
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

/// Makes the admission pods' service account and owner in `namespace`; the owner's uid.
async fn prepare(admin: &Client, namespace: &str) -> Result<String, String> {
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), namespace);
    accounts
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({ "metadata": { "name": APP } })).expect("an account"),
        )
        .await
        .map_err(|e| format!("creating the service account in {namespace}: {e}"))?;
    let owner = Api::<ConfigMap>::namespaced(admin.clone(), namespace)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({ "metadata": { "name": APP } })).expect("a map"),
        )
        .await
        .map_err(|e| format!("creating the owner in {namespace}: {e}"))?;
    owner
        .uid()
        .ok_or_else(|| format!("the owner in {namespace} has no uid"))
}

/// A pod every rule of the profile admits: [`workload::conforming_pod`] with its own service
/// account, a controller (the ConfigMap made by [`prepare`]) and probes.
fn admitted_pod(profile: &HardeningProfile, namespace: &str, name: &str, owner: &str) -> Pod {
    let mut pod = serde_json::to_value(workload::conforming_pod(profile, namespace, name))
        .expect("a pod serializes");
    pod["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "v1", "kind": "ConfigMap", "name": APP, "uid": owner, "controller": true
    }]);
    pod["spec"]["serviceAccountName"] = json!(APP);
    let probe = json!({ "httpGet": { "path": "/healthz", "port": 8080 } });
    pod["spec"]["containers"][0]["livenessProbe"] = probe.clone();
    pod["spec"]["containers"][0]["readinessProbe"] = probe;
    serde_json::from_value(pod).expect("a pod")
}

async fn probe_namespace(admin: &Client) -> Result<String, String> {
    let namespace: Namespace = serde_json::from_value(json!({
        "metadata": { "name": PROBE_NAMESPACE, "labels": { SELECTED_LABEL.0: SELECTED_LABEL.1 } }
    }))
    .expect("a namespace");
    Api::<Namespace>::all(admin.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .map_err(|e| format!("creating {PROBE_NAMESPACE}: {e}"))?;
    Ok(PROBE_NAMESPACE.to_owned())
}

/// Waits until a dry-run pod creation in the unstamped probe namespace is rejected (`on`)
/// or admitted (off).
async fn wait_for_switch(
    admin: &Client,
    profile: &HardeningProfile,
    probe: &str,
    on: bool,
) -> Result<(), String> {
    let pods: Api<Pod> = Api::namespaced(admin.clone(), probe);
    let pod = workload::conforming_pod(profile, probe, "probe");
    let deadline = Instant::now() + SWITCH_TIMEOUT;
    loop {
        let admitted = pods
            .create(
                &PostParams {
                    dry_run: true,
                    ..Default::default()
                },
                &pod,
            )
            .await;
        if admitted.is_err() == on {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the policy still {} a pod in {probe} after {SWITCH_TIMEOUT:?}: {admitted:?}",
                if on { "admits" } else { "rejects" }
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The API server's ValidatingAdmissionPolicy plugin on CREATE requests:
/// `apiserver_admission_controller_admission_duration_seconds` sum and count.
#[derive(Clone, Copy, Default)]
struct Plugin {
    seconds: f64,
    count: f64,
}

impl Plugin {
    async fn read(admin: &Client) -> Result<Self, String> {
        let request = http::Request::get("/metrics")
            .body(Vec::new())
            .map_err(|e| e.to_string())?;
        let text = admin
            .request_text(request)
            .await
            .map_err(|e| format!("reading the API server's metrics: {e}"))?;
        let mut plugin = Self::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let ours = series.contains("name=\"ValidatingAdmissionPolicy\"")
                && series.contains("operation=\"CREATE\"")
                && series.contains("type=\"validate\"");
            if !ours {
                continue;
            }
            if series.starts_with("apiserver_admission_controller_admission_duration_seconds_sum{")
            {
                plugin.seconds += value;
            } else if series
                .starts_with("apiserver_admission_controller_admission_duration_seconds_count{")
            {
                plugin.count += value;
            }
        }
        Ok(plugin)
    }

    fn minus(&self, before: &Self) -> Self {
        Self {
            seconds: self.seconds - before.seconds,
            count: self.count - before.count,
        }
    }

    fn add(&mut self, other: &Self) {
        self.seconds += other.seconds;
        self.count += other.count;
    }

    fn mean_ms(&self) -> Option<f64> {
        (self.count > 0.0).then(|| self.seconds / self.count * 1000.0)
    }
}
