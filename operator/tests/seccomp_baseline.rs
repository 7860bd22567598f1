//! The `RuntimeDefault` seccomp baseline, which the operator defines in code
//! (`operator/src/core/seccomp/baseline.rs`), decides every x86_64 system call as the Moby/Docker
//! default profile does (`tests/testdata/moby-seccomp-default.json`, read here as data), apart
//! from the known differences listed below, each with its reason.

use std::collections::BTreeMap;
use std::path::Path;

use hardening_operator::core::api::SeccompSpec;
use hardening_operator::core::seccomp;
use serde_json::Value;

/// How a profile treats one system call for a container on x86_64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decision {
    /// Allowed whatever the arguments.
    Allowed,
    /// Allowed only with some arguments, or only to containers holding a capability.
    Conditional,
    /// Refused (errno, kill, trap) whatever the arguments.
    Denied,
}

/// Calls Moby allows only to containers granted a capability (`includes.caps`), which
/// `RuntimeDefault` denies: a `Localhost` profile file cannot see a container's
/// capabilities, and the pods the operator hardens drop ALL of them (Pod Security
/// `restricted`), so allowing these would only widen the attack surface.
/// (name, the capability Moby requires)
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    ("acct", "CAP_SYS_PACCT"),
    ("bpf", "CAP_SYS_ADMIN or CAP_BPF"),
    ("chroot", "CAP_SYS_CHROOT"),
    ("clock_settime", "CAP_SYS_TIME"),
    // Moby answers ENOSYS without CAP_SYS_ADMIN (as RuntimeDefault always does) so that
    // the C library falls back to clone, whose flags can be filtered.
    ("clone3", "CAP_SYS_ADMIN"),
    ("delete_module", "CAP_SYS_MODULE"),
    ("fanotify_init", "CAP_SYS_ADMIN"),
    ("finit_module", "CAP_SYS_MODULE"),
    ("fsconfig", "CAP_SYS_ADMIN"),
    ("fsmount", "CAP_SYS_ADMIN"),
    ("fsopen", "CAP_SYS_ADMIN"),
    ("fspick", "CAP_SYS_ADMIN"),
    ("get_mempolicy", "CAP_SYS_NICE"),
    ("init_module", "CAP_SYS_MODULE"),
    ("ioperm", "CAP_SYS_RAWIO"),
    ("iopl", "CAP_SYS_RAWIO"),
    ("kcmp", "CAP_SYS_PTRACE"),
    ("lookup_dcookie", "CAP_SYS_ADMIN"),
    ("lsm_get_self_attr", "CAP_SYS_ADMIN"),
    ("lsm_list_modules", "CAP_SYS_ADMIN"),
    ("lsm_set_self_attr", "CAP_SYS_ADMIN"),
    ("mbind", "CAP_SYS_NICE"),
    ("mount", "CAP_SYS_ADMIN"),
    ("mount_setattr", "CAP_SYS_ADMIN"),
    ("move_mount", "CAP_SYS_ADMIN"),
    ("open_by_handle_at", "CAP_DAC_READ_SEARCH"),
    ("open_tree", "CAP_SYS_ADMIN"),
    ("perf_event_open", "CAP_SYS_ADMIN or CAP_PERFMON"),
    ("pidfd_getfd", "CAP_SYS_PTRACE"),
    ("process_madvise", "CAP_SYS_PTRACE"),
    ("quotactl", "CAP_SYS_ADMIN"),
    ("quotactl_fd", "CAP_SYS_ADMIN"),
    ("reboot", "CAP_SYS_BOOT"),
    ("set_mempolicy", "CAP_SYS_NICE"),
    ("set_mempolicy_home_node", "CAP_SYS_NICE"),
    ("setdomainname", "CAP_SYS_ADMIN"),
    ("sethostname", "CAP_SYS_ADMIN"),
    ("setns", "CAP_SYS_ADMIN"),
    ("settimeofday", "CAP_SYS_TIME"),
    ("syslog", "CAP_SYS_ADMIN or CAP_SYSLOG"),
    ("umount2", "CAP_SYS_ADMIN"),
    ("unshare", "CAP_SYS_ADMIN"),
    ("vhangup", "CAP_SYS_TTY_CONFIG"),
];

