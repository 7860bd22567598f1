//! Step 2: whether the profile's generation is invalid: the operator's own checks
//! (`api::validate`), then the API server's verdict on what it renders (see `admission`).

use super::super::context::Context;
use super::super::state::Verdict;
use crate::core::api::{HardeningProfile, validate};

/// The problems that make this generation invalid, joined by `; ` (`None`: valid, or the
/// API server has not judged it yet).
pub fn invalid(profile: &HardeningProfile, ctx: &Context) -> Option<String> {
    validate(profile)
        .err()
        .map(|problems| {
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })
        .or_else(|| match ctx.state.admissions.verdict(profile) {
            Some(Verdict::Rejected(message)) => Some(message),
            _ => None,
        })
}
