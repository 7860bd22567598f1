//! The I/O of the preview (`crate::core::preview`): a server-side dry-run of the namespace's
//! Pod Security `enforce` label change, whose warnings name the existing pods the level
//! would reject, and the namespace's pods for the guardrails (from the operator's pod cache,
//! or one listing). Shared by the namespace reconciler and `hardening-operator diff`.

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::ListParams;
use kube::client::Body;
use kube::core::Status;
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::sync::OnceCell;

use crate::core::api::{HardeningProfile, PodSecurityLevel};
use crate::core::labels::pod_security::{ENFORCE, ENFORCE_VERSION};
use crate::core::preview::{
    NamespacePreview, active, evaluate_guardrails, parse_pod_security_warnings,
};
use crate::error::Error;

/// The API server's minor version, asked once per process.
static SERVER_MINOR: OnceCell<Option<u32>> = OnceCell::const_new();

async fn server_minor(client: &Client) -> Option<u32> {
    *SERVER_MINOR
        .get_or_init(|| async {
            let info = client.apiserver_version().await.ok()?;
            info.minor.trim_end_matches('+').parse().ok()
        })
        .await
}

/// What `profile` would reject among the existing pods of `ns`: `pods` are its active pods
/// from the operator's pod cache, or `None` to list them (the CLI, or `--pod-report=false`).
pub async fn preview(
    client: &Client,
    profile: &HardeningProfile,
    ns: &Namespace,
    pods: Option<Vec<Pod>>,
) -> Result<NamespacePreview, Error> {
    let name = ns.name_any();
    let mut preview = NamespacePreview::default();
    let enforce = profile
        .spec
        .pod_security
        .as_ref()
        .and_then(|ps| ps.enforce.as_ref())
        .filter(|e| e.level != PodSecurityLevel::Privileged);
    if let Some(enforce) = enforce {
        let level = enforce.level.as_str();
        let version = enforce
            .version
            .clone()
            .unwrap_or_else(|| "latest".to_owned());
        preview.level = Some(format!("{level}:{version}"));
        // Pod Security judges the existing pods only when the enforce policy changes: when
        // the namespace holds it already, the dry-run asks for the same policy under its
        // other name (`latest` is `v1.<minor of this API server>`).
        let labels = ns.labels();
        let unchanged = labels.get(ENFORCE).map(String::as_str) == Some(level)
            && labels
                .get(ENFORCE_VERSION)
                .map(String::as_str)
                .unwrap_or("latest")
                == version;
        let judged_version = if unchanged {
            let minor = server_minor(client).await;
            match (version.as_str(), minor) {
                ("latest", Some(minor)) => Some(format!("v1.{minor}")),
                (pinned, Some(minor))
                    if pinned
                        .strip_prefix("v1.")
                        .and_then(|n| n.parse::<u32>().ok())
                        .is_some_and(|n| n >= minor) =>
                {
                    Some("latest".to_owned())
                }
                _ => None,
            }
        } else {
            Some(version.clone())
        };
        match judged_version {
            Some(judged) => {
                let warnings = dry_run_labels(client, &name, level, &judged).await?;
                preview.pod_security = parse_pod_security_warnings(&warnings);
            }
            None => {
                preview.pod_security.incomplete = Some(format!(
                    "not checked: the namespace already enforces {level}:{version}, and Pod Security judges existing pods only on a change"
                ));
            }
        }
    }
    if let Some(guardrails) = &profile.spec.guardrails {
        let pods = match pods {
            Some(pods) => pods,
            None => Api::<Pod>::namespaced(client.clone(), &name)
                .list(&ListParams::default())
                .await
                .map_err(Error::api("list", "Pod", &name))?
                .items
                .into_iter()
                .filter(active)
                .collect(),
        };
        for pod in &pods {
            preview
                .guardrails
                .extend(evaluate_guardrails(guardrails, pod));
        }
    }
    preview
        .guardrails
        .truncate(crate::core::preview::MAX_FINDINGS);
    preview
        .pod_security
        .findings
        .truncate(crate::core::preview::MAX_FINDINGS);
    Ok(preview)
}

/// A dry-run merge patch of the namespace's enforce labels; the API server's warnings.
async fn dry_run_labels(
    client: &Client,
    namespace: &str,
    level: &str,
    version: &str,
) -> Result<Vec<String>, Error> {
    let patch = json!({ "metadata": { "labels": { ENFORCE: level, ENFORCE_VERSION: version } } });
    let request = http::Request::builder()
        .method("PATCH")
        .uri(format!(
            "/api/v1/namespaces/{namespace}?dryRun=All&fieldManager={}",
            crate::core::labels::FIELD_MANAGER
        ))
        .header("Content-Type", "application/merge-patch+json")
        .body(Body::from(patch.to_string().into_bytes()))
        .expect("a valid request");
    let api_error =
        |e: kube::Error| Error::api("dry-run the Pod Security label of", "Namespace", namespace)(e);
    let response = client.send(request).await.map_err(api_error)?;
    let code = response.status();
    let warnings: Vec<String> = response
        .headers()
        .get_all("warning")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    if !code.is_success() {
        let body = response
            .into_body()
            .collect_bytes()
            .await
            .map_err(api_error)?;
        let status: Status = serde_json::from_slice(&body).unwrap_or_else(|_| {
            Status::failure(&String::from_utf8_lossy(&body), "").with_code(code.as_u16())
        });
        return Err(api_error(kube::Error::Api(Box::new(status))));
    }
    Ok(warnings)
}
