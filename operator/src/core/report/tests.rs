use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Namespace;
use serde_json::{Value, json};

use super::*;
use crate::core::compliance::{NamespaceFacts, ProfileFacts, assess_profile};
use crate::fixtures::profile;

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
        "limitRange": { "limits": [{ "type": "Container", "default": { "cpu": "1", "memory": "1Gi" } }] }
    })
}

/// A status as the operator writes it: its compliance computed by the one function, over
/// `namespaces` in the given states.
fn status(spec: &Value, namespaces: &[(&str, NamespaceState)], listed: Value) -> Value {
    let spec: crate::core::api::HardeningProfileSpec =
        serde_json::from_value(spec.clone()).unwrap();
    let facts = ProfileFacts {
        pods_watched: true,
        guardrails_enforced: false,
        images_scanned: false,
    };
    let empty = crate::core::preview::NamespacePreview::default();
    let compliance = assess_profile(
        &spec,
        &facts,
        namespaces.iter().map(|(name, state)| NamespaceFacts {
            exceptions: Vec::new(),
            name,
            state: *state,
            message: None,
            drift: &[],
            unconfined: None,
            widening: Some(&[]),
            running: Some(&empty),
            vulnerable: None,
        }),
    );
    json!({
        "observedGeneration": 1,
        "conditions": [{
            "type": "Ready", "status": "True", "reason": "InSync", "message": "",
            "lastTransitionTime": "2026-12-01T00:00:00Z"
        }],
        "selectedNamespaces": namespaces.len(),
        "inSyncNamespaces": namespaces.iter().filter(|(_, s)| *s == NamespaceState::InSync).count(),
        "namespaces": listed,
        "repairsTotal": 3,
        "compliance": compliance,
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
        ClusterIdentity {
            server: "https://127.0.0.1:6443".into(),
            context: Some("test".into()),
            uid: Some("0b5c5f4e-0000-4000-8000-000000000001".into()),
            version: Some("v1.36.2".into()),
        },
        "2026-12-01T12:00:00Z".into(),
    )
}

#[test]
fn every_requirement_once_in_order_and_nothing_claimed_without_a_profile() {
    let report = build_of(&[], &[]);
    let ids: Vec<&str> = report
        .requirements
        .iter()
        .map(|r| r.requirement.id)
        .collect();
    let expected: Vec<&str> = crate::core::compliance::REQUIREMENTS
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, expected);
    for row in &report.requirements {
        let expected = if row.requirement.assessed() {
            Verdict::NotMet
        } else {
            Verdict::Organisational
        };
        assert_eq!(row.verdict, expected, "{}", row.requirement.id);
    }
    assert_eq!(report.totals(), [0, 0, 20, 27, 0]);
    let summary = report.summary();
    assert_eq!(summary.len(), 6);
    let basic = summary[0];
    assert_eq!(
        (basic.catalogue.module, basic.level),
        ("SYS.1.6", Level::Basic)
    );
    assert_eq!(basic.counts.iter().sum::<usize>(), 8);
}

