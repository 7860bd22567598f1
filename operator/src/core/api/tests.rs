use serde_json::json;

use super::*;
use crate::core::diff::Drift;
use crate::fixtures::{from_manifest, profile};
use crate::test_support::strings;

fn spec(yaml: &str) -> HardeningProfileSpec {
    serde_yaml_ng::from_str(yaml)
        .unwrap_or_else(|e| panic!("test spec does not parse: {e}\n{yaml}"))
}

#[test]
fn minimal_spec_gets_documented_defaults() {
    let spec = spec("namespaceSelector: {}\nnetworkPolicy: {}\n");
    assert_eq!(spec.mode, Mode::Enforce);
    assert_eq!(spec.priority, 0);
    assert_eq!(spec.cleanup_policy, CleanupPolicy::Delete);
    assert!(spec.excluded_namespaces.is_empty());
    assert_eq!(
        spec.network_policy,
        Some(NetworkPolicyRules {
            default_deny: vec![PolicyType::Ingress, PolicyType::Egress],
            allow_dns: true,
            allow_same_namespace: true,
            same_namespace: vec![],
            ingress: vec![],
            egress: vec![],
            protected_networks: vec![],
            cluster_network_policy: false,
        })
    );
    assert_eq!(spec.pod_security, None);
}

#[test]
fn spec_serializes_camel_case_without_empty_fields() {
    let spec = spec(
        "namespaceSelector: {matchLabels: {a: b}}\n\
         podSecurity: {enforce: {level: restricted}}\n\
         networkPolicy: {defaultDeny: [], ingress: [{ports: [{port: 80}]}]}\n",
    );
    assert_eq!(
        serde_json::to_value(&spec).unwrap(),
        json!({
            "namespaceSelector": {"matchLabels": {"a": "b"}},
            "mode": "Enforce",
            "priority": 0,
            "cleanupPolicy": "Delete",
            "podSecurity": {"enforce": {"level": "restricted"}},
            "networkPolicy": {
                "defaultDeny": [],
                "allowDns": true,
                "allowSameNamespace": true,
                "ingress": [{"ports": [{"port": 80, "protocol": "TCP"}]}],
            },
        })
    );
}

#[test]
fn empty_status_keeps_only_the_counters() {
    assert_eq!(
        serde_json::to_value(HardeningProfileStatus::default()).unwrap(),
        json!({
            "selectedNamespaces": 0,
            "inSyncNamespaces": 0,
            "driftedNamespaces": 0,
            "conflictingNamespaces": 0,
            "failedNamespaces": 0,
            "repairsTotal": 0,
        })
    );
}

#[test]
fn isolated_directions_include_allow_lists() {
    let rules = |yaml: &str| {
        spec(&format!("namespaceSelector: {{}}\nnetworkPolicy: {yaml}\n"))
            .network_policy
            .unwrap()
    };
    assert_eq!(
        rules("{}").isolated_directions(),
        vec![PolicyType::Ingress, PolicyType::Egress]
    );
    assert_eq!(
        rules("{defaultDeny: [Egress]}").isolated_directions(),
        vec![PolicyType::Egress]
    );
    assert_eq!(rules("{defaultDeny: []}").isolated_directions(), vec![]);
    assert_eq!(
        rules("{defaultDeny: [], ingress: [{}]}").isolated_directions(),
        vec![PolicyType::Ingress]
    );
    assert_eq!(
        rules("{defaultDeny: [Ingress], egress: [{}]}").isolated_directions(),
        vec![PolicyType::Ingress, PolicyType::Egress]
    );
}

mod selection {
    use super::*;

    fn selects_ns(selector: &str, name: &str, ns_labels: &[(&str, &str)]) -> bool {
        selects(&spec(selector), name, &strings(ns_labels))
    }

    #[test]
    fn empty_selector_selects_every_namespace() {
        assert!(selects_ns("namespaceSelector: {}", "default", &[]));
        assert!(selects_ns("namespaceSelector: {}", "team-a", &[("x", "y")]));
    }

