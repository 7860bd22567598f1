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
    let spec =
        "  resourceQuota: {hard: {pods: \"10\"}}\n  podSecurity: {enforce: {level: restricted}}\n";
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
            .spec_yaml("  podSecurity: {enforce: {level: privileged}, audit: {level: baseline}}\n")
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
    let rendered: BTreeSet<ManagedKind> = desired.objects.iter().map(DesiredObject::kind).collect();
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
