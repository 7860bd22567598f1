//! What a profile asks for in one namespace: namespace labels and annotations, and the
//! objects to apply there. Pure and deterministic (sorted maps, fixed order), so that the
//! same profile always renders byte for byte the same objects.
//!
//! Values the API server would fill in (port protocol, `policyTypes`) are rendered
//! explicitly, so a live object equals its desired form and never shows as drift.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::Resource;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::networking::v1 as networking;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

use crate::core::api::{
    EgressPeer, EgressRule, HardeningProfile, IngressRule, LimitRangeSpec, Mode,
    NetworkPolicyRules, Peer, PodSecurityStandard, PolicyType, Port, ProtectedNetwork, Protocol,
    ResourceQuotaSpec,
};
use crate::core::labels::{
    MANAGED_BY_LABEL, MANAGED_BY_VALUE, NAMESPACE_NAME_LABEL, PROFILE_ANNOTATION, PROFILE_LABEL,
    RENDERED_ANNOTATION, pod_security,
};
use crate::core::protected;

/// Names of the generated objects; fixed, so each namespace holds at most one of each.
pub mod names {
    pub const DEFAULT_DENY: &str = "hardening-default-deny";
    pub const ALLOW_DNS: &str = "hardening-allow-dns";
    pub const ALLOW_SAME_NAMESPACE: &str = "hardening-allow-same-namespace";
    pub const ALLOW_INGRESS: &str = "hardening-allow-ingress";
    pub const ALLOW_EGRESS: &str = "hardening-allow-egress";
    pub const PROTECT_NETWORKS: &str = "hardening-protect-networks";

    /// `hardening-same-namespace-<n>-in` / `-out`: rule `n` of `sameNamespace`, for the
    /// pods receiving and the pods connecting.
    pub fn same_namespace(index: usize, direction: crate::core::api::PolicyType) -> String {
        let suffix = match direction {
            crate::core::api::PolicyType::Ingress => "in",
            crate::core::api::PolicyType::Egress => "out",
        };
        format!("hardening-same-namespace-{index}-{suffix}")
    }
    pub const QUOTA: &str = "hardening-quota";
    pub const LIMITS: &str = "hardening-limits";
}

/// Where the cluster DNS runs and how its pods are labelled (kube-dns and CoreDNS alike).
const DNS_NAMESPACE: &str = "kube-system";
const DNS_POD_LABEL: (&str, &str) = ("k8s-app", "kube-dns");
const DNS_PORT: i32 = 53;

/// Everything a profile wants in one namespace.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    /// Pod Security Admission labels for the namespace.
    pub namespace_labels: BTreeMap<String, String>,
    /// Label keys the profile decides as a whole: all Pod Security labels when it declares
    /// `podSecurity` (one it does not set must be absent), none otherwise.
    pub governed_labels: &'static [&'static str],
    /// [`PROFILE_ANNOTATION`] naming the governing profile, and [`RENDERED_ANNOTATION`]
    /// fingerprinting everything rendered (see [`fingerprint`]).
    pub namespace_annotations: BTreeMap<String, String>,
    /// Objects to apply in the namespace, in a fixed order.
    pub objects: Vec<DesiredObject>,
    /// Each object's JSON ([`DesiredObject::to_json`]), in the order of `objects`: made
    /// once per rendering for the fingerprint, the plan and the write.
    bodies: Vec<serde_json::Value>,
}

/// A generated object, one variant per kind the operator manages.
#[derive(Clone, Debug, PartialEq)]
pub enum DesiredObject {
    NetworkPolicy(networking::NetworkPolicy),
    ResourceQuota(core::ResourceQuota),
    LimitRange(core::LimitRange),
}

impl DesiredObject {
    pub fn kind(&self) -> ManagedKind {
        match self {
            Self::NetworkPolicy(_) => ManagedKind::NetworkPolicy,
            Self::ResourceQuota(_) => ManagedKind::ResourceQuota,
            Self::LimitRange(_) => ManagedKind::LimitRange,
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Self::NetworkPolicy(object) => &object.metadata,
            Self::ResourceQuota(object) => &object.metadata,
            Self::LimitRange(object) => &object.metadata,
        }
    }

    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }

    /// The object as sent to the API server, `apiVersion` and `kind` included.
    pub fn to_json(&self) -> serde_json::Value {
        let json = match self {
            Self::NetworkPolicy(object) => serde_json::to_value(object),
            Self::ResourceQuota(object) => serde_json::to_value(object),
            Self::LimitRange(object) => serde_json::to_value(object),
        };
        json.expect("Kubernetes API objects always serialize to JSON")
    }
}

impl Desired {
    /// `object`'s JSON ([`DesiredObject::to_json`]): made when rendering for one of
    /// `self.objects`, else now.
    pub fn body_of(&self, object: &DesiredObject) -> Cow<'_, serde_json::Value> {
        self.objects
            .iter()
            .position(|o| std::ptr::eq(o, object))
            .and_then(|i| self.bodies.get(i))
            .map_or_else(|| Cow::Owned(object.to_json()), Cow::Borrowed)
    }

    /// The Namespace the operator applies (server-side, as its field manager) for this
    /// profile in `mode`: see [`namespace_apply_body`]. Audit mode writes nothing into the
    /// namespace, so its body claims no annotation; it is only compared, never applied.
    pub fn namespace_body(&self, namespace: &str, mode: Mode) -> serde_json::Value {
        let annotations = match mode {
            Mode::Enforce => self.namespace_annotations.clone(),
            Mode::Audit => BTreeMap::new(),
        };
        namespace_apply_body(namespace, &self.namespace_labels, &annotations)
    }
}

/// The server-side apply body of a Namespace: only `labels` and `annotations`, so the
/// operator's field manager owns exactly those keys (applying empty maps gives them up).
/// The one place this body is built, for the controller and `hardening-operator render`.
pub fn namespace_apply_body(
    name: &str,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": core::Namespace::API_VERSION,
        "kind": core::Namespace::KIND,
        "metadata": { "name": name, "labels": labels, "annotations": annotations },
    })
}

/// The kinds of object the operator generates (and must find and clean up).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ManagedKind {
    NetworkPolicy,
    ResourceQuota,
    LimitRange,
}

