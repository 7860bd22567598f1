//! Admission cost: what the profile's ValidatingAdmissionPolicies add to every pod creation.
//! On the same control plane, with the operator stopped, the admin creates pods the
//! profile admits, one after another, in blocks with the profile's validating bindings in
//! place (on), deleted (off), and deleted with a trivial policy of the benchmark's own bound
//! instead (floor: one `.?` lookup, the profile as its parameter, the same namespaces: what
//! any ValidatingAdmissionPolicy costs a pod creation), alternating (on, off, floor, on, off,
//! floor), so that a drift of the machine's speed over time touches all alike. Before each
//! block server-side dry runs show that the switch took (the API server loads policy
//! changes asynchronously). Latency is each creation's audit timestamps (received to
//! response complete); the API server's admission metrics give the time its
//! ValidatingAdmissionPolicy plugin spent per creation, and each policy's own check time.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hardening_operator::core::api::HardeningProfile;
use hardening_operator::core::guardrails::{
    BINDING_KIND, POLICY_KIND, gate_name, object_name, warnings_name,
};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, ResourceQuota, ServiceAccount};
use kube::api::{DeleteParams, DynamicObject, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::audit::AuditLog;
use crate::report::percentile;
use crate::setup::{ADMIN_USER, SELECTED_LABEL};
use crate::workload;

/// What is bound while a block of pods is created.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum State {
    /// The profile's validating bindings (its policy, its warnings policy and its creation
    /// gate).
    On,
    /// None.
    Off,
    /// The benchmark's trivial policy only.
    Floor,
}

/// Blocks of creations, alternating.
const BLOCKS: [State; 6] = [
    State::On,
    State::Off,
    State::Floor,
    State::On,
    State::Off,
    State::Floor,
];
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
/// The benchmark's trivial policy and binding (the floor).
const FLOOR_POLICY: &str = "hardening-bench-floor";
/// The label the trivial policy refuses (its one expression), so that a dry run shows it
/// is loaded.
const FLOOR_REFUSES: &str = "hardening-bench-refuse";

/// Latencies (ms, sorted), the plugin's time and the API server's CPU time per creation
/// (ms), in each state.
#[derive(Default)]
pub struct Cost {
    pub on_ms: Vec<f64>,
    pub off_ms: Vec<f64>,
    pub floor_ms: Vec<f64>,
    pub plugin_on_ms: Option<f64>,
    pub plugin_off_ms: Option<f64>,
    pub plugin_floor_ms: Option<f64>,
    /// The API server's CPU time (`process_cpu_seconds_total`) per creation (ms), in each
    /// state: less disturbed than latencies by other work on a shared machine.
    pub cpu_on_ms: Option<f64>,
    pub cpu_off_ms: Option<f64>,
    pub cpu_floor_ms: Option<f64>,
    pub rejected: usize,
}

impl Cost {
    pub fn latencies(&self, state: State) -> &[f64] {
        match state {
            State::On => &self.on_ms,
            State::Off => &self.off_ms,
            State::Floor => &self.floor_ms,
        }
    }

    pub fn p(&self, state: State, p: f64) -> Option<f64> {
        let values = self.latencies(state);
        (!values.is_empty()).then(|| percentile(values, p))
    }

    pub fn plugin(&self, state: State) -> Option<f64> {
        match state {
            State::On => self.plugin_on_ms,
            State::Off => self.plugin_off_ms,
            State::Floor => self.plugin_floor_ms,
        }
    }

