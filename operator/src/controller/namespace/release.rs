//! When no profile selects the namespace (any more): undo what the operator set up there
//! for a profile it knows, as the profile's `cleanupPolicy` says.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::ResourceExt;
use kube::api::DynamicObject;
use tracing::{debug, info};

use super::super::context::Context;
use super::super::managed;
use super::super::trim::CachedNamespace;
use super::super::write::apply_namespace;
use super::observe::live_objects;
use crate::core::api::{CleanupPolicy, HardeningProfile};
use crate::core::labels::{
    FIELD_MANAGER, MANAGED_BY_LABEL, MANAGED_BY_VALUE, PROFILE_ANNOTATION, PROFILE_LABEL,
};
use crate::core::ownership::NamespaceView;
use crate::core::plan::applied_by_operator;
use crate::core::render::{ManagedKind, namespace_apply_body};
use crate::error::Error;

/// If the operator set `ns` up for a profile it knows, undoes that according to the
/// profile's `cleanupPolicy`.
pub async fn release(
    ns: &CachedNamespace,
    profiles: &[Arc<HardeningProfile>],
    ctx: &Context,
) -> Result<(), Error> {
    let namespace = ns.name_any();
    let generated: Vec<(ManagedKind, Arc<DynamicObject>)> = live_objects(ctx, &namespace)
        .into_iter()
        .filter(|(_, o)| {
            o.labels().get(MANAGED_BY_LABEL).map(String::as_str) == Some(MANAGED_BY_VALUE)
                && applied_by_operator(o)
        })
        .collect();
    // The claim, or (set-up interrupted before the namespace was written) the profile
    // label of what was generated.
    let claimed = ns
        .annotations()
        .get(PROFILE_ANNOTATION)
        .cloned()
        .or_else(|| {
            generated
                .iter()
                .find_map(|(_, o)| o.labels().get(PROFILE_LABEL).cloned())
        });
    let Some(claimed) = claimed else {
        return Ok(());
    };
    // A profile this operator does not see (another shard's, or gone without its
    // finalizer) is not ours to undo.
    let Some(owner) = profiles.iter().find(|p| p.name_any() == claimed) else {
        debug!(%namespace, profile = %claimed, "namespace claimed by an unknown profile; left alone");
        return Ok(());
    };
    let owned_annotations = owned_keys(ns, "annotations");
    match owner.spec.cleanup_policy {
        CleanupPolicy::Delete => {
            for (kind, live) in &generated {
                let uid = live.metadata.uid.as_deref();
                managed::delete(&ctx.client, *kind, &namespace, &live.name_any(), uid).await?;
            }
            // Applying nothing gives up every label and annotation the operator set.
            if !owned_keys(ns, "labels").is_empty() || !owned_annotations.is_empty() {
                apply_namespace(
                    &ctx.client,
                    &namespace,
                    &namespace_apply_body(&namespace, &BTreeMap::new(), &BTreeMap::new()),
                )
                .await?;
            }
            info!(%namespace, profile = %claimed, "removed generated objects and Pod Security labels");
        }
        CleanupPolicy::Orphan => {
            let uid = owner.uid().unwrap_or_default();
            for (kind, live) in &generated {
                if live.owner_references().iter().any(|r| r.uid == uid) {
                    managed::disown(&ctx.client, *kind, live, &uid).await?;
                }
            }
            // Keep the labels as they are; only the annotations go.
            if !owned_annotations.is_empty() {
                let kept: BTreeMap<String, String> = owned_keys(ns, "labels");
                apply_namespace(
                    &ctx.client,
                    &namespace,
                    &namespace_apply_body(&namespace, &kept, &BTreeMap::new()),
                )
                .await?;
            }
            info!(%namespace, profile = %claimed, "orphaned generated objects and labels (cleanupPolicy: Orphan)");
        }
    }
    Ok(())
}

/// Labels or annotations (`field`) the operator's field manager owns on the namespace,
/// with their live values.
fn owned_keys(ns: &CachedNamespace, field: &str) -> BTreeMap<String, String> {
    let owned = ns.owned_paths(FIELD_MANAGER);
    let live = match field {
        "labels" => ns.labels(),
        _ => ns.annotations(),
    };
    live.iter()
        .filter(|(key, _)| {
            owned.contains(&vec![
                "metadata".to_owned(),
                field.to_owned(),
                (*key).clone(),
            ])
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