    #[test]
    fn match_labels_need_every_pair() {
        let s = "namespaceSelector: {matchLabels: {tier: strict, team: a}}";
        assert!(selects_ns(
            s,
            "n",
            &[("tier", "strict"), ("team", "a"), ("other", "x")]
        ));
        assert!(!selects_ns(s, "n", &[("tier", "strict")]));
        assert!(!selects_ns(s, "n", &[("tier", "strict"), ("team", "b")]));
        assert!(!selects_ns(s, "n", &[]));
    }

    #[test]
    fn operator_in() {
        let s =
            "namespaceSelector: {matchExpressions: [{key: tier, operator: In, values: [a, b]}]}";
        assert!(selects_ns(s, "n", &[("tier", "a")]));
        assert!(selects_ns(s, "n", &[("tier", "b")]));
        assert!(!selects_ns(s, "n", &[("tier", "c")]));
        assert!(!selects_ns(s, "n", &[]));
    }

    #[test]
    fn operator_not_in_matches_missing_labels() {
        let s =
            "namespaceSelector: {matchExpressions: [{key: tier, operator: NotIn, values: [a, b]}]}";
        assert!(!selects_ns(s, "n", &[("tier", "a")]));
        assert!(selects_ns(s, "n", &[("tier", "c")]));
        assert!(selects_ns(s, "n", &[]));
    }

    #[test]
    fn operators_exists_and_does_not_exist() {
        let exists = "namespaceSelector: {matchExpressions: [{key: tier, operator: Exists}]}";
        assert!(selects_ns(exists, "n", &[("tier", "")]));
        assert!(!selects_ns(exists, "n", &[("other", "x")]));
        let absent = "namespaceSelector: {matchExpressions: [{key: tier, operator: DoesNotExist}]}";
        assert!(!selects_ns(absent, "n", &[("tier", "a")]));
        assert!(selects_ns(absent, "n", &[("other", "x")]));
    }

    #[test]
    fn labels_and_expressions_are_anded() {
        let s = "namespaceSelector:\n  matchLabels: {env: prod}\n  matchExpressions:\n    \
                 - {key: tier, operator: In, values: [strict]}\n    \
                 - {key: legacy, operator: DoesNotExist}";
        assert!(selects_ns(s, "n", &[("env", "prod"), ("tier", "strict")]));
        assert!(!selects_ns(s, "n", &[("env", "dev"), ("tier", "strict")]));
        assert!(!selects_ns(
            s,
            "n",
            &[("env", "prod"), ("tier", "baseline")]
        ));
        assert!(!selects_ns(
            s,
            "n",
            &[("env", "prod"), ("tier", "strict"), ("legacy", "yes")]
        ));
    }

    #[test]
    fn malformed_selectors_select_nothing() {
        let unknown =
            "namespaceSelector: {matchExpressions: [{key: tier, operator: Equals, values: [a]}]}";
        assert!(!selects_ns(unknown, "n", &[("tier", "a")]));
        let in_without_values =
            "namespaceSelector: {matchExpressions: [{key: tier, operator: In}]}";
        assert!(!selects_ns(in_without_values, "n", &[("tier", "a")]));
    }

    #[test]
    fn excluded_namespaces_are_never_selected() {
        let s = "namespaceSelector: {}\nexcludedNamespaces: [kube-system, kube-public]";
        assert!(!selects_ns(s, "kube-system", &[]));
        assert!(!selects_ns(s, "kube-public", &[]));
        assert!(selects_ns(s, "kube-node-lease", &[]));
    }

    fn named(name: &str, priority: i32) -> HardeningProfile {
        profile(name).spec(json!({ "priority": priority })).build()
    }

    #[test]
    fn highest_priority_wins_then_first_name() {
        let low = named("a-low", -5);
        let high = named("z-high", 10);
        let tie_b = named("b", 0);
        let tie_a = named("a", 0);
        assert!(outranks(&high, &low));
        assert!(!outranks(&low, &high));
        assert!(outranks(&tie_a, &tie_b));
        assert!(!outranks(&tie_a, &tie_a));

        let all = [low.clone(), tie_b.clone(), high.clone(), tie_a.clone()];
        assert_eq!(winner(&all).map(|p| p.name_any()), Some("z-high".into()));
        assert_eq!(
            winner([&tie_b, &tie_a, &low]).map(|p| p.name_any()),
            Some("a".into())
        );
        assert_eq!(winner(std::iter::empty()), None);
    }

