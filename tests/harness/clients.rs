//! Clients of the test cluster besides the admin's ([`crate::TestCluster::client`]): its
//! configuration, a ServiceAccount's, and the admin impersonating other users.

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::PostParams;
use kube::config::{AuthInfo, KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde_json::json;

use crate::cluster;

/// The kube configuration of the test cluster's admin (its kubeconfig), e.g. for
/// `hardening_operator::run::start`.
pub async fn admin_config() -> Config {
    let file = Kubeconfig::read_from(cluster().kubeconfig()).expect("the test kubeconfig");
    Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
        .await
        .expect("a kube config from the test kubeconfig")
}

/// The test cluster's configuration authenticating with a bearer `token` instead.
pub async fn token_config(token: String) -> Config {
    let mut config = admin_config().await;
    config.auth_info = AuthInfo {
        token: Some(token.into()),
        ..Default::default()
    };
    config
}

/// A token of the ServiceAccount `account` in `namespace` (TokenRequest API, one hour).
pub async fn token_for(admin: &Client, namespace: &str, account: &str) -> String {
    Api::<ServiceAccount>::namespaced(admin.clone(), namespace)
        .create_token_request(
            account,
            &PostParams::default(),
            &TokenRequest {
                spec: TokenRequestSpec {
                    expiration_seconds: Some(3600),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("a token for {namespace}/{account}: {e}"))
        .status
        .expect("a TokenRequest answer has a status")
        .token
}

/// A client for `account` in `namespace` (created if it is not there), and its
/// configuration.
pub async fn client_as(admin: &Client, namespace: &str, account: &str) -> (Client, Config) {
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), namespace);
    let sa: ServiceAccount =
        serde_json::from_value(json!({ "metadata": { "name": account } })).unwrap();
    let _ = accounts.create(&PostParams::default(), &sa).await;
    let config = token_config(token_for(admin, namespace, account).await).await;
    (Client::try_from(config.clone()).unwrap(), config)
}

/// The admin impersonating `user` in `groups`.
pub async fn impersonating(user: &str, groups: &[&str]) -> Client {
    let mut config = admin_config().await;
    config.auth_info.impersonate = Some(user.into());
    config.auth_info.impersonate_groups = Some(groups.iter().map(|g| g.to_string()).collect());
    Client::try_from(config).unwrap()
}

/// The cluster administrator acting with the operator's break-glass group, which may change
/// what the operator generated (its admission policies forbid it to anyone else).
pub async fn break_glass() -> Client {
    impersonating(
        "admin",
        &[
            "system:masters",
            hardening_operator::core::guardrails::DEFAULT_BREAK_GLASS_GROUP,
        ],
    )
    .await
}