#[test]
fn the_report_takes_each_profile_s_verdicts_from_its_current_status() {
    let strict = profile("strict")
        .generation(1)
        .spec(strict_spec())
        .status(status(
            &strict_spec(),
            &[("a", NamespaceState::InSync), ("b", NamespaceState::Drifted)],
            json!([{ "name": "b", "state": "Drifted", "reason": "Drifted", "message": "ResourceQuota hardening-quota changed" }]),
        ))
        .build();
    let audit_spec = json!({ "namespaceSelector": { "matchLabels": { "tier": "audit" } }, "mode": "Audit",
        "podSecurity": { "enforce": { "level": "restricted" } } });
    let audit = profile("audit")
        .generation(1)
        .spec(audit_spec.clone())
        .status(status(
            &audit_spec,
            &[("c", NamespaceState::InSync)],
            json!([]),
        ))
        .build();
    // A profile whose status describes an older generation: nothing claimed.
    let stale = profile("stale")
        .generation(2)
        .spec(
            json!({ "namespaceSelector": { "matchLabels": { "tier": "stale" } },
            "podSecurity": { "enforce": { "level": "restricted" } } }),
        )
        .status(status(
            &strict_spec(),
            &[("d", NamespaceState::InSync)],
            json!([]),
        ))
        .build();
    let namespaces = [
        namespace("a", "strict"),
        namespace("b", "strict"),
        namespace("c", "audit"),
        namespace("d", "stale"),
        namespace("e-nobody", "none"),
        namespace("kube-system", "strict"),
    ];
    let report = build_of(&[strict.clone(), audit.clone(), stale.clone()], &namespaces);
    assert_eq!(report.ungoverned, ["e-nobody"]);
    let states: Vec<(&str, &str)> = report
        .namespaces
        .iter()
        .map(|n| (n.name.as_str(), n.state.as_str()))
        .collect();
    assert_eq!(
        states,
        [
            ("a", "InSync"),
            ("b", "Drifted"),
            ("c", "InSync"),
            ("d", "Pending")
        ]
    );
    // Per profile: exactly its status's verdicts, or nothing claimed for an older generation.
    let p = |name: &str| report.profiles.iter().find(|p| p.name == name).unwrap();
    assert_eq!(
        p("strict").compliance,
        strict.status.as_ref().unwrap().compliance
    );
    assert!(p("strict").current && !p("stale").current);
    assert!(
        p("stale")
            .compliance
            .iter()
            .filter(|e| e.verdict != Verdict::Organisational)
            .all(|e| e.verdict == Verdict::NotMet && e.reason.contains("generation 2"))
    );
    // Over the cluster: the worst profile decides, and says which.
    let a17 = row(&report, "SYS.1.6.A17");
    assert_eq!(a17.verdict, Verdict::NotMet);
    assert!(
        a17.reason.starts_with("profile stale: not assessed"),
        "{}",
        a17.reason
    );
    assert_eq!(a17.profiles.len(), 3);
    assert_eq!(row(&report, "SYS.1.6.A1").verdict, Verdict::Organisational);
    let md = markdown(&report);
    assert!(
        md.contains("| SYS.1.6.A17 | Running Containers Without Privileges | S | **NOT MET** |"),
        "{md}"
    );
    assert!(md.contains(
        "- Cluster identity (uid of namespace kube-system): 0b5c5f4e-0000-4000-8000-000000000001"
    ));
    assert!(md.contains(
        "Catalogue: BSI IT-Grundschutz SYS.1.6 Containerisierung (Containerisation), edition 2023"
    ));
}

#[test]
fn markdown_html_and_oscal_have_every_requirement_and_the_html_no_external_asset() {
    let strict = profile("strict<&>")
        .generation(1)
        .spec(strict_spec())
        .status(status(
            &strict_spec(),
            &[("a", NamespaceState::InSync)],
            json!([]),
        ))
        .build();
    let report = build_of(&[strict], &[namespace("a", "strict")]);
    let md = markdown(&report);
    for r in &crate::core::compliance::REQUIREMENTS {
        assert_eq!(
            md.lines()
                .filter(|l| l.starts_with(&format!("| {} | {} |", r.id, r.title)))
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
            page.matches(&format!("<tr id=\"req-{id}\"")).count(),
            1,
            "{id}"
        );
        assert!(page.contains(&format!(
            "data-verdict=\"{}\"><td>{id}</td>",
            token(row.verdict)
        )));
    }
    for external in ["src=", "href=", "url(", "@import", "<script", "<link"] {
        assert!(!page.contains(external), "{external} in the page");
    }
    assert!(page.contains("<svg id=\"verdict-chart\""));
    assert!(page.contains("<svg id=\"drift-chart\""));
    assert!(page.contains("<section class=\"organisational\">"));
    // Names are escaped.
    assert!(page.contains("strict&lt;&amp;&gt;"));
    assert!(!page.contains("strict<&>"));

    let ar = oscal::assessment_results(&report);
    let result = &ar["assessment-results"]["results"][0];
    let findings = result["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 20);
    let a21 = findings
        .iter()
        .find(|f| f["target"]["target-id"] == "SYS.1.6.A21")
        .unwrap();
    assert_eq!(a21["target"]["status"]["state"], "not-satisfied");
    assert_eq!(
        result["reviewed-controls"]["control-selections"][0]["exclude-controls"]
            .as_array()
            .unwrap()
            .len(),
        27
    );
    // The same report gives the same document.
    assert_eq!(ar, oscal::assessment_results(&report));
    let uuid = ar["assessment-results"]["uuid"].as_str().unwrap();
    assert_eq!(uuid.len(), 36);
    assert_eq!(&uuid[14..15], "5");
    let cd = oscal::component_definition("2026-12-01T12:00:00Z");
    let implementations = cd["component-definition"]["components"][0]["control-implementations"]
        .as_array()
        .unwrap();
    assert_eq!(implementations.len(), 2);
    let implemented: usize = implementations
        .iter()
        .map(|i| i["implemented-requirements"].as_array().unwrap().len())
        .sum();
    assert_eq!(implemented, 20);
}
