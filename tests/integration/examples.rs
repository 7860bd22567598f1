//! Every profile in `examples/` is accepted by the API server as it is, and works: applied
//! (in a test shard) to a namespace carrying its selector's labels, it becomes Ready; and
//! each selects a namespace of `examples/namespaces.yaml` (the demo's and the README's).

use std::path::Path;

use hardening_operator::core::api::HardeningProfile;
use hardening_tests::profiles::condition;
use kube::ResourceExt;

use crate::operator_env::{OperatorEnv, SHARD_LABEL};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_is_accepted_and_becomes_ready() {
    let mut env = OperatorEnv::start("examples").await;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let namespaces = hardening_operator::cli::input::read_namespaces(&dir.join("namespaces.yaml"))
        .expect("examples/namespaces.yaml");
    let mut profiles = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        if !text.contains("\nkind: HardeningProfile\n") {
            continue;
        }
        profiles += 1;
        let mut profile: HardeningProfile =
            serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            namespaces
                .iter()
                .any(|ns| hardening_operator::core::api::selects(
                    &profile.spec,
                    ns.metadata.name.as_deref().unwrap_or_default(),
                    ns.metadata.labels.as_ref().unwrap_or(&Default::default()),
                )),
            "{} selects no namespace of examples/namespaces.yaml",
            file.display()
        );
        // Into this test's shard, under a unique name; the selector stays as written.
        profile.metadata.name = Some(format!("{}-{}", env.shard, profile.name_any()));
        profile
            .labels_mut()
            .insert(SHARD_LABEL.into(), env.shard.clone());
        let labels: Vec<(String, String)> = profile
            .spec
            .namespace_selector
            .match_labels
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let label_refs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        // The example's selector would match other tests' namespaces too if they carried
        // its labels; they do not, and this shard's operator only sees this shard's profiles.
        env.namespace(&label_refs).await;
        let created = env
            .create_profile(&profile)
            .await
            .unwrap_or_else(|e| panic!("{} rejected by the API server: {e}", file.display()));
        let name = created.name_any();
        env.status_where(
            &name,
            &format!("{} ready", file.display()),
            |s| match condition(s, "Ready") {
                Some((st, _)) if st == "True" && s.selected_namespaces >= 1 => Ok(()),
                other => Err(format!(
                    "Ready {other:?}, selected {}",
                    s.selected_namespaces
                )),
            },
        )
        .await;
    }
    assert!(profiles >= 3, "expected at least three example profiles");
    env.finish().await;
}

/// Every HardeningException in `examples/` is accepted by the API server as it is (a
/// server-side dry run, strict field validation) and by the offline check, and names an
/// example profile and a namespace of `examples/namespaces.yaml`. (Whether its `expires`
/// is within the operator's bound depends on the day it is applied: the file says so.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_exception_is_accepted() {
    let client = hardening_tests::cluster().client().await;
    crate::operator_env::install_crd(&client).await;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let exceptions = hardening_operator::cli::input::read_exceptions(std::slice::from_ref(&dir))
        .expect("the example exceptions pass the offline check");
    assert!(!exceptions.objects.is_empty(), "an example exception");
    let profiles =
        hardening_operator::cli::input::read_profiles(std::slice::from_ref(&dir)).unwrap();
    let namespaces = hardening_operator::cli::input::read_namespaces(&dir.join("namespaces.yaml"))
        .expect("examples/namespaces.yaml");
    for (file, exception) in exceptions.objects {
        assert!(
            profiles
                .objects
                .iter()
                .any(|(_, p)| p.name_any() == exception.spec.profile),
            "{file}: names no example profile"
        );
        assert!(
            exception
                .spec
                .namespaces
                .names
                .iter()
                .all(|n| namespaces
                    .iter()
                    .any(|ns| ns.metadata.name.as_deref() == Some(n.as_str()))),
            "{file}: names a namespace examples/namespaces.yaml does not hold"
        );
        let request = http::Request::post(
            "/apis/hardening.dev/v1alpha1/hardeningexceptions?dryRun=All&fieldValidation=Strict",
        )
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(&exception).unwrap())
        .unwrap();
        client
            .request::<serde_json::Value>(request)
            .await
            .unwrap_or_else(|e| panic!("{file} rejected by the API server: {e}"));
    }
}