impl ManagedKind {
    /// Every kind; a unit test checks that [`render`] produces no other.
    pub const ALL: [ManagedKind; 3] = [Self::NetworkPolicy, Self::ResourceQuota, Self::LimitRange];

    pub fn api_version(self) -> &'static str {
        match self {
            Self::NetworkPolicy => networking::NetworkPolicy::API_VERSION,
            Self::ResourceQuota => core::ResourceQuota::API_VERSION,
            Self::LimitRange => core::LimitRange::API_VERSION,
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            Self::NetworkPolicy => networking::NetworkPolicy::KIND,
            Self::ResourceQuota => core::ResourceQuota::KIND,
            Self::LimitRange => core::LimitRange::KIND,
        }
    }

    /// Resource name in API paths, e.g. `networkpolicies`.
    pub fn plural(self) -> &'static str {
        match self {
            Self::NetworkPolicy => networking::NetworkPolicy::URL_PATH_SEGMENT,
            Self::ResourceQuota => core::ResourceQuota::URL_PATH_SEGMENT,
            Self::LimitRange => core::LimitRange::URL_PATH_SEGMENT,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("the profile has no name")]
    UnnamedProfile,
    #[error("profile name {0:?} is longer than 63 characters, so it cannot be a label value")]
    ProfileNameTooLong(String),
    #[error("the namespace name is empty")]
    EmptyNamespace,
}

/// Renders what `profile` wants in `namespace`, with the operator's default protected
/// networks (the cloud metadata addresses): see [`render_with`].
pub fn render(profile: &HardeningProfile, namespace: &str) -> Result<Desired, RenderError> {
    render_with(profile, namespace, &protected::default_networks())
}

/// Renders what `profile` wants in `namespace`, keeping its pods off `protected` (the
/// operator's protected networks; the profile's own are added). Objects get an owner
/// reference to the profile when it has a UID (it does once stored; a profile read from a
/// file does not).
pub fn render_with(
    profile: &HardeningProfile,
    namespace: &str,
    protected: &[ProtectedNetwork],
) -> Result<Desired, RenderError> {
    let profile_name = profile
        .metadata
        .name
        .clone()
        .ok_or(RenderError::UnnamedProfile)?;
    if profile_name.chars().count() > 63 {
        return Err(RenderError::ProfileNameTooLong(profile_name));
    }
    if namespace.is_empty() {
        return Err(RenderError::EmptyNamespace);
    }
    let meta = MetaFactory {
        namespace,
        profile_name: &profile_name,
        owner: owner_reference(profile),
    };
    let spec = &profile.spec;

    let mut objects = Vec::new();
    if let Some(network) = &spec.network_policy {
        let protected = protected::effective(protected, &network.protected_networks);
        objects
            .extend(network_policies(&meta, network, &protected).map(DesiredObject::NetworkPolicy));
    }
    if let Some(quota) = &spec.resource_quota {
        objects.push(DesiredObject::ResourceQuota(resource_quota(&meta, quota)));
    }
    if let Some(limits) = &spec.limit_range {
        objects.push(DesiredObject::LimitRange(limit_range(&meta, limits)));
    }

    let namespace_labels = namespace_pod_security_labels(profile, namespace);
    let bodies: Vec<serde_json::Value> = objects.iter().map(DesiredObject::to_json).collect();
    let rendered = fingerprint_of(&namespace_labels, &bodies);
    Ok(Desired {
        namespace_labels,
        governed_labels: if spec.pod_security.is_some() {
            &pod_security::ALL
        } else {
            &[]
        },
        namespace_annotations: BTreeMap::from([
            (PROFILE_ANNOTATION.to_owned(), profile_name),
            (RENDERED_ANNOTATION.to_owned(), rendered),
        ]),
        objects,
        bodies,
    })
}

/// A short, stable fingerprint (16 hex digits of a SHA-256) of the namespace labels and
/// objects a profile renders for a namespace. Written on the namespace once everything is
/// applied, it tells the operator whether a namespace already holds this rendering: a
/// difference then is someone else's change (a repair), otherwise the rollout of a new
/// rendering.
///
/// It covers what an offline `render` knows too: the objects without their
/// ownerReferences (the stored profile's uid, which a file does not have), so `render`
/// and the cluster agree on it and `diff` shows it only when something rendered changes.
/// (Before, it covered the ownerReferences: the first reconcile after an upgrade finds
/// every namespace with another fingerprint and rolls the new one out, one write of the
/// namespace's annotation each, counted as a rollout and never as a repair.)
pub fn fingerprint(labels: &BTreeMap<String, String>, objects: &[DesiredObject]) -> String {
    let bodies: Vec<serde_json::Value> = objects.iter().map(DesiredObject::to_json).collect();
    fingerprint_of(labels, &bodies)
}

/// [`fingerprint`] of the objects' JSON ([`DesiredObject::to_json`]): their compact text
/// without `metadata.ownerReferences`, hashed as it is written (never built as a string).
fn fingerprint_of(labels: &BTreeMap<String, String>, bodies: &[serde_json::Value]) -> String {
    let mut context = Digest(ring::digest::Context::new(&ring::digest::SHA256));
    serde_json::to_writer(&mut context, labels).expect("a string map serializes");
    for body in bodies {
        context.0.update(b"\n");
        serde_json::to_writer(&mut context, &WithoutOwners(body, true)).expect("JSON serializes");
    }
    context
        .0
        .finish()
        .as_ref()
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A digest that text is written into.
struct Digest(ring::digest::Context);

impl std::io::Write for Digest {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A JSON value serialized as it is, but (`true`: at the top of an object) without
/// `metadata.ownerReferences`.
struct WithoutOwners<'a>(&'a serde_json::Value, bool);

impl serde::Serialize for WithoutOwners<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let (serde_json::Value::Object(map), top) = (self.0, self.1) else {
            return self.0.serialize(serializer);
        };
        let skipped = |key: &str| !top && key == "ownerReferences";
        let len = map.keys().filter(|key| !skipped(key)).count();
        let mut out = serializer.serialize_map(Some(len))?;
        for (key, value) in map {
            if skipped(key) {
                continue;
            }
            if top && key == "metadata" {
                out.serialize_entry(key, &WithoutOwners(value, false))?;
            } else {
                out.serialize_entry(key, value)?;
            }
        }
        out.end()
    }
}

