//! Step 2: the governing profile as `api::validate` accepts it. Everything after this step
//! takes a [`Validated`] profile, so nothing renders or writes a spec that failed it.

use std::ops::Deref;

use kube::ResourceExt;

use crate::core::api::HardeningProfile;
use crate::error::Error;

/// A profile `api::validate` accepted.
pub struct Validated<'a>(&'a HardeningProfile);

impl Deref for Validated<'_> {
    type Target = HardeningProfile;

    fn deref(&self) -> &HardeningProfile {
        self.0
    }
}

/// `InvalidSpec` (permanent: it waits for a change of the profile) with every problem.
pub fn validate(profile: &HardeningProfile) -> Result<Validated<'_>, Error> {
    match crate::core::api::validate(profile) {
        Ok(()) => Ok(Validated(profile)),
        Err(problems) => Err(Error::InvalidSpec {
            profile: profile.name_any(),
            message: problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        }),
    }
}
