//! Pods that do not run under the seccomp and AppArmor profiles their namespace's governing
//! HardeningProfile declares (BSI SYS.1.6 (2023) A21). Pure: the controller feeds pod watch events
//! into a [`PodIndex`] and assesses a namespace's pods against the profile's
//! [`WorkloadSecurityContext`].
//!
//! Memory stays small however many pods the cluster runs: the watch decodes a pod into a
//! [`PodView`] (what the rules judge only) and the index keeps, per pod, the profiles each
//! container runs under and the judged spec ([`JudgedPod`]), both held once for pods alike
//! ([`crate::core::shared`]), in a sorted slice per namespace.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use k8s_openapi::api::core::v1::{
    ContainerPort, Lifecycle, Pod, PodOS, PodSecurityContext, Probe, SecurityContext, Volume,
    VolumeMount,
};
use kube::api::ObjectMeta;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde::{Deserialize, Serialize};

use crate::core::api::{LocalhostProfile, UnconfinedPod, WorkloadSecurityContext};
use crate::core::plural::count;
use crate::core::shared::SharedStr;

/// Unconfined pods listed by name per namespace in the status; the rest are counted.
pub const MAX_LISTED_PODS: usize = 5;
/// Longest reason kept for a listed pod.
pub const MAX_REASON_CHARS: usize = 256;
/// Pods that have finished run nothing; the watch leaves them out.
pub const ACTIVE_PODS_FIELD_SELECTOR: &str = "status.phase!=Succeeded,status.phase!=Failed";
/// The AppArmor annotation of Kubernetes before 1.30, still honoured by kubelets.
const APPARMOR_ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

/// A Pod as the operator reads it: only what confinement and the admission rules judge is
/// decoded (security contexts, images, host namespaces, volumes and mounts, ports, probes,
/// the service account, the names of literal environment variables, a command's first word,
/// the controller), not the environment's values, resources or status.
#[derive(Resource, Deserialize, Clone, Debug, Default)]
#[resource(inherit = "Pod")]
pub struct PodView {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PodViewSpec,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodViewSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<PodSecurityContext>,
    #[serde(default)]
    pub containers: Vec<ContainerView>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_containers: Vec<ContainerView>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ephemeral_containers: Vec<ContainerView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_network: Option<bool>,
    #[serde(default, rename = "hostPID", skip_serializing_if = "Option::is_none")]
    pub host_pid: Option<bool>,
    #[serde(default, rename = "hostIPC", skip_serializing_if = "Option::is_none")]
    pub host_ipc: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_users: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<Volume>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<PodOS>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automount_service_account_token: Option<bool>,
}

/// A container (init and ephemeral ones alike) as the operator reads it.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerView {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContext>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<ContainerPort>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Probe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Probe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_probe: Option<Probe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
    /// The variables with a literal value, by name only: the value is never kept.
    #[serde(
        default,
        deserialize_with = "literal_env",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub env: Vec<LiteralEnv>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_mounts: Option<Vec<VolumeMount>>,
    /// The first word of the command only (a process supervisor is judged by it).
    #[serde(
        default,
        deserialize_with = "first_word",
        skip_serializing_if = "Option::is_none"
    )]
    pub command: Option<Vec<String>>,
}

/// An `env` entry with a literal, non-empty value, as the rules judge it: its name, and a
/// placeholder for the value (the operator keeps no values).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
pub struct LiteralEnv {
    pub name: String,
    pub value: String,
}

/// The value [`LiteralEnv`] holds in place of every literal value.
pub const REDACTED: &str = "(literal)";

fn literal_env<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<LiteralEnv>, D::Error> {
    #[derive(Deserialize)]
    struct Entry {
        name: String,
        #[serde(default)]
        value: Option<String>,
    }
    let entries: Option<Vec<Entry>> = Option::deserialize(d)?;
    Ok(entries
        .into_iter()
        .flatten()
        .filter(|e| e.value.as_deref().is_some_and(|v| !v.is_empty()))
        .map(|e| LiteralEnv {
            name: e.name,
            value: REDACTED.to_owned(),
        })
        .collect())
}

fn first_word<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    let command: Option<Vec<String>> = Option::deserialize(d)?;
    Ok(command
        .and_then(|c| c.into_iter().next())
        .map(|first| vec![first]))
}

/// Annotations that decide how a pod is judged: AppArmor and seccomp by annotation (older
/// Kubernetes, still honoured by kubelets and checked by Pod Security).
fn judged_annotation(key: &str) -> bool {
    key == crate::core::api::SERVICE_ACCOUNT_TOKEN_ANNOTATION
        || key.starts_with(APPARMOR_ANNOTATION_PREFIX)
        || key.starts_with("seccomp.security.alpha.kubernetes.io/")
        || key.starts_with("container.seccomp.security.alpha.kubernetes.io/")
}

