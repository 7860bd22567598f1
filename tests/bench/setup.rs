//! One measured run's cluster: a fresh local control plane whose audit log also records
//! the measured client's reads, the CRD (and with the full profile the OpenReports CRDs),
//! N labelled namespaces that kube-controller-manager has finished with (with the full
//! profile holding two pods each), and the profile.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use hardening_operator::core::api::HardeningProfile;
use hardening_tests::{ControlPlane, Options, client_for};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};

use crate::audit::AuditLog;
use crate::workload::{self, ProfileKind};

/// The measured client's user (the floor's or the operator's): its requests are the ones
/// the audit log counts, its reads included.
pub const MEASURED_USER: &str = "hardening-bench-measured";
/// The harness's cluster-admin: sets up and verifies.
pub const ADMIN_USER: &str = "admin";
/// A cluster administrator in the operator's break-glass group: the only one besides the
/// operator that may change what it generated (in Enforce mode), so the one making drifts.
pub const DRIFT_USER: &str = "hardening-bench-break-glass";
/// kube-controller-manager's user in the harness.
const CONTROLLER_MANAGER_USER: &str = "system:kube-controller-manager";
/// The label the profile selects (`profile.yaml`).
pub const SELECTED_LABEL: (&str, &str) = ("hardening.dev/bench", "true");
/// Namespaces created at once while setting up (not measured).
const SETUP_CONCURRENCY: usize = 32;
/// kube-controller-manager's client rate here (its default, 20 requests per second, took
/// 50 s to give 1,000 new namespaces their ServiceAccount and ConfigMap, and 10,000 new
/// ResourceQuotas their first status long after the rollout).
const CONTROLLER_MANAGER_QPS: u32 = 400;
/// How long kube-controller-manager may take for its objects in new namespaces.
const CONTROLLER_MANAGER_TIMEOUT: Duration = Duration::from_secs(45 * 60);

pub fn namespace_name(i: usize) -> String {
    format!("bench-{i:05}")
}

pub struct Cluster {
    plane: Option<ControlPlane>,
    pub admin: Client,
    /// [`DRIFT_USER`]'s client.
    pub drifter: Client,
    pub audit: AuditLog,
    pub namespaces: Vec<String>,
    /// The profile as stored (with its uid, so rendered objects get an ownerReference).
    pub profile: HardeningProfile,
    pub kind: ProfileKind,
}

impl Cluster {
    /// Starts a control plane and prepares it; prints what it does to stderr.
    pub async fn prepare(bin: &Path, count: usize, kind: ProfileKind) -> Result<Self, String> {
        let options = Options {
            users: vec![MEASURED_USER.to_owned(), DRIFT_USER.to_owned()],
            groups: [(
                DRIFT_USER.to_owned(),
                vec![hardening_operator::core::guardrails::DEFAULT_BREAK_GLASS_GROUP.to_owned()],
            )]
            .into(),
            audit_reads_of: vec![MEASURED_USER.to_owned()],
            controller_manager_qps: Some(CONTROLLER_MANAGER_QPS),
        };
        let started = Instant::now();
        let bin = bin.to_path_buf();
        let plane =
            tokio::task::spawn_blocking(move || ControlPlane::start_with_options(&bin, &options))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
        let admin = client_for(plane.kubeconfig())
            .await
            .map_err(|e| e.to_string())?;
        let drifter = client_for(&plane.user_kubeconfig(DRIFT_USER))
            .await
            .map_err(|e| e.to_string())?;
        install_crd(&admin, hardening_operator::core::crd::crd()).await?;
        if kind.reports() {
            for file in [
                "openreports.io_reports.yaml",
                "openreports.io_clusterreports.yaml",
            ] {
                install_crd(&admin, report_crd(file)?).await?;
            }
        }
        let mut audit = open_audit_log(plane.audit_log()).await?;
        let namespaces: Vec<String> = (1..=count).map(namespace_name).collect();
        create_namespaces(&admin, &namespaces).await?;
        eprintln!(
            "  control plane, CRD and {} in {:.1} s",
            hardening_operator::core::plural::count(count, "namespace"),
            started.elapsed().as_secs_f64()
        );
        wait_for_controller_manager(&mut audit, &namespaces).await;
        let manifest = kind.manifest();
        if kind.pods_per_namespace() > 0 {
            let started = Instant::now();
            create_pods(&admin, &manifest, &namespaces).await?;
            eprintln!(
                "  {} in {:.1} s",
                hardening_operator::core::plural::count(count * kind.pods_per_namespace(), "pod"),
                started.elapsed().as_secs_f64()
            );
        }
        let profile = Api::<HardeningProfile>::all(admin.clone())
            .create(&PostParams::default(), &manifest)
            .await
            .map_err(|e| format!("creating the profile: {e}"))?;
        audit.read_new();
        Ok(Self {
            plane: Some(plane),
            admin,
            drifter,
            audit,
            namespaces,
            profile,
            kind,
        })
    }

    pub fn plane(&self) -> &ControlPlane {
        self.plane.as_ref().expect("running until stopped")
    }

    /// A client of [`MEASURED_USER`].
    pub async fn measured_client(&self) -> Result<Client, String> {
        client_for(&self.measured_kubeconfig())
            .await
            .map_err(|e| e.to_string())
    }

