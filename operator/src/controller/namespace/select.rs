//! Step 1: which profiles select the namespace, and which of them governs it.

use std::sync::Arc;

use kube::ResourceExt;

use super::super::context::Context;
use super::super::trim::CachedNamespace;
use crate::core::api::HardeningProfile;

/// The profiles selecting `ns`, the governing one first; none for an excluded namespace.
/// Profiles being deleted select nothing.
pub fn candidates<'a>(
    ctx: &Context,
    ns: &CachedNamespace,
    profiles: &'a [Arc<HardeningProfile>],
) -> Vec<&'a HardeningProfile> {
    let name = ns.name_any();
    if ctx.excluded.contains(&name) {
        return Vec::new();
    }
    let mut candidates: Vec<&HardeningProfile> = profiles
        .iter()
        .map(|p| p.as_ref())
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| crate::core::api::selects(&p.spec, &name, ns.labels()))
        .collect();
    candidates.sort_by(|a, b| precedence(a, b));
    candidates
}

/// Winner first (`api::outranks`: priority, then name), whatever the cache order.
fn precedence(a: &HardeningProfile, b: &HardeningProfile) -> std::cmp::Ordering {
    if crate::core::api::outranks(a, b) {
        std::cmp::Ordering::Less
    } else if crate::core::api::outranks(b, a) {
        std::cmp::Ordering::Greater
    } else {
        std::cmp::Ordering::Equal
    }
}
