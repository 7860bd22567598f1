//! ClusterNetworkPolicies (issue 23 item 1) at the object level, on a control plane of the
//! test's own with network-policy-api v0.3.0's CRD (standard channel, serving
//! `policy.networking.k8s.io/v1alpha2`; `fetch-report-crds.sh`): a profile asking for them
//! gets its protected networks denied in the Admin tier and its default deny in the
//! Baseline tier, which the API server stores as rendered (the CRD's schema and CEL rules
//! judge them); one deleted by someone else is written again; they go when the profile no
//! longer asks. Without the API, the condition says so. No network plugin here enforces
//! them (see README, Protected networks).

use hardening_operator::core::api::HardeningProfile;
use hardening_operator::fixtures::profile;
use hardening_tests::profiles::condition;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::operator_env::OperatorEnv;
use hardening_tests::reports::install;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_network_policies_are_rendered_kept_and_removed() {
    let Some((_plane, client)) =
        hardening_tests::own_control_plane("installing the ClusterNetworkPolicy CRD").await
    else {
        return;
    };
    crate::operator_env::install_crd(&client).await;
    install(
        &client,
        "policy.networking.k8s.io_clusternetworkpolicies.yaml",
    )
    .await;
    // The operator asks discovery once at start-up, which may lag behind Established.
    hardening_tests::eventually("policy.networking.k8s.io/v1alpha2 discovered", || async {
        let resources = client
            .list_api_group_resources("policy.networking.k8s.io/v1alpha2")
            .await
            .map_err(|e| e.to_string())?;
        resources
            .resources
            .iter()
            .any(|r| r.name == "clusternetworkpolicies")
            .then_some(())
            .ok_or_else(|| "not served yet".to_owned())
    })
    .await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let operator = tokio::spawn(hardening_operator::controller::run(
        client.clone(),
        hardening_operator::config::RunConfig::default(),
        async {
            let _ = stopped.await;
        },
    ));
    let profiles: Api<HardeningProfile> = Api::all(client.clone());
    profiles
        .create(
            &PostParams::default(),
            &profile("cnp")
                .spec(json!({
                    "namespaceSelector": { "matchLabels": { "tier": "cnp" } },
                    "excludedNamespaces": ["legacy"],
                    "networkPolicy": {
                        "defaultDeny": ["Ingress", "Egress"],
                        "clusterNetworkPolicy": true,
                        "protectedNetworks": [{ "cidr": "10.0.0.0/16", "ports": [{ "port": 22 }, { "port": 10250, "endPort": 10255 }] }],
                    },
                }))
                .build(),
        )
        .await
        .unwrap();
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(
            "policy.networking.k8s.io",
            "v1alpha2",
            "ClusterNetworkPolicy",
        ),
        "clusternetworkpolicies",
    );
    let cnps: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    let applied = hardening_tests::eventually("the ClusterNetworkPolicies applied", || async {
        let p = profiles.get("cnp").await.map_err(|e| e.to_string())?;
        match p
            .status
            .as_ref()
            .and_then(|s| condition(s, "ClusterNetworkPolicies"))
        {
            Some((status, reason)) if status == "True" && reason == "Applied" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    applied.await;
    let admin = cnps.get("hardening.dev-cnp-admin").await.unwrap();
    assert_eq!(
        admin.data["spec"],
        json!({
            "tier": "Admin",
            "priority": 500,
            "subject": { "namespaces": {
                "matchLabels": { "tier": "cnp" },
                "matchExpressions": [{ "key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-node-lease", "kube-public", "kube-system", "legacy"] }],
            }},
            "egress": [
                { "name": "protected-networks", "action": "Deny", "to": [{ "networks": ["169.254.169.254/32", "fd00:ec2::254/128"] }] },
                { "name": "protected-networks", "action": "Deny", "to": [{ "networks": ["10.0.0.0/16"] }],
                  "protocols": [
                      { "tcp": { "destinationPort": { "number": 22 } } },
                      { "tcp": { "destinationPort": { "range": { "start": 10250, "end": 10255 } } } },
                  ] },
            ],
        }),
        "the API server stores what the operator renders"
    );
    let baseline = cnps.get("hardening.dev-cnp-baseline").await.unwrap();
    assert_eq!(baseline.data["spec"]["tier"], "Baseline");
    assert_eq!(
        baseline.data["spec"]["egress"][0]["to"],
        json!([{ "namespaces": {} }, { "networks": ["0.0.0.0/0", "::/0"] }])
    );
    assert_eq!(baseline.owner_references()[0].name, "cnp");

    // Deleted by someone else: written again.
    cnps.delete("hardening.dev-cnp-admin", &DeleteParams::default())
        .await
        .unwrap();
    hardening_tests::eventually("the admin policy back", || async {
        cnps.get_opt("hardening.dev-cnp-admin")
            .await
            .map_err(|e| e.to_string())?
            .map(|_| ())
            .ok_or_else(|| "not yet".to_owned())
    })
    .await;

    // No longer asked for: removed.
    profiles
        .patch(
            "cnp",
            &PatchParams::default(),
            &Patch::Merge(
                json!({ "spec": { "networkPolicy": { "clusterNetworkPolicy": false } } }),
            ),
        )
        .await
        .unwrap();
    hardening_tests::eventually("both removed", || async {
        let left = cnps
            .list(&Default::default())
            .await
            .map_err(|e| e.to_string())?;
        if left.items.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{:?}",
                left.items.iter().map(|o| o.name_any()).collect::<Vec<_>>()
            ))
        }
    })
    .await;
    let _ = stop.send(());
    operator.await.unwrap();
}

/// Where the API is not served, a profile asking for it is told so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_network_policies_not_served_are_said_so() {
    let mut env = OperatorEnv::start("cnp-absent").await;
    let _ns = env.namespace(&[]).await;
    let profile = env.profile(
        "cnp",
        json!({ "networkPolicy": { "clusterNetworkPolicy": true } }),
    );
    let name = profile.name_any();
    env.create_profile(&profile).await.unwrap();
    env.status_where(
        &name,
        "ClusterNetworkPolicies NotServed",
        |s| match condition(s, "ClusterNetworkPolicies") {
            Some((status, reason)) if status == "False" && reason == "NotServed" => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .await;
    env.finish().await;
}
