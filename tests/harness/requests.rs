//! Raw requests to the API server, for what kube's typed API does not show: the status
//! code and body of a refusal, and the `Warning` headers admission adds.

use http::Request;
use kube::Client;
use serde_json::Value;

/// The API server's answer to a raw request: status code, body and `Warning` headers.
pub struct Answer {
    pub code: u16,
    pub body: String,
    pub warnings: Vec<String>,
}

/// Sends `method uri` with `body` (PATCH bodies are merge patches, everything else a whole
/// object).
pub async fn send(client: &Client, method: &str, uri: &str, body: Option<&Value>) -> Answer {
    // PATCH bodies here are merge patches; everything else is a whole object.
    let content_type = if method == "PATCH" {
        "application/merge-patch+json"
    } else {
        "application/json"
    };
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("Content-Type", content_type)
        .body(body.map_or_else(Vec::new, |b| b.to_string().into_bytes()))
        .expect("a request");
    let response = client
        .send(request.map(kube::client::Body::from))
        .await
        .unwrap_or_else(|e| panic!("{method} {uri}: {e}"));
    let code = response.status().as_u16();
    let warnings = response
        .headers()
        .get_all("warning")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let bytes = response
        .into_body()
        .collect_bytes()
        .await
        .unwrap_or_default();
    Answer {
        code,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        warnings,
    }
}

/// A server-side dry-run create of `object` (a Pod, a NetworkPolicy, or an `apps/v1`
/// workload) in `namespace`.
pub async fn dry_run(client: &Client, namespace: &str, object: &Value) -> Answer {
    let uri = match object["kind"].as_str() {
        Some("Pod") => format!("/api/v1/namespaces/{namespace}/pods?dryRun=All"),
        Some(kind) if kind != "NetworkPolicy" => format!(
            "/apis/apps/v1/namespaces/{namespace}/{}s?dryRun=All",
            kind.to_lowercase()
        ),
        _ => {
            format!("/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies?dryRun=All")
        }
    };
    send(client, "POST", &uri, Some(object)).await
}

/// Rejected by this profile's guardrail `rule`, the message naming rule and requirement.
pub fn assert_rejected(answer: &Answer, profile: &str, rule: &str, what: &str) {
    let named = format!(
        "HardeningProfile {profile} guardrail {rule} ({})",
        hardening_operator::core::compliance::guardrail_citation(rule)
    );
    assert!(
        answer.code >= 400 && answer.body.contains(&named),
        "{what}: want a rejection naming '{named}', got {}: {}",
        answer.code,
        answer.body
    );
}

/// Admitted (the answer a success).
pub fn assert_admitted(answer: &Answer, what: &str) {
    assert!(
        answer.code < 300,
        "{what}: want it admitted, got {}: {}",
        answer.code,
        answer.body
    );
}

/// Waits until `call` is refused with a message containing `refusal` (an admission policy
/// taking effect, probed with a request of the test's own; `what` names what is awaited).
pub async fn until_refused<T, F, Fut>(what: &str, refusal: &str, mut call: F)
where
    T: std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    crate::eventually(what, || {
        let answer = call();
        async move {
            match answer.await {
                Err(e) if e.to_string().contains(refusal) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
}

/// Waits until a server-side dry run of `object` in `namespace` is refused (an admission
/// policy or binding taking effect; `what` names what is awaited).
pub async fn until_rejected(client: &Client, namespace: &str, object: &Value, what: &str) {
    crate::eventually(what, || async {
        let answer = dry_run(client, namespace, object).await;
        (answer.code >= 400)
            .then_some(())
            .ok_or(format!("still admitted: {}", answer.body))
    })
    .await;
}

/// Waits until a server-side dry run of `object` in `namespace` carries a warning containing
/// `warning` (a warnings policy has a binding of its own, which can take effect later).
pub async fn until_warned(
    client: &Client,
    namespace: &str,
    object: &Value,
    warning: &str,
    what: &str,
) {
    crate::eventually(what, || async {
        let answer = dry_run(client, namespace, object).await;
        answer
            .warnings
            .iter()
            .any(|w| w.contains(warning))
            .then_some(())
            .ok_or(format!(
                "no warning yet: {} {:?}",
                answer.code, answer.warnings
            ))
    })
    .await;
}

/// Waits until a server-side dry run of `object` in `namespace` is admitted.
pub async fn until_admitted(client: &Client, namespace: &str, object: &Value, what: &str) {
    crate::eventually(what, || async {
        let answer = dry_run(client, namespace, object).await;
        (answer.code < 300)
            .then_some(())
            .ok_or(format!("still rejected: {}", answer.body))
    })
    .await;
}
