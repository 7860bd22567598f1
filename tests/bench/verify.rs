//! Once, after a client converged: is every namespace really as `render` wants it? Read by
//! the admin (not the measured user), with paged lists of every namespace and every
//! generated object, and compared field by field with the rendered ones.

use std::collections::HashMap;

use hardening_operator::core::api::{HardeningProfile, Mode};
use hardening_operator::core::render::{ManagedKind, render};
use hardening_operator::live::api_resource;
use kube::api::{DynamicObject, ListParams};
use kube::{Api, Client};
use serde_json::Value;

/// Objects per list page.
const PAGE: u32 = 500;

pub struct Verified {
    pub namespaces_in_sync: usize,
    pub objects_checked: usize,
    /// The first difference found, if any.
    pub first_problem: Option<String>,
}

pub async fn objects(
    admin: &Client,
    profile: &HardeningProfile,
    namespaces: &[String],
) -> Result<Verified, String> {
    let namespace_resource =
        kube::api::ApiResource::erase::<k8s_openapi::api::core::v1::Namespace>(&());
    let live_namespaces = list(Api::all_with(admin.clone(), &namespace_resource)).await?;
    let mut live_objects = HashMap::new();
    for kind in ManagedKind::ALL {
        for ((namespace, name), object) in
            list(Api::all_with(admin.clone(), &api_resource(kind))).await?
        {
            live_objects.insert((kind, namespace, name), object);
        }
    }
    let mut verified = Verified {
        namespaces_in_sync: 0,
        objects_checked: 0,
        first_problem: None,
    };
    for namespace in namespaces {
        let desired = render(profile, namespace).map_err(|e| e.to_string())?;
        let mut problem = None;
        let body = without_type(desired.namespace_body(namespace, Mode::Enforce));
        match live_namespaces.get(&(String::new(), namespace.clone())) {
            None => problem = Some(format!("namespace {namespace} is missing")),
            Some(live) => {
                if let Err(e) = contains(live, &body, "") {
                    problem = Some(format!("namespace {namespace}: {e}"));
                }
            }
        }
        for object in &desired.objects {
            verified.objects_checked += 1;
            let key = (object.kind(), namespace.clone(), object.name().to_owned());
            let result = match live_objects.get(&key) {
                None => Err("missing".to_owned()),
                Some(live) => contains(live, &without_type(object.to_json()), ""),
            };
            if let Err(e) = result {
                problem.get_or_insert(format!("{namespace}/{}: {e}", object.name()));
            }
        }
        match problem {
            None => verified.namespaces_in_sync += 1,
            Some(p) => {
                verified.first_problem.get_or_insert(p);
            }
        }
    }
    Ok(verified)
}

/// How the operator's policy reports compare with what the floor writes.
pub struct Reports {
    pub as_expected: usize,
    pub largest_bytes: usize,
    pub first_difference: Option<String>,
}

/// Every namespace's policy report, read back and compared (results, summary) with the one
/// the floor computes (`workload::namespace_report`); and the largest one's size.
pub async fn reports(
    admin: &Client,
    profile: &HardeningProfile,
    namespaces: &[String],
) -> Result<Reports, String> {
    let live = list(Api::all_with(
        admin.clone(),
        &crate::workload::report_resource(true),
    ))
    .await?;
    let mut reports = Reports {
        as_expected: 0,
        largest_bytes: 0,
        first_difference: None,
    };
    for stored in live.values() {
        reports.largest_bytes = reports
            .largest_bytes
            .max(serde_json::to_vec(stored).map_or(0, |b| b.len()));
    }
    for namespace in namespaces {
        let name = hardening_operator::core::policy_report::REPORT_NAME;
        let expected = crate::workload::namespace_report(
            profile,
            namespace,
            &crate::workload::pods(profile, namespace),
        );
        let problem = match live.get(&(namespace.clone(), name.to_owned())) {
            None => Some(format!("{namespace}: no report")),
            Some(stored) => ["results", "summary"].into_iter().find_map(|field| {
                (stored[field] != expected[field]).then(|| {
                    format!(
                        "{namespace}: {field} is {}, not {}",
                        stored[field], expected[field]
                    )
                })
            }),
        };
        match problem {
            None => reports.as_expected += 1,
            Some(p) => {
                reports.first_difference.get_or_insert(p);
            }
        }
    }
    Ok(reports)
}

/// `object` without `apiVersion` and `kind`, which the items of a list do not repeat.
fn without_type(mut object: Value) -> Value {
    if let Some(map) = object.as_object_mut() {
        map.remove("apiVersion");
        map.remove("kind");
    }
    object
}

/// Every object of `api`, as JSON, by (namespace, name), page by page.
async fn list(api: Api<DynamicObject>) -> Result<HashMap<(String, String), Value>, String> {
    let mut objects = HashMap::new();
    let mut params = ListParams::default().limit(PAGE);
    loop {
        let page = api.list(&params).await.map_err(|e| format!("list: {e}"))?;
        for object in page.items {
            let key = (
                object.metadata.namespace.clone().unwrap_or_default(),
                object.metadata.name.clone().unwrap_or_default(),
            );
            objects.insert(
                key,
                serde_json::to_value(object).map_err(|e| e.to_string())?,
            );
        }
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(objects),
        }
    }
}

/// `Ok` when `live` holds every field of `desired` with the same value (lists element by
/// element, same length); else the first path that differs.
fn contains(live: &Value, desired: &Value, path: &str) -> Result<(), String> {
    match (live, desired) {
        (Value::Object(live), Value::Object(desired)) => {
            for (key, want) in desired {
                let here = format!("{path}.{key}");
                // An empty map or list the API server drops is no difference.
                let empty = matches!(want, Value::Object(m) if m.is_empty())
                    || matches!(want, Value::Array(a) if a.is_empty());
                match live.get(key) {
                    Some(have) => contains(have, want, &here)?,
                    None if empty => {}
                    None => return Err(format!("{here} is missing")),
                }
            }
            Ok(())
        }
        (Value::Array(live), Value::Array(desired)) if live.len() == desired.len() => live
            .iter()
            .zip(desired)
            .enumerate()
            .try_for_each(|(i, (have, want))| contains(have, want, &format!("{path}[{i}]"))),
        _ if live == desired => Ok(()),
        _ => Err(format!("{path} is {live}, not {desired}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn live_objects_may_hold_more_but_not_differ() {
        let desired = json!({"metadata": {"labels": {"a": "1"}, "annotations": {}}, "spec": {"ports": [{"port": 53}]}});
        let live = json!({"metadata": {"labels": {"a": "1", "b": "2"}, "uid": "x"}, "spec": {"ports": [{"port": 53, "protocol": "UDP"}]}});
        assert_eq!(contains(&live, &desired, ""), Ok(()));
        let changed =
            json!({"metadata": {"labels": {"a": "2"}}, "spec": {"ports": [{"port": 53}]}});
        assert_eq!(
            contains(&changed, &desired, ""),
            Err(".metadata.labels.a is \"2\", not \"1\"".to_owned())
        );
        let longer = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"ports": [{"port": 53}, {"port": 54}]}});
        assert!(contains(&longer, &desired, "").is_err());
        let missing = json!({"metadata": {}, "spec": {"ports": [{"port": 53}]}});
        assert_eq!(
            contains(&missing, &desired, ""),
            Err(".metadata.labels is missing".to_owned())
        );
    }
}
