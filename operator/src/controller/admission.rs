//! Whether the API server accepts what a profile generation renders, asked once per
//! generation before the first write: a server-side apply of every rendered object and the
//! namespace with `dryRun=All`, in the namespace about to be written. A rejection stops the
//! profile there (`InvalidSpec`, naming the profile's field, see [`crate::core::rejection`]), so
//! no namespace is left half-hardened; the operator then waits for a change of the profile.
//! What one namespace's check says holds for every namespace (the objects differ only in
//! their namespace), so the verdict is kept per profile uid and generation.

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::Value;

use crate::core::api::HardeningProfile;
use crate::core::labels::FIELD_MANAGER;
use crate::core::rejection::rejection_errors;
use crate::core::render::Desired;
use crate::error::Error;

use super::context::Context;
use super::state::Verdict;
use crate::live::api_resource;

/// Ok when the API server accepts every object `desired` holds (from the verdict already
/// reached for this generation, else by asking it in `namespace`); `InvalidSpec` naming the
/// profile's fields when it rejects any. Errors that say nothing about the objects (the API
/// server unreachable, a refused permission, an admission policy of this namespace) are
/// returned as they are and decide nothing for the generation.
pub async fn check(
    ctx: &Context,
    profile: &HardeningProfile,
    namespace: &str,
    desired: &Desired,
) -> Result<(), Error> {
    let cell = ctx.state.admissions.cell(profile);
    let verdict = cell
        .get_or_try_init(|| ask(ctx, profile, namespace, desired))
        .await?;
    match verdict {
        Verdict::Accepted => Ok(()),
        Verdict::Rejected(message) => Err(Error::InvalidSpec {
            profile: profile.name_any(),
            message: message.clone(),
        }),
    }
}

async fn ask(
    ctx: &Context,
    profile: &HardeningProfile,
    namespace: &str,
    desired: &Desired,
) -> Result<Verdict, Error> {
    let params = PatchParams {
        dry_run: true,
        ..PatchParams::apply(FIELD_MANAGER).force()
    };
    let namespace_body = desired.namespace_body(namespace, profile.spec.mode);
    let namespace_check = async {
        let answer = Api::<Namespace>::all(ctx.client.clone())
            .patch(namespace, &params, &Patch::Apply(&namespace_body))
            .await
            .map(|_| ());
        ("Namespace", namespace.to_owned(), answer)
    };
    let object_checks = desired.objects.iter().map(|object| {
        let api: Api<DynamicObject> =
            Api::namespaced_with(ctx.client.clone(), namespace, &api_resource(object.kind()));
        let body: Value = object.to_json();
        let params = params.clone();
        async move {
            let answer = api
                .patch(object.name(), &params, &Patch::Apply(&body))
                .await
                .map(|_| ());
            (object.kind().kind(), object.name().to_owned(), answer)
        }
    });
    let (namespace_answer, object_answers) =
        futures::future::join(namespace_check, futures::future::join_all(object_checks)).await;
    let mut problems = Vec::new();
    for (kind, name, answer) in std::iter::once(namespace_answer).chain(object_answers) {
        match answer {
            Ok(()) => {}
            // The object itself is invalid: retrying the same generation cannot help.
            Err(kube::Error::Api(status)) if matches!(status.code, 400 | 422) => {
                problems.extend(
                    rejection_errors(&profile.spec, kind, &name, &status)
                        .iter()
                        .map(ToString::to_string),
                );
            }
            Err(e) => {
                return Err(Error::api(
                    "dry-run apply",
                    kind,
                    format!("{namespace}/{name}"),
                )(e));
            }
        }
    }
    Ok(if problems.is_empty() {
        Verdict::Accepted
    } else {
        Verdict::Rejected(problems.join("; "))
    })
}
