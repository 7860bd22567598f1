//! The I/O of the pod verdicts (`crate::core::preview`): the pods of a namespace, judged one
//! at a time. The namespace reconciler reads them from the operator's pod watch and keeps
//! each pod's verdict until what is judged of the pod (its digest) or the profile's
//! generation changes ([`PodVerdicts`]), so a changed pod costs its own judgement only;
//! without a pod watch the reconciler lists them ([`crate::live::list_and_judge`], which
//! `hardening-operator diff` uses too).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kube::ResourceExt;

use crate::core::api::{ActiveException, HardeningProfile};
use crate::core::preview::{NamespacePreview, PodVerdict, judge, namespace_preview};
use crate::core::shared::{SharedStr, share};
use crate::core::workloads::JudgedPod;

/// One namespace's pod verdicts: for the profile (name, generation, digest of the exceptions
/// in force covering the namespace) they were made for, each pod's name, digest and verdict.
/// A boxed slice in name order, not a map: every governed namespace's verdicts stay in
/// memory, and a map's spare slots cost more than its few pods. Names and findings are
/// [`SharedStr`]s: the preview's findings are the verdicts' own, and pods alike in many
/// namespaces hold their text once; equal verdicts are held once ([`share`]).
#[derive(Default)]
struct NamespaceVerdicts {
    profile: (SharedStr, i64, u64),
    pods: Box<[(SharedStr, u64, Arc<PodVerdict>)]>,
}

/// The pod verdicts of every namespace whose pods the reconciler judged.
#[derive(Default)]
pub struct PodVerdicts(Mutex<HashMap<String, NamespaceVerdicts>>);

impl PodVerdicts {
    /// The preview of `namespace`'s pods (`digests`: name and digest of each active pod, in
    /// name order) with `exceptions` (those in force covering it); `judged` fetches what is
    /// judged of a pod that is new or changed since the last call.
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
            SharedStr::new(&profile.name_any()),
            profile.metadata.generation.unwrap_or(0),
            crate::core::exceptions::digest(exceptions),
        );
        if known.profile != key {
            *known = NamespaceVerdicts {
                profile: key,
                pods: Box::default(),
            };
        }
        debug_assert!(
            digests.is_sorted_by(|a, b| a.0 < b.0),
            "digests in name order"
        );
        // Both lists are in name order: a merge finds each pod's previous verdict.
        let mut before = std::mem::take(&mut known.pods)
            .into_vec()
            .into_iter()
            .peekable();
        let mut pods = Vec::with_capacity(digests.len());
        for (name, digest) in digests {
            while before.next_if(|(known, _, _)| **known < *name).is_some() {}
            let previous = before.next_if(|(known, _, _)| **known == *name);
            let (name, verdict) = match previous {
                Some((known, known_digest, verdict)) if known_digest == digest => (known, verdict),
                _ => match judged(&name) {
                    Some(pod) => (name.into(), share(judge(profile, &pod.pod(), exceptions))),
                    // Gone since the digests were read: judged with the next event.
                    None => continue,
                },
            };
            pods.push((name, digest, verdict));
        }
        known.pods = pods.into_boxed_slice();
        namespace_preview(
            profile,
            namespace,
            exceptions,
            known.pods.iter().map(|(name, _, v)| (&**name, &**v)),
        )
    }

    /// Forgets a namespace (gone, or no longer governed).
    pub fn forget(&self, namespace: &str) {
        self.0.lock().expect("pod verdicts lock").remove(namespace);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use serde_json::json;

    use super::*;
    use crate::core::workloads::PodView;

    fn pod(name: &str, image: &str) -> JudgedPod {
        let view: PodView = serde_json::from_value(json!({
            "metadata": { "name": name, "namespace": "team-a" },
            "spec": { "containers": [{ "name": "app", "image": image }] },
        }))
        .unwrap();
        JudgedPod::of(&view)
    }

    fn profile(generation: i64) -> HardeningProfile {
        let mut profile = crate::fixtures::profile("p")
            .spec_yaml(
                "mode: Enforce\npodSecurity: {enforce: {level: restricted}}\nguardrails: {requireImageDigest: true}",
            )
            .build();
        profile.metadata.generation = Some(generation);
        profile
    }

    /// The preview of `pods` (name, image) through `verdicts`, and the pods judged anew.
    fn preview(
        verdicts: &PodVerdicts,
        profile: &HardeningProfile,
        pods: &[(&str, &str)],
    ) -> (NamespacePreview, Vec<String>) {
        let judged = RefCell::new(Vec::new());
        let digests = pods
            .iter()
            .map(|(name, image)| (name.to_string(), pod(name, image).digest))
            .collect();
        let preview = verdicts.preview("team-a", profile, &[], digests, |name| {
            judged.borrow_mut().push(name.to_owned());
            pods.iter()
                .find(|(n, _)| *n == name)
                .map(|(n, image)| pod(n, image))
        });
        (preview, judged.into_inner())
    }

    /// The oracle: every pod judged now.
    fn judged_now(profile: &HardeningProfile, pods: &[(&str, &str)]) -> NamespacePreview {
        let verdicts: Vec<(&str, PodVerdict)> = pods
            .iter()
            .map(|(name, image)| (*name, judge(profile, &pod(name, image).pod(), &[])))
            .collect();
        namespace_preview(
            profile,
            "team-a",
            &[],
            verdicts.iter().map(|(name, v)| (*name, v)),
        )
    }

    #[test]
    fn only_new_and_changed_pods_are_judged_again_and_the_preview_is_all_of_them_judged() {
        let verdicts = PodVerdicts::default();
        let p1 = profile(1);
        let mut pods = vec![("a", "nginx:1"), ("b", "nginx@sha256:0123")];
        let (first, judged) = preview(&verdicts, &p1, &pods);
        assert_eq!(judged, ["a", "b"]);
        assert_eq!(first, judged_now(&p1, &pods));
        assert!(first.rejected_pods() > 0);

        let (again, judged) = preview(&verdicts, &p1, &pods);
        assert!(judged.is_empty());
        assert_eq!(again, first);

        pods[1].1 = "redis:7";
        pods.push(("c", "nginx:1"));
        let (changed, judged) = preview(&verdicts, &p1, &pods);
        assert_eq!(judged, ["b", "c"]);
        assert_eq!(changed, judged_now(&p1, &pods));

        pods.remove(0);
        let (fewer, judged) = preview(&verdicts, &p1, &pods);
        assert!(judged.is_empty());
        assert_eq!(fewer, judged_now(&p1, &pods));

        // Another generation of the profile: every pod again.
        let p2 = profile(2);
        let (_, judged) = preview(&verdicts, &p2, &pods);
        assert_eq!(judged, ["b", "c"]);

        verdicts.forget("team-a");
        let (_, judged) = preview(&verdicts, &p2, &pods);
        assert_eq!(judged, ["b", "c"]);
    }
}
