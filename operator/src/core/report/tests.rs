use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Namespace;
use serde_json::{Value, json};

use super::*;
use crate::fixtures::profile;

const ORGANISATIONAL: [&str; 10] = [
    "A1", "A2", "A3", "A5", "A6", "A12", "A14", "A15", "A19", "A27",
];

fn namespace(name: &str, tier: &str) -> Namespace {
    serde_json::from_value(json!({
        "metadata": { "name": name, "labels": { "tier": tier } }
    }))
    .unwrap()
}

fn strict_spec() -> Value {
    json!({
        "namespaceSelector": { "matchLabels": { "tier": "strict" } },
        "podSecurity": { "enforce": { "level": "restricted" } },
        "networkPolicy": { "defaultDeny": ["Ingress", "Egress"] },
        "resourceQuota": { "hard": { "pods": "10" } },
        "limitRange": { "limits": [{ "type": "Container", "default": { "cpu": "1" } }] }
    })
}

fn ready(selected: u32, in_sync: u32, drifted: u32, namespaces: Value) -> Value {
    json!({
        "observedGeneration": 1,
        "conditions": [{
            "type": "Ready", "status": if drifted == 0 { "True" } else { "False" },
            "reason": if drifted == 0 { "InSync" } else { "Drifted" }, "message": "",
            "lastTransitionTime": "2026-12-01T00:00:00Z"
        }],
        "selectedNamespaces": selected,
        "inSyncNamespaces": in_sync,
        "driftedNamespaces": drifted,
        "namespaces": namespaces,
        "repairsTotal": 3,
        "wideningPolicies": 0,
    })
}

fn row<'a>(report: &'a Report, id: &str) -> &'a RequirementRow {
    report
        .requirements
        .iter()
        .find(|r| r.requirement.id == id)
        .unwrap()
}

fn build_of(profiles: &[HardeningProfile], namespaces: &[Namespace]) -> Report {
    build(
        profiles,
        namespaces,
        &BTreeSet::new(),
        "2026-12-01T12:00:00Z".into(),
    )
}

#[test]
fn every_requirement_once_in_order_and_the_organisational_ones_out_of_scope() {
    let report = build_of(&[], &[]);
    let ids: Vec<&str> = report
        .requirements
        .iter()
        .map(|r| r.requirement.id)
        .collect();
    let expected: Vec<String> = (1..=27).map(|n| format!("A{n}")).collect();
    assert_eq!(ids, expected);
    for row in &report.requirements {
        let organisational = ORGANISATIONAL.contains(&row.requirement.id);
        assert_eq!(
            row.coverage == Coverage::OutOfScope,
            organisational,
            "{}",
            row.requirement.id
        );
        if !organisational {
            assert_eq!(row.coverage, Coverage::NotCovered);
            assert!(row.missing[0].starts_with("no HardeningProfile"), "{row:?}");
        }
    }
    // Everything the operator can cover is in the catalogue with its answer.
    let strict: crate::core::api::HardeningProfileSpec = serde_json::from_value(json!({
        "namespaceSelector": {},
        "podSecurity": { "enforce": { "level": "restricted" } },
        "networkPolicy": { "defaultDeny": ["Ingress", "Egress"] },
        "resourceQuota": { "hard": { "pods": "10" } },
        "limitRange": { "limits": [{ "type": "Container", "default": { "cpu": "1" } }] },
        "seccomp": {},
        "apparmor": {}
    }))
    .unwrap();
    for id in crate::core::api::covered_requirements(&strict) {
        let r = REQUIREMENTS.iter().find(|r| r.id == id).unwrap();
        assert!(matches!(r.scope, Scope::Operator(_)), "{id}");
    }
}

