//! The watch behind `status.vulnerableWorkloads`: the Trivy Operator's VulnerabilityReports
//! (`aquasecurity.github.io/v1alpha1`), used when the cluster serves them (found once at
//! start-up, like the policy report APIs). Each report is kept as a [`ReportEntry`] (its
//! workload, container, image and fixable CRITICAL/HIGH counts), by namespace and name, and
//! a namespace's reconcile is asked for only when one of its entries changes: the cost of
//! an event is that report, never a look at the cluster.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use futures::future::BoxFuture;
use kube::api::DynamicObject;
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::core::vulnerabilities::{
    GROUP, KIND, PLURAL, ReportEntry, VERSION, VulnerableImages, assess,
};

/// Whether the cluster serves VulnerabilityReports.
pub async fn detect(client: &Client) -> bool {
    let api_version = format!("{GROUP}/{VERSION}");
    match client.list_api_group_resources(&api_version).await {
        Ok(list) => {
            let served = list.resources.iter().any(|r| r.name == PLURAL);
            if served {
                info!(api = %api_version, "vulnerability status: from the Trivy Operator's VulnerabilityReports");
            } else {
                info!(api = %api_version, "vulnerability status: unknown (VulnerabilityReports not served)");
            }
            served
        }
        Err(kube::Error::Api(status)) if status.code == 404 => {
            info!(
                "vulnerability status: unknown ({api_version} VulnerabilityReports are not installed)"
            );
            false
        }
        Err(e) => {
            warn!(error = %e, "vulnerability status: unknown (could not discover {api_version})");
            false
        }
    }
}

#[derive(Default)]
struct Index {
    /// By namespace, then report name.
    reports: HashMap<String, BTreeMap<String, ReportEntry>>,
    /// While a (re-)listing runs: the reports it has shown.
    listing: Option<HashMap<String, BTreeSet<String>>>,
    synced: bool,
}

impl Index {
    /// Takes one watch event; returns the namespaces whose entries changed.
    fn apply(&mut self, event: &watcher::Event<DynamicObject>) -> Vec<String> {
        let mut changed = Vec::new();
        match event {
            watcher::Event::Init => self.listing = Some(HashMap::new()),
            watcher::Event::InitApply(report) | watcher::Event::Apply(report) => {
                if let Some(namespace) = self.put(report) {
                    changed.push(namespace);
                }
            }
            watcher::Event::Delete(report) => {
                if let Some(namespace) = report.namespace()
                    && let Some(reports) = self.reports.get_mut(&namespace)
                    && reports.remove(&report.name_any()).is_some()
                {
                    changed.push(namespace);
                }
            }
            watcher::Event::InitDone => {
                let seen = self.listing.take().unwrap_or_default();
                for (namespace, reports) in &mut self.reports {
                    let before = reports.len();
                    let kept = seen.get(namespace);
                    reports.retain(|name, _| kept.is_some_and(|k| k.contains(name)));
                    if reports.len() != before {
                        changed.push(namespace.clone());
                    }
                }
                self.reports.retain(|_, r| !r.is_empty());
                self.synced = true;
            }
        }
        changed.sort();
        changed.dedup();
        changed
    }

    /// Keeps `report`'s entry; its namespace when that changed what is kept.
    fn put(&mut self, report: &DynamicObject) -> Option<String> {
        let namespace = report.namespace()?;
        let name = report.name_any();
        if let Some(listing) = self.listing.as_mut() {
            listing
                .entry(namespace.clone())
                .or_default()
                .insert(name.clone());
        }
        let entry = serde_json::to_value(report)
            .ok()
            .and_then(|v| ReportEntry::of(&v));
        let reports = self.reports.entry(namespace.clone()).or_default();
        let changed = match entry {
            Some(entry) => reports.insert(name, entry.clone()).as_ref() != Some(&entry),
            None => reports.remove(&name).is_some(),
        };
        changed.then_some(namespace)
    }
}

pub struct VulnerabilityCache {
    index: Mutex<Index>,
    synced: watch::Sender<bool>,
}

impl VulnerabilityCache {
    pub async fn wait_until_synced(&self) {
        let mut synced = self.synced.subscribe();
        let _ = synced.wait_for(|s| *s).await;
    }

    /// The fixable findings of `namespace`'s reports.
    pub fn assess(&self, namespace: &str) -> VulnerableImages {
        let index = self.index.lock().expect("vulnerability index lock");
        assess(
            index
                .reports
                .get(namespace)
                .into_iter()
                .flat_map(|r| r.values()),
        )
    }
}

/// The cache and the future that fills it; `trigger` receives every namespace whose
/// findings may have changed.
pub fn cache(
    client: &Client,
    excluded: BTreeSet<String>,
    trigger: UnboundedSender<String>,
) -> (Arc<VulnerabilityCache>, BoxFuture<'static, ()>) {
    let cache = Arc::new(VulnerabilityCache {
        index: Mutex::new(Index::default()),
        synced: watch::Sender::new(false),
    });
    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, VERSION, KIND), PLURAL);
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    let filled = cache.clone();
    let events = watcher(api, watcher::Config::default())
        .backoff(super::managed::watch_backoff())
        .inspect(move |event| {
            let Ok(event) = event else { return };
            let (changed, synced) = {
                let mut index = filled.index.lock().expect("vulnerability index lock");
                (index.apply(event), index.synced)
            };
            if synced {
                filled
                    .synced
                    .send_if_modified(|s| !std::mem::replace(s, true));
            }
            for namespace in changed {
                if !excluded.contains(&namespace) {
                    let _ = trigger.send(namespace);
                }
            }
        });
    (cache, super::managed::drive(KIND, events))
}
