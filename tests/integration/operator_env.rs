//! One operator per test, in-process, against the shared control plane. Each test owns a
//! shard: its operator only sees profiles labelled with the shard, and its profiles only
//! select namespaces labelled with it, so tests run in parallel without touching each
//! other's objects.

use std::net::SocketAddr;
use std::time::Duration;

use hardening_operator::config::{LeaderElection, RunConfig};
use hardening_operator::core::api::{HardeningProfile, HardeningProfileStatus};
use hardening_operator::fixtures;
use hardening_tests::{TestNamespace, cluster, eventually, unique_name, wait_until};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Label that puts profiles and namespaces into one test's shard.
pub const SHARD_LABEL: &str = "hardening.dev/test-shard";

const CRD_YAML: &str = include_str!("../../crds/hardening.dev_hardeningprofiles.yaml");
const EXCEPTION_CRD_YAML: &str = include_str!("../../crds/hardening.dev_hardeningexceptions.yaml");

pub struct OperatorEnv {
    pub client: Client,
    pub shard: String,
    operator: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
    profiles: Vec<String>,
    namespaces: Vec<TestNamespace>,
}

impl OperatorEnv {
    /// Installs the CRD (from `crds/`, as a user would) and starts an operator for a new
    /// shard.
    pub async fn start(prefix: &str) -> Self {
        Self::start_with(prefix, RunConfig::default()).await
    }

    pub async fn start_with(prefix: &str, config: RunConfig) -> Self {
        let mut env = Self::without_operator(prefix).await;
        env.start_operator(config);
        env
    }

    /// A new shard without an operator: for tests that start their own
    /// (`hardening_operator::run::start` with [`OperatorEnv::selector`]).
    pub async fn without_operator(prefix: &str) -> Self {
        // Operator logs in test output: RUST_LOG=hardening_operator=debug
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .try_init();
        let client = cluster().client().await;
        install_crd(&client).await;
        let shard = unique_name(prefix);
        OperatorEnv {
            client,
            shard,
            operator: None,
            profiles: Vec::new(),
            namespaces: Vec::new(),
        }
    }

    /// The `--profile-selector` of this shard's operators.
    pub fn selector(&self) -> String {
        format!("{SHARD_LABEL}={}", self.shard)
    }

    pub fn start_operator(&mut self, mut config: RunConfig) {
        config.profile_selector = Some(self.selector());
        let (stop, stopped) = oneshot::channel::<()>();
        let client = self.client.clone();
        let task = tokio::spawn(async move {
            hardening_operator::controller::run(client, config, async {
                let _ = stopped.await;
            })
            .await
        });
        self.operator = Some((stop, task));
    }

    /// Stops the operator and waits until it has.
    pub async fn stop_operator(&mut self) {
        if let Some((stop, mut task)) = self.operator.take() {
            let _ = stop.send(());
            // An operator that has not shut down in 20 s is stopped all the same: a test must
            // not go on beside a second operator of its shard.
            if tokio::time::timeout(Duration::from_secs(20), &mut task)
                .await
                .is_err()
            {
                task.abort();
                let _ = task.await;
            }
        }
    }

    /// A namespace in this shard (selected by the shard's profiles) with extra labels.
    pub async fn namespace(&mut self, labels: &[(&str, &str)]) -> String {
        let mut all = vec![(SHARD_LABEL, self.shard.as_str())];
        all.extend_from_slice(labels);
        let ns = TestNamespace::create(&self.client, "hp", &all).await;
        let name = ns.name().to_owned();
        self.namespaces.push(ns);
        name
    }

    /// A namespace outside every shard.
    pub async fn unselected_namespace(&mut self) -> String {
        let ns = TestNamespace::create(&self.client, "hp-other", &[]).await;
        let name = ns.name().to_owned();
        self.namespaces.push(ns);
        name
    }

