//! Every check, its versions and overrides, and which of them judge a pod at a level and
//! version (`policy/registry.go`: `NewEvaluator`, `populate`, `inflateVersions`).
//!
//! A check applies from its first version's minimum on; each version of it applies up to the
//! next one's minimum. Baseline checks judge `baseline` and `restricted` pods, restricted
//! checks only `restricted` ones, and a restricted check's version may override baseline
//! checks (they are then skipped at `restricted`). The order is the plugin's: baseline
//! checks, then restricted ones, each sorted by ID.

use super::checks::*;
use super::{CheckFn, Level, Version};

/// A check as `policy/check_*.go` registers it.
pub(super) struct Check {
    pub id: &'static str,
    /// `Baseline` or `Restricted`.
    pub level: Level,
    /// By strictly increasing minimum version.
    pub versions: &'static [Versioned],
}

/// One revision of a check (`VersionedCheck`).
pub(super) struct Versioned {
    /// The first policy version (`v1.<minimum>`) it applies to.
    pub minimum: u64,
    pub run: CheckFn,
    /// Baseline checks skipped at `restricted` while this revision applies.
    pub overrides: &'static [&'static str],
}

const fn since(minimum: u64, run: CheckFn) -> Versioned {
    Versioned {
        minimum,
        run,
        overrides: &[],
    }
}

const fn overriding(minimum: u64, run: CheckFn, overrides: &'static [&'static str]) -> Versioned {
    Versioned {
        minimum,
        run,
        overrides,
    }
}

/// Every check of k8s.io/pod-security-admission v0.36.2, baseline then restricted, each
/// sorted by ID as Go sorts strings (bytes): the order violations are listed in.
pub(super) const CHECKS: &[Check] = &[
    Check {
        id: "appArmorProfile",
        level: Level::Baseline,
        versions: &[since(0, app_armor_profile::v1_0)],
    },
    Check {
        id: "capabilities_baseline",
        level: Level::Baseline,
        versions: &[since(0, capabilities_baseline::v1_0)],
    },
    Check {
        id: "hostNamespaces",
        level: Level::Baseline,
        versions: &[since(0, host_namespaces::v1_0)],
    },
    Check {
        id: "hostPathVolumes",
        level: Level::Baseline,
        versions: &[since(0, host_path_volumes::v1_0)],
    },
    Check {
        id: "hostPorts",
        level: Level::Baseline,
        versions: &[since(0, host_ports::v1_0)],
    },
    Check {
        id: "hostProbesAndHostLifecycle",
        level: Level::Baseline,
        versions: &[since(34, host_probes_and_host_lifecycle::v1_34)],
    },
    Check {
        id: "privileged",
        level: Level::Baseline,
        versions: &[since(0, privileged::v1_0)],
    },
    Check {
        id: "procMount",
        level: Level::Baseline,
        versions: &[
            since(0, proc_mount::v1_0),
            since(35, proc_mount::v1_35_baseline),
        ],
    },
    Check {
        id: "seLinuxOptions",
        level: Level::Baseline,
        versions: &[
            since(0, se_linux_options::v1_0),
            since(31, se_linux_options::v1_31),
        ],
    },
    Check {
        id: "seccompProfile_baseline",
        level: Level::Baseline,
        versions: &[
            since(0, seccomp_profile_baseline::v1_0),
            since(19, seccomp_profile_baseline::v1_19),
        ],
    },
    Check {
        id: "sysctls",
        level: Level::Baseline,
        versions: &[
            since(0, sysctls::v1_0),
            since(27, sysctls::v1_27),
            since(29, sysctls::v1_29),
            since(32, sysctls::v1_32),
        ],
    },
    Check {
        id: "windowsHostProcess",
        level: Level::Baseline,
        versions: &[since(0, windows_host_process::v1_0)],
    },
    Check {
        id: "allowPrivilegeEscalation",
        level: Level::Restricted,
        versions: &[
            since(8, allow_privilege_escalation::v1_8),
            since(25, allow_privilege_escalation::v1_25),
        ],
    },
    Check {
        id: "capabilities_restricted",
        level: Level::Restricted,
        versions: &[
            overriding(
                22,
                capabilities_restricted::v1_22,
                &["capabilities_baseline"],
            ),
            overriding(
                25,
                capabilities_restricted::v1_25,
                &["capabilities_baseline"],
            ),
        ],
    },
    Check {
        id: "procMount_restricted",
        level: Level::Restricted,
        // From v1.35 baseline's procMount allows an unmasked /proc in a user namespace;
        // restricted keeps refusing it with the v1.0 check.
        versions: &[overriding(35, proc_mount::v1_0, &["procMount"])],
    },
    Check {
        id: "restrictedVolumes",
        level: Level::Restricted,
        versions: &[overriding(
            0,
            restricted_volumes::v1_0,
            &["hostPathVolumes"],
        )],
    },
    Check {
        id: "runAsNonRoot",
        level: Level::Restricted,
        versions: &[
            since(0, run_as_non_root::v1_0),
            since(35, run_as_non_root::v1_35),
        ],
    },
    Check {
        id: "runAsUser",
        level: Level::Restricted,
        versions: &[since(23, run_as_user::v1_23), since(35, run_as_user::v1_35)],
    },
    Check {
        id: "seccompProfile_restricted",
        level: Level::Restricted,
        versions: &[
            overriding(
                19,
                seccomp_profile_restricted::v1_19,
                &["seccompProfile_baseline"],
            ),
            overriding(
                25,
                seccomp_profile_restricted::v1_25,
                &["seccompProfile_baseline"],
            ),
        ],
    },
];

