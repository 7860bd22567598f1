//! A profile's network rules as ClusterNetworkPolicies (sigs.k8s.io network-policy-api,
//! `policy.networking.k8s.io/v1alpha2`), for clusters whose network plugin serves them and
//! profiles that ask for it (`networkPolicy.clusterNetworkPolicy: true`). Cluster-scoped,
//! they select the governed namespaces by label, so they hold from a namespace's first pod
//! on, before its NetworkPolicies exist:
//!
//! - `hardening.dev-<profile>-admin` (tier Admin): egress to every protected network is
//!   denied; no NetworkPolicy can allow it again (the Admin tier decides first);
//! - `hardening.dev-<profile>-baseline` (tier Baseline): every direction the profile
//!   isolates is denied, below the NetworkPolicies, which allow what the profile allows.
//!
//! Pure and deterministic, like `guardrails`.

use std::collections::BTreeSet;

use kube::ResourceExt;
use serde_json::{Value, json};

use crate::core::api::{HardeningProfile, PolicyType, Port, ProtectedNetwork};
use crate::core::labels::{MANAGED_BY_LABEL, MANAGED_BY_VALUE, PROFILE_LABEL};

pub const GROUP: &str = "policy.networking.k8s.io";
pub const VERSION: &str = "v1alpha2";
pub const API_VERSION: &str = "policy.networking.k8s.io/v1alpha2";
pub const KIND: &str = "ClusterNetworkPolicy";
pub const PLURAL: &str = "clusternetworkpolicies";

/// Most peers (networks) and rules a ClusterNetworkPolicy holds (the CRD's `maxItems`).
const MAX_ITEMS: usize = 25;

/// The names of a profile's two ClusterNetworkPolicies.
pub fn names(profile: &str) -> [String; 2] {
    [
        format!("hardening.dev-{profile}-admin"),
        format!("hardening.dev-{profile}-baseline"),
    ]
}

/// Whether `profile` asks for ClusterNetworkPolicies.
pub fn wanted(profile: &HardeningProfile) -> bool {
    profile
        .spec
        .network_policy
        .as_ref()
        .is_some_and(|n| n.cluster_network_policy)
}

/// The ClusterNetworkPolicies `profile` asks for (none when it does not), keeping its pods off
/// `protected` (its protected networks, the operator's included) and out of the namespaces
/// in `not_governed`. The CNP priority (0 first, 1000 last) follows the profile's
/// (1000 first, -1000 last).
pub fn render(
    profile: &HardeningProfile,
    not_governed: &BTreeSet<String>,
    protected: &[ProtectedNetwork],
) -> Vec<Value> {
    if !wanted(profile) {
        return Vec::new();
    }
    let Some(rules) = &profile.spec.network_policy else {
        return Vec::new();
    };
    let name = profile.name_any();
    let [admin, baseline] = names(&name);
    let subject =
        json!({ "namespaces": crate::core::guardrails::namespace_selector(profile, not_governed) });
    let priority = (500 - profile.spec.priority / 2).clamp(0, 1000);
    let object = |object_name: &str, tier: &str, spec: Value| {
        let mut spec = spec;
        spec["tier"] = json!(tier);
        spec["priority"] = json!(priority);
        spec["subject"] = subject.clone();
        json!({
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {
                "name": object_name,
                "labels": { MANAGED_BY_LABEL: MANAGED_BY_VALUE, PROFILE_LABEL: name },
                "ownerReferences": crate::core::render::owner_reference(profile)
                    .map(|o| vec![serde_json::to_value(o).expect("an OwnerReference serializes")])
                    .unwrap_or_default(),
            },
            "spec": spec,
        })
    };
    let mut objects = Vec::new();
    // Protected networks, grouped by their ports, at most 25 networks a rule.
    let mut groups: Vec<(&[Port], Vec<&str>)> = Vec::new();
    for network in protected {
        match groups
            .iter_mut()
            .find(|(ports, _)| *ports == network.ports.as_slice())
        {
            Some((_, cidrs)) => cidrs.push(&network.cidr),
            None => groups.push((&network.ports, vec![&network.cidr])),
        }
    }
    let mut egress = Vec::new();
    for (ports, cidrs) in groups {
        for chunk in cidrs.chunks(MAX_ITEMS) {
            let mut rule = json!({
                "name": "protected-networks",
                "action": "Deny",
                "to": [{ "networks": chunk }],
            });
            if !ports.is_empty() {
                rule["protocols"] = protocols(ports);
            }
            egress.push(rule);
        }
    }
    egress.truncate(MAX_ITEMS);
    if !egress.is_empty() {
        objects.push(object(&admin, "Admin", json!({ "egress": egress })));
    }
    let isolated = rules.isolated_directions();
    let mut deny = json!({});
    if isolated.contains(&PolicyType::Ingress) {
        deny["ingress"] =
            json!([{ "name": "default-deny", "action": "Deny", "from": [{ "namespaces": {} }] }]);
    }
    if isolated.contains(&PolicyType::Egress) {
        deny["egress"] = json!([{
            "name": "default-deny",
            "action": "Deny",
            "to": [{ "namespaces": {} }, { "networks": ["0.0.0.0/0", "::/0"] }],
        }]);
    }
    if !isolated.is_empty() {
        objects.push(object(&baseline, "Baseline", deny));
    }
    objects
}