/// What the admission rules judge of one pod: its name and namespace, the rest as compact
/// JSON (a `Pod` with the decoded spec, the labels, the judged annotations and the
/// controller, without name and namespace: pods alike in many namespaces share that text,
/// see [`SharedStr`]), and a digest of all of it: a pod whose digest did not change is judged
/// as before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JudgedPod {
    pub digest: u64,
    name: SharedStr,
    namespace: Option<SharedStr>,
    json: SharedStr,
}

impl JudgedPod {
    pub fn of(pod: &PodView) -> Self {
        let annotations: BTreeMap<&String, &String> = pod
            .annotations()
            .iter()
            .filter(|(k, _)| judged_annotation(k))
            .collect();
        // The controller only (`requireController`, `requireProbes` of Job pods, replicas
        // under `highAvailability`).
        let controller: Vec<&k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference> = pod
            .owner_references()
            .iter()
            .filter(|o| o.controller == Some(true))
            .collect();
        // Every label: HardeningExceptions cover pods by label, a PodDisruptionBudget selects
        // highly available pods by them, and `highAvailability` reads one.
        let json = serde_json::json!({
            "metadata": {
                "labels": pod.labels(),
                "annotations": annotations,
                "ownerReferences": controller,
            },
            "spec": pod.spec,
        })
        .to_string();
        let name = pod.name_any();
        let namespace = pod.namespace();
        let mut hasher = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(&(&name, &namespace, &json), &mut hasher);
        Self {
            digest: std::hash::Hasher::finish(&hasher),
            name: name.into(),
            namespace: namespace.map(SharedStr::from),
            json: json.into(),
        }
    }

    /// The pod as the judges read it.
    pub fn pod(&self) -> Pod {
        let mut pod: Pod = serde_json::from_str(&self.json).expect("a judged pod parses as a Pod");
        pod.metadata.name = Some(self.name.to_string());
        pod.metadata.namespace = self.namespace.as_ref().map(ToString::to_string);
        pod
    }
}

/// The profile a container runs under, for one of seccomp or AppArmor.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Applied {
    /// Neither the container nor the pod names one: the node's default applies.
    Unset,
    /// `RuntimeDefault`, `Unconfined` (or another type name the API may add).
    Type(SharedStr),
    /// `Localhost` with this profile name.
    Localhost(SharedStr),
}

impl Applied {
    fn from_field(type_: &str, localhost: Option<&str>) -> Self {
        match (type_, localhost) {
            ("Localhost", Some(name)) => Self::Localhost(name.into()),
            (other, _) => Self::Type(other.into()),
        }
    }

    /// `runtime/default`, `localhost/<name>`, `unconfined` (the pre-1.30 annotation).
    fn from_annotation(value: &str) -> Self {
        match value.strip_prefix("localhost/") {
            Some(name) => Self::Localhost(name.into()),
            None if value == "runtime/default" => Self::Type("RuntimeDefault".into()),
            None if value == "unconfined" => Self::Type("Unconfined".into()),
            None => Self::Type(value.into()),
        }
    }

    fn satisfies(&self, required: &LocalhostProfile) -> bool {
        matches!(self, Self::Localhost(name) if *name == required.localhost_profile)
    }

    fn describe(&self) -> String {
        match self {
            Self::Unset => "not set".to_owned(),
            Self::Type(t) => t.to_string(),
            Self::Localhost(name) => format!("Localhost {name}"),
        }
    }
}

/// What one container runs under.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContainerProfiles {
    pub container: SharedStr,
    pub seccomp: Applied,
    pub apparmor: Applied,
}

/// What every container of a pod (init and ephemeral ones included) runs under: a
/// container's own `securityContext` wins over the pod's.
pub fn pod_profiles(pod: &PodView) -> Vec<ContainerProfiles> {
    let pod_level = pod.spec.security_context.as_ref();
    let annotations = pod.annotations();
    let spec = &pod.spec;
    spec.init_containers
        .iter()
        .chain(&spec.containers)
        .chain(&spec.ephemeral_containers)
        .map(|c| {
            let own = c.security_context.as_ref();
            let seccomp = own
                .and_then(|s| s.seccomp_profile.as_ref())
                .or_else(|| pod_level.and_then(|s| s.seccomp_profile.as_ref()))
                .map_or(Applied::Unset, |p| {
                    Applied::from_field(&p.type_, p.localhost_profile.as_deref())
                });
            let apparmor = own
                .and_then(|s| s.app_armor_profile.as_ref())
                .or_else(|| pod_level.and_then(|s| s.app_armor_profile.as_ref()))
                .map(|p| Applied::from_field(&p.type_, p.localhost_profile.as_deref()))
                .or_else(|| {
                    annotations
                        .get(&format!("{APPARMOR_ANNOTATION_PREFIX}{}", c.name))
                        .map(|v| Applied::from_annotation(v))
                })
                .unwrap_or(Applied::Unset);
            ContainerProfiles {
                container: c.name.as_str().into(),
                seccomp,
                apparmor,
            }
        })
        .collect()
}