    pub fn measured_kubeconfig(&self) -> std::path::PathBuf {
        self.plane().user_kubeconfig(MEASURED_USER)
    }

    /// Stops the control plane and removes its directory.
    pub async fn stop(mut self) {
        if let Some(plane) = self.plane.take() {
            let _ = tokio::task::spawn_blocking(move || drop(plane)).await;
        }
    }
}

/// One of the report CRDs `tests/controlplane/fetch-report-crds.sh` fetches (once per
/// machine; `tests/bench.sh` runs it and names its directory in `HARDENING_REPORT_CRDS`).
fn report_crd(file: &str) -> Result<CustomResourceDefinition, String> {
    let dir = hardening_tests::cached_by_script(
        "controlplane/fetch-report-crds.sh",
        "HARDENING_REPORT_CRDS",
        "fetching the report CRDs",
    )
    .map_err(|e| e.to_string())?;
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_yaml_ng::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

pub async fn install_crd(admin: &Client, crd: CustomResourceDefinition) -> Result<(), String> {
    let crds: Api<CustomResourceDefinition> = Api::all(admin.clone());
    let name = crd.metadata.name.clone().unwrap_or_default();
    crds.patch(
        &name,
        &PatchParams::apply("hardening-bench").force(),
        &Patch::Apply(&crd),
    )
    .await
    .map_err(|e| format!("installing the CRD: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let established = crds
            .get(&name)
            .await
            .ok()
            .and_then(|crd| crd.status)
            .and_then(|status| status.conditions)
            .is_some_and(|conditions| {
                conditions
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            });
        if established {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("the CRD {name} was not established within 30 s"))
}

/// The audit log, once the API server has created it (at its first logged request).
async fn open_audit_log(path: &Path) -> Result<AuditLog, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match AuditLog::open(path) {
            Ok(log) => return Ok(log),
            Err(e) if Instant::now() > deadline => {
                return Err(format!("audit log {}: {e}", path.display()));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn create_namespaces(admin: &Client, names: &[String]) -> Result<(), String> {
    let api: Api<Namespace> = Api::all(admin.clone());
    stream::iter(names)
        .map(|name| {
            let api = api.clone();
            async move {
                let namespace: Namespace = serde_json::from_value(serde_json::json!({
                    "metadata": {
                        "name": name,
                        "labels": { SELECTED_LABEL.0: SELECTED_LABEL.1 },
                    }
                }))
                .expect("a namespace");
                api.create(&PostParams::default(), &namespace)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("creating namespace {name}: {e}"))
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect::<()>()
        .await
}

/// The full profile's pods ([`workload::pods`]) in every namespace, before the profile.
async fn create_pods(
    admin: &Client,
    profile: &HardeningProfile,
    namespaces: &[String],
) -> Result<(), String> {
    let pods: Vec<k8s_openapi::api::core::v1::Pod> = namespaces
        .iter()
        .flat_map(|namespace| workload::pods(profile, namespace))
        .collect();
    stream::iter(pods)
        .map(|pod| {
            let namespace = pod.metadata.namespace.clone().unwrap_or_default();
            let api: Api<k8s_openapi::api::core::v1::Pod> =
                Api::namespaced(admin.clone(), &namespace);
            async move {
                api.create(&PostParams::default(), &pod)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("creating a pod in {namespace}: {e}"))
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect::<()>()
        .await
}

/// Waits until kube-controller-manager has created the `default` ServiceAccount and the
/// `kube-root-ca.crt` ConfigMap in every namespace (seen in the audit log), so that its
/// writes do not compete with the measured client's.
async fn wait_for_controller_manager(audit: &mut AuditLog, namespaces: &[String]) {
    let wanted: HashSet<&str> = namespaces.iter().map(String::as_str).collect();
    let started = Instant::now();
    let mut accounts = HashSet::new();
    let mut config_maps = HashSet::new();
    let mut read = 0;
    let mut last_note = Instant::now();
    loop {
        audit.read_new();
        for event in audit.since(read) {
            if event.user != CONTROLLER_MANAGER_USER
                || event.verb != "create"
                || !event.complete
                || !wanted.contains(event.namespace.as_str())
            {
                continue;
            }
            match (event.resource.as_str(), event.name.as_str()) {
                ("serviceaccounts", "default") => accounts.insert(event.namespace.clone()),
                ("configmaps", "kube-root-ca.crt") => config_maps.insert(event.namespace.clone()),
                _ => false,
            };
        }
        read = audit.mark();
        if accounts.len() == wanted.len() && config_maps.len() == wanted.len() {
            eprintln!(
                "  kube-controller-manager done with the namespaces after {:.1} s",
                started.elapsed().as_secs_f64()
            );
            return;
        }
        if started.elapsed() > CONTROLLER_MANAGER_TIMEOUT {
            eprintln!(
                "  warning: kube-controller-manager still busy after {:?} ({} ServiceAccounts, {} ConfigMaps of {}); measuring anyway",
                CONTROLLER_MANAGER_TIMEOUT,
                accounts.len(),
                config_maps.len(),
                wanted.len()
            );
            return;
        }
        if last_note.elapsed() > Duration::from_secs(30) {
            eprintln!(
                "  waiting for kube-controller-manager: {} ServiceAccounts, {} ConfigMaps of {}",
                accounts.len(),
                config_maps.len(),
                wanted.len()
            );
            last_note = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