    /// A profile named `<shard>-<suffix>` in this shard. `spec` is merged over a default
    /// namespace selector that matches the shard's namespaces.
    pub fn profile(&self, suffix: &str, spec: Value) -> HardeningProfile {
        fixtures::profile(&format!("{}-{suffix}", self.shard))
            .label(SHARD_LABEL, &self.shard)
            .spec(json!({ "namespaceSelector": { "matchLabels": { SHARD_LABEL: self.shard } } }))
            .spec(spec)
            .build()
    }

    pub async fn create_profile(
        &mut self,
        profile: &HardeningProfile,
    ) -> Result<HardeningProfile, kube::Error> {
        let created = self
            .profiles_api()
            .create(&PostParams::default(), profile)
            .await?;
        self.profiles.push(created.name_any());
        Ok(created)
    }

    pub fn profiles_api(&self) -> Api<HardeningProfile> {
        Api::all(self.client.clone())
    }

    /// Merge-patches a profile's spec.
    pub async fn patch_spec(&self, name: &str, spec: Value) {
        self.profiles_api()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": spec })),
            )
            .await
            .unwrap_or_else(|e| panic!("patching profile {name}: {e}"));
    }

    /// Waits until the profile's status satisfies `check` (which says what is missing).
    pub async fn status_where(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&HardeningProfileStatus) -> Result<(), String>,
    ) -> HardeningProfileStatus {
        let api = self.profiles_api();
        eventually(what, || {
            let api = api.clone();
            let check = &check;
            async move {
                let profile = api.get(name).await.map_err(|e| e.to_string())?;
                let status = profile.status.ok_or("no status yet")?;
                check(&status).map_err(|why| {
                    format!("{why}; status: {}", serde_json::to_string(&status).unwrap())
                })?;
                Ok(status)
            }
        })
        .await
    }

    pub async fn set_namespace_labels(&self, namespace: &str, labels: Value) {
        Api::<Namespace>::all(self.client.clone())
            .patch(
                namespace,
                &PatchParams::default(),
                &Patch::Merge(json!({ "metadata": { "labels": labels } })),
            )
            .await
            .unwrap_or_else(|e| panic!("labelling namespace {namespace}: {e}"));
    }

    /// [`OperatorEnv::finish`] for a test that started its own operator: `stop` stops it
    /// once the profiles are gone.
    pub async fn finish_with(mut self, stop: impl std::future::Future<Output = ()>) {
        self.delete_profiles().await;
        stop.await;
    }

    /// Deletes this test's profiles (while the operator runs, so finalizers complete) and
    /// stops the operator. Call at the end of every test.
    pub async fn finish(mut self) {
        self.delete_profiles().await;
        self.stop_operator().await;
    }

    async fn delete_profiles(&mut self) {
        let api = self.profiles_api();
        let names = std::mem::take(&mut self.profiles);
        for name in &names {
            let _ = api.delete(name, &DeleteParams::default()).await;
        }
        for name in &names {
            let api = api.clone();
            wait_until(&format!("profile {name} deleted"), || {
                let api = api.clone();
                async move { api.get_opt(name).await.ok().flatten().is_none() }
            })
            .await;
        }
    }
}

impl Drop for OperatorEnv {
    fn drop(&mut self) {
        if let Some((stop, _)) = self.operator.take() {
            let _ = stop.send(());
        }
    }
}

/// Applies the generated CRDs (HardeningProfile and HardeningException) and waits until
/// the API server serves them.
pub async fn install_crd(client: &Client) {
    for yaml in [CRD_YAML, EXCEPTION_CRD_YAML] {
        install_one(client, yaml).await;
    }
}

async fn install_one(client: &Client, yaml: &str) {
    let crd: CustomResourceDefinition =
        serde_yaml_ng::from_str(yaml).expect("crds/ holds a valid CRD");
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = crd.name_any();
    api.patch(
        &name,
        &PatchParams::apply("hardening-tests").force(),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap_or_else(|e| panic!("installing CRD {name}: {e}"));
    eventually(&format!("the CRD {name} to be established"), || async {
        let crd = api.get(&name).await.map_err(|e| e.to_string())?;
        let established = crd
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        if established {
            Ok(())
        } else {
            Err("not established".into())
        }
    })
    .await;
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
