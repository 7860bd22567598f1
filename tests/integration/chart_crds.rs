//! The chart's CRD lifecycle: `crds.install` (the chart installs and upgrades the
//! HardeningProfile CRD, or leaves it to someone else) and `crds.keep` (whether `helm
//! uninstall` deletes the CRD, and with it every HardeningProfile; by default it does not).
//! What helm renders, then real `helm install` / `helm uninstall` runs on a control plane
//! of this test's own: deleting the CRD of the shared one would delete the other tests'
//! profiles.

use std::time::Duration;

use hardening_operator::core::api::HardeningProfile;
use hardening_operator::fixtures;
use hardening_tests::{eventually, unique_name, wait_until};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::PostParams;
use kube::{Api, Client};
use serde_json::{Value, json};

use crate::operator_env::install_crd;
use hardening_tests::helm::{chart_dir, crd_files, helm, named, render, without_chart_metadata};

const CRD_NAME: &str = "hardeningprofiles.hardening.dev";
const KEEP: &str = "helm.sh/resource-policy";

fn crds(docs: &[Value]) -> Vec<&Value> {
    docs.iter()
        .filter(|d| d["kind"] == "CustomResourceDefinition")
        .collect()
}

#[test]
fn chart_crd_values_decide_whether_the_crd_is_rendered_and_kept() {
    for (name, path) in crd_files() {
        let file: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();

        // Default: installed, kept on uninstall, labelled as the release's.
        let docs = render("r", "hardening-system", &[]);
        let crd = named(&docs, "CustomResourceDefinition", name);
        assert_eq!(crd["metadata"]["annotations"][KEEP], "keep");
        assert_eq!(crd["metadata"]["labels"]["app.kubernetes.io/instance"], "r");
        assert_eq!(without_chart_metadata(crd), file);

        // crds.keep=false: the same CRD without the annotation.
        let docs = render("r", "hardening-system", &["crds.keep=false"]);
        let crd = named(&docs, "CustomResourceDefinition", name);
        assert!(
            crd["metadata"]["annotations"].is_null(),
            "{}",
            crd["metadata"]
        );
        assert_eq!(without_chart_metadata(crd), file);
    }

    // crds.install=false: no CRD at all, whatever crds.keep says.
    for sets in [
        &["crds.install=false"][..],
        &["crds.install=false,crds.keep=false"],
    ] {
        assert!(
            crds(&render("r", "hardening-system", sets)).is_empty(),
            "{sets:?}"
        );
    }
    let chart = chart_dir().display().to_string();
    let err = helm(&["template", "x", &chart, "--set", "crds.keep=yes"])
        .expect_err("a string for crds.keep must be rejected");
    assert!(err.contains("/crds/keep"), "{err}");
}

/// helm against a control plane of the test's own, in one release namespace.
struct Helm {
    kubeconfig: String,
    namespace: String,
}

impl Helm {
    fn install(&self, release: &str, sets: &[&str]) -> String {
        let chart = chart_dir().display().to_string();
        let mut args = vec![
            "install",
            release,
            &chart,
            "--namespace",
            &self.namespace,
            "--kubeconfig",
            &self.kubeconfig,
        ];
        for set in sets {
            args.extend(["--set", set]);
        }
        helm(&args).unwrap_or_else(|e| panic!("helm {args:?} failed:\n{e}"))
    }

    fn uninstall(&self, release: &str) -> String {
        let args = [
            "uninstall",
            release,
            "--namespace",
            &self.namespace,
            "--kubeconfig",
            &self.kubeconfig,
        ];
        helm(&args).unwrap_or_else(|e| panic!("helm {args:?} failed:\n{e}"))
    }
}

async fn crd(client: &Client) -> Option<CustomResourceDefinition> {
    Api::<CustomResourceDefinition>::all(client.clone())
        .get_opt(CRD_NAME)
        .await
        .unwrap()
}

async fn profile_exists(client: &Client, name: &str) -> bool {
    Api::<HardeningProfile>::all(client.clone())
        .get_opt(name)
        .await
        .ok()
        .flatten()
        .is_some()
}