/// The Pod Security labels `profile` sets on its namespaces (`enforce`, `audit`, `warn` and
/// their versions; an unset version is written `latest`).
pub fn pod_security_labels(profile: &HardeningProfile) -> BTreeMap<String, String> {
    let Some(pod_security) = &profile.spec.pod_security else {
        return BTreeMap::new();
    };
    let modes = [
        (
            pod_security::ENFORCE,
            pod_security::ENFORCE_VERSION,
            &pod_security.enforce,
        ),
        (
            pod_security::AUDIT,
            pod_security::AUDIT_VERSION,
            &pod_security.audit,
        ),
        (
            pod_security::WARN,
            pod_security::WARN_VERSION,
            &pod_security.warn,
        ),
    ];
    let mut labels = BTreeMap::new();
    for (level_key, version_key, standard) in modes {
        if let Some(PodSecurityStandard { level, version }) = standard {
            labels.insert(level_key.to_owned(), level.as_str().to_owned());
            // Unset means latest to Pod Security Admission too; writing it keeps the label ours.
            let version = version.as_deref().unwrap_or("latest");
            labels.insert(version_key.to_owned(), version.to_owned());
        }
    }
    labels
}

/// The Pod Security labels `profile` sets on `namespace`: [`pod_security_labels`], with the
/// `enforce` level a HardeningException in force lowers there (one naming the namespace in
/// the profile's `status.exceptions.active`; the lowest of several). The `audit` and `warn`
/// labels stay the profile's, so the pods below its level are still audited and warned
/// about.
pub fn namespace_pod_security_labels(
    profile: &HardeningProfile,
    namespace: &str,
) -> BTreeMap<String, String> {
    let mut labels = pod_security_labels(profile);
    if labels.contains_key(pod_security::ENFORCE)
        && let Some((level, _)) = crate::core::exceptions::lowered_level(
            crate::core::exceptions::active_of(profile),
            namespace,
        )
    {
        labels.insert(pod_security::ENFORCE.to_owned(), level.as_str().to_owned());
    }
    labels
}

pub(crate) fn owner_reference(profile: &HardeningProfile) -> Option<OwnerReference> {
    let uid = profile.metadata.uid.clone()?;
    Some(OwnerReference {
        api_version: <HardeningProfile as kube::Resource>::api_version(&()).into_owned(),
        kind: <HardeningProfile as kube::Resource>::kind(&()).into_owned(),
        name: profile.name_any(),
        uid,
        controller: Some(true),
        // Deleting a profile must not wait for its children.
        block_owner_deletion: Some(false),
    })
}

/// Metadata shared by every generated object of one namespace.
struct MetaFactory<'a> {
    namespace: &'a str,
    profile_name: &'a str,
    owner: Option<OwnerReference>,
}

impl MetaFactory<'_> {
    fn named(&self, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(self.namespace.to_owned()),
            labels: Some(BTreeMap::from([
                (MANAGED_BY_LABEL.to_owned(), MANAGED_BY_VALUE.to_owned()),
                (PROFILE_LABEL.to_owned(), self.profile_name.to_owned()),
            ])),
            owner_references: self.owner.clone().map(|owner| vec![owner]),
            ..ObjectMeta::default()
        }
    }
}