/// Why a pod does not run under `required`, or `None` when every container does:
/// `container app: seccompProfile RuntimeDefault, wants Localhost hardening.dev/p.json`.
pub fn unconfined_reason(
    containers: &[ContainerProfiles],
    required: &WorkloadSecurityContext,
) -> Option<String> {
    let problems: Vec<String> = containers
        .iter()
        .filter_map(|c| {
            let mut missing = Vec::new();
            let checks = [
                ("seccompProfile", &c.seccomp, &required.seccomp_profile),
                ("appArmorProfile", &c.apparmor, &required.app_armor_profile),
            ];
            for (field, applied, wanted) in checks {
                if let Some(wanted) = wanted
                    && !applied.satisfies(wanted)
                {
                    missing.push(format!(
                        "{field} {}, wants Localhost {}",
                        applied.describe(),
                        wanted.localhost_profile
                    ));
                }
            }
            (!missing.is_empty())
                .then(|| format!("container {}: {}", c.container, missing.join("; ")))
        })
        .collect();
    let first = problems.first()?;
    let reason = match problems.len() {
        1 => first.clone(),
        n => format!("{first} (and {})", count(n - 1, "more container")),
    };
    Some(truncate(&reason))
}

fn truncate(text: &str) -> String {
    if text.chars().count() <= MAX_REASON_CHARS {
        return text.to_owned();
    }
    let kept: String = text.chars().take(MAX_REASON_CHARS - 1).collect();
    format!("{kept}…")
}

/// The pods of one namespace that do not run under the required profiles.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnconfinedPods {
    pub count: u32,
    /// The first [`MAX_LISTED_PODS`] by name.
    pub listed: Vec<UnconfinedPod>,
}

/// Pods alike run their containers under the same profiles, held once.
impl crate::core::shared::Interned for Vec<ContainerProfiles> {
    fn pool() -> &'static crate::core::shared::PoolOf<Self> {
        static POOL: crate::core::shared::PoolOf<Vec<ContainerProfiles>> =
            std::sync::Mutex::new(None);
        &POOL
    }
}

/// Namespaces whose pods are alike have equal findings, held once.
impl std::hash::Hash for UnconfinedPods {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.count.hash(state);
        for pod in &self.listed {
            pod.name.hash(state);
            pod.reason.hash(state);
        }
    }
}

impl crate::core::shared::Interned for UnconfinedPods {
    fn pool() -> &'static crate::core::shared::PoolOf<Self> {
        static POOL: crate::core::shared::PoolOf<UnconfinedPods> = std::sync::Mutex::new(None);
        &POOL
    }
}

