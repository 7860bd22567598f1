//! The agent's gauges, from each pass's [`NodeReport`]: profiles installed and failed on
//! this node by kind (`seccomp`, `apparmor`), and whether AppArmor can be loaded. Served at
//! `/metrics` by the operator's server (`crate::server`).

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::report::{FileState, NodeReport};
use crate::metrics::{KindLabels, register};

/// The agent's gauges: labels are only `kind` (`seccomp`, `apparmor`).
pub struct NodeMetrics {
    registry: Registry,
    installed: Family<KindLabels, Gauge>,
    failed: Family<KindLabels, Gauge>,
    apparmor_available: Gauge,
}

impl Default for NodeMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl NodeMetrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("hardening_node");
        let installed: Family<KindLabels, Gauge> = register(
            &mut registry,
            "profiles_installed",
            "Profile files installed on this node, by kind",
        );
        let failed: Family<KindLabels, Gauge> = register(
            &mut registry,
            "profiles_failed",
            "Profile files that could not be installed on this node, by kind",
        );
        let apparmor_available: Gauge = register(
            &mut registry,
            "apparmor_available",
            "1 if this node can load AppArmor profiles",
        );
        NodeMetrics {
            registry,
            installed,
            failed,
            apparmor_available,
        }
    }

    pub fn record(&self, report: &NodeReport) {
        for (kind, states) in [("seccomp", &report.seccomp), ("apparmor", &report.apparmor)] {
            let ok = states
                .values()
                .filter(|s| **s == FileState::Installed)
                .count();
            let labels = KindLabels { kind };
            self.installed.get_or_create(&labels).set(ok as i64);
            self.failed
                .get_or_create(&labels)
                .set((states.len() - ok) as i64);
        }
        self.apparmor_available
            .set(i64::from(report.apparmor_unavailable.is_none()));
    }

    pub fn encode(&self) -> String {
        crate::metrics::encode(&self.registry)
    }
}

impl crate::server::Scrape for NodeMetrics {
    fn encode(&self) -> String {
        NodeMetrics::encode(self)
    }
}
