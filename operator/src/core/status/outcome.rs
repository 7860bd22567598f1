//! What the namespace reconciler records of one namespace ([`NamespaceOutcome`]), and how
//! that namespace looks from each profile that selects it ([`View`]): the winner sees its
//! state, the others a conflict, a profile at a newer generation (or with other exceptions
//! in force) a namespace not judged yet.

use std::sync::Arc;

use crate::core::api::{ActiveException, DriftEntry, NamespaceState};
use crate::core::compliance::NamespaceFacts;
use crate::core::isolation::Widening;
use crate::core::preview::NamespacePreview;
use crate::core::vulnerabilities::VulnerableImages;
use crate::core::workloads::UnconfinedPods;

/// The compliance findings of a namespace as the status last folded them
/// ([`crate::core::compliance::Judged`]), kept beside its outcome by whoever holds the
/// outcomes (replaced with it: a new outcome starts with none). Read and written only
/// under the lock the outcomes are read under.
pub type Kept = std::cell::RefCell<Option<Box<crate::core::compliance::Judged>>>;

/// What the last reconcile of one namespace found, from the governing profile's view.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NamespaceOutcome {
    /// Every profile that selects the namespace with the generation seen, winner first.
    pub candidates: Vec<(String, i64)>,
    /// State under the winner (the first candidate).
    pub state: Option<NamespaceState>,
    /// For `Failed`: the stable reason (`Error::reason`) and whether it waits for a change.
    pub reason: Option<&'static str>,
    pub permanent: bool,
    pub message: Option<String>,
    pub drift: Vec<DriftEntry>,
    /// Pods not using the winner's seccomp/AppArmor profiles; `None` when it declares
    /// neither or pods are not watched. Held once when equal, as `preview`.
    pub unconfined: Option<Arc<UnconfinedPods>>,
    /// Tenant NetworkPolicy rules opening what the winner denies; `None` when it isolates
    /// no direction.
    pub widening: Option<Vec<Widening>>,
    /// The running pods the winner's Pod Security level and guardrails reject (the preview,
    /// in either mode); `None` when not judged (nothing to preview, not yet, or the preview
    /// failed): the compliance verdicts then say the running pods are not checked. Equal
    /// previews are held once (`crate::core::shared::share`).
    pub preview: Option<Arc<NamespacePreview>>,
    /// Audit mode: what the winner's Enforce mode left here that still acts (its Pod
    /// Security enforce label, its generated objects); empty in Enforce mode.
    pub enforced: Vec<String>,
    /// Workload containers whose images have fixable CRITICAL or HIGH vulnerabilities;
    /// `None` when the cluster has no VulnerabilityReports (not scanned).
    pub vulnerable: Option<VulnerableImages>,
    /// The names of the winner's HardeningExceptions in force that cover this namespace, as
    /// its status listed them when the namespace was judged (names only: the entries are the
    /// status's, the same for every namespace).
    pub exceptions: Vec<String>,
    /// [`crate::core::exceptions::digest`] of every exception in force the winner's status
    /// listed then: a namespace judged with other exceptions than the status lists now is
    /// not judged yet (pending).
    pub exceptions_digest: u64,
}

impl NamespaceOutcome {
    pub fn winner(&self) -> Option<&str> {
        self.candidates.first().map(|(name, _)| name.as_str())
    }

    /// How this namespace looks from `profile` at `generation` with the exceptions in force
    /// of digest `exceptions`.
    pub(super) fn view(&self, profile: &str, generation: i64, exceptions: u64) -> View<'_> {
        let Some(pos) = self.candidates.iter().position(|(name, _)| name == profile) else {
            return View::pending();
        };
        if self.candidates[pos].1 < generation {
            return View::pending();
        }
        if pos == 0 && self.exceptions_digest != exceptions {
            return View {
                message: Some(
                    "not judged yet with the profile's exceptions in force now".to_owned(),
                ),
                ..View::pending()
            };
        }
        if pos > 0 {
            let winner = self.winner().unwrap_or_default();
            return View {
                state: NamespaceState::Conflict,
                message: Some(format!(
                    "governed by profile {winner}, which takes precedence"
                )),
                ..View::pending()
            };
        }
        View {
            state: self.state.unwrap_or(NamespaceState::Pending),
            reason: self.reason,
            permanent: self.permanent,
            message: self.message.clone(),
            drift: &self.drift,
            unconfined: self.unconfined.as_deref(),
            widening: self.widening.as_deref(),
            preview: self.preview.as_deref(),
            enforced: &self.enforced,
            vulnerable: self.vulnerable.as_ref(),
        }
    }
}

impl NamespaceOutcome {
    /// What the compliance verdicts of `profile` at `generation`, with the exceptions in
    /// force `active` (as the profile's status lists them; `exceptions` their
    /// [`crate::core::exceptions::digest`]), judge of `namespace`; `None` when another
    /// profile governs it. A namespace judged with other exceptions is not judged yet
    /// (pending).
    pub fn compliance_facts<'a>(
        &'a self,
        namespace: &'a str,
        profile: &str,
        generation: i64,
        active: &'a [ActiveException],
        exceptions: u64,
    ) -> Option<NamespaceFacts<'a>> {
        let pending = NamespaceFacts::pending(namespace);
        let pos = self.candidates.iter().position(|(name, _)| name == profile);
        match pos {
            None => Some(pending),
            Some(pos) if self.candidates[pos].1 < generation => Some(pending),
            Some(0) if self.exceptions_digest != exceptions => Some(pending),
            Some(0) => Some(NamespaceFacts {
                name: namespace,
                state: self.state.unwrap_or(NamespaceState::Pending),
                message: self.message.as_deref(),
                drift: &self.drift,
                unconfined: self.unconfined.as_deref(),
                widening: self.widening.as_deref(),
                running: self.preview.as_deref(),
                vulnerable: self.vulnerable.as_ref(),
                exceptions: self
                    .exceptions
                    .iter()
                    .filter_map(|name| active.iter().find(|e| e.name == *name))
                    .collect(),
            }),
            Some(_) => None,
        }
    }
}

/// One namespace as one profile sees it.
pub(super) struct View<'a> {
    pub(super) state: NamespaceState,
    pub(super) reason: Option<&'static str>,
    pub(super) permanent: bool,
    pub(super) message: Option<String>,
    pub(super) drift: &'a [DriftEntry],
    pub(super) unconfined: Option<&'a UnconfinedPods>,
    pub(super) widening: Option<&'a [Widening]>,
    pub(super) preview: Option<&'a NamespacePreview>,
    pub(super) enforced: &'a [String],
    pub(super) vulnerable: Option<&'a VulnerableImages>,
}

impl View<'_> {
    pub(super) fn pending() -> Self {
        Self {
            state: NamespaceState::Pending,
            reason: None,
            permanent: false,
            message: None,
            drift: &[],
            unconfined: None,
            widening: None,
            preview: None,
            enforced: &[],
            vulnerable: None,
        }
    }
}