    pub fn cpu(&self, state: State) -> Option<f64> {
        match state {
            State::On => self.cpu_on_ms,
            State::Off => self.cpu_off_ms,
            State::Floor => self.cpu_floor_ms,
        }
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
    let bindings = dynamic(admin, BINDING_KIND);
    let policies = dynamic(admin, POLICY_KIND);
    // The creation gate's binding last: the API server's informer sees the bindings'
    // changes in order, so once the probe shows the gate's, it has seen them all.
    let mut profile_bindings = Vec::new();
    for name in [
        warnings_name(&profile.name_any()),
        object_name(&profile.name_any()),
        gate_name(&profile.name_any()),
    ] {
        if let Some(mut binding) = bindings
            .get_opt(&name)
            .await
            .map_err(|e| format!("reading the binding {name}: {e}"))?
        {
            binding.metadata = kube::api::ObjectMeta {
                name: binding.metadata.name.clone(),
                labels: binding.metadata.labels.clone(),
                ..Default::default()
            };
            profile_bindings.push(binding);
        }
    }
    let (floor_policy, floor_binding) = floor_objects(profile, &profile_bindings)?;

    let mut cost = Cost::default();
    let mut plugin: BTreeMap<&str, Metrics> = BTreeMap::new();
    let per_block = pods.div_ceil(4);
    let mut state_before = State::On;
    for (block, state) in BLOCKS.into_iter().enumerate() {
        if state_before == State::Floor {
            delete(&bindings, FLOOR_POLICY).await?;
            delete(&policies, FLOOR_POLICY).await?;
        }
        match state {
            State::On => {
                for binding in &profile_bindings {
                    create(&bindings, binding).await?;
                }
            }
            State::Off => {
                for binding in &profile_bindings {
                    delete(&bindings, &binding.name_any()).await?;
                }
            }
            State::Floor => {
                create(&policies, &floor_policy).await?;
                create(&bindings, &floor_binding).await?;
            }
        }
        state_before = state;
        wait_for_switch(admin, profile, &probe, state).await?;
        let before = Metrics::read(admin).await?;
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
        let after = Metrics::read(admin).await?;
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
        let mut delta = after.minus(&before);
        delta.created = per_block as f64;
        let key = match state {
            State::On => {
                cost.on_ms.extend(latencies);
                "on"
            }
            State::Off => {
                cost.off_ms.extend(latencies);
                "off"
            }
            State::Floor => {
                cost.floor_ms.extend(latencies);
                "floor"
            }
        };
        plugin.entry(key).or_default().add(&delta);
    }
    delete(&bindings, FLOOR_POLICY).await?;
    delete(&policies, FLOOR_POLICY).await?;
    for binding in &profile_bindings {
        create(&bindings, binding).await?;
    }
    cost.on_ms.sort_by(f64::total_cmp);
    cost.off_ms.sort_by(f64::total_cmp);
    cost.floor_ms.sort_by(f64::total_cmp);
    cost.plugin_on_ms = plugin.get("on").and_then(Metrics::mean_ms);
    cost.plugin_off_ms = plugin.get("off").and_then(Metrics::mean_ms);
    cost.plugin_floor_ms = plugin.get("floor").and_then(Metrics::mean_ms);
    let cpu = |state: &str| {
        plugin
            .get(state)
            .and_then(|m| (m.created > 0.0).then(|| m.cpu_seconds / m.created * 1000.0))
    };
    cost.cpu_on_ms = cpu("on");
    cost.cpu_off_ms = cpu("off");
    cost.cpu_floor_ms = cpu("floor");
    Ok(cost)
}

fn dynamic(admin: &Client, kind: &str) -> Api<DynamicObject> {
    Api::all_with(
        admin.clone(),
        &kube::api::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
            "admissionregistration.k8s.io",
            "v1",
            kind,
        )),
    )
}

async fn create(api: &Api<DynamicObject>, object: &DynamicObject) -> Result<(), String> {
    let name = object.name_any();
    if api.get_opt(&name).await.ok().flatten().is_none() {
        api.create(&PostParams::default(), object)
            .await
            .map_err(|e| format!("creating {name}: {e}"))?;
    }
    Ok(())
}

async fn delete(api: &Api<DynamicObject>, name: &str) -> Result<(), String> {
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(format!("deleting {name}: {e}")),
    }
}

/// The benchmark's trivial policy and its binding: pod creations, the profile as the
/// parameter and the namespaces of the profile's binding, like the profile's policy, and one
/// expression refusing only pods labelled [`FLOOR_REFUSES`].
fn floor_objects(
    profile: &HardeningProfile,
    profile_bindings: &[DynamicObject],
) -> Result<(DynamicObject, DynamicObject), String> {
    let main = object_name(&profile.name_any());
    let selector = profile_bindings
        .iter()
        .find(|b| b.name_any() == main)
        .map(|b| b.data["spec"]["matchResources"]["namespaceSelector"].clone())
        .ok_or_else(|| format!("no binding {main}"))?;
    let policy = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": POLICY_KIND,
        "metadata": { "name": FLOOR_POLICY },
        "spec": {
            "failurePolicy": "Fail",
            "paramKind": { "apiVersion": "hardening.dev/v1alpha1", "kind": "HardeningProfile" },
            "matchConstraints": {
                "resourceRules": [{
                    "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                    "resources": ["pods"], "scope": "*",
                }],
            },
            "validations": [{
                "expression": format!("object.metadata.?labels[?'{FLOOR_REFUSES}'].orValue('') != 'true'"),
            }],
        },
    });
    let binding = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": BINDING_KIND,
        "metadata": { "name": FLOOR_POLICY },
        "spec": {
            "policyName": FLOOR_POLICY,
            "paramRef": { "name": profile.name_any(), "parameterNotFoundAction": "Deny" },
            "validationActions": ["Deny"],
            "matchResources": { "namespaceSelector": selector },
        },
    });
    let object = |value: serde_json::Value| {
        serde_json::from_value::<DynamicObject>(value).map_err(|e| e.to_string())
    };
    Ok((object(policy)?, object(binding)?))
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

