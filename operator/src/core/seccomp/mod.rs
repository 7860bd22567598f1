//! A profile's `spec.seccomp` as the seccomp JSON that kubelet hands to the container
//! runtime for a `Localhost` profile (the OCI runtime spec's `linux.seccomp`, as runc,
//! crun and containerd read it). Pure and deterministic: the same spec renders byte for
//! byte the same file.
//!
//! Precedence: a name in `deny` is denied with that rule's action, whatever the baseline
//! or `allow` say; a name in `allow` is allowed unconditionally; the baseline decides the
//! rest. Each name ends up in exactly one rule set, so no runtime has to resolve
//! conflicting rules for one call.

pub mod baseline;
pub mod x86_64;

use std::collections::BTreeSet;

use serde::Serialize;

use crate::core::api::{HardeningProfile, SeccompAction, SeccompBaseline, SeccompSpec};

/// EPERM, the errno of `ERRNO` actions that name none.
pub const EPERM: u16 = 1;

/// The directory under the kubelet's seccomp root (`/var/lib/kubelet/seccomp`) holding the
/// generated profiles.
pub const LOCALHOST_DIR: &str = "hardening.dev";

/// The `localhostProfile` a pod names to use `profile`'s seccomp profile, relative to the
/// kubelet's seccomp root: `hardening.dev/<profile>.json`.
pub fn localhost_profile(profile: &str) -> String {
    format!("{LOCALHOST_DIR}/{profile}.json")
}

/// A seccomp profile in the OCI/Docker JSON layout; field order is the output order.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OciProfile {
    pub default_action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u16>,
    pub architectures: Vec<&'static str>,
    pub syscalls: Vec<OciRule>,
}

/// Names sharing one action (and argument filter).
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OciRule {
    pub names: Vec<String>,
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u16>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<OciArg>,
}

/// A condition on one system call argument; all conditions of a rule must hold.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OciArg {
    pub index: u32,
    pub value: u64,
    pub value_two: u64,
    pub op: &'static str,
}

const ALLOW: &str = "SCMP_ACT_ALLOW";

/// The rendered seccomp profile of `profile`, if it declares one.
pub fn render(profile: &HardeningProfile) -> Option<String> {
    profile.spec.seccomp.as_ref().map(render_spec)
}

/// `spec` as seccomp JSON (two-space indentation, trailing newline).
pub fn render_spec(spec: &SeccompSpec) -> String {
    let mut text = serde_json::to_string_pretty(&oci_profile(spec))
        .expect("a seccomp profile always serializes");
    text.push('\n');
    text
}

/// The names `spec` allows unconditionally, sorted (baseline and `allow`, minus `deny`).
pub fn allowed_names(spec: &SeccompSpec) -> BTreeSet<String> {
    let denied = denied_names(spec);
    let base = match spec.baseline {
        SeccompBaseline::RuntimeDefault => baseline::runtime_default(),
        SeccompBaseline::Strict => baseline::strict(),
    };
    base.into_iter()
        .map(str::to_owned)
        .chain(spec.allow.iter().cloned())
        .filter(|name| !denied.contains(name))
        .collect()
}

fn denied_names(spec: &SeccompSpec) -> BTreeSet<String> {
    spec.deny
        .iter()
        .flat_map(|rule| rule.names.iter().cloned())
        .collect()
}

/// `spec` as an OCI seccomp profile.
pub fn oci_profile(spec: &SeccompSpec) -> OciProfile {
    let allowed = allowed_names(spec);
    let denied = denied_names(spec);
    // Baseline rules with conditions apply to names neither fully allowed nor denied.
    let conditional = |name: &str| !allowed.contains(name) && !denied.contains(name);
    let mut syscalls = vec![OciRule {
        names: allowed.iter().cloned().collect(),
        action: ALLOW,
        errno_ret: None,
        args: vec![],
    }];
    if conditional("clone") {
        syscalls.push(allow_if(
            "clone",
            0,
            baseline::CLONE_NAMESPACE_FLAGS,
            0,
            MASKED_EQ,
        ));
    }
    if spec.baseline == SeccompBaseline::RuntimeDefault {
        if conditional("socket") {
            let [alg, vsock] = baseline::SOCKET_DENIED_FAMILIES;
            syscalls.push(allow_if("socket", 0, alg, 0, "SCMP_CMP_LT"));
            for family in alg + 1..vsock {
                syscalls.push(allow_if("socket", 0, family, 0, "SCMP_CMP_EQ"));
            }
            syscalls.push(allow_if("socket", 0, vsock, 0, "SCMP_CMP_GT"));
        }
        if conditional("personality") {
            for persona in baseline::PERSONALITIES {
                syscalls.push(allow_if("personality", 0, persona, 0, "SCMP_CMP_EQ"));
            }
        }
    }
    if conditional("clone3") {
        syscalls.push(OciRule {
            names: vec!["clone3".to_owned()],
            action: SeccompAction::Errno.oci_name(),
            errno_ret: Some(baseline::ENOSYS),
            args: vec![],
        });
    }
    for rule in &spec.deny {
        let mut names: Vec<String> = rule.names.clone();
        names.sort();
        names.dedup();
        syscalls.push(OciRule {
            names,
            action: rule.action.oci_name(),
            errno_ret: (rule.action == SeccompAction::Errno).then(|| rule.errno.unwrap_or(EPERM)),
            args: vec![],
        });
    }
    OciProfile {
        default_action: spec.default_action.oci_name(),
        default_errno_ret: (spec.default_action == SeccompAction::Errno)
            .then(|| spec.default_errno.unwrap_or(EPERM)),
        // A set: in a fixed order (x86_64, x86, x32, aarch64, arm), whatever the spec's.
        architectures: spec
            .architectures
            .iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(|a| a.oci_name())
            .collect(),
        syscalls,
    }
}

const MASKED_EQ: &str = "SCMP_CMP_MASKED_EQ";

fn allow_if(name: &str, index: u32, value: u64, value_two: u64, op: &'static str) -> OciRule {
    OciRule {
        names: vec![name.to_owned()],
        action: ALLOW,
        errno_ret: None,
        args: vec![OciArg {
            index,
            value,
            value_two,
            op,
        }],
    }
}

/// The x86_64 name of system call `number`, if known.
pub fn x86_64_name(number: u64) -> Option<&'static str> {
    x86_64::SYSCALLS
        .binary_search_by_key(&number, |(n, _)| u64::from(*n))
        .ok()
        .map(|i| x86_64::SYSCALLS[i].1)
}

/// The x86_64 number of system call `name`, if it exists there.
pub fn x86_64_number(name: &str) -> Option<u32> {
    x86_64::SYSCALLS
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(number, _)| *number)
}

#[cfg(test)]
mod tests;
