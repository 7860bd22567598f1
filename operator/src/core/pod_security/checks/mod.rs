//! The checks of `policy/check_*.go`, one module per Go file; each `v1_N` function is the
//! revision that applies from policy v1.N and names the Go function it mirrors.

pub(super) mod allow_privilege_escalation;
pub(super) mod app_armor_profile;
pub(super) mod capabilities_baseline;
pub(super) mod capabilities_restricted;
pub(super) mod host_namespaces;
pub(super) mod host_path_volumes;
pub(super) mod host_ports;
pub(super) mod host_probes_and_host_lifecycle;
pub(super) mod privileged;
pub(super) mod proc_mount;
pub(super) mod restricted_volumes;
pub(super) mod run_as_non_root;
pub(super) mod run_as_user;
pub(super) mod se_linux_options;
pub(super) mod seccomp_profile_baseline;
pub(super) mod seccomp_profile_restricted;
pub(super) mod sysctls;
pub(super) mod windows_host_process;