/// Waits until dry-run pod creations in the unstamped probe namespace say that `state`
/// took: a plain pod is rejected (by the creation gate) only with the profile's bindings
/// on, one labelled [`FLOOR_REFUSES`] is admitted only with nothing bound.
async fn wait_for_switch(
    admin: &Client,
    profile: &HardeningProfile,
    probe: &str,
    state: State,
) -> Result<(), String> {
    let pods: Api<Pod> = Api::namespaced(admin.clone(), probe);
    let plain = workload::conforming_pod(profile, probe, "probe");
    let mut labelled = plain.clone();
    labelled
        .labels_mut()
        .insert(FLOOR_REFUSES.to_owned(), "true".to_owned());
    let deadline = Instant::now() + SWITCH_TIMEOUT;
    let dry_run = PostParams {
        dry_run: true,
        ..Default::default()
    };
    loop {
        let plain_admitted = pods.create(&dry_run, &plain).await;
        let labelled_admitted = pods.create(&dry_run, &labelled).await;
        if plain_admitted.is_err() == (state == State::On)
            && labelled_admitted.is_err() == (state != State::Off)
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the switch to {state:?} did not take after {SWITCH_TIMEOUT:?}: {plain_admitted:?}; {labelled_admitted:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The API server's CPU time so far (its `process_cpu_seconds_total`); `None`, and a line
/// on stderr, when its metrics cannot be read.
pub async fn api_server_cpu_seconds(admin: &Client) -> Option<f64> {
    match Metrics::read(admin).await {
        Ok(metrics) => Some(metrics.cpu_seconds),
        Err(e) => {
            eprintln!("  {e}");
            None
        }
    }
}

/// The API server's ValidatingAdmissionPolicy plugin on CREATE requests
/// (`apiserver_admission_controller_admission_duration_seconds` sum and count), the pods
/// created (counted by the benchmark) and the API server's CPU time
/// (`process_cpu_seconds_total`).
#[derive(Clone, Default)]
struct Metrics {
    seconds: f64,
    count: f64,
    created: f64,
    cpu_seconds: f64,
}

impl Metrics {
    async fn read(admin: &Client) -> Result<Self, String> {
        let request = http::Request::get("/metrics")
            .body(Vec::new())
            .map_err(|e| e.to_string())?;
        let text = admin
            .request_text(request)
            .await
            .map_err(|e| format!("reading the API server's metrics: {e}"))?;
        let mut metrics = Self::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            if series == "process_cpu_seconds_total" {
                metrics.cpu_seconds = value;
                continue;
            }
            let ours = series.contains("name=\"ValidatingAdmissionPolicy\"")
                && series.contains("operation=\"CREATE\"")
                && series.contains("type=\"validate\"");
            if !ours {
                continue;
            }
            if series.starts_with("apiserver_admission_controller_admission_duration_seconds_sum{")
            {
                metrics.seconds += value;
            } else if series
                .starts_with("apiserver_admission_controller_admission_duration_seconds_count{")
            {
                metrics.count += value;
            }
        }
        Ok(metrics)
    }

    fn minus(&self, before: &Self) -> Self {
        Self {
            seconds: self.seconds - before.seconds,
            count: self.count - before.count,
            created: self.created - before.created,
            cpu_seconds: self.cpu_seconds - before.cpu_seconds,
        }
    }

    fn add(&mut self, other: &Self) {
        self.seconds += other.seconds;
        self.count += other.count;
        self.created += other.created;
        self.cpu_seconds += other.cpu_seconds;
    }

    fn mean_ms(&self) -> Option<f64> {
        (self.count > 0.0).then(|| self.seconds / self.count * 1000.0)
    }
}