/// Assesses `pods` (name, container profiles), in name order, against `required`.
pub fn assess<'a>(
    pods: impl IntoIterator<Item = (&'a str, &'a [ContainerProfiles])>,
    required: &WorkloadSecurityContext,
) -> UnconfinedPods {
    let mut found: Vec<UnconfinedPod> = pods
        .into_iter()
        .filter_map(|(name, containers)| {
            unconfined_reason(containers, required).map(|reason| UnconfinedPod {
                name: name.to_owned(),
                reason,
            })
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    let count = found.len() as u32;
    found.truncate(MAX_LISTED_PODS);
    UnconfinedPods {
        count,
        listed: found,
    }
}

/// One active pod in the index: the profiles its containers run under, and what the
/// admission rules judge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodEntry {
    /// Held once for pods alike ([`crate::core::shared::share`]).
    pub profiles: std::sync::Arc<Vec<ContainerProfiles>>,
    pub judged: JudgedPod,
    /// Labelled `hardening.dev/high-availability: "true"` (see `core::availability`).
    pub highly_available: bool,
}

impl PodEntry {
    fn of(pod: &PodView) -> Self {
        Self {
            profiles: crate::core::shared::share(pod_profiles(pod)),
            judged: JudgedPod::of(pod),
            highly_available: crate::core::availability::highly_available(pod.labels()),
        }
    }
}

/// The active pods of one namespace in name order: a boxed slice, not a map (a B-tree's
/// node holds room for eleven pods, about 1 KiB, where most namespaces run a few).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct NamespacePods(Box<[(SharedStr, PodEntry)]>);

impl NamespacePods {
    /// Pods in any order, a later one replacing an earlier one of the same name.
    fn of(mut pods: Vec<(SharedStr, PodEntry)>) -> Self {
        pods.sort_by(|a, b| a.0.cmp(&b.0));
        pods.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0;
            if same {
                std::mem::swap(later, earlier);
            }
            same
        });
        Self(pods.into_boxed_slice())
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(n, _)| n.as_str().cmp(name))
    }

    fn get(&self, name: &str) -> Option<&PodEntry> {
        self.position(name).ok().map(|i| &self.0[i].1)
    }

    fn insert(&mut self, name: SharedStr, entry: PodEntry) {
        match self.position(&name) {
            Ok(i) => self.0[i].1 = entry,
            Err(i) => {
                let mut pods = std::mem::take(&mut self.0).into_vec();
                pods.insert(i, (name, entry));
                self.0 = pods.into_boxed_slice();
            }
        }
    }

    fn remove(&mut self, name: &str) -> Option<PodEntry> {
        let i = self.position(name).ok()?;
        let mut pods = std::mem::take(&mut self.0).into_vec();
        let (_, entry) = pods.remove(i);
        self.0 = pods.into_boxed_slice();
        Some(entry)
    }

    fn iter(&self) -> impl Iterator<Item = (&str, &PodEntry)> {
        self.0.iter().map(|(name, entry)| (name.as_str(), entry))
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The container profiles and judged specs of every active pod, by namespace, fed by a pod
/// watch.
#[derive(Debug, Default)]
pub struct PodIndex {
    pods: HashMap<SharedStr, NamespacePods>,
    /// A (re-)list in progress, pods in the order listed: replaces `pods` when complete.
    relist: Option<HashMap<SharedStr, Vec<(SharedStr, PodEntry)>>>,
    synced: bool,
}

impl PodIndex {
    /// Applies one watch event; returns the namespaces whose pods changed in what is judged
    /// (a pod added, removed, running under other profiles, with another image, container or
    /// security context), never one where only a pod's status moved.
    pub fn apply(&mut self, event: &watcher::Event<PodView>) -> BTreeSet<String> {
        let mut changed = BTreeSet::new();
        match event {
            watcher::Event::Apply(pod) => {
                if let Some(namespace) = pod.namespace() {
                    let entry = PodEntry::of(pod);
                    let pods = self.pods.entry(namespace.as_str().into()).or_default();
                    let name = pod.name_any();
                    if pods.get(name.as_str()) != Some(&entry) {
                        pods.insert(name.into(), entry);
                        changed.insert(namespace);
                    }
                }
            }
            watcher::Event::Delete(pod) => {
                if let Some(namespace) = pod.namespace()
                    && let Some(pods) = self.pods.get_mut(namespace.as_str())
                    && pods.remove(pod.name_any().as_str()).is_some()
                {
                    if pods.is_empty() {
                        self.pods.remove(namespace.as_str());
                    }
                    changed.insert(namespace);
                }
            }
            watcher::Event::Init => self.relist = Some(HashMap::new()),
            watcher::Event::InitApply(pod) => {
                if let (Some(relist), Some(namespace)) = (self.relist.as_mut(), pod.namespace()) {
                    relist
                        .entry(namespace.into())
                        .or_default()
                        .push((pod.name_any().into(), PodEntry::of(pod)));
                }
            }
            watcher::Event::InitDone => {
                let fresh: HashMap<SharedStr, NamespacePods> = self
                    .relist
                    .take()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(namespace, pods)| (namespace, NamespacePods::of(pods)))
                    .collect();
                let namespaces: BTreeSet<&SharedStr> =
                    fresh.keys().chain(self.pods.keys()).collect();
                changed = namespaces
                    .into_iter()
                    .filter(|ns| fresh.get(*ns) != self.pods.get(*ns))
                    .map(ToString::to_string)
                    .collect();
                self.pods = fresh;
                self.synced = true;
            }
        }
        changed
    }

    /// Whether a first complete listing arrived.
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// The active pods of `namespace` with their container profiles, in name order.
    pub fn in_namespace(
        &self,
        namespace: &str,
    ) -> impl Iterator<Item = (&str, &[ContainerProfiles])> {
        self.entries(namespace)
            .map(|(name, entry)| (name, entry.profiles.as_slice()))
    }

    /// The active pods of `namespace`, in name order.
    pub fn entries(&self, namespace: &str) -> impl Iterator<Item = (&str, &PodEntry)> {
        self.pods
            .get(namespace)
            .into_iter()
            .flat_map(NamespacePods::iter)
    }

    /// Active pods indexed, over all namespaces.
    pub fn len(&self) -> usize {
        self.pods.values().map(NamespacePods::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    proptest::proptest! {
        /// What the judges read of a pod is the pod as it was read in full before name and
        /// namespace were kept apart (the oracle: the `Pod` of one JSON document with them
        /// in its metadata); pods alike in two namespaces share their judged text, and a
        /// digest changes with the name, the namespace and what is judged.
        #[test]
        fn a_judged_pod_is_the_pod_read_in_full_and_alike_pods_share_it(
            name in "[a-z][a-z0-9-]{0,20}",
            namespaces in ("[a-z][a-z0-9-]{0,20}", "[a-z][a-z0-9-]{0,20}"),
            image in "[a-z]{1,10}(:[0-9]{1,3})?",
            labels in proptest::collection::btree_map("[a-z]{1,8}", "[a-z0-9]{0,8}", 0..4),
            apparmor in proptest::option::of("(runtime/default|localhost/[a-z]{1,8})"),
            controller in proptest::bool::ANY,
        ) {
            let view = |namespace: &str| -> PodView {
                let mut annotations = serde_json::Map::new();
                annotations.insert("unjudged".into(), json!("x"));
                if let Some(a) = &apparmor {
                    annotations.insert(format!("{APPARMOR_ANNOTATION_PREFIX}app"), json!(a));
                }
                serde_json::from_value(json!({
                    "metadata": {
                        "name": name, "namespace": namespace, "labels": labels,
                        "annotations": annotations,
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                            "name": "rs", "uid": "u", "controller": controller}],
                    },
                    "spec": {"containers": [{"name": "app", "image": image,
                        "env": [{"name": "A", "value": "secret"}],
                        "command": ["sh", "-c", "x"]}]},
                }))
                .unwrap()
            };
            let (a, b) = (view(&namespaces.0), view(&namespaces.1));
            let (ja, jb) = (JudgedPod::of(&a), JudgedPod::of(&b));
            let annotations: BTreeMap<&String, &String> =
                a.annotations().iter().filter(|(k, _)| judged_annotation(k)).collect();
            let owners: Vec<_> = a
                .owner_references()
                .iter()
                .filter(|o| o.controller == Some(true))
                .collect();
            let oracle: Pod = serde_json::from_value(json!({
                "metadata": {
                    "name": a.name_any(),
                    "namespace": a.namespace(),
                    "labels": a.labels(),
                    "annotations": annotations,
                    "ownerReferences": owners,
                },
                "spec": a.spec,
            }))
            .unwrap();
            proptest::prop_assert_eq!(ja.pod(), oracle);
            proptest::prop_assert_eq!(jb.pod().metadata.namespace, Some(namespaces.1.clone()));
            proptest::prop_assert!(ja.json.is_shared_with(&jb.json));
            proptest::prop_assert_eq!(ja.digest == jb.digest, namespaces.0 == namespaces.1);
            let mut renamed = a.clone();
            renamed.metadata.name = Some(format!("{name}-2"));
            proptest::prop_assert_ne!(JudgedPod::of(&renamed).digest, ja.digest);
            let mut changed = a.clone();
            changed.spec.containers[0].image = Some(format!("{image}-2"));
            proptest::prop_assert_ne!(JudgedPod::of(&changed).digest, ja.digest);
        }
    }

    fn pod(namespace: &str, name: &str, spec: serde_json::Value) -> PodView {
        serde_json::from_value(json!({
            "metadata": {"namespace": namespace, "name": name},
            "spec": spec,
        }))
        .unwrap()
    }

    /// A watch event of the index's model test: 0 apply, 1 delete, 2 init, 3 init apply,
    /// 4 init done, of pod `name` in namespace `namespace` running `image`.
    fn event(kind: u8, namespace: u8, name: u8, image: u8) -> watcher::Event<PodView> {
        let view = pod(
            &format!("ns-{namespace}"),
            &format!("pod-{name}"),
            json!({"containers": [{"name": "app", "image": format!("img:{image}")}]}),
        );
        match kind {
            0 => watcher::Event::Apply(view),
            1 => watcher::Event::Delete(view),
            2 => watcher::Event::Init,
            3 => watcher::Event::InitApply(view),
            _ => watcher::Event::InitDone,
        }
    }

    /// The index as a map of maps (what it was before its namespaces became sorted slices):
    /// the oracle of `the_index_is_a_map_of_maps`.
    #[derive(Default)]
    struct Model {
        pods: BTreeMap<String, BTreeMap<String, PodEntry>>,
        relist: Option<BTreeMap<String, BTreeMap<String, PodEntry>>>,
    }

    impl Model {
        fn apply(&mut self, event: &watcher::Event<PodView>) -> BTreeSet<String> {
            let mut changed = BTreeSet::new();
            match event {
                watcher::Event::Apply(pod) => {
                    let (ns, entry) = (pod.namespace().unwrap(), PodEntry::of(pod));
                    let pods = self.pods.entry(ns.clone()).or_default();
                    if pods.get(&pod.name_any()) != Some(&entry) {
                        pods.insert(pod.name_any(), entry);
                        changed.insert(ns);
                    }
                }
                watcher::Event::Delete(pod) => {
                    let ns = pod.namespace().unwrap();
                    if let Some(pods) = self.pods.get_mut(&ns)
                        && pods.remove(&pod.name_any()).is_some()
                    {
                        if pods.is_empty() {
                            self.pods.remove(&ns);
                        }
                        changed.insert(ns);
                    }
                }
                watcher::Event::Init => self.relist = Some(BTreeMap::new()),
                watcher::Event::InitApply(pod) => {
                    if let Some(relist) = self.relist.as_mut() {
                        relist
                            .entry(pod.namespace().unwrap())
                            .or_default()
                            .insert(pod.name_any(), PodEntry::of(pod));
                    }
                }
                watcher::Event::InitDone => {
                    let fresh = self.relist.take().unwrap_or_default();
                    changed = fresh
                        .keys()
                        .chain(self.pods.keys())
                        .filter(|ns| fresh.get(*ns) != self.pods.get(*ns))
                        .cloned()
                        .collect();
                    self.pods = fresh;
                }
            }
            changed
        }
    }

    proptest::proptest! {
        /// Whatever the watch sends, the index (a sorted slice per namespace) reports the
        /// same changed namespaces and holds the same pods in the same order as a map of
        /// maps.
        #[test]
        fn the_index_is_a_map_of_maps(
            events in proptest::collection::vec((0u8..5, 0u8..3, 0u8..6, 0u8..2), 0..80)
        ) {
            let (mut index, mut model) = (PodIndex::default(), Model::default());
            for (kind, namespace, name, image) in events {
                let event = event(kind, namespace, name, image);
                proptest::prop_assert_eq!(index.apply(&event), model.apply(&event));
                for ns in (0..3).map(|n| format!("ns-{n}")) {
                    let held: Vec<(&str, &PodEntry)> = index.entries(&ns).collect();
                    let expected: Vec<(&str, &PodEntry)> = model
                        .pods
                        .get(&ns)
                        .into_iter()
                        .flatten()
                        .map(|(n, e)| (n.as_str(), e))
                        .collect();
                    proptest::prop_assert_eq!(held, expected);
                }
                proptest::prop_assert_eq!(index.len(), model.pods.values().map(BTreeMap::len).sum::<usize>());
            }
        }
    }

    fn required(seccomp: bool, apparmor: bool) -> WorkloadSecurityContext {
        serde_json::from_value(json!({
        "seccompProfile": seccomp.then(|| json!({"type": "Localhost", "localhostProfile": "hardening.dev/p.json"})),
        "appArmorProfile": apparmor.then(|| json!({"type": "Localhost", "localhostProfile": "hardening.dev-p"})),
    }))
    .unwrap()
    }

    const CONFINED_POD: &str = r#"{"seccompProfile": {"type": "Localhost", "localhostProfile": "hardening.dev/p.json"},
    "appArmorProfile": {"type": "Localhost", "localhostProfile": "hardening.dev-p"}}"#;

    fn confined() -> serde_json::Value {
        serde_json::from_str(CONFINED_POD).unwrap()
    }

    fn reason(pod: &PodView, required: &WorkloadSecurityContext) -> Option<String> {
        unconfined_reason(&pod_profiles(pod), required)
    }

    #[test]
    fn a_pod_level_profile_covers_every_container() {
        let p = pod(
            "a",
            "web",
            json!({"securityContext": confined(),
               "initContainers": [{"name": "init"}],
               "containers": [{"name": "app"}, {"name": "sidecar"}]}),
        );
        assert_eq!(reason(&p, &required(true, true)), None);
        let names: Vec<_> = pod_profiles(&p).into_iter().map(|c| c.container).collect();
        assert_eq!(names, ["init", "app", "sidecar"]);
    }

    #[test]
    fn a_container_overrides_the_pod_and_is_named() {
        let p = pod(
            "a",
            "web",
            json!({"securityContext": confined(),
               "containers": [
                   {"name": "app"},
                   {"name": "debug", "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}}]}),
        );
        assert_eq!(
            reason(&p, &required(true, true)).as_deref(),
            Some(
                "container debug: seccompProfile RuntimeDefault, wants Localhost hardening.dev/p.json"
            )
        );
        // Only what the profile declares is required.
        assert_eq!(reason(&p, &required(false, true)), None);
    }

    #[test]
    fn unset_and_wrong_localhost_profiles_are_reported_per_field() {
        let p = pod(
            "a",
            "web",
            json!({"containers": [{"name": "app", "securityContext": {
            "appArmorProfile": {"type": "Localhost", "localhostProfile": "other"}}}]}),
        );
        assert_eq!(
            reason(&p, &required(true, true)).as_deref(),
            Some(
                "container app: seccompProfile not set, wants Localhost hardening.dev/p.json; \
             appArmorProfile Localhost other, wants Localhost hardening.dev-p"
            )
        );
    }

    #[test]
    fn several_unconfined_containers_are_counted() {
        let p = pod(
            "a",
            "web",
            json!({"containers": [{"name": "a"}, {"name": "b"}],
               "ephemeralContainers": [{"name": "debugger"}]}),
        );
        assert_eq!(
            reason(&p, &required(true, false)).as_deref(),
            Some(
                "container a: seccompProfile not set, wants Localhost hardening.dev/p.json \
             (and 2 more containers)"
            )
        );
    }

    #[test]
    fn the_pre_1_30_apparmor_annotation_counts_when_the_field_is_unset() {
        let mut p = pod(
            "a",
            "web",
            json!({"containers": [{"name": "app"}, {"name": "other"}]}),
        );
        p.metadata.annotations = Some(
            [
                (
                    "container.apparmor.security.beta.kubernetes.io/app".to_owned(),
                    "localhost/hardening.dev-p".to_owned(),
                ),
                (
                    "container.apparmor.security.beta.kubernetes.io/other".to_owned(),
                    "runtime/default".to_owned(),
                ),
            ]
            .into(),
        );
        assert_eq!(
            reason(&p, &required(false, true)).as_deref(),
            Some(
                "container other: appArmorProfile RuntimeDefault, wants Localhost hardening.dev-p"
            )
        );
    }

    #[test]
    fn long_reasons_are_cut() {
        let long = "x".repeat(300);
        let p = pod("a", "web", json!({"containers": [{"name": long}]}));
        let text = reason(&p, &required(true, true)).unwrap();
        assert_eq!(text.chars().count(), MAX_REASON_CHARS);
        assert!(text.ends_with('…'));
    }

    #[test]
    fn assess_counts_all_and_lists_the_first_by_name() {
        let unconfined = json!({"containers": [{"name": "app"}]});
        let mut index = PodIndex::default();
        index.apply(&watcher::Event::Init);
        for name in ["f", "b", "d", "a", "e", "c", "g"] {
            index.apply(&watcher::Event::InitApply(pod(
                "ns",
                name,
                unconfined.clone(),
            )));
        }
        index.apply(&watcher::Event::InitApply(pod(
            "ns",
            "0-confined",
            json!({"securityContext": confined(), "containers": [{"name": "app"}]}),
        )));
        index.apply(&watcher::Event::InitDone);
        let found = assess(index.in_namespace("ns"), &required(true, true));
        assert_eq!(found.count, 7);
        let listed: Vec<&str> = found.listed.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(listed, ["a", "b", "c", "d", "e"]);
        assert_eq!(
            assess(index.in_namespace("elsewhere"), &required(true, true)),
            UnconfinedPods::default()
        );
    }

    #[test]
    fn the_index_reports_only_namespaces_whose_pod_profiles_changed() {
        let app = json!({"containers": [{"name": "app"}]});
        let mut index = PodIndex::default();
        assert!(!index.is_synced());
        index.apply(&watcher::Event::Init);
        index.apply(&watcher::Event::InitApply(pod("a", "one", app.clone())));
        assert!(index.is_empty(), "a listing counts only once complete");
        assert_eq!(
            index.apply(&watcher::Event::InitDone),
            BTreeSet::from(["a".to_owned()])
        );
        assert!(index.is_synced());

        // The same pod again (a status update): nothing changed.
        assert!(
            index
                .apply(&watcher::Event::Apply(pod("a", "one", app.clone())))
                .is_empty()
        );
        // Other profiles, a new pod, a deleted pod: each changes its namespace.
        let changed = index.apply(&watcher::Event::Apply(pod(
            "a",
            "one",
            json!({"securityContext": confined(), "containers": [{"name": "app"}]}),
        )));
        assert_eq!(changed, BTreeSet::from(["a".to_owned()]));
        let changed = index.apply(&watcher::Event::Apply(pod("b", "two", app.clone())));
        assert_eq!(changed, BTreeSet::from(["b".to_owned()]));
        assert_eq!(index.len(), 2);
        let changed = index.apply(&watcher::Event::Delete(pod("b", "two", app.clone())));
        assert_eq!(changed, BTreeSet::from(["b".to_owned()]));
        assert!(
            index
                .apply(&watcher::Event::Delete(pod("b", "two", app.clone())))
                .is_empty()
        );

        // A re-list replaces everything and names exactly the namespaces that differ.
        index.apply(&watcher::Event::Init);
        index.apply(&watcher::Event::InitApply(pod(
            "a",
            "one",
            json!({"securityContext": confined(), "containers": [{"name": "app"}]}),
        )));
        index.apply(&watcher::Event::InitApply(pod("c", "three", app)));
        assert_eq!(
            index.apply(&watcher::Event::InitDone),
            BTreeSet::from(["c".to_owned()])
        );
        let everywhere: Vec<&str> = ["a", "b", "c"]
            .iter()
            .flat_map(|ns| index.in_namespace(ns).map(|(name, _)| name))
            .collect();
        assert_eq!(everywhere, ["one", "three"]);
    }

    #[test]
    fn one_more_unconfined_container_is_singular() {
        let p = pod(
            "a",
            "web",
            json!({"containers": [{"name": "a"}, {"name": "b"}]}),
        );
        assert_eq!(
            reason(&p, &required(true, false)).as_deref(),
            Some(
                "container a: seccompProfile not set, wants Localhost hardening.dev/p.json \
             (and 1 more container)"
            )
        );
    }

    /// What the admission rules judge (issue 19, item 4): a new image, an added ephemeral
    /// container, a changed security context or host namespace change the namespace; the
    /// values of the environment or a label do not (they are not judged, and not kept).
    #[test]
    fn the_index_reports_a_pod_whose_judged_spec_changed() {
        let base = json!({"containers": [{"name": "app", "image": "registry.example/app:1",
                                      "env": [{"name": "X", "value": "1"}]}]});
        let mut index = PodIndex::default();
        index.apply(&watcher::Event::Init);
        index.apply(&watcher::Event::InitApply(pod("a", "one", base.clone())));
        index.apply(&watcher::Event::InitDone);
        let digest = |index: &PodIndex| index.entries("a").next().unwrap().1.judged.digest;
        let before = digest(&index);
        let unjudged = json!({"containers": [{"name": "app", "image": "registry.example/app:1",
                                          "env": [{"name": "X", "value": "2"}]}]});
        assert!(
            index
                .apply(&watcher::Event::Apply(pod("a", "one", unjudged)))
                .is_empty()
        );
        assert_eq!(digest(&index), before);
        let kept = index.entries("a").next().unwrap().1.judged.pod();
        assert_eq!(
            serde_json::to_value(&kept.spec.unwrap().containers[0].env).unwrap(),
            json!([{"name": "X", "value": REDACTED}]),
            "the name of a literal variable is kept, never its value"
        );
        for (what, spec) in [
            (
                "a literal variable with a secret-like name",
                json!({"containers": [{"name": "app", "image": "registry.example/app:1",
                                   "env": [{"name": "X", "value": "2"}, {"name": "DB_PASSWORD", "value": "p"}]}]}),
            ),
            (
                "image",
                json!({"containers": [{"name": "app", "image": "docker.io/library/app:1"}]}),
            ),
            (
                "ephemeral container",
                json!({"containers": [{"name": "app", "image": "docker.io/library/app:1"}],
                   "ephemeralContainers": [{"name": "debug", "image": "busybox"}]}),
            ),
            (
                "security context",
                json!({"containers": [{"name": "app", "image": "docker.io/library/app:1",
                                   "securityContext": {"privileged": true}}],
                   "ephemeralContainers": [{"name": "debug", "image": "busybox"}]}),
            ),
            (
                "host network",
                json!({"hostNetwork": true,
                   "containers": [{"name": "app", "image": "docker.io/library/app:1",
                                   "securityContext": {"privileged": true}}],
                   "ephemeralContainers": [{"name": "debug", "image": "busybox"}]}),
            ),
        ] {
            let before = digest(&index);
            assert_eq!(
                index.apply(&watcher::Event::Apply(pod("a", "one", spec))),
                BTreeSet::from(["a".to_owned()]),
                "{what}"
            );
            assert_ne!(digest(&index), before, "{what}");
        }
        // The judged pod reads back as the pod it was made from.
        let judged = index.entries("a").next().unwrap().1.judged.pod();
        let spec = judged.spec.unwrap();
        assert_eq!(spec.host_network, Some(true));
        assert_eq!(spec.ephemeral_containers.unwrap()[0].name, "debug");
        assert_eq!(
            spec.containers[0].image.as_deref(),
            Some("docker.io/library/app:1")
        );
    }
}
