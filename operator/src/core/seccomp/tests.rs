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
    let on_x86_64 = |names: &[&str]| names.iter().filter(|n| x86_64_number(n).is_some()).count();
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