fn network_policies(
    meta: &MetaFactory,
    rules: &NetworkPolicyRules,
    protected: &[ProtectedNetwork],
) -> impl Iterator<Item = networking::NetworkPolicy> {
    let isolated = rules.isolated_directions();
    let ingress_isolated = isolated.contains(&PolicyType::Ingress);
    let egress_isolated = isolated.contains(&PolicyType::Egress);
    let every_pod = || networking::NetworkPolicyPeer {
        pod_selector: Some(LabelSelector::default()),
        ..Default::default()
    };

    let default_deny = (!rules.default_deny.is_empty()).then(|| {
        let mut directions = rules.default_deny.clone();
        directions.sort();
        directions.dedup();
        policy(meta, names::DEFAULT_DENY, &directions, None, None)
    });

    // Only while egress is isolated: an egress policy would itself isolate the pods.
    let allow_dns = (rules.allow_dns && egress_isolated).then(|| {
        let dns_pods = networking::NetworkPolicyPeer {
            namespace_selector: Some(match_labels(NAMESPACE_NAME_LABEL, DNS_NAMESPACE)),
            pod_selector: Some(match_labels(DNS_POD_LABEL.0, DNS_POD_LABEL.1)),
            ..Default::default()
        };
        let dns_ports = [Protocol::Udp, Protocol::Tcp].map(|protocol| {
            port(&Port {
                port: DNS_PORT,
                end_port: None,
                protocol,
            })
        });
        let egress = networking::NetworkPolicyEgressRule {
            to: Some(vec![dns_pods]),
            ports: Some(dns_ports.to_vec()),
        };
        policy(
            meta,
            names::ALLOW_DNS,
            &[PolicyType::Egress],
            None,
            Some(vec![egress]),
        )
    });

    let allow_same_namespace = (rules.allow_same_namespace && !isolated.is_empty()).then(|| {
        let ingress = ingress_isolated.then(|| {
            vec![networking::NetworkPolicyIngressRule {
                from: Some(vec![every_pod()]),
                ports: None,
            }]
        });
        let egress = egress_isolated.then(|| {
            vec![networking::NetworkPolicyEgressRule {
                to: Some(vec![every_pod()]),
                ports: None,
            }]
        });
        policy(
            meta,
            names::ALLOW_SAME_NAMESPACE,
            &isolated,
            ingress,
            egress,
        )
    });

    let allow_ingress = (!rules.ingress.is_empty()).then(|| {
        let ingress = rules.ingress.iter().map(ingress_rule).collect();
        policy(
            meta,
            names::ALLOW_INGRESS,
            &[PolicyType::Ingress],
            Some(ingress),
            None,
        )
    });

    // Micro-segmentation: per rule, the receiving pods admit the connecting ones on its
    // ports, and the connecting pods may reach the receiving ones there.
    let mut segments = Vec::new();
    for (index, rule) in rules.same_namespace.iter().enumerate() {
        let pods = |selector: &Option<LabelSelector>| networking::NetworkPolicyPeer {
            pod_selector: Some(selector.clone().unwrap_or_default()),
            ..Default::default()
        };
        let ports = non_empty(rule.ports.iter().map(port).collect());
        if ingress_isolated {
            let mut p = policy(
                meta,
                &names::same_namespace(index, PolicyType::Ingress),
                &[PolicyType::Ingress],
                Some(vec![networking::NetworkPolicyIngressRule {
                    from: Some(vec![pods(&rule.from)]),
                    ports: ports.clone(),
                }]),
                None,
            );
            if let Some(spec) = p.spec.as_mut() {
                spec.pod_selector = Some(rule.to.clone().unwrap_or_default());
            }
            segments.push(p);
        }
        if egress_isolated {
            let mut p = policy(
                meta,
                &names::same_namespace(index, PolicyType::Egress),
                &[PolicyType::Egress],
                None,
                Some(vec![networking::NetworkPolicyEgressRule {
                    to: Some(vec![pods(&rule.to)]),
                    ports,
                }]),
            );
            if let Some(spec) = p.spec.as_mut() {
                spec.pod_selector = Some(rule.from.clone().unwrap_or_default());
            }
            segments.push(p);
        }
    }

    // Never to a protected network (or only on the ports not protected there).
    let allow_egress = (!rules.egress.is_empty()).then(|| {
        // Each profile rule in its place (`rejection` maps generated indices back to the
        // profile's), the rules allowing other ports of a protected range after them all.
        let mut egress = Vec::new();
        let mut extra = Vec::new();
        for rule in &rules.egress {
            let (main, more) = protected::protect_egress_parts(&egress_rule(rule), protected);
            egress.extend(main);
            extra.extend(more);
        }
        egress.extend(extra);
        policy(
            meta,
            names::ALLOW_EGRESS,
            &[PolicyType::Egress],
            None,
            non_empty(egress),
        )
    });

    // Egress a profile that isolates ingress leaves open is isolated to everything but the
    // protected networks.
    let protect_networks =
        (ingress_isolated && !egress_isolated && !protected.is_empty()).then(|| {
            let egress = protected::protect_egress(
                &networking::NetworkPolicyEgressRule::default(),
                protected,
            );
            policy(
                meta,
                names::PROTECT_NETWORKS,
                &[PolicyType::Egress],
                None,
                non_empty(egress),
            )
        });

    [
        default_deny,
        allow_dns,
        allow_same_namespace,
        allow_ingress,
        allow_egress,
        protect_networks,
    ]
    .into_iter()
    .flatten()
    .chain(segments)
}

/// A NetworkPolicy selecting every pod of the namespace.
fn policy(
    meta: &MetaFactory,
    name: &str,
    directions: &[PolicyType],
    ingress: Option<Vec<networking::NetworkPolicyIngressRule>>,
    egress: Option<Vec<networking::NetworkPolicyEgressRule>>,
) -> networking::NetworkPolicy {
    networking::NetworkPolicy {
        metadata: meta.named(name),
        spec: Some(networking::NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(directions.iter().map(|d| d.as_str().to_owned()).collect()),
            ingress,
            egress,
        }),
    }
}

fn ingress_rule(rule: &IngressRule) -> networking::NetworkPolicyIngressRule {
    networking::NetworkPolicyIngressRule {
        from: non_empty(rule.from.iter().map(peer).collect()),
        ports: non_empty(rule.ports.iter().map(port).collect()),
    }
}

fn egress_rule(rule: &EgressRule) -> networking::NetworkPolicyEgressRule {
    networking::NetworkPolicyEgressRule {
        to: non_empty(rule.to.iter().map(egress_peer).collect()),
        ports: non_empty(rule.ports.iter().map(port).collect()),
    }
}

fn peer(peer: &Peer) -> networking::NetworkPolicyPeer {
    networking::NetworkPolicyPeer {
        ip_block: None,
        namespace_selector: peer.namespace_selector.clone(),
        pod_selector: peer.pod_selector.clone(),
    }
}

fn egress_peer(peer: &EgressPeer) -> networking::NetworkPolicyPeer {
    networking::NetworkPolicyPeer {
        ip_block: peer.cidr.as_ref().map(|cidr| networking::IPBlock {
            cidr: cidr.clone(),
            except: non_empty(peer.except.clone()),
        }),
        namespace_selector: peer.namespace_selector.clone(),
        pod_selector: peer.pod_selector.clone(),
    }
}

fn port(port: &Port) -> networking::NetworkPolicyPort {
    networking::NetworkPolicyPort {
        port: Some(IntOrString::Int(port.port)),
        end_port: port.end_port,
        protocol: Some(port.protocol.as_str().to_owned()),
    }
}

fn resource_quota(meta: &MetaFactory, quota: &ResourceQuotaSpec) -> core::ResourceQuota {
    core::ResourceQuota {
        metadata: meta.named(names::QUOTA),
        spec: Some(core::ResourceQuotaSpec {
            hard: Some(quota.hard.clone()),
            ..Default::default()
        }),
        status: None,
    }
}

fn limit_range(meta: &MetaFactory, spec: &LimitRangeSpec) -> core::LimitRange {
    let limits = spec
        .limits
        .iter()
        .map(|item| core::LimitRangeItem {
            type_: item.type_.as_str().to_owned(),
            default: item.default.clone(),
            default_request: item.default_request.clone(),
            min: item.min.clone(),
            max: item.max.clone(),
            max_limit_request_ratio: item.max_limit_request_ratio.clone(),
        })
        .collect();
    core::LimitRange {
        metadata: meta.named(names::LIMITS),
        spec: Some(core::LimitRangeSpec { limits }),
    }
}

fn match_labels(key: &str, value: &str) -> LabelSelector {
    LabelSelector {
        match_labels: Some(BTreeMap::from([(key.to_owned(), value.to_owned())])),
        match_expressions: None,
    }
}

