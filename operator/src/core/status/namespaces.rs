//! The namespaces of a profile's status: each selected namespace as the profile sees it
//! ([`super::outcome::View`]), judged for the compliance verdicts, counted by state and by
//! what tenants do there ([`Counts`], what the conditions are judged from), and listed when
//! it is not simply in sync (most urgent first, at most `MAX_LISTED_NAMESPACES`).

use std::collections::BTreeSet;

use crate::core::api::RequirementStatus;
use crate::core::api::{
    MAX_LISTED_DRIFT, MAX_LISTED_NAMESPACES, NamespaceState, NamespaceStatus, WideningPolicy,
};
use crate::core::compliance::{NamespaceFacts, ProfileAssessment, ProfileFacts, judged_key};
use crate::core::isolation::MAX_LISTED_POLICIES;
use crate::core::preview::{MAX_LISTED_PREVIEW, NamespacePreview};

use super::StatusInput;
use super::outcome::{Kept, NamespaceOutcome, View};

/// Most lines of what is still enforced listed per namespace.
const MAX_LISTED_ENFORCED: usize = 8;

/// The selected namespaces judged: the listed ones, how many more there are, the counts,
/// and the compliance verdicts so far.
pub(super) struct Namespaces {
    pub(super) entries: Vec<NamespaceStatus>,
    pub(super) unlisted: u32,
    pub(super) counts: Counts,
    pub(super) compliance: Vec<RequirementStatus>,
}

