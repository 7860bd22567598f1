//! Pods that do not run under the seccomp and AppArmor profiles their namespace's governing
//! HardeningProfile declares (BSI SYS.1.6 (2023) A21). Pure: the controller feeds pod watch events
//! into a [`PodIndex`] and assesses a namespace's pods against the profile's
//! [`WorkloadSecurityContext`].
//!
//! Memory stays small however many pods the cluster runs: the watch decodes a pod into a
//! [`PodView`] (names and the two profile fields only) and the index keeps, per pod, only the
//! profiles each container runs under.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use k8s_openapi::api::core::v1::{AppArmorProfile, Pod, SeccompProfile};
use kube::api::ObjectMeta;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde::Deserialize;

use crate::core::api::{LocalhostProfile, UnconfinedPod, WorkloadSecurityContext};
use crate::core::plural::count;

/// Unconfined pods listed by name per namespace in the status; the rest are counted.
pub const MAX_LISTED_PODS: usize = 5;
/// Longest reason kept for a listed pod.
pub const MAX_REASON_CHARS: usize = 256;
/// Pods that have finished run nothing; the watch leaves them out.
pub const ACTIVE_PODS_FIELD_SELECTOR: &str = "status.phase!=Succeeded,status.phase!=Failed";
/// The AppArmor annotation of Kubernetes before 1.30, still honoured by kubelets.
const APPARMOR_ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

/// A Pod as the operator reads it: only what confinement needs is decoded.
#[derive(Resource, Deserialize, Clone, Debug, Default)]
#[resource(inherit = "Pod")]
pub struct PodView {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PodViewSpec,
}

#[derive(Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodViewSpec {
    #[serde(default)]
    pub security_context: Option<ProfilesView>,
    #[serde(default)]
    pub containers: Vec<ContainerView>,
    #[serde(default)]
    pub init_containers: Vec<ContainerView>,
    #[serde(default)]
    pub ephemeral_containers: Vec<ContainerView>,
}

#[derive(Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct ContainerView {
    pub name: String,
    #[serde(default)]
    pub security_context: Option<ProfilesView>,
}

/// The two fields of a pod's or container's `securityContext` that matter here.
#[derive(Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct ProfilesView {
    #[serde(default)]
    pub seccomp_profile: Option<SeccompProfile>,
    #[serde(default)]
    pub app_armor_profile: Option<AppArmorProfile>,
}

/// The profile a container runs under, for one of seccomp or AppArmor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Neither the container nor the pod names one: the node's default applies.
    Unset,
    /// `RuntimeDefault`, `Unconfined` (or another type name the API may add).
    Type(String),
    /// `Localhost` with this profile name.
    Localhost(String),
}

impl Applied {
    fn from_field(type_: &str, localhost: Option<&str>) -> Self {
        match (type_, localhost) {
            ("Localhost", Some(name)) => Self::Localhost(name.to_owned()),
            (other, _) => Self::Type(other.to_owned()),
        }
    }

    /// `runtime/default`, `localhost/<name>`, `unconfined` (the pre-1.30 annotation).
    fn from_annotation(value: &str) -> Self {
        match value.strip_prefix("localhost/") {
            Some(name) => Self::Localhost(name.to_owned()),
            None if value == "runtime/default" => Self::Type("RuntimeDefault".to_owned()),
            None if value == "unconfined" => Self::Type("Unconfined".to_owned()),
            None => Self::Type(value.to_owned()),
        }
    }

    fn satisfies(&self, required: &LocalhostProfile) -> bool {
        matches!(self, Self::Localhost(name) if *name == required.localhost_profile)
    }

    fn describe(&self) -> String {
        match self {
            Self::Unset => "not set".to_owned(),
            Self::Type(t) => t.clone(),
            Self::Localhost(name) => format!("Localhost {name}"),
        }
    }
}

/// What one container runs under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerProfiles {
    pub container: String,
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
                container: c.name.clone(),
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

type NamespacePods = BTreeMap<String, Vec<ContainerProfiles>>;

/// The container profiles of every active pod, by namespace, fed by a pod watch.
#[derive(Debug, Default)]
pub struct PodIndex {
    pods: HashMap<String, NamespacePods>,
    /// A (re-)list in progress: replaces `pods` when complete.
    relist: Option<HashMap<String, NamespacePods>>,
    synced: bool,
}

impl PodIndex {
    /// Applies one watch event; returns the namespaces whose pods' profiles changed
    /// (a pod added, removed, or running under other profiles), never one where only a
    /// pod's status moved.
    pub fn apply(&mut self, event: &watcher::Event<PodView>) -> BTreeSet<String> {
        let mut changed = BTreeSet::new();
        match event {
            watcher::Event::Apply(pod) => {
                if let Some(namespace) = pod.namespace() {
                    let profiles = pod_profiles(pod);
                    let pods = self.pods.entry(namespace.clone()).or_default();
                    if pods.get(&pod.name_any()) != Some(&profiles) {
                        pods.insert(pod.name_any(), profiles);
                        changed.insert(namespace);
                    }
                }
            }
            watcher::Event::Delete(pod) => {
                if let Some(namespace) = pod.namespace()
                    && let Some(pods) = self.pods.get_mut(&namespace)
                    && pods.remove(&pod.name_any()).is_some()
                {
                    if pods.is_empty() {
                        self.pods.remove(&namespace);
                    }
                    changed.insert(namespace);
                }
            }
            watcher::Event::Init => self.relist = Some(HashMap::new()),
            watcher::Event::InitApply(pod) => {
                if let (Some(relist), Some(namespace)) = (self.relist.as_mut(), pod.namespace()) {
                    relist
                        .entry(namespace)
                        .or_default()
                        .insert(pod.name_any(), pod_profiles(pod));
                }
            }
            watcher::Event::InitDone => {
                let fresh = self.relist.take().unwrap_or_default();
                let namespaces: BTreeSet<&String> = fresh.keys().chain(self.pods.keys()).collect();
                changed = namespaces
                    .into_iter()
                    .filter(|ns| fresh.get(*ns) != self.pods.get(*ns))
                    .cloned()
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
        self.pods
            .get(namespace)
            .into_iter()
            .flat_map(|pods| pods.iter().map(|(name, c)| (name.as_str(), c.as_slice())))
    }

    /// Active pods indexed, over all namespaces.
    pub fn len(&self) -> usize {
        self.pods.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }
}

#[cfg(test)]
mod tests;