    use kube::ResourceExt;
}

mod validation {
    use super::*;

    fn errors(yaml: &str) -> Vec<String> {
        match validate(&from_manifest(yaml)) {
            Ok(()) => vec![],
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    const HEADER: &str =
        "apiVersion: hardening.dev/v1alpha1\nkind: HardeningProfile\nmetadata: {name: p}\n";

    #[test]
    fn a_sound_profile_passes() {
        let yaml = format!(
            "{HEADER}spec:\n  namespaceSelector:\n    matchLabels: {{hardening.dev/tier: strict}}\n    \
             matchExpressions: [{{key: env, operator: NotIn, values: [dev]}}, {{key: legacy, operator: DoesNotExist}}]\n  \
             networkPolicy:\n    egress: [{{to: [{{cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}], ports: [{{port: 443, endPort: 444}}]}}]\n  \
             limitRange:\n    limits: [{{type: Container, min: {{cpu: 100m}}, max: {{cpu: 1}}, maxLimitRequestRatio: {{cpu: 2}}}}]\n"
        );
        assert_eq!(errors(&yaml), Vec::<String>::new());
    }

    #[test]
    fn selector_problems_name_their_field() {
        let yaml = format!(
            "{HEADER}spec:\n  namespaceSelector:\n    matchLabels: {{\"bad key!\": x, ok: \"bad value\"}}\n    matchExpressions:\n      \
             - {{key: a, operator: In}}\n      \
             - {{key: b, operator: Exists, values: [x]}}\n      \
             - {{key: c, operator: Equals, values: [x]}}\n      \
             - {{key: Example.com/d, operator: NotIn, values: [\"-x\"]}}\n"
        );
        assert_eq!(
            errors(&yaml),
            [
                r#"spec.namespaceSelector.matchLabels["bad key!"]: invalid label key "bad key!": the name must be 1-63 characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit"#,
                r#"spec.namespaceSelector.matchLabels["ok"]: invalid label value "bad value": must be letters, digits, '-', '_' or '.', starting and ending with a letter or digit"#,
                "spec.namespaceSelector.matchExpressions[0].values: must be non-empty for operator In",
                "spec.namespaceSelector.matchExpressions[1].values: must be empty for operator Exists",
                r#"spec.namespaceSelector.matchExpressions[2].operator: unknown operator "Equals" (use In, NotIn, Exists or DoesNotExist)"#,
                r#"spec.namespaceSelector.matchExpressions[3].key: invalid label key "Example.com/d": the prefix must be a DNS subdomain such as example.com"#,
                r#"spec.namespaceSelector.matchExpressions[3].values[0]: invalid label value "-x": must be letters, digits, '-', '_' or '.', starting and ending with a letter or digit"#,
            ]
        );
    }

    #[test]
    fn network_policy_problems_name_their_field() {
        let yaml = format!(
            "{HEADER}spec:\n  namespaceSelector: {{}}\n  networkPolicy:\n    ingress:\n      \
             - {{from: [{{podSelector: {{}}}}], ports: [{{port: 80}}]}}\n      \
             - {{from: [{{}}], ports: [{{port: 90, endPort: 89}}]}}\n      \
             - {{from: [{{podSelector: {{}}}}], ports: [{{port: 80, protocol: TCP}}]}}\n    \
             egress:\n      \
             - {{to: [{{cidr: 10.0.0.0/8, podSelector: {{}}}}]}}\n      \
             - {{to: [{{cidr: 10.0.0.0/8, except: [192.168.0.0/16, 10.0.0.0/8, nonsense, 10.2.0.0/16]}}]}}\n      \
             - {{to: [{{cidr: 10.0.0.0/33}}, {{except: [10.0.0.0/9]}}, {{podSelector: {{matchExpressions: [{{key: k, operator: In}}]}}}}]}}\n"
        );
        assert_eq!(
            errors(&yaml),
            [
                "spec.networkPolicy.ingress[1].from[0]: a peer must set namespaceSelector, podSelector or both",
                "spec.networkPolicy.ingress[1].ports[0].endPort: must be greater than or equal to port 90",
                "spec.networkPolicy.ingress[2]: duplicates spec.networkPolicy.ingress[0]",
                "spec.networkPolicy.egress[0].to[0]: an egress peer must set either cidr or namespaceSelector/podSelector, not both",
                "spec.networkPolicy.egress[1].to[0].except[0]: 192.168.0.0/16 is not a strict subset of cidr 10.0.0.0/8",
                "spec.networkPolicy.egress[1].to[0].except[1]: 10.0.0.0/8 is not a strict subset of cidr 10.0.0.0/8",
                r#"spec.networkPolicy.egress[1].to[0].except[2]: "nonsense" is not a CIDR such as 10.1.0.0/16"#,
                r#"spec.networkPolicy.egress[2].to[0].cidr: "10.0.0.0/33" is not a CIDR such as 10.0.0.0/8"#,
                "spec.networkPolicy.egress[2].to[1]: an egress peer must set either cidr or namespaceSelector/podSelector",
                "spec.networkPolicy.egress[2].to[2].podSelector.matchExpressions[0].values: must be non-empty for operator In",
            ]
        );
    }

    #[test]
    fn duplicate_egress_rules_are_reported() {
        let yaml = format!(
            "{HEADER}spec:\n  namespaceSelector: {{}}\n  networkPolicy:\n    egress:\n      \
             - {{to: [{{cidr: 10.0.0.0/8}}]}}\n      - {{to: [{{cidr: 10.0.0.0/9}}]}}\n      - {{to: [{{cidr: 10.0.0.0/8}}]}}\n"
        );
        assert_eq!(
            errors(&yaml),
            ["spec.networkPolicy.egress[2]: duplicates spec.networkPolicy.egress[0]"]
        );
    }

    #[test]
    fn quantity_problems_compare_exactly() {
        let yaml = format!(
            "{HEADER}spec:\n  namespaceSelector: {{}}\n  resourceQuota:\n    hard: {{limits.cpu: abc, pods: \"-1\"}}\n  \
             limitRange:\n    limits:\n      \
             - type: Container\n        min: {{cpu: \"2\", memory: 1Gi}}\n        max: {{cpu: 1500m, memory: 1024Mi}}\n        \
             default: {{cpu: 3}}\n        defaultRequest: {{cpu: 4}}\n        maxLimitRequestRatio: {{cpu: 500m}}\n      \
             - type: Pod\n        default: {{cpu: 1}}\n      \
             - type: PersistentVolumeClaim\n        max: {{cpu: 1}}\n      \
             - type: Pod\n"
        );
        assert_eq!(
            errors(&yaml),
            [
                r#"spec.resourceQuota.hard["limits.cpu"]: quantity "abc" does not start with a number"#,
                r#"spec.resourceQuota.hard["pods"]: -1 is negative"#,
                r#"spec.limitRange.limits[0].min["cpu"]: min 2 must not exceed max 1500m"#,
                r#"spec.limitRange.limits[0].defaultRequest["cpu"]: defaultRequest 4 must not exceed max 1500m"#,
                r#"spec.limitRange.limits[0].defaultRequest["cpu"]: defaultRequest 4 must not exceed default 3"#,
                r#"spec.limitRange.limits[0].default["cpu"]: default 3 must not exceed max 1500m"#,
                r#"spec.limitRange.limits[0].maxLimitRequestRatio["cpu"]: 0.5 is less than 1"#,
                r#"spec.limitRange.limits[0].maxLimitRequestRatio["cpu"]: the default limit 3 over the default request 4 is a ratio of 0.75, above 500m: every pod without explicit cpu resources would be rejected"#,
                "spec.limitRange.limits[1].default: only allowed for type Container, not Pod",
                "spec.limitRange.limits[2]: type PersistentVolumeClaim needs min.storage or max.storage",
                "spec.limitRange.limits[3].type: duplicate type Pod",
            ]
        );
    }

    #[test]
    fn defaults_must_respect_the_max_limit_request_ratio() {
        // The API server accepts this, then rejects every pod relying on the defaults:
        // 500m / 100m = 5 > 4 (seen with an earlier version of examples/bsi-strict.yaml).
        let yaml = "apiVersion: hardening.dev/v1alpha1\nkind: HardeningProfile\nmetadata: {name: p}\n\
             spec:\n  namespaceSelector: {}\n  limitRange:\n    limits:\n    - type: Container\n      \
             default: {cpu: 500m, memory: 256Mi}\n      defaultRequest: {cpu: 100m}\n      \
             max: {memory: 1Gi}\n      maxLimitRequestRatio: {cpu: 4, memory: 2}\n";
        let profile = from_manifest(yaml);
        let errors: Vec<String> = validate(&profile)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        // memory: no default request, so it defaults to the limit (ratio 1): fine.
        assert_eq!(
            errors,
            vec![
                r#"spec.limitRange.limits[0].maxLimitRequestRatio["cpu"]: the default limit 500m over the default request 100m is a ratio of 5.00, above 4: every pod without explicit cpu resources would be rejected"#
            ]
        );
    }

    #[test]
    fn rules_of_the_generated_objects_are_checked_with_the_profiles_field() {
        let yaml = format!(
            "{HEADER}spec:\n  namespaceSelector: {{}}\n  podSecurity: {{enforce: {{level: baseline, version: v1.01}}, warn: {{level: restricted, version: v1.0}}}}\n  \
             networkPolicy:\n    egress: [{{to: [{{cidr: 10.0.0.1/8, except: [10.1.2.3/16]}}, {{cidr: 10.0.0.0/08}}, {{cidr: '2001:db8::1/32'}}]}}]\n  \
             resourceQuota:\n    hard: {{pods: '1.5', count/pods: 2, services: 1e3, gpu: 1, storage: 1Gi, example.com/gpu: 500m, requests.example.com/gpu: 500m, secrets: 1e16}}\n  \
             limitRange:\n    limits:\n      \
             - type: Container\n        min: {{cpu: 1, example.com/gpu: 1}}\n        max: {{cpu: 2, example.com/gpu: 2, storage: 1Gi}}\n        \
             defaultRequest: {{example.com/gpu: 1}}\n        maxLimitRequestRatio: {{cpu: 3}}\n      \
             - type: PersistentVolumeClaim\n        min: {{storage: 1Gi, iops: 1}}\n"
        );
        assert_eq!(
            errors(&yaml),
            [
                r#"spec.podSecurity.enforce.version: "v1.01" is not a Pod Security version: use latest or v1.<minor> such as v1.33 (no leading zeros)"#,
                "spec.networkPolicy.egress[0].to[0].cidr: 10.0.0.1/8 has bits set beyond its prefix length: give the network address 10.0.0.0/8",
                "spec.networkPolicy.egress[0].to[0].except[0]: 10.1.2.3/16 has bits set beyond its prefix length: give the network address 10.1.0.0/16",
                r#"spec.networkPolicy.egress[0].to[1].cidr: "10.0.0.0/08" is not a CIDR such as 10.0.0.0/8"#,
                "spec.networkPolicy.egress[0].to[2].cidr: 2001:db8::1/32 has bits set beyond its prefix length: give the network address 2001:db8::/32",
                r#"spec.resourceQuota.hard["example.com/gpu"]: example.com/gpu is counted in whole units, so it must be a whole number up to 9223372036854775, not 500m"#,
                r#"spec.resourceQuota.hard["gpu"]: "gpu" is not a resource a ResourceQuota can cap: use a standard name (cpu, memory, ephemeral-storage, requests.cpu, requests.memory, requests.storage, requests.ephemeral-storage, limits.cpu, limits.memory, limits.ephemeral-storage, pods, resourcequotas, services, replicationcontrollers, secrets, persistentvolumeclaims, configmaps, services.nodeports, services.loadbalancers, hugepages-<size>, requests.hugepages-<size>) or a name with a domain such as count/deployments.apps or example.com/gpu"#,
                r#"spec.resourceQuota.hard["pods"]: pods is counted in whole units, so it must be a whole number up to 9223372036854775, not 1.5"#,
                r#"spec.resourceQuota.hard["secrets"]: secrets is counted in whole units, so it must be a whole number up to 9223372036854775, not 10000000000000000"#,
                r#"spec.resourceQuota.hard["storage"]: "storage" is not a resource a ResourceQuota can cap: use a standard name (cpu, memory, ephemeral-storage, requests.cpu, requests.memory, requests.storage, requests.ephemeral-storage, limits.cpu, limits.memory, limits.ephemeral-storage, pods, resourcequotas, services, replicationcontrollers, secrets, persistentvolumeclaims, configmaps, services.nodeports, services.loadbalancers, hugepages-<size>, requests.hugepages-<size>) or a name with a domain such as count/deployments.apps or example.com/gpu"#,
                r#"spec.limitRange.limits[0].max["storage"]: "storage" is not a resource a Container can request: use cpu, memory, ephemeral-storage, hugepages-<size> or an extended resource such as example.com/gpu"#,
                r#"spec.limitRange.limits[0].maxLimitRequestRatio["cpu"]: 3 is greater than max / min = 2.000 (min 1, max 2)"#,
                r#"spec.limitRange.limits[0].defaultRequest["example.com/gpu"]: example.com/gpu cannot be overcommitted, so defaultRequest 1 must equal the default limit (max 2)"#,
                r#"spec.limitRange.limits[1].min["iops"]: "iops" is not a standard resource (such as storage) nor a name with a domain such as example.com/iops"#,
            ]
        );
    }

    #[test]
    fn ratios_are_judged_in_the_api_servers_milli_units() {
        let ratio = |min: &str, max: &str, ratio: &str| {
            let yaml = format!(
                "{HEADER}spec:\n  namespaceSelector: {{}}\n  limitRange:\n    limits: [{{type: Pod, min: {{cpu: '{min}'}}, max: {{cpu: '{max}'}}, maxLimitRequestRatio: {{cpu: '{ratio}'}}}}]\n"
            );
            errors(&yaml)
        };
        assert_eq!(ratio("1", "2", "2"), Vec::<String>::new());
        // 0.0015 and 0.003 are 2m and 3m to the API server: max / min is 1.5, not 2.
        assert_eq!(
            ratio("0.0015", "0.003", "2"),
            [
                r#"spec.limitRange.limits[0].maxLimitRequestRatio["cpu"]: 2 is greater than max / min = 1.500 (min 0.0015, max 0.003)"#
            ]
        );
        // 1.0004 becomes 1.001, as does 1.0006: within the bound once rounded.
        assert_eq!(ratio("1", "1.0006", "1.0004"), Vec::<String>::new());
        // A zero min puts no bound on the ratio (max / 0 is infinite to the API server too).
        assert_eq!(ratio("0", "2", "5"), Vec::<String>::new());
    }

    #[test]
    fn long_names_cannot_be_label_values() {
        let yaml = format!(
            "apiVersion: hardening.dev/v1alpha1\nkind: HardeningProfile\nmetadata: {{name: {}}}\nspec: {{namespaceSelector: {{}}}}\n",
            "x".repeat(64)
        );
        assert_eq!(
            errors(&yaml),
            [
                "metadata.name: must be at most 63 characters: generated objects carry it as a label value"
            ]
        );
    }
}

#[test]
fn drift_entries_are_cut_to_the_status_limit() {
    let long = "é".repeat(300);
    let drift = Drift {
        field: "spec.ingress".into(),
        path: vec!["spec".into(), "ingress".into()],
        expected: Some(long.clone()),
        actual: None,
        manager: Some("kubectl-edit".into()),
        change: crate::core::diff::Change::Removed,
    };
    let entry = DriftEntry::new("NetworkPolicy", "hardening-allow-ingress", &drift);
    assert_eq!(entry.kind, "NetworkPolicy");
    assert_eq!(entry.name, "hardening-allow-ingress");
    assert_eq!(entry.field, "spec.ingress");
    assert_eq!(entry.expected, Some(format!("{}…", "é".repeat(255))));
    assert_eq!(
        entry.expected.as_ref().unwrap().chars().count(),
        MAX_DRIFT_TEXT_CHARS
    );
    assert_eq!(entry.actual, None);
    assert_eq!(entry.manager.as_deref(), Some("kubectl-edit"));
    assert_eq!(truncate(&"a".repeat(256)), "a".repeat(256));
}
