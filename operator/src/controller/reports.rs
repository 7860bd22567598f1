//! Writes the policy reports ([`crate::policy_report`]): one report per governed namespace,
//! from the namespace reconciler's outcomes, written only when its content changes and
//! deleted when the namespace is no longer governed. The report API is detected once at
//! start-up (logged); with neither API installed this does nothing. Runs on the leader only,
//! beside the controllers, and looks at the outcomes every [`PERIOD`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::reflector::ObjectRef;
use serde_json::Value;
use tracing::{info, warn};

use super::context::Context;
use crate::labels::{FIELD_MANAGER, MANAGED_BY_LABEL, MANAGED_BY_VALUE};
use crate::policy_report::{REPORT_NAME, ReportApi, detect, namespace_results, report_object};

/// How often the outcomes are compared with the reports written.
pub const PERIOD: Duration = Duration::from_secs(2);

/// What decides whether a report changed (metadata aside).
fn content(report: &Value) -> Value {
    serde_json::json!({
        "scope": report["scope"],
        "summary": report["summary"],
        "results": report["results"],
        "source": report["source"],
    })
}

fn resource(api: ReportApi) -> ApiResource {
    let (kind, plural) = api.kind();
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(api.group(), api.version(), kind),
        plural,
    )
}

/// Every governed namespace's report as it should be now.
fn desired(ctx: &Context, api: ReportApi) -> HashMap<String, Value> {
    let outcomes = ctx.outcomes.lock().expect("outcomes lock");
    outcomes
        .iter()
        .filter_map(|(namespace, outcome)| {
            let profile = ctx.profiles.get(&ObjectRef::new(outcome.winner()?))?;
            let results = namespace_results(&profile, namespace, outcome);
            Some((namespace.clone(), report_object(api, namespace, &results)))
        })
        .collect()
}

/// Runs until `shutdown`.
pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()>) {
    let api = match detect(&ctx.client).await {
        Ok(Some(api)) => {
            info!(
                api = %api.api_version(),
                kind = api.kind().0,
                "policy reports: one per governed namespace"
            );
            api
        }
        Ok(None) => {
            info!(
                "policy reports: off (neither openreports.io/v1alpha1 nor wgpolicyk8s.io/v1alpha2 is installed)"
            );
            return;
        }
        Err(e) => {
            warn!(error = %e, "policy reports: off (could not discover the report APIs)");
            return;
        }
    };
    let resource = resource(api);
    // What is already there (written by an earlier run) counts as written.
    let mut written: HashMap<String, Value> = HashMap::new();
    let all: Api<DynamicObject> = Api::all_with(ctx.client.clone(), &resource);
    let params = ListParams::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"));
    match all.list(&params).await {
        Ok(list) => {
            for report in list.items {
                if let (Some(namespace), true) = (
                    report.metadata.namespace.clone(),
                    report.metadata.name.as_deref() == Some(REPORT_NAME),
                ) {
                    let value = serde_json::to_value(&report).unwrap_or_default();
                    written.insert(namespace, content(&value));
                }
            }
        }
        Err(e) => warn!(error = %e, "policy reports: could not list the existing reports"),
    }

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = tokio::time::sleep(PERIOD) => {}
            () = &mut shutdown => return,
        }
        let desired = desired(&ctx, api);
        for (namespace, report) in &desired {
            let wanted = content(report);
            if written.get(namespace) == Some(&wanted) {
                continue;
            }
            let object: DynamicObject = match serde_json::from_value(report.clone()) {
                Ok(object) => object,
                Err(e) => {
                    warn!(%namespace, error = %e, "policy report: not an object");
                    continue;
                }
            };
            let reports: Api<DynamicObject> =
                Api::namespaced_with(ctx.client.clone(), namespace, &resource);
            match reports
                .patch(
                    REPORT_NAME,
                    &PatchParams::apply(FIELD_MANAGER).force(),
                    &Patch::Apply(&object),
                )
                .await
            {
                Ok(_) => {
                    written.insert(namespace.clone(), wanted);
                }
                // Tried again at the next look.
                Err(e) => warn!(%namespace, error = %e, "policy report: could not write"),
            }
        }
        let gone: Vec<String> = written
            .keys()
            .filter(|namespace| !desired.contains_key(*namespace))
            .cloned()
            .collect();
        for namespace in gone {
            let reports: Api<DynamicObject> =
                Api::namespaced_with(ctx.client.clone(), &namespace, &resource);
            match reports.delete(REPORT_NAME, &DeleteParams::default()).await {
                Ok(_) => {
                    written.remove(&namespace);
                }
                Err(kube::Error::Api(status)) if status.code == 404 => {
                    written.remove(&namespace);
                }
                Err(e) => warn!(%namespace, error = %e, "policy report: could not delete"),
            }
        }
    }
}