/// Moby's architecture names for x86_64 in `includes`/`excludes.arches`.
const MOBY_X86_64: &str = "amd64";

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The decision of an OCI/Moby profile for each call of the x86_64 table, for a container
/// on x86_64 with no extra capabilities and a kernel newer than any `minKernel`.
fn decisions(profile: &Value) -> BTreeMap<&'static str, Decision> {
    let mut allowed: BTreeMap<&str, Decision> = BTreeMap::new();
    for rule in profile["syscalls"].as_array().unwrap() {
        if rule["action"] != "SCMP_ACT_ALLOW" {
            continue;
        }
        let includes = &rule["includes"];
        let excludes = &rule["excludes"];
        let arches = strings(&includes["arches"]);
        if !arches.is_empty() && !arches.contains(&MOBY_X86_64) {
            continue;
        }
        if strings(&excludes["arches"]).contains(&MOBY_X86_64) {
            continue;
        }
        let needs_capability = !strings(&includes["caps"]).is_empty();
        let has_args = rule["args"].as_array().is_some_and(|a| !a.is_empty());
        let decision = if needs_capability || has_args {
            Decision::Conditional
        } else {
            Decision::Allowed
        };
        for name in strings(&rule["names"]) {
            let entry = allowed.entry(name).or_insert(decision);
            if decision == Decision::Allowed {
                *entry = Decision::Allowed;
            }
        }
    }
    seccomp::x86_64::SYSCALLS
        .iter()
        .map(|(_, name)| {
            (
                *name,
                allowed.get(name).copied().unwrap_or(Decision::Denied),
            )
        })
        .collect()
}

#[test]
fn runtime_default_decides_like_moby_on_x86_64() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/moby-seccomp-default.json");
    let moby: Value = serde_json::from_str(
        &std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display())),
    )
    .unwrap();
    assert_eq!(moby["defaultAction"], "SCMP_ACT_ERRNO");
    let spec: SeccompSpec = serde_yaml_ng::from_str("baseline: RuntimeDefault").unwrap();
    let ours: Value = serde_json::from_str(&seccomp::render_spec(&spec)).unwrap();
    assert_eq!(ours["defaultAction"], moby["defaultAction"]);
    assert_eq!(ours["defaultErrnoRet"], moby["defaultErrnoRet"]);

    let theirs = decisions(&moby);
    let mine = decisions(&ours);
    let known: BTreeMap<&str, &str> = KNOWN_DIFFERENCES.iter().copied().collect();
    let mut unexpected = vec![];
    let mut stale = vec![];
    for (name, moby_decision) in &theirs {
        let our_decision = mine[name];
        match known.get(name) {
            None if our_decision != *moby_decision => unexpected.push(format!(
                "{name}: moby {moby_decision:?}, ours {our_decision:?}"
            )),
            Some(_)
                if (*moby_decision, our_decision) != (Decision::Conditional, Decision::Denied) =>
            {
                stale.push(format!(
                    "{name}: moby {moby_decision:?}, ours {our_decision:?}"
                ))
            }
            _ => {}
        }
    }
    for name in known.keys() {
        if !theirs.contains_key(name) {
            stale.push(format!("{name}: not an x86_64 system call"));
        }
    }
    assert!(
        unexpected.is_empty(),
        "differences from Moby not listed as known:\n{}",
        unexpected.join("\n")
    );
    assert!(
        stale.is_empty(),
        "known differences that are not (or not so) any more:\n{}",
        stale.join("\n")
    );

    let count =
        |d: Decision, map: &BTreeMap<&str, Decision>| map.values().filter(|v| **v == d).count();
    eprintln!(
        "x86_64: {} calls; Moby allows {} (+{} conditionally), RuntimeDefault allows {} (+{} conditionally)",
        theirs.len(),
        count(Decision::Allowed, &theirs),
        count(Decision::Conditional, &theirs),
        count(Decision::Allowed, &mine),
        count(Decision::Conditional, &mine),
    );
}
