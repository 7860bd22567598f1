//! The I/O of the pod verdicts (`crate::core::preview`): the pods of a namespace, judged one
//! at a time. The namespace reconciler reads them from the operator's pod watch and keeps
//! each pod's verdict until what is judged of the pod (its digest) or the profile's
//! generation changes ([`PodVerdicts`]), so a changed pod costs its own judgement only;
//! without a pod watch the reconciler lists them ([`crate::live::list_and_judge`], which
//! `hardening-operator diff` uses too).

use std::collections::HashMap;
use std::sync::Mutex;

use kube::ResourceExt;

use crate::core::api::{ActiveException, HardeningProfile};
use crate::core::preview::{NamespacePreview, PodVerdict, judge, namespace_preview};
use crate::core::workloads::JudgedPod;

/// One namespace's pod verdicts: for the profile (name, generation, digest of the exceptions
/// in force covering the namespace) they were made for, each pod's digest and verdict.
#[derive(Default)]
struct NamespaceVerdicts {
    profile: (String, i64, u64),
    pods: HashMap<String, (u64, PodVerdict)>,
}

/// The pod verdicts of every namespace whose pods the reconciler judged.
#[derive(Default)]
pub struct PodVerdicts(Mutex<HashMap<String, NamespaceVerdicts>>);

impl PodVerdicts {
    /// The preview of `namespace`'s pods (`digests`: name and digest of each active pod)
    /// with `exceptions` (those in force covering it); `judged` fetches what is judged of a
    /// pod that is new or changed since the last call.
    pub fn preview(
        &self,
        namespace: &str,
        profile: &HardeningProfile,
        exceptions: &[ActiveException],
        digests: Vec<(String, u64)>,
        judged: impl Fn(&str) -> Option<JudgedPod>,
    ) -> NamespacePreview {
        let mut all = self.0.lock().expect("pod verdicts lock");
        let known = all.entry(namespace.to_owned()).or_default();
        let key = (
            profile.name_any(),
            profile.metadata.generation.unwrap_or(0),
            crate::core::exceptions::digest(exceptions),
        );
        if known.profile != key {
            *known = NamespaceVerdicts {
                profile: key,
                pods: HashMap::new(),
            };
        }
        let mut pods = HashMap::with_capacity(digests.len());
        for (name, digest) in digests {
            let verdict = match known.pods.remove(&name) {
                Some((known_digest, verdict)) if known_digest == digest => verdict,
                _ => match judged(&name) {
                    Some(pod) => judge(profile, &pod.pod(), exceptions),
                    // Gone since the digests were read: judged with the next event.
                    None => continue,
                },
            };
            pods.insert(name, (digest, verdict));
        }
        known.pods = pods;
        namespace_preview(
            profile,
            namespace,
            exceptions,
            known.pods.iter().map(|(name, (_, v))| (name.as_str(), v)),
        )
    }

    /// Forgets a namespace (gone, or no longer governed).
    pub fn forget(&self, namespace: &str) {
        self.0.lock().expect("pod verdicts lock").remove(namespace);
    }
}