/// The newest policy version any check defines (`v1.35` for v0.36.2): what `latest` and
/// every newer `v1.N` are judged by.
pub fn newest_policy() -> Version {
    Version::V1(newest_minor())
}

fn newest_minor() -> u64 {
    CHECKS
        .iter()
        .filter_map(|c| c.versions.last())
        .map(|v| v.minimum)
        .max()
        .unwrap_or(0)
}

/// The policy `version` judges by: itself, or the newest for `latest` and newer versions
/// (`EvaluatePod` lowers a version above the registry's maximum to it).
fn effective_minor(version: Version) -> u64 {
    let newest = newest_minor();
    version.minor().map_or(newest, |m| m.min(newest))
}

/// The revision of `check` that applies at policy `minor`, if any.
fn revision(check: &Check, minor: u64) -> Option<&'static Versioned> {
    check.versions.iter().rev().find(|v| v.minimum <= minor)
}

/// The checks that judge a pod at `level` and `version`, in order, with the revision to run.
pub(super) fn active(
    level: Level,
    version: Version,
) -> impl Iterator<Item = (&'static str, CheckFn)> {
    let minor = effective_minor(version);
    let overridden: Vec<&str> = match level {
        Level::Restricted => CHECKS
            .iter()
            .filter(|c| c.level == Level::Restricted)
            .filter_map(|c| revision(c, minor))
            .flat_map(|v| v.overrides.iter().copied())
            .collect(),
        _ => Vec::new(),
    };
    CHECKS
        .iter()
        .filter(move |c| match level {
            Level::Privileged => false,
            Level::Baseline => c.level == Level::Baseline,
            Level::Restricted => !overridden.contains(&c.id),
        })
        .filter_map(move |c| revision(c, minor).map(|v| (c.id, v.run)))
}

/// What a check is: its ID, its level and the first version of each of its revisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckInfo {
    pub id: &'static str,
    pub level: Level,
    pub versions: Vec<Version>,
}

/// Every check Pod Security v0.36.2 defines, in the order violations are listed.
pub fn checks() -> Vec<CheckInfo> {
    CHECKS
        .iter()
        .map(|c| CheckInfo {
            id: c.id,
            level: c.level,
            versions: c.versions.iter().map(|v| Version::V1(v.minimum)).collect(),
        })
        .collect()
}

/// The IDs of the checks that judge a pod at `level` and `version`, in order.
pub fn active_checks(level: Level, version: Version) -> Vec<&'static str> {
    active(level, version).map(|(id, _)| id).collect()
}

/// The restricted check that replaces the baseline check `id` at `restricted` and
/// `version` (`capabilities_restricted` for `capabilities_baseline` from v1.22), if any.
pub fn overridden_by(id: &str, version: Version) -> Option<&'static str> {
    let minor = effective_minor(version);
    CHECKS
        .iter()
        .filter(|c| c.level == Level::Restricted)
        .find(|c| revision(c, minor).is_some_and(|v| v.overrides.contains(&id)))
        .map(|c| c.id)
}