/// Every namespace `input.profile` selects, judged from its outcome (`facts`: what holds for
/// the profile as a whole), with the compliance findings kept beside it when there is a
/// place for them ([`Kept`]): only namespaces whose outcome changed since are judged again.
pub(super) fn judge<'a>(
    input: &StatusInput<'_>,
    facts: &ProfileFacts,
    outcome_of: impl Fn(&str) -> Option<(&'a NamespaceOutcome, Option<&'a Kept>)>,
) -> Namespaces {
    let profile = input.profile;
    let name = profile.metadata.name.as_deref().unwrap_or_default();
    let generation = profile.metadata.generation.unwrap_or(0);

    // The listed namespaces so far, at most twice as many as are listed: cut back to the most
    // urgent whenever full (the order is total: by severity, then by the unique name), so
    // the status of many namespaces never holds an entry for each of them.
    let mut entries: Vec<NamespaceStatus> = Vec::new();
    // The least urgent of the MAX_LISTED_NAMESPACES kept at the last cut: a namespace less
    // urgent is not listed.
    let mut least_kept: Option<(NamespaceState, String)> = None;
    let mut to_list = 0usize;
    let mut c = Counts::default();
    let mut assessment = ProfileAssessment::new();
    // The exceptions in force the status will list: namespaces judged with others are not
    // judged yet.
    let active = input
        .exceptions
        .as_ref()
        .map_or(&[][..], |e| e.active.as_slice());
    let exceptions = crate::core::exceptions::digest(active);
    let judged_with = judged_key(
        profile.metadata.uid.as_deref(),
        generation,
        facts,
        exceptions,
    );
    for ns in input.selected {
        let found = outcome_of(ns);
        let view = match found {
            Some((outcome, _)) => outcome.view(name, generation, exceptions),
            None => View::pending(),
        };
        let state = view.state;
        // A namespace another profile governs is that profile's to judge.
        let judged = match found {
            Some((outcome, _)) => {
                outcome.compliance_facts(ns, name, generation, active, exceptions)
            }
            None => Some(NamespaceFacts::pending(ns)),
        };
        if let Some(namespace) = judged {
            let kept = found
                .and_then(|(_, kept)| kept)
                .map(|kept| (kept, judged_with));
            assessment.judge_kept(&profile.spec, facts, &namespace, kept);
        }
        let unconfined = view.unconfined.filter(|u| u.count > 0);
        if let Some(u) = unconfined {
            c.unconfined_pods += u.count;
            c.unconfined_namespaces += 1;
        }
        let widening = view.widening.filter(|w| !w.is_empty());
        if let Some(w) = widening {
            c.widening_policies += w.len() as u32;
            c.widened_namespaces += 1;
        }
        match state {
            NamespaceState::InSync => c.in_sync += 1,
            NamespaceState::Drifted => c.drifted += 1,
            NamespaceState::Conflict => c.conflicting += 1,
            NamespaceState::Failed => {
                c.failed += 1;
                if let Some(reason) = view.reason {
                    c.failure_reasons.insert(reason);
                }
                c.permanent_failures += u32::from(view.permanent);
            }
            NamespaceState::Pending => c.pending += 1,
        }
        let vulnerable = view.vulnerable.filter(|v| v.count > 0);
        if let Some(v) = vulnerable {
            c.vulnerable += v.count;
            c.vulnerable_namespaces += 1;
        }
        // Listed with pods enforcing would reject, or findings only warned about or reported
        // (`oneServicePerContainer`, `highAvailability`), which the counts leave out.
        let rejected = view
            .preview
            .filter(|p| p.rejected_pods() > 0 || !p.guardrails.is_empty());
        if let Some(p) = view.preview {
            c.previewed += 1;
            if p.rejected_pods() > 0 {
                c.would_reject_pods += p.rejected_pods();
                c.would_reject_namespaces += 1;
            }
        }
        if !view.enforced.is_empty() {
            c.enforced_namespaces += 1;
        }
        let listed = state != NamespaceState::InSync
            || unconfined.is_some()
            || widening.is_some()
            || rejected.is_some()
            || !view.enforced.is_empty()
            || vulnerable.is_some();
        if listed {
            to_list += 1;
        }
        // Not built when it would be cut: MAX_LISTED_NAMESPACES more urgent ones are kept.
        let cut = least_kept.as_ref().is_some_and(|(s, n)| {
            most_urgent_first(&(state, ns.as_str()), &(*s, n.as_str()))
                == std::cmp::Ordering::Greater
        });
        if listed && !cut {
            if entries.len() >= 2 * MAX_LISTED_NAMESPACES {
                keep_most_urgent(&mut entries);
                least_kept = entries.last().map(|e| (e.state, e.name.clone()));
            }
            entries.push(NamespaceStatus {
                name: ns.clone(),
                state,
                reason: view.reason.map(str::to_owned),
                message: view.message,
                drift: view.drift.iter().take(MAX_LISTED_DRIFT).cloned().collect(),
                unconfined_pods: unconfined.map_or(0, |u| u.count),
                pods: unconfined.map(|u| u.listed.clone()).unwrap_or_default(),
                widening_policies: widening.map_or(0, |w| w.len() as u32),
                policies: widening
                    .into_iter()
                    .flatten()
                    .take(MAX_LISTED_POLICIES)
                    .map(|w| WideningPolicy {
                        name: w.policy.clone(),
                        direction: w.direction,
                        opens: w.opens.clone(),
                    })
                    .collect(),
                would_reject_pods: rejected.map_or(0, NamespacePreview::rejected_pods),
                would_reject: rejected
                    .map(|p| {
                        p.lines()
                            .into_iter()
                            .take(MAX_LISTED_PREVIEW)
                            .map(|(pod, reason)| crate::core::api::WouldReject {
                                pod: crate::core::api::truncate_text(&pod),
                                reason: crate::core::api::truncate_text(&reason),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                enforced: view
                    .enforced
                    .iter()
                    .take(MAX_LISTED_ENFORCED)
                    .map(|e| crate::core::api::truncate_text(e))
                    .collect(),
                vulnerable_workloads: vulnerable.map_or(0, |v| v.count),
                vulnerabilities: vulnerable.map(|v| v.listed.clone()).unwrap_or_default(),
            });
        }
    }
    keep_most_urgent(&mut entries);
    let unlisted = to_list.saturating_sub(MAX_LISTED_NAMESPACES) as u32;
    // The reasons and evidence of the namespaces the verdicts name, when only their kept
    // verdicts were read.
    let compliance = assessment.finish_with(|ns| {
        let (outcome, _) = outcome_of(ns)?;
        let namespace = outcome.compliance_facts(ns, name, generation, active, exceptions)?;
        Some(crate::core::compliance::assess_namespace(
            &profile.spec,
            facts,
            &namespace,
        ))
    });

    Namespaces {
        entries,
        unlisted,
        counts: c,
        compliance,
    }
}

/// Most urgent first (namespaces only listed for what tenants do last), then by name: a
/// stable order, so an unchanged state patches nothing.
fn most_urgent_first(a: &(NamespaceState, &str), b: &(NamespaceState, &str)) -> std::cmp::Ordering {
    severity(a.0).cmp(&severity(b.0)).then_with(|| a.1.cmp(b.1))
}

/// Sorts `entries` most urgent first and keeps the first `MAX_LISTED_NAMESPACES`.
fn keep_most_urgent(entries: &mut Vec<NamespaceStatus>) {
    entries.sort_by(|a, b| {
        most_urgent_first(&(a.state, a.name.as_str()), &(b.state, b.name.as_str()))
    });
    entries.truncate(MAX_LISTED_NAMESPACES);
}

/// What the conditions are judged from.
#[derive(Default)]
pub(super) struct Counts {
    pub(super) selected: u32,
    pub(super) in_sync: u32,
    pub(super) drifted: u32,
    pub(super) conflicting: u32,
    pub(super) failed: u32,
    pub(super) pending: u32,
    /// Stable reasons of the failed namespaces.
    pub(super) failure_reasons: BTreeSet<&'static str>,
    /// Failed namespaces that wait for a change (retrying cannot help).
    pub(super) permanent_failures: u32,
    pub(super) unconfined_pods: u32,
    pub(super) unconfined_namespaces: u32,
    /// The profile declares seccomp/AppArmor profiles and pods are watched.
    pub(super) confinement_reported: bool,
    pub(super) widening_policies: u32,
    pub(super) widened_namespaces: u32,
    /// The profile isolates a direction, so tenant NetworkPolicies are checked.
    pub(super) isolation_reported: bool,
    /// Namespaces with a preview, pods it found that enforcing would reject, and their
    /// namespaces.
    pub(super) previewed: u32,
    pub(super) would_reject_pods: u32,
    pub(super) would_reject_namespaces: u32,
    /// Audit mode: namespaces where what Enforce mode left still acts.
    pub(super) enforced_namespaces: u32,
    /// An enforce level or guardrails: running pods are judged by them (in Audit mode the
    /// preview before enforcing, in Enforce mode pods admitted before the rules were in
    /// place).
    pub(super) pods_judged: bool,
    /// Workload containers with fixable CRITICAL/HIGH vulnerabilities, and their namespaces.
    pub(super) vulnerable: u32,
    pub(super) vulnerable_namespaces: u32,
}

/// The order of the listed namespaces: the most urgent first.
pub(super) fn severity(state: NamespaceState) -> u8 {
    match state {
        NamespaceState::Failed => 0,
        NamespaceState::Drifted => 1,
        NamespaceState::Conflict => 2,
        NamespaceState::Pending => 3,
        NamespaceState::InSync => 4,
    }
}