async fn create_profile(client: &Client, name: &str) {
    let profile = fixtures::profile(name)
        .spec(json!({ "namespaceSelector": { "matchLabels": { "nothing": "selected" } } }))
        .build();
    // The CRD may be Established a moment before its endpoint serves.
    eventually(&format!("profile {name} created"), || async {
        Api::<HardeningProfile>::all(client.clone())
            .create(&PostParams::default(), &profile)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await;
}

async fn wait_for_crd_gone(client: &Client) {
    wait_until("the CRD to be deleted", || async {
        crd(client).await.is_none()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_uninstall_keeps_the_crd_and_profiles_unless_told_otherwise() {
    let Some((plane, client)) = hardening_tests::own_control_plane("deleting the CRD").await else {
        return;
    };
    let namespace = unique_name("crd-lifecycle");
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({ "metadata": { "name": namespace } })).unwrap(),
        )
        .await
        .unwrap();
    let helm = Helm {
        kubeconfig: plane.kubeconfig().display().to_string(),
        namespace: namespace.clone(),
    };
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);

    // Default values: helm installs the CRD; uninstalling keeps it and the profiles.
    assert!(crd(&client).await.is_none(), "a fresh control plane");
    helm.install("ops", &[]);
    let installed = crd(&client).await.expect("helm install created the CRD");
    assert_eq!(
        installed.metadata.annotations.unwrap_or_default().get(KEEP),
        Some(&"keep".to_owned())
    );
    create_profile(&client, "kept").await;
    let out = helm.uninstall("ops");
    assert!(
        deployments
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "the release's Deployment is gone"
    );
    assert!(out.contains(CRD_NAME), "helm names what it kept: {out}");
    assert!(crd(&client).await.is_some(), "the CRD was deleted");
    assert!(
        profile_exists(&client, "kept").await,
        "the profile was deleted"
    );

    // The same release installed again takes the kept CRD back (it carries the release's
    // name and namespace); with crds.keep=false, uninstalling deletes the CRD and every
    // profile.
    helm.install("ops", &["crds.keep=false"]);
    // (helm's merge leaves the live CRD's keep annotation from before; what uninstall
    // keeps is decided by the release's own manifest.)
    assert!(crd(&client).await.is_some());
    assert!(profile_exists(&client, "kept").await);
    helm.uninstall("ops");
    wait_for_crd_gone(&client).await;
    // The API server stops serving the resource a moment after the CRD object is gone
    // (its handler follows the deletion through a watch).
    wait_until(
        "the HardeningProfile API to be gone with its CRD",
        || async {
            Api::<HardeningProfile>::all(client.clone())
                .list(&Default::default())
                .await
                .is_err()
        },
    )
    .await;

    // crds.install=false: a CRD installed by someone else is neither taken over nor
    // deleted. (With the default, helm refuses a CRD it does not own.)
    install_crd(&client).await;
    create_profile(&client, "theirs").await;
    let chart = chart_dir().display().to_string();
    let refused = hardening_tests::helm::helm(&[
        "install",
        "default-values",
        &chart,
        "--namespace",
        &namespace,
        "--kubeconfig",
        &helm.kubeconfig,
    ])
    .expect_err("helm install must refuse a CRD the release does not own");
    // helm stops at the first CRD it does not own: either of the chart's two (install_crd
    // installs both).
    assert!(
        [CRD_NAME, "hardeningexceptions.hardening.dev"]
            .iter()
            .any(|crd| refused.contains(&format!(
                "CustomResourceDefinition \"{crd}\" in namespace \"\" exists and cannot be imported"
            ))),
        "{refused}"
    );
    helm.install("other", &["crds.install=false,crds.keep=false"]);
    let theirs = crd(&client).await.expect("the CRD is there");
    assert!(
        !theirs
            .metadata
            .labels
            .unwrap_or_default()
            .contains_key("app.kubernetes.io/managed-by"),
        "the release took the CRD over"
    );
    helm.uninstall("other");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        crd(&client).await.is_some(),
        "uninstall deleted a CRD it did not install"
    );
    assert!(profile_exists(&client, "theirs").await);
    drop(plane);
}
