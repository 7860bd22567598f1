use super::*;
use serde_json::json;

fn pod(namespace: &str, name: &str, spec: serde_json::Value) -> PodView {
    serde_json::from_value(json!({
        "metadata": {"namespace": namespace, "name": name},
        "spec": spec,
    }))
    .unwrap()
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
        Some("container other: appArmorProfile RuntimeDefault, wants Localhost hardening.dev-p")
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
