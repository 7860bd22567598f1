//! The watch caches the reconcilers read (filled by the watches `run_with` starts, also on a
//! standby replica): profiles, namespaces (and the operator's own namespace writes not
//! echoed yet), the generated kinds' indexes, and what the optional watches hold.

use std::sync::Arc;

use kube::runtime::reflector::Store;

use crate::core::api::{HardeningException, HardeningProfile};
use crate::core::render::ManagedKind;

use super::access::AccessCaches;
use super::budgets::Budgets;
use super::cluster_network_policies::cache::ClusterPolicies;
use super::guardrails::cache::GuardrailCaches;
use super::index::KindIndex;
use super::nodes::NodeStates;
use super::pods::PodCache;
use super::state::NamespaceWrites;
use super::trim::CachedNamespace;
use super::vulnerabilities::VulnerabilityCache;

pub struct Caches {
    pub profiles: Store<HardeningProfile>,
    pub namespaces: Store<CachedNamespace>,
    /// The operator's namespace writes whose watch events have not arrived yet.
    pub namespace_writes: Arc<NamespaceWrites>,
    /// One index of every object per generated kind.
    pub managed: Vec<Arc<KindIndex>>,
    /// Container profiles of active pods (`None` with `--pod-report=false`).
    pub pods: Option<Arc<PodCache>>,
    /// The Trivy Operator's VulnerabilityReports (`None`: the cluster serves none).
    pub vulnerabilities: Option<Arc<VulnerabilityCache>>,
    /// What the node agents publish (`None`: no node agent namespace known).
    pub node_states: Option<Arc<NodeStates>>,
    /// The ClusterNetworkPolicies the operator writes (`None`: the cluster serves none).
    pub cluster_policies: Option<Arc<ClusterPolicies>>,
    /// Every admission policy and binding (`None`: guardrails not handled).
    pub guardrails: Option<GuardrailCaches>,
    /// ClusterRoles and ClusterRoleBindings: who can reach containers past admission.
    pub access: AccessCaches,
    /// Every HardeningException (`None`: the cluster does not serve them).
    pub exceptions: Option<Store<HardeningException>>,
    /// PodDisruptionBudgets, for `guardrails.highAvailability`.
    pub budgets: Budgets,
}

impl Caches {
    /// Waits until every watch cache holds a complete first listing.
    pub async fn ready(&self) {
        self.access.wait_until_ready().await;
        self.budgets.wait_until_ready().await;
        // A dropped writer ends the process anyway; readiness errors are not actionable here.
        let _ = self.profiles.wait_until_ready().await;
        let _ = self.namespaces.wait_until_ready().await;
        for index in &self.managed {
            index.wait_until_synced().await;
        }
        if let Some(pods) = &self.pods {
            pods.wait_until_synced().await;
        }
        if let Some(vulnerabilities) = &self.vulnerabilities {
            vulnerabilities.wait_until_synced().await;
        }
        if let Some(nodes) = &self.node_states {
            nodes.wait_until_synced().await;
        }
        if let Some(guardrails) = &self.guardrails {
            guardrails.wait_until_ready().await;
        }
        if let Some(exceptions) = &self.exceptions {
            let _ = exceptions.wait_until_ready().await;
        }
    }

    pub fn index_of(&self, kind: ManagedKind) -> &KindIndex {
        self.managed
            .iter()
            .find(|c| c.kind == kind)
            .expect("an index exists for every ManagedKind")
    }
}