#[test]
fn coverage_follows_namespace_state_and_tenant_findings_per_namespace() {
    let strict = profile("strict")
        .generation(1)
        .spec(strict_spec())
        .status(ready(
            3,
            1,
            1,
            json!([
                { "name": "b-drifted", "state": "Drifted", "reason": "Drifted",
                  "message": "ResourceQuota hardening-quota changed" },
                { "name": "c-widened", "state": "InSync", "wideningPolicies": 2 }
            ]),
        ))
        .build();
    let audit = profile("audit")
        .generation(1)
        .spec(
            json!({ "namespaceSelector": { "matchLabels": { "tier": "audit" } }, "mode": "Audit" }),
        )
        .status(ready(1, 1, 0, json!([])))
        .build();
    let namespaces = [
        namespace("a-in-sync", "strict"),
        namespace("b-drifted", "strict"),
        namespace("c-widened", "strict"),
        namespace("d-audited", "audit"),
        namespace("e-nobody", "none"),
        namespace("kube-system", "strict"),
    ];
    let report = build_of(&[strict, audit], &namespaces);
    assert_eq!(report.ungoverned, ["e-nobody"]);
    let names: Vec<&str> = report.namespaces.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["a-in-sync", "b-drifted", "c-widened", "d-audited"]);

    // A21/A25 (reporting) hold everywhere, drifted or audited.
    for id in ["A21", "A25"] {
        assert_eq!(row(&report, id).coverage, Coverage::Covered, "{id}");
        assert_eq!(row(&report, id).meeting, 4);
    }
    // A16 (from Pod Security restricted): strict's in-sync namespaces; not the drifted one,
    // not the audited one.
    let a10 = row(&report, "A16");
    assert_eq!((a10.coverage, a10.meeting), (Coverage::Partly, 2));
    assert_eq!(a10.profiles, ["strict"]);
    assert!(
        a10.missing
            .iter()
            .any(|m| m.contains("profile strict: the namespace is Drifted")
                && m.contains("b-drifted")),
        "{:?}",
        a10.missing
    );
    assert!(
        a10.missing
            .iter()
            .any(|m| m.contains("profile audit does not cover it") && m.contains("d-audited")),
        "{:?}",
        a10.missing
    );
    // A9: withdrawn where tenant rules widen, with the status's reason.
    let a9 = row(&report, "A9");
    assert_eq!(a9.meeting, 1);
    assert!(
        a9.missing.iter().any(|m| m.contains(
            "2 tenant NetworkPolicy rules opening what the profile denies: 1 namespace (c-widened)"
        )),
        "{:?}",
        a9.missing
    );
    // Nothing the operator does not generate is claimed.
    assert_eq!(row(&report, "A7").coverage, Coverage::NotCovered);
    assert_eq!(row(&report, "A7").meeting, 0);

    let drifted = report
        .namespaces
        .iter()
        .find(|n| n.name == "b-drifted")
        .unwrap();
    assert_eq!(drifted.state, "Drifted");
    assert_eq!(
        drifted.detail.as_deref(),
        Some("Drifted: ResourceQuota hardening-quota changed")
    );
    assert_eq!(drifted.meeting, ["A21", "A25"]);
    let p = report.profiles.iter().find(|p| p.name == "strict").unwrap();
    assert_eq!(
        (
            p.namespaces,
            p.in_sync,
            p.drifted,
            p.pending,
            p.repairs_total
        ),
        (3, 1, 1, 1, 3)
    );
    assert_eq!(p.ready, Some(("False".into(), "Drifted".into())));
}

#[test]
fn a_status_of_an_older_generation_or_a_cut_list_claims_nothing_but_reporting() {
    let mut old = ready(1, 1, 0, json!([]));
    old["observedGeneration"] = json!(0);
    let mut cut = ready(2, 0, 0, json!([]));
    cut["unlistedNamespaces"] = json!(2);
    let profiles = [
        profile("old")
            .generation(1)
            .spec(strict_spec())
            .status(old)
            .build(),
        profile("cut")
            .generation(1)
            .spec(
                json!({ "namespaceSelector": { "matchLabels": { "tier": "cut" } },
                    "podSecurity": { "enforce": { "level": "restricted" } } }),
            )
            .status(cut)
            .build(),
    ];
    let report = build_of(
        &profiles,
        &[namespace("x", "strict"), namespace("y", "cut")],
    );
    let states: Vec<(&str, &str)> = report
        .namespaces
        .iter()
        .map(|n| (n.name.as_str(), n.state.as_str()))
        .collect();
    assert_eq!(states, [("x", "Pending"), ("y", "Unknown")]);
    for n in &report.namespaces {
        assert_eq!(n.meeting, ["A21", "A25"], "{}", n.name);
    }
    assert_eq!(row(&report, "A10").coverage, Coverage::NotCovered);
}

#[test]
fn markdown_and_html_have_a_row_per_requirement_and_the_html_no_external_asset() {
    let strict = profile("strict<&>")
        .generation(1)
        .spec(strict_spec())
        .status(ready(1, 1, 0, json!([])))
        .build();
    let report = build_of(&[strict], &[namespace("a", "strict")]);
    let md = markdown(&report);
    for r in &REQUIREMENTS {
        assert_eq!(
            md.lines()
                .filter(|l| l.starts_with(&format!("| {} |", r.id)))
                .count(),
            1,
            "{}",
            r.id
        );
    }
    let page = html(&report);
    for row in &report.requirements {
        let id = row.requirement.id;
        assert_eq!(
            page.matches(&format!(
                "<tr id=\"req-{id}\" data-coverage=\"{}\">",
                row.coverage.token()
            ))
            .count(),
            1,
            "{id}"
        );
    }
    for external in ["src=", "href=", "url(", "@import", "<script", "<link"] {
        assert!(!page.contains(external), "{external} in the page");
    }
    assert!(page.contains("<svg id=\"coverage-chart\""));
    assert!(page.contains("<svg id=\"drift-chart\""));
    // Names are escaped.
    assert!(page.contains("strict&lt;&amp;&gt;"));
    assert!(!page.contains("strict<&>"));
}
