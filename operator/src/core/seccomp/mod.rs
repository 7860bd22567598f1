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
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::core::api::SeccompArch;
    use crate::fixtures::profile;

    fn spec(yaml: &str) -> SeccompSpec {
        serde_yaml_ng::from_str(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
    }

    const EXAMPLE: &str = "
baseline: Strict
allow: [socket, connect, sendto, recvfrom]
deny:
  - names: [ptrace, process_vm_readv]
    action: KILL_PROCESS
  - names: [mount]
    errno: 13
architectures: [x86_64, x86, x32]
";

    #[test]
    fn example_renders_exactly() {
        let rendered = render_spec(&spec(EXAMPLE));
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/core/seccomp/testdata/strict-example.json"
        );
        if std::env::var_os("HARDENING_UPDATE_GOLDEN").is_some() {
            std::fs::write(path, &rendered).unwrap();
        }
        let expected = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            rendered == expected,
            "rendered profile differs from seccomp/testdata/strict-example.json:\n{rendered}"
        );
    }

    #[test]
    fn render_takes_the_profile_section() {
        let example: serde_json::Value = serde_yaml_ng::from_str(EXAMPLE).unwrap();
        let declaring = profile("p").spec(json!({ "seccomp": example })).build();
        assert_eq!(render(&declaring), Some(render_spec(&spec(EXAMPLE))));
        let without = profile("p").build();
        assert_eq!(render(&without), None);
    }

    #[test]
    fn rendering_does_not_depend_on_input_order() {
        let a = spec(
            "allow: [keyctl, bpf]\ndeny: [{names: [unshare, mount]}]\narchitectures: [aarch64, x86_64]\n",
        );
        let b = spec(
            "allow: [bpf, keyctl]\ndeny: [{names: [mount, unshare]}]\narchitectures: [x86_64, aarch64]\n",
        );
        assert_eq!(render_spec(&a), render_spec(&b));
    }

    #[test]
    fn defaults_are_runtime_default_errno_eperm_and_five_architectures() {
        let profile = oci_profile(&spec("{}"));
        assert_eq!(profile.default_action, "SCMP_ACT_ERRNO");
        assert_eq!(profile.default_errno_ret, Some(1));
        assert_eq!(
            profile.architectures,
            [
                "SCMP_ARCH_X86_64",
                "SCMP_ARCH_X86",
                "SCMP_ARCH_X32",
                "SCMP_ARCH_AARCH64",
                "SCMP_ARCH_ARM"
            ]
        );
        assert_eq!(
            spec("{}").architectures,
            [
                SeccompArch::X86_64,
                SeccompArch::X86,
                SeccompArch::X32,
                SeccompArch::Aarch64,
                SeccompArch::Arm
            ]
        );
        let kill = oci_profile(&spec("defaultAction: KILL_PROCESS\n"));
        assert_eq!(kill.default_action, "SCMP_ACT_KILL_PROCESS");
        assert_eq!(kill.default_errno_ret, None);
    }

    /// Every name appears in exactly one rule without arguments, or only in rules with.
    /// (action, errno, has argument filters)
    type RuleRef = (&'static str, Option<u16>, bool);

    fn rule_sets(profile: &OciProfile) -> BTreeMap<String, Vec<RuleRef>> {
        let mut sets: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for rule in &profile.syscalls {
            for name in &rule.names {
                sets.entry(name.clone()).or_default().push((
                    rule.action,
                    rule.errno_ret,
                    !rule.args.is_empty(),
                ));
            }
        }
        sets
    }

    #[test]
    fn deny_wins_over_allow_and_baseline_and_each_call_has_one_decision() {
        let profile = oci_profile(&spec(
            "allow: [socket, clone]\ndeny: [{names: [read, clone3, personality], action: TRAP}]\n",
        ));
        let sets = rule_sets(&profile);
        for (name, rules) in &sets {
            let unconditional = rules.iter().filter(|(_, _, args)| !args).count();
            let conditional = rules.len() - unconditional;
            assert!(
                (unconditional == 1 && conditional == 0) || unconditional == 0,
                "{name} has conflicting rules: {rules:?}"
            );
        }
        assert_eq!(sets["read"], [("SCMP_ACT_TRAP", None, false)]);
        assert_eq!(sets["clone3"], [("SCMP_ACT_TRAP", None, false)]);
        assert_eq!(sets["personality"], [("SCMP_ACT_TRAP", None, false)]);
        // Explicitly allowed: the argument filters are gone.
        assert_eq!(sets["socket"], [("SCMP_ACT_ALLOW", None, false)]);
        assert_eq!(sets["clone"], [("SCMP_ACT_ALLOW", None, false)]);
    }

    #[test]
    fn baselines_keep_clone_without_namespaces_and_clone3_enosys() {
        for baseline in ["RuntimeDefault", "Strict"] {
            let sets = rule_sets(&oci_profile(&spec(&format!("baseline: {baseline}\n"))));
            assert_eq!(
                sets["clone"],
                [("SCMP_ACT_ALLOW", None, true)],
                "{baseline}"
            );
            assert_eq!(
                sets["clone3"],
                [("SCMP_ACT_ERRNO", Some(38), false)],
                "{baseline}"
            );
            for never in [
                "unshare",
                "setns",
                "mount",
                "bpf",
                "keyctl",
                "init_module",
                "reboot",
            ] {
                assert!(
                    !sets.contains_key(never),
                    "{baseline} must not allow {never}"
                );
            }
        }
        let strict = rule_sets(&oci_profile(&spec("baseline: Strict\n")));
        for absent in ["socket", "ptrace", "personality", "setuid", "shmget"] {
            assert!(
                !strict.contains_key(absent),
                "Strict must not allow {absent}"
            );
        }
    }

    #[test]
    fn baseline_sizes() {
        let runtime_default = baseline::runtime_default();
        let strict = baseline::strict();
        let on_x86_64 =
            |names: &[&str]| names.iter().filter(|n| x86_64_number(n).is_some()).count();
        // Measured numbers, quoted in the documentation: change both together.
        assert_eq!(
            (runtime_default.len(), on_x86_64(&runtime_default)),
            (372, 305)
        );
        assert_eq!((strict.len(), on_x86_64(&strict)), (115, 115));
        assert!(strict.iter().all(|name| runtime_default.contains(name)));
    }

    #[test]
    fn x86_64_table_is_sorted_and_resolves_both_ways() {
        let numbers: Vec<u32> = x86_64::SYSCALLS.iter().map(|(n, _)| *n).collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(x86_64_name(0), Some("read"));
        assert_eq!(x86_64_name(59), Some("execve"));
        assert_eq!(x86_64_name(435), Some("clone3"));
        assert_eq!(x86_64_name(9999), None);
        assert_eq!(x86_64_number("openat"), Some(257));
        assert_eq!(x86_64_number("chown32"), None);
    }

    #[test]
    fn localhost_profile_path() {
        assert_eq!(
            localhost_profile("bsi-strict"),
            "hardening.dev/bsi-strict.json"
        );
    }
}