/// `protocols` of a rule: per port, its protocol with the number or range.
fn protocols(ports: &[Port]) -> Value {
    Value::Array(
        ports
            .iter()
            .take(MAX_ITEMS)
            .map(|p| {
                let destination = match p.end_port {
                    Some(end) if end > p.port => {
                        json!({ "range": { "start": p.port, "end": end } })
                    }
                    _ => json!({ "number": p.port }),
                };
                json!({ p.protocol.as_str().to_lowercase(): { "destinationPort": destination } })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::profile;

    #[test]
    fn protected_networks_are_denied_in_the_admin_tier_and_isolation_in_the_baseline() {
        let p = profile("p")
            .spec_yaml("  priority: 100\n  networkPolicy: {defaultDeny: [Ingress, Egress], clusterNetworkPolicy: true}\n")
            .build();
        let protected = [
            crate::core::protected::parse("169.254.169.254/32").unwrap(),
            crate::core::protected::parse("fd00:ec2::254/128").unwrap(),
            crate::core::protected::parse("10.0.0.0/16:22,10250-10255").unwrap(),
        ];
        let objects = render(&p, &BTreeSet::from(["other".to_owned()]), &protected);
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[0]["metadata"]["name"], "hardening.dev-p-admin");
        assert_eq!(objects[0]["spec"]["tier"], "Admin");
        assert_eq!(objects[0]["spec"]["priority"], 450);
        assert_eq!(
            objects[0]["spec"]["egress"],
            json!([
                {"name": "protected-networks", "action": "Deny", "to": [{"networks": ["169.254.169.254/32", "fd00:ec2::254/128"]}]},
                {"name": "protected-networks", "action": "Deny", "to": [{"networks": ["10.0.0.0/16"]}],
                 "protocols": [{"tcp": {"destinationPort": {"number": 22}}}, {"tcp": {"destinationPort": {"range": {"start": 10250, "end": 10255}}}}]}
            ])
        );
        assert_eq!(
            objects[0]["spec"]["subject"]["namespaces"]["matchExpressions"][0],
            json!({"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["other"]})
        );
        assert_eq!(objects[1]["spec"]["tier"], "Baseline");
        assert_eq!(objects[1]["spec"]["ingress"][0]["action"], "Deny");
        assert_eq!(
            objects[1]["spec"]["egress"][0]["to"][1],
            json!({"networks": ["0.0.0.0/0", "::/0"]})
        );
        let without = profile("p").spec_yaml("  networkPolicy: {}\n").build();
        assert!(render(&without, &BTreeSet::new(), &protected).is_empty());
    }
}
