//! The pure core of the node agent: the files a node should hold for the profiles
//! ([`desired`]), which names are the agent's to manage, and what to do about each file
//! of a directory listing ([`plan`]). No filesystem, no client.

use std::collections::BTreeMap;

use kube::ResourceExt;

use crate::core::api::HardeningProfile;
use crate::core::{apparmor, seccomp};

/// What [`plan`] decides for one file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create the file, or rewrite an own file that was changed.
    Write { file: String, repair: bool },
    /// Remove an own file nothing wants any more.
    Remove { file: String },
    /// A file of this name exists but is not the agent's: left alone.
    Foreign { file: String },
}

/// The seccomp file name of `profile`.
pub fn seccomp_file(profile: &str) -> String {
    format!("{profile}.json")
}

/// The profile a seccomp file name belongs to, if the agent could have written it.
pub fn seccomp_owner(file: &str) -> Option<&str> {
    file.strip_suffix(".json").filter(|p| is_profile_name(p))
}

/// The profile an AppArmor file name belongs to, if the agent could have written it.
pub fn apparmor_owner(file: &str) -> Option<&str> {
    file.strip_prefix(apparmor::PROFILE_PREFIX)
        .filter(|p| is_profile_name(p))
}

/// A Kubernetes object name (DNS subdomain): lower-case alphanumerics, `-` and `.`.
fn is_profile_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
}

/// The marker first line of `profile`'s AppArmor file, with its line end.
pub fn apparmor_marker(profile: &str) -> String {
    format!("{}\n", apparmor::marker(profile))
}

/// The files this node should hold: (seccomp file -> content, AppArmor file -> content).
pub fn desired(
    profiles: &[HardeningProfile],
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let mut seccomp_files = BTreeMap::new();
    let mut apparmor_files = BTreeMap::new();
    for profile in profiles {
        let name = profile.name_any();
        if let Some(text) = seccomp::render(profile) {
            seccomp_files.insert(seccomp_file(&name), text);
        }
        if let Some(text) = apparmor::render(profile) {
            apparmor_files.insert(apparmor::profile_name(&name), text);
        }
    }
    (seccomp_files, apparmor_files)
}

/// The actions that make `present` (file name -> content, every file of the directory)
/// hold `desired`. `managed(name)` says whether a name is one the agent could have written;
/// `own(name, content)` whether an existing file is the agent's (see the module docs).
pub fn plan(
    desired: &BTreeMap<String, String>,
    present: &BTreeMap<String, Vec<u8>>,
    managed: impl Fn(&str) -> bool,
    own: impl Fn(&str, &[u8]) -> bool,
) -> Vec<Action> {
    let mut actions = Vec::new();
    for (file, want) in desired {
        match present.get(file) {
            None => actions.push(Action::Write {
                file: file.clone(),
                repair: false,
            }),
            Some(have) if have.as_slice() == want.as_bytes() => {}
            Some(have) if own(file, have) => actions.push(Action::Write {
                file: file.clone(),
                repair: true,
            }),
            Some(_) => actions.push(Action::Foreign { file: file.clone() }),
        }
    }
    for (file, have) in present {
        if !desired.contains_key(file) && managed(file) && own(file, have) {
            actions.push(Action::Remove { file: file.clone() });
        }
    }
    actions
}