/// The API server drops empty lists; rendering them absent keeps desired equal to live.
fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::json;

    use super::*;
    use crate::fixtures::{example, profile};
    use crate::test_support::strings;

    const UID: &str = "1b2c3d4e-0000-4000-8000-000000000001";

    fn stored(mut profile: HardeningProfile) -> HardeningProfile {
        profile.metadata.uid = Some(UID.to_owned());
        profile
    }

    fn names(desired: &Desired) -> Vec<&str> {
        desired.objects.iter().map(DesiredObject::name).collect()
    }

    #[test]
    fn the_strict_example_renders_exactly() {
        let desired = render(&stored(example("bsi-strict.yaml")), "team-a").unwrap();
        assert_eq!(
            desired.namespace_labels,
            strings(&[
                ("pod-security.kubernetes.io/audit", "restricted"),
                ("pod-security.kubernetes.io/audit-version", "latest"),
                ("pod-security.kubernetes.io/enforce", "restricted"),
                ("pod-security.kubernetes.io/enforce-version", "latest"),
                ("pod-security.kubernetes.io/warn", "restricted"),
                ("pod-security.kubernetes.io/warn-version", "latest"),
            ])
        );
        assert_eq!(
            desired.namespace_annotations,
            strings(&[
                ("hardening.dev/profile", "bsi-strict"),
                (
                    "hardening.dev/rendered",
                    &fingerprint(&desired.namespace_labels, &desired.objects)
                ),
            ])
        );

        let metadata = |name: &str| {
            json!({
                "labels": {"app.kubernetes.io/managed-by": "hardening-operator", "hardening.dev/profile": "bsi-strict"},
                "name": name,
                "namespace": "team-a",
                "ownerReferences": [{
                    "apiVersion": "hardening.dev/v1alpha1",
                    "blockOwnerDeletion": false,
                    "controller": true,
                    "kind": "HardeningProfile",
                    "name": "bsi-strict",
                    "uid": UID,
                }],
            })
        };
        let objects: Vec<serde_json::Value> =
            desired.objects.iter().map(DesiredObject::to_json).collect();
        assert_eq!(
            objects,
            vec![
                json!({
                    "apiVersion": "networking.k8s.io/v1",
                    "kind": "NetworkPolicy",
                    "metadata": metadata("hardening-default-deny"),
                    "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
                }),
                json!({
                    "apiVersion": "networking.k8s.io/v1",
                    "kind": "NetworkPolicy",
                    "metadata": metadata("hardening-allow-dns"),
                    "spec": {
                        "egress": [{
                            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
                            "to": [{
                                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }],
                        }],
                        "podSelector": {},
                        "policyTypes": ["Egress"],
                    },
                }),
                json!({
                    "apiVersion": "networking.k8s.io/v1",
                    "kind": "NetworkPolicy",
                    "metadata": metadata("hardening-allow-same-namespace"),
                    "spec": {
                        "egress": [{"to": [{"podSelector": {}}]}],
                        "ingress": [{"from": [{"podSelector": {}}]}],
                        "podSelector": {},
                        "policyTypes": ["Ingress", "Egress"],
                    },
                }),
                json!({
                    "apiVersion": "networking.k8s.io/v1",
                    "kind": "NetworkPolicy",
                    "metadata": metadata("hardening-allow-ingress"),
                    "spec": {
                        "ingress": [{
                            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}],
                            "ports": [{"port": 8080, "protocol": "TCP"}],
                        }],
                        "podSelector": {},
                        "policyTypes": ["Ingress"],
                    },
                }),
                json!({
                    "apiVersion": "networking.k8s.io/v1",
                    "kind": "NetworkPolicy",
                    "metadata": metadata("hardening-allow-egress"),
                    "spec": {
                        "egress": [{
                            "ports": [{"port": 443, "protocol": "TCP"}],
                            "to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.255.0.0/16"]}}],
                        }],
                        "podSelector": {},
                        "policyTypes": ["Egress"],
                    },
                }),
                json!({
                    "apiVersion": "v1",
                    "kind": "ResourceQuota",
                    "metadata": metadata("hardening-quota"),
                    "spec": {"hard": {
                        "limits.cpu": "4",
                        "limits.memory": "8Gi",
                        "persistentvolumeclaims": "5",
                        "pods": "20",
                        "requests.cpu": "2",
                        "requests.memory": "4Gi",
                        "requests.storage": "50Gi",
                    }},
                }),
                json!({
                    "apiVersion": "v1",
                    "kind": "LimitRange",
                    "metadata": metadata("hardening-limits"),
                    "spec": {"limits": [
                        {
                            "default": {"cpu": "500m", "memory": "256Mi"},
                            "defaultRequest": {"cpu": "200m", "memory": "128Mi"},
                            "max": {"cpu": "2", "memory": "2Gi"},
                            "maxLimitRequestRatio": {"cpu": "4", "memory": "2"},
                            "min": {"cpu": "50m", "memory": "64Mi"},
                            "type": "Container",
                        },
                        {
                            "max": {"storage": "10Gi"},
                            "min": {"storage": "1Gi"},
                            "type": "PersistentVolumeClaim",
                        },
                    ]},
                }),
            ]
        );
    }

    #[test]
    fn rendering_is_byte_for_byte_deterministic() {
        let profile = stored(example("bsi-strict.yaml"));
        let bytes = |desired: Desired| -> Vec<String> {
            desired
                .objects
                .iter()
                .map(|object| serde_json::to_string(&object.to_json()).unwrap())
                .collect()
        };
        let first = bytes(render(&profile, "team-a").unwrap());
        for _ in 0..10 {
            assert_eq!(bytes(render(&profile.clone(), "team-a").unwrap()), first);
        }
    }

    #[test]
    fn a_profile_without_uid_renders_without_owner_reference() {
        let desired = render(&example("bsi-strict.yaml"), "team-a").unwrap();
        for object in &desired.objects {
            assert_eq!(
                object.metadata().owner_references,
                None,
                "{}",
                object.name()
            );
            assert_eq!(object.to_json()["metadata"].get("ownerReferences"), None);
        }
    }

    #[test]
    fn only_present_sections_render_objects() {
        let desired = render(
            &profile("p")
                .spec_yaml("  podSecurity: {warn: {level: baseline, version: v1.33}}\n")
                .build(),
            "ns",
        )
        .unwrap();
        assert_eq!(names(&desired), Vec::<&str>::new());
        assert_eq!(
            desired.namespace_labels,
            strings(&[
                ("pod-security.kubernetes.io/warn", "baseline"),
                ("pod-security.kubernetes.io/warn-version", "v1.33"),
            ])
        );
        assert_eq!(
            desired.namespace_annotations,
            strings(&[
                ("hardening.dev/profile", "p"),
                (
                    "hardening.dev/rendered",
                    &fingerprint(&desired.namespace_labels, &[])
                ),
            ])
        );

        let nothing = render(
            &profile("p")
                .spec_yaml("  networkPolicy: {defaultDeny: []}\n")
                .build(),
            "ns",
        )
        .unwrap();
        assert_eq!(names(&nothing), Vec::<&str>::new());
        assert_eq!(nothing.namespace_labels, BTreeMap::new());
    }

    #[test]
    fn the_fingerprint_is_what_an_offline_render_knows_too() {
        // A stored profile has a uid (its objects an ownerReference), a file does not: the
        // fingerprint is the same, so `render` and the cluster agree on it.
        let spec = "  resourceQuota: {hard: {pods: \"10\"}}\n  podSecurity: {enforce: {level: restricted}}\n";
        let stored = render(&profile("p").spec_yaml(spec).uid("1234").build(), "ns").unwrap();
        let file = render(&profile("p").spec_yaml(spec).build(), "ns").unwrap();
        assert!(stored.objects[0].metadata().owner_references.is_some());
        assert!(file.objects[0].metadata().owner_references.is_none());
        assert_eq!(stored.namespace_annotations, file.namespace_annotations);
    }

    #[test]
    fn the_fingerprint_changes_with_what_is_rendered_and_nothing_else() {
        let a = render(
            &profile("p")
                .spec_yaml("  resourceQuota: {hard: {pods: \"10\"}}\n")
                .build(),
            "ns",
        )
        .unwrap();
        let same = render(
            &profile("p")
                .spec_yaml("  resourceQuota: {hard: {pods: \"10\"}}\n")
                .build(),
            "ns",
        )
        .unwrap();
        let other_namespace = render(
            &profile("p")
                .spec_yaml("  resourceQuota: {hard: {pods: \"10\"}}\n")
                .build(),
            "other",
        )
        .unwrap();
        let more = render(
            &profile("p")
                .spec_yaml("  resourceQuota: {hard: {pods: \"11\"}}\n")
                .build(),
            "ns",
        )
        .unwrap();
        let rendered = |d: &Desired| d.namespace_annotations["hardening.dev/rendered"].clone();
        assert_eq!(rendered(&a), rendered(&same));
        assert_eq!(rendered(&a).len(), 16);
        assert_ne!(rendered(&a), rendered(&more));
        assert_ne!(
            rendered(&a),
            rendered(&other_namespace),
            "objects carry their namespace"
        );
    }

    #[test]
    fn dns_is_allowed_only_while_egress_is_isolated() {
        let ingress_only = render(
            &profile("p")
                .spec_yaml("  networkPolicy: {defaultDeny: [Ingress]}\n")
                .build(),
            "ns",
        )
        .unwrap();
        // Egress stays open but for the protected networks (the cloud metadata addresses).
        assert_eq!(
            names(&ingress_only),
            [
                names::DEFAULT_DENY,
                names::ALLOW_SAME_NAMESPACE,
                names::PROTECT_NETWORKS
            ]
        );

        let egress_list = render(
        &profile("p").spec_yaml("  networkPolicy:\n    defaultDeny: []\n    egress: [{to: [{cidr: 192.0.2.0/24}], ports: [{port: 22}]}]\n").build(),
        "ns",
    )
    .unwrap();
        assert_eq!(
            names(&egress_list),
            [
                names::ALLOW_DNS,
                names::ALLOW_SAME_NAMESPACE,
                names::ALLOW_EGRESS
            ]
        );
        let DesiredObject::NetworkPolicy(same_namespace) = &egress_list.objects[1] else {
            panic!("expected a NetworkPolicy");
        };
        assert_eq!(
            serde_json::to_value(same_namespace.spec.as_ref().unwrap()).unwrap(),
            json!({"egress": [{"to": [{"podSelector": {}}]}], "podSelector": {}, "policyTypes": ["Egress"]})
        );

        let no_extras = render(
            &profile("p")
                .spec_yaml("  networkPolicy: {allowDns: false, allowSameNamespace: false}\n")
                .build(),
            "ns",
        )
        .unwrap();
        assert_eq!(names(&no_extras), [names::DEFAULT_DENY]);
    }

    #[test]
    fn rules_render_explicitly() {
        let desired = render(
        &profile("p").spec_yaml(
            "  networkPolicy:\n    defaultDeny: [Egress, Ingress]\n    allowDns: false\n    allowSameNamespace: false\n    \
             ingress:\n      - {}\n      - from: [{podSelector: {matchLabels: {app: web}}, namespaceSelector: {}}]\n        \
             ports: [{port: 8000, endPort: 8100}, {port: 53, protocol: UDP}, {port: 9, protocol: SCTP}]\n    \
             egress:\n      - to: [{namespaceSelector: {matchLabels: {team: db}}}, {cidr: \"2001:db8::/32\"}]\n",
        ).build(),
        "ns",
    )
    .unwrap();
        let specs: Vec<serde_json::Value> = desired
            .objects
            .iter()
            .map(|object| object.to_json()["spec"].clone())
            .collect();
        assert_eq!(
            specs,
            [
                json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
                json!({
                    "ingress": [
                        {},
                        {
                            "from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "web"}}}],
                            "ports": [
                                {"endPort": 8100, "port": 8000, "protocol": "TCP"},
                                {"port": 53, "protocol": "UDP"},
                                {"port": 9, "protocol": "SCTP"},
                            ],
                        },
                    ],
                    "podSelector": {},
                    "policyTypes": ["Ingress"],
                }),
                json!({
                    "egress": [{"to": [
                        {"namespaceSelector": {"matchLabels": {"team": "db"}}},
                        {"ipBlock": {"cidr": "2001:db8::/32"}},
                    ]}],
                    "podSelector": {},
                    "policyTypes": ["Egress"],
                }),
            ]
        );
    }

    #[test]
    fn unset_pod_security_versions_render_as_latest() {
        let desired = render(
            &profile("p")
                .spec_yaml(
                    "  podSecurity: {enforce: {level: privileged}, audit: {level: baseline}}\n",
                )
                .build(),
            "ns",
        )
        .unwrap();
        assert_eq!(
            desired.namespace_labels,
            strings(&[
                ("pod-security.kubernetes.io/audit", "baseline"),
                ("pod-security.kubernetes.io/audit-version", "latest"),
                ("pod-security.kubernetes.io/enforce", "privileged"),
                ("pod-security.kubernetes.io/enforce-version", "latest"),
            ])
        );
    }

    #[test]
    fn every_rendered_kind_is_listed_in_all() {
        let desired = render(&example("bsi-strict.yaml"), "ns").unwrap();
        let rendered: BTreeSet<ManagedKind> =
            desired.objects.iter().map(DesiredObject::kind).collect();
        assert_eq!(
            rendered,
            ManagedKind::ALL.into_iter().collect::<BTreeSet<_>>()
        );
        for object in &desired.objects {
            let json = object.to_json();
            assert_eq!(json["apiVersion"], object.kind().api_version());
            assert_eq!(json["kind"], object.kind().kind());
        }
        let plurals: Vec<&str> = ManagedKind::ALL.iter().map(|kind| kind.plural()).collect();
        assert_eq!(
            plurals,
            ["networkpolicies", "resourcequotas", "limitranges"]
        );
    }

    #[test]
    fn unrenderable_input_is_an_error() {
        let mut unnamed = profile("p").build();
        unnamed.metadata.name = None;
        assert_eq!(render(&unnamed, "ns"), Err(RenderError::UnnamedProfile));

        let mut long = profile("p").build();
        long.metadata.name = Some("x".repeat(64));
        assert_eq!(
            render(&long, "ns"),
            Err(RenderError::ProfileNameTooLong("x".repeat(64)))
        );

        assert_eq!(
            render(&profile("p").build(), ""),
            Err(RenderError::EmptyNamespace)
        );
    }

    /// Every file in `examples/` is a valid profile that renders (the integration tests apply
    /// them to a real API server).
    #[test]
    fn examples_validate_and_render() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
            .filter(|path| !path.ends_with("namespaces.yaml"))
            // A HardeningException, not a profile: tests/integration/examples.rs checks it.
            .filter(|path| !path.ends_with("exception.yaml"))
            .collect();
        files.sort();
        let file_names: Vec<_> = files
            .iter()
            .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            file_names,
            ["audit-only.yaml", "baseline.yaml", "bsi-strict.yaml"]
        );

        for path in &files {
            let text = std::fs::read_to_string(path).unwrap();
            let manifest: serde_json::Value = serde_yaml_ng::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()));
            // Checked as kubectl apply checks it: the schema (no unknown field) and the rules.
            let profile = crate::core::api::check_manifest(&manifest)
                .unwrap_or_else(|errors| panic!("{} is invalid: {errors:?}", path.display()));
            let desired = render(&stored(profile), "team-a")
                .unwrap_or_else(|e| panic!("{} does not render: {e}", path.display()));
            assert!(
                !desired.namespace_labels.is_empty(),
                "{} sets no Pod Security labels",
                path.display()
            );
        }
    }

    /// The fingerprint as it was computed before it was hashed while written: each
    /// object's JSON without `metadata.ownerReferences` built as text. A change of the
    /// bytes hashed would change every namespace's annotation (a rollout everywhere).
    fn fingerprint_as_text(labels: &BTreeMap<String, String>, objects: &[DesiredObject]) -> String {
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        context.update(&serde_json::to_vec(labels).unwrap());
        for object in objects {
            let mut json = object.to_json();
            if let Some(meta) = json["metadata"].as_object_mut() {
                meta.remove("ownerReferences");
            }
            context.update(b"\n");
            context.update(json.to_string().as_bytes());
        }
        let digest = context.finish();
        digest.as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Over the examples (stored and as files), each section alone and every micro-segmented
    /// rule: the fingerprint hashed while written is the one built as text, and the JSON
    /// the rendering keeps of each object is its `to_json`.
    #[test]
    fn the_fingerprint_and_the_kept_json_are_those_of_the_objects() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
        let mut profiles = Vec::new();
        for name in ["audit-only.yaml", "baseline.yaml", "bsi-strict.yaml"] {
            let text = std::fs::read_to_string(format!("{dir}/{name}")).unwrap();
            let manifest: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
            let profile = crate::core::api::check_manifest(&manifest).unwrap();
            profiles.push(stored(profile.clone()));
            profiles.push(profile);
        }
        for spec in [
            "podSecurity: {enforce: {level: baseline}}",
            "resourceQuota: {hard: {pods: \"3\"}}",
            "limitRange: {limits: [{type: Container, max: {cpu: \"1\", memory: 1Gi}}]}",
            "networkPolicy: {defaultDeny: [Ingress, Egress], allowDns: true}",
        ] {
            profiles.push(profile("p").uid(UID).spec_yaml(spec).build());
        }
        for profile in &profiles {
            for namespace in ["team-a", "b"] {
                let desired = render(profile, namespace).unwrap();
                assert_eq!(
                    desired.namespace_annotations[RENDERED_ANNOTATION],
                    fingerprint_as_text(&desired.namespace_labels, &desired.objects)
                );
                assert_eq!(
                    fingerprint(&desired.namespace_labels, &desired.objects),
                    desired.namespace_annotations[RENDERED_ANNOTATION]
                );
                for object in &desired.objects {
                    assert!(matches!(desired.body_of(object), Cow::Borrowed(_)));
                    assert_eq!(*desired.body_of(object), object.to_json());
                }
                // An object not of this rendering is serialized when asked for.
                if let Some(object) = desired.objects.first() {
                    let copy = object.clone();
                    assert!(matches!(desired.body_of(&copy), Cow::Owned(_)));
                    assert_eq!(*desired.body_of(&copy), object.to_json());
                }
            }
        }
    }

    #[test]
    fn examples_render_the_documented_objects() {
        let rendered = |file| {
            let desired = render(&example(file), "team-a").unwrap();
            names(&desired)
                .iter()
                .map(|name| name.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            rendered("baseline.yaml"),
            [
                names::DEFAULT_DENY,
                names::ALLOW_SAME_NAMESPACE,
                names::PROTECT_NETWORKS,
                names::QUOTA,
                names::LIMITS
            ]
        );
        assert_eq!(
            rendered("audit-only.yaml"),
            [
                names::DEFAULT_DENY,
                names::ALLOW_DNS,
                names::ALLOW_SAME_NAMESPACE
            ]
        );
    }

    #[test]
    fn protected_networks_stay_out_of_every_generated_egress_rule() {
        let spec = "  networkPolicy:\n    defaultDeny: [Ingress, Egress]\n    egress: [{to: [{cidr: 0.0.0.0/0}], ports: [{port: 443}]}]\n    protectedNetworks: [{cidr: 10.0.0.0/16, ports: [{port: 443}]}]\n";
        let desired = render(&profile("p").spec_yaml(spec).build(), "ns").unwrap();
        let egress = desired
            .objects
            .iter()
            .find(|o| o.name() == names::ALLOW_EGRESS)
            .unwrap()
            .to_json();
        assert_eq!(
            egress["spec"]["egress"],
            json!([{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32", "10.0.0.0/16"]}}],
                "ports": [{"port": 443, "protocol": "TCP"}]}])
        );
        // The operator's own list replaces the default one; the profile's is added to it.
        let desired = render_with(
            &profile("p").spec_yaml(spec).build(),
            "ns",
            &[crate::core::protected::parse("192.168.0.0/16").unwrap()],
        )
        .unwrap();
        let egress = desired
            .objects
            .iter()
            .find(|o| o.name() == names::ALLOW_EGRESS)
            .unwrap()
            .to_json();
        assert_eq!(
            egress["spec"]["egress"][0]["to"][0]["ipBlock"]["except"],
            json!(["192.168.0.0/16", "10.0.0.0/16"])
        );

        let ingress_only = render(
            &profile("p")
                .spec_yaml("  networkPolicy: {defaultDeny: [Ingress]}\n")
                .build(),
            "ns",
        )
        .unwrap();
        let protect = ingress_only
            .objects
            .iter()
            .find(|o| o.name() == names::PROTECT_NETWORKS)
            .unwrap()
            .to_json();
        assert_eq!(
            protect["spec"],
            json!({
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [{"to": [
                    {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}},
                    {"ipBlock": {"cidr": "::/0", "except": ["fd00:ec2::254/128"]}},
                    {"namespaceSelector": {}}
                ]}]
            })
        );
    }

    #[test]
    fn micro_segmentation_renders_a_policy_per_rule_and_direction() {
        let desired = render_with(
        &profile("p")
            .spec_yaml("  networkPolicy:\n    allowSameNamespace: false\n    sameNamespace: [{to: {matchLabels: {app: db}}, from: {matchLabels: {app: web}}, ports: [{port: 5432}]}]\n")
            .build(),
        "ns",
        &[],
    )
    .unwrap();
        assert_eq!(
            names(&desired),
            [
                names::DEFAULT_DENY,
                names::ALLOW_DNS,
                "hardening-same-namespace-0-in",
                "hardening-same-namespace-0-out"
            ]
        );
        let spec = |name: &str| {
            desired
                .objects
                .iter()
                .find(|o| o.name() == name)
                .unwrap()
                .to_json()["spec"]
                .clone()
        };
        assert_eq!(
            spec("hardening-same-namespace-0-in"),
            json!({"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"],
               "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": 5432, "protocol": "TCP"}]}]})
        );
        assert_eq!(
            spec("hardening-same-namespace-0-out"),
            json!({"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Egress"],
               "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}], "ports": [{"port": 5432, "protocol": "TCP"}]}]})
        );
        let both = profile("p")
            .spec_yaml("  networkPolicy:\n    sameNamespace: [{ports: [{port: 80}]}]\n")
            .build();
        let errors = crate::core::api::validate(&both).unwrap_err();
        assert!(
            errors
                .iter()
                .any(|e| e.message.contains("set allowSameNamespace: false")),
            "{errors:?}"
        );
    }

    /// Issue 24: an exception in force lowering the Pod Security level renders that level as the
    /// enforce label of the namespaces it names (the lowest of several), the audit and warn
    /// labels staying the profile's; other namespaces keep the profile's level.
    #[test]
    fn an_exception_in_force_lowers_the_enforce_label_of_the_namespaces_it_names() {
        let exception = |name: &str, level: &str| {
            crate::core::exceptions::active_entry(
                &crate::fixtures::exception(name, "p", "legacy", "2026-12-31T00:00:00Z")
                    .spec(json!({ "podSecurityLevel": level }))
                    .build(),
            )
        };
        let profile = profile("p")
        .spec(json!({ "podSecurity": {
            "enforce": { "level": "restricted" },
            "warn": { "level": "restricted" },
        } }))
        .status(json!({ "exceptions": { "active": [exception("a", "baseline"), exception("b", "privileged")] } }))
        .build();
        let legacy = render(&profile, "legacy").unwrap();
        assert_eq!(
            legacy.namespace_labels["pod-security.kubernetes.io/enforce"],
            "privileged"
        );
        assert_eq!(
            legacy.namespace_labels["pod-security.kubernetes.io/warn"],
            "restricted"
        );
        let other = render(&profile, "other").unwrap();
        assert_eq!(
            other.namespace_labels["pod-security.kubernetes.io/enforce"],
            "restricted"
        );
        // The fingerprint changes with it: writing the lower level is a rollout, not a repair.
        assert_ne!(
            legacy.namespace_annotations[RENDERED_ANNOTATION],
            other.namespace_annotations[RENDERED_ANNOTATION]
        );
    }
}
