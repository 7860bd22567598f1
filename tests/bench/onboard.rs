//! Onboarding latency: while the operator governs the benchmark's namespaces, new selected
//! namespaces are created at a steady rate (as the admin); each waits for the operator's
//! stamp, its first write to the Namespace (written after every object of the namespace is
//! in place: the stamp is what lets the namespace's first pod in). Latency is the audit
//! timestamp of the stamp's completion minus that of the creation's.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures::StreamExt;
use hardening_operator::core::labels::PROFILE_ANNOTATION;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::PostParams;
use kube::{Api, Client, ResourceExt};

use crate::audit::AuditLog;
use crate::setup::{ADMIN_USER, MEASURED_USER, SELECTED_LABEL};

/// How long after the last creation a namespace may wait for its stamp before it counts as
/// not stamped.
const SETTLE: Duration = Duration::from_secs(30);

pub fn namespace_name(i: usize) -> String {
    format!("bench-new-{i:05}")
}

/// What came of onboarding.
pub struct Onboarded {
    pub created: usize,
    /// Creation to stamp, milliseconds, of every namespace stamped in time.
    pub latencies_ms: Vec<f64>,
    /// Namespaces whose stored annotation names the profile when read back at the end.
    pub stamped_on_read: usize,
    /// The creations per second achieved (the target rate unless the API server lagged).
    pub achieved_rate: f64,
}

/// Creates `rate` × `seconds` namespaces, one every 1/`rate` s (each request on its own,
/// so a slow answer does not slow the rate), and waits for their stamps.
pub async fn run(
    admin: &Client,
    audit: &mut AuditLog,
    profile: &str,
    rate: f64,
    seconds: u64,
) -> Result<Onboarded, String> {
    let count = (rate * seconds as f64).round() as usize;
    let names: Vec<String> = (1..=count).map(namespace_name).collect();
    audit.read_new();
    let mark = audit.mark();
    let api: Api<Namespace> = Api::all(admin.clone());
    let started = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    let mut creations = futures::stream::FuturesUnordered::new();
    for name in &names {
        ticks.tick().await;
        let api = api.clone();
        let namespace: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": { "name": name, "labels": { SELECTED_LABEL.0: SELECTED_LABEL.1 } }
        }))
        .expect("a namespace");
        creations.push(tokio::spawn(async move {
            api.create(&PostParams::default(), &namespace)
                .await
                .map(|_| ())
                .map_err(|e| format!("creating namespace {}: {e}", namespace.name_any()))
        }));
    }
    while let Some(created) = creations.next().await {
        created.map_err(|e| e.to_string())??;
    }
    let achieved_rate = count as f64 / started.elapsed().as_secs_f64();

    // Creation and stamp of each, from the audit log, until all are stamped or SETTLE ends.
    let wanted: HashSet<&str> = names.iter().map(String::as_str).collect();
    let mut created_us: HashMap<String, i64> = HashMap::new();
    let mut stamped_us: HashMap<String, i64> = HashMap::new();
    let mut read = mark;
    let deadline = Instant::now() + SETTLE;
    loop {
        audit.read_new();
        for event in audit.since(read) {
            if event.resource != "namespaces"
                || !event.complete
                || event.code >= 400
                || !wanted.contains(event.name.as_str())
            {
                continue;
            }
            if event.user == ADMIN_USER && event.verb == "create" {
                created_us.insert(event.name.clone(), event.completed_us);
            } else if event.user == MEASURED_USER && event.is_write() {
                stamped_us
                    .entry(event.name.clone())
                    .or_insert(event.completed_us);
            }
        }
        read = audit.mark();
        if stamped_us.len() == count || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut latencies_ms: Vec<f64> = stamped_us
        .iter()
        .filter_map(|(name, stamped)| {
            let created = created_us.get(name)?;
            Some((stamped - created) as f64 / 1000.0)
        })
        .collect();
    latencies_ms.sort_by(f64::total_cmp);

    let stamped_on_read = futures::stream::iter(&names)
        .map(|name| api.get(name))
        .buffer_unordered(16)
        .filter(|ns| {
            let ok = ns.as_ref().is_ok_and(|ns| {
                ns.annotations().get(PROFILE_ANNOTATION).map(String::as_str) == Some(profile)
            });
            futures::future::ready(ok)
        })
        .count()
        .await;
    Ok(Onboarded {
        created: count,
        latencies_ms,
        stamped_on_read,
        achieved_rate,
    })
}
