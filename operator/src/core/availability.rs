//! `guardrails.highAvailability` on running pods (BSI SYS.1.6 (2023) A25; APP.4.4 (2023)
//! A19): what admission cannot judge. Admission rejects a workload labelled highly available
//! with one replica (`core::guardrails`); whether a PodDisruptionBudget protects its pods is
//! another object's business, and a workload may run fewer pods than it asks for. So the
//! running pods labelled `hardening.dev/high-availability: "true"` are reported (never
//! rejected) when no PodDisruptionBudget of their namespace selects them, or when their
//! controller runs fewer than 2 of them. Pure: the controller passes the namespace's labelled
//! pods and budgets.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::ResourceExt;

use crate::core::api::ActiveException;
use crate::core::api::HIGH_AVAILABILITY_LABEL;
use crate::core::guardrails::AVAILABILITY_RULE;
use crate::core::preview::{AcceptedFinding, GuardrailFinding};

/// Whether `pod` is labelled highly available.
pub fn highly_available(labels: &BTreeMap<String, String>) -> bool {
    labels
        .get(HIGH_AVAILABILITY_LABEL)
        .is_some_and(|v| v == "true")
}

/// What falls short for each of `pods` (the namespace's active pods labelled highly
/// available) given the namespace's `budgets`, one finding per pod, by pod name.
pub fn findings(pods: &[Pod], budgets: &[PodDisruptionBudget]) -> Vec<GuardrailFinding> {
    let controller = |pod: &Pod| {
        pod.owner_references()
            .iter()
            .find(|o| o.controller == Some(true))
            .map(|o| format!("{} {}", o.kind, o.name))
    };
    let mut per_controller: BTreeMap<Option<String>, u32> = BTreeMap::new();
    for pod in pods {
        *per_controller.entry(controller(pod)).or_default() += 1;
    }
    let mut sorted: Vec<&Pod> = pods.iter().collect();
    sorted.sort_by_key(|p| p.name_any());
    sorted
        .into_iter()
        .filter_map(|pod| {
            let mut short = Vec::new();
            match controller(pod) {
                None => short.push("no controller runs more of it".to_owned()),
                Some(owner) => {
                    let running = per_controller[&Some(owner.clone())];
                    if running < 2 {
                        short.push(format!(
                            "its {owner} runs {running} such pod (wants 2 or more)"
                        ));
                    }
                }
            }
            let protected = budgets.iter().any(|budget| {
                budget
                    .spec
                    .as_ref()
                    .and_then(|s| s.selector.as_ref())
                    .is_some_and(|selector| {
                        crate::core::api::selector_matches(selector, pod.labels())
                    })
            });
            if !protected {
                short.push("no PodDisruptionBudget selects it".to_owned());
            }
            (!short.is_empty()).then(|| GuardrailFinding {
                pod: pod.name_any().into(),
                rule: AVAILABILITY_RULE,
                reason: format!("labelled highly available, but {}", short.join(", and ")).into(),
            })
        })
        .collect()
}

/// [`findings`], but for the pods an exception of `exceptions` (those in force covering the
/// namespace) suspends `highAvailability` for: what those exceptions accept, apart.
pub fn judged(
    pods: &[Pod],
    budgets: &[PodDisruptionBudget],
    exceptions: &[ActiveException],
) -> (Vec<GuardrailFinding>, Vec<AcceptedFinding>) {
    let labels: BTreeMap<String, &BTreeMap<String, String>> =
        pods.iter().map(|p| (p.name_any(), p.labels())).collect();
    let mut accepted = Vec::new();
    let findings = findings(pods, budgets)
        .into_iter()
        .filter(|finding| {
            let by = labels.get(finding.pod.as_str()).and_then(|labels| {
                exceptions.iter().find(|e| {
                    crate::core::exceptions::suspends_rule(e, AVAILABILITY_RULE, labels, None)
                })
            });
            match by {
                Some(e) => {
                    accepted.push(AcceptedFinding {
                        pod: finding.pod.clone(),
                        rule: format!("guardrail {AVAILABILITY_RULE}").into(),
                        reason: finding.reason.clone(),
                        exception: e.name.as_str().into(),
                    });
                    false
                }
                None => true,
            }
        })
        .collect();
    (findings, accepted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, controller: Option<&str>, app: &str) -> Pod {
        let owners: Vec<serde_json::Value> = controller
            .map(|c| {
                vec![
                    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": c,
                            "uid": format!("uid-{c}"), "controller": true}),
                ]
            })
            .unwrap_or_default();
        serde_json::from_value(json!({
            "metadata": {"name": name, "ownerReferences": owners,
                         "labels": {HIGH_AVAILABILITY_LABEL: "true", "app": app}},
        }))
        .unwrap()
    }

    fn budget(selector: serde_json::Value) -> PodDisruptionBudget {
        serde_json::from_value(json!({"metadata": {"name": "b"}, "spec": {"selector": selector}}))
            .unwrap()
    }

    #[test]
    fn pods_need_a_second_replica_and_a_budget() {
        let pods = [
            pod("web-1", Some("web"), "web"),
            pod("web-2", Some("web"), "web"),
            pod("db-1", Some("db"), "db"),
            pod("bare", None, "bare"),
        ];
        let web = budget(json!({"matchLabels": {"app": "web"}}));
        let reasons: Vec<(String, String)> = findings(&pods, &[web])
            .into_iter()
            .map(|f| (f.pod.into(), f.reason.into()))
            .collect();
        assert_eq!(
            reasons,
            [
                (
                    "bare".to_owned(),
                    "labelled highly available, but no controller runs more of it, and no PodDisruptionBudget selects it".to_owned()
                ),
                (
                    "db-1".to_owned(),
                    "labelled highly available, but its ReplicaSet db runs 1 such pod (wants 2 or more), and no PodDisruptionBudget selects it".to_owned()
                ),
            ]
        );
        // An empty selector selects every pod of the namespace; a budget without one, none.
        let all = budget(json!({}));
        assert_eq!(findings(&pods[..2], &[all]), Vec::new());
        let none: PodDisruptionBudget =
            serde_json::from_value(json!({"metadata": {"name": "b"}, "spec": {}})).unwrap();
        assert_eq!(findings(&pods[..2], &[none]).len(), 2);
        assert!(
            findings(&pods[..2], &[])
                .iter()
                .all(|f| f.rule == "highAvailability")
        );
    }

    /// An exception suspending highAvailability for the pods it selects: their findings
    /// are accepted, the others' kept.
    #[test]
    fn an_exception_accepts_the_findings_of_the_pods_it_selects() {
        let pods = [pod("db-1", Some("db"), "db"), pod("bare", None, "bare")];
        let exception = crate::core::exceptions::active_entry(
            &crate::fixtures::exception("x", "p", "shop", "2026-12-31T00:00:00Z")
                .spec(json!({
                    "rules": ["highAvailability"],
                    "podSelector": {"matchLabels": {"app": "db"}},
                }))
                .build(),
        );
        let (kept, accepted) = judged(&pods, &[], std::slice::from_ref(&exception));
        assert_eq!(
            kept.iter().map(|f| f.pod.as_str()).collect::<Vec<_>>(),
            ["bare"]
        );
        assert_eq!(
            accepted
                .iter()
                .map(|a| (a.pod.as_str(), a.rule.as_str(), a.exception.as_str()))
                .collect::<Vec<_>>(),
            [("db-1", "guardrail highAvailability", "x")]
        );
        assert_eq!(judged(&pods, &[], &[]).0, findings(&pods, &[]));
    }
}
