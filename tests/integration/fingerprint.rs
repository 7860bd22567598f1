//! The `hardening.dev/rendered` fingerprint covers what an offline `render` knows too (not
//! the stored profile's uid in the ownerReferences), so `render` and the live namespace
//! agree on it; and a namespace carrying another fingerprint (an older operator's, which
//! covered the ownerReferences) gets a rollout of the new one, never repairs.

use hardening_operator::core::labels::RENDERED_ANNOTATION;
use hardening_operator::core::render::render;
use hardening_tests::objects::events_for;
use hardening_tests::profiles::{in_sync, strict_spec};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::operator_env::OperatorEnv;

/// How the fingerprint was computed before issue 25: over the objects with their
/// ownerReferences.
fn old_fingerprint(profile: &hardening_operator::core::api::HardeningProfile, ns: &str) -> String {
    let desired = render(profile, ns).unwrap();
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(&serde_json::to_vec(&desired.namespace_labels).unwrap());
    for object in &desired.objects {
        context.update(b"\n");
        context.update(object.to_json().to_string().as_bytes());
    }
    context.finish().as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn render_and_the_cluster_agree_and_an_older_fingerprint_is_a_rollout() {
    let mut env = OperatorEnv::start("fingerprint").await;
    let ns = env.namespace(&[]).await;
    let file = env.profile("strict", strict_spec());
    let stored = env.create_profile(&file).await.unwrap();
    let name = stored.name_any();
    let status = env.status_where(&name, "in sync", in_sync(1)).await;
    let namespaces: Api<Namespace> = Api::all(env.client.clone());
    let live = |ns: Namespace| ns.annotations().get(RENDERED_ANNOTATION).cloned();

    // What `render` computes from the file (no uid) is what the operator wrote.
    let offline = render(&file, &ns).unwrap();
    assert!(file.metadata.uid.is_none());
    assert_eq!(
        live(namespaces.get(&ns).await.unwrap()).as_ref(),
        offline.namespace_annotations.get(RENDERED_ANNOTATION)
    );

    // An upgrade from an operator whose fingerprint covered the ownerReferences.
    env.stop_operator().await;
    let stored = env.profiles_api().get(&name).await.unwrap();
    let old = old_fingerprint(&stored, &ns);
    assert_ne!(
        Some(&old),
        offline.namespace_annotations.get(RENDERED_ANNOTATION)
    );
    namespaces
        .patch(
            &ns,
            &PatchParams::apply("hardening-operator").force(),
            &Patch::Apply(json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": { "name": ns, "annotations": {
                    "hardening.dev/profile": name, RENDERED_ANNOTATION: old,
                }},
            })),
        )
        .await
        .unwrap();
    let repaired_before = events_for(&env.client, &name)
        .await
        .iter()
        .filter(|e| e.reason.as_deref() == Some("Repaired"))
        .count();
    env.start_operator(Default::default());
    hardening_tests::eventually("the new fingerprint rolled out", || async {
        let annotation = live(namespaces.get(&ns).await.map_err(|e| e.to_string())?);
        if annotation.as_ref() == offline.namespace_annotations.get(RENDERED_ANNOTATION) {
            Ok(())
        } else {
            Err(format!("still {annotation:?}"))
        }
    })
    .await;
    let after = env.status_where(&name, "in sync", in_sync(1)).await;
    assert_eq!(
        after.repairs_total, status.repairs_total,
        "the new fingerprint is a rollout, not a repair"
    );
    let repaired_after = events_for(&env.client, &name)
        .await
        .iter()
        .filter(|e| e.reason.as_deref() == Some("Repaired"))
        .count();
    assert_eq!(repaired_after, repaired_before, "no Repaired event");
    env.finish().await;
}
