//! Confinement of the containers in selected namespaces: a seccomp profile (system calls)
//! and an AppArmor profile (files, network, capabilities), rendered by
//! [`crate::core::seccomp::render`] and [`crate::core::apparmor::render`] (BSI SYS.1.6 (2023) A21).

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A system call name, as libseccomp and the OCI runtime spec spell it.
pub const SYSCALL_NAME_PATTERN: &str = "^[a-z0-9_]+$";

/// Characters a path glob may hold outside `[...]`: letters, digits and `. _ / * ? + = ~ : % -`.
macro_rules! apparmor_plain {
    () => {
        "[A-Za-z0-9._/*?+=~:%-]"
    };
}
/// Characters of a `[...]` class, `-` aside.
macro_rules! apparmor_member {
    () => {
        "[A-Za-z0-9._*?+=~:%]"
    };
}
/// A class: `[` optionally `^`, then either `-` alone or an optional leading `-` and
/// characters or ranges `a-z`; `apparmor_parser` rejects a `-` anywhere else (`[a-]`,
/// `[a-c-e]`), `[]`, `[^]` and `^` as a member.
macro_rules! apparmor_class {
    () => {
        concat!(
            r"\[\^?(-|-?(",
            apparmor_member!(),
            "(-",
            apparmor_member!(),
            r")?)+)\]"
        )
    };
}
macro_rules! apparmor_atom {
    () => {
        concat!("(", apparmor_plain!(), "|", apparmor_class!(), ")")
    };
}

/// An absolute AppArmor path glob that `apparmor_parser` accepts and that cannot break out
/// of its rule: letters, digits and `. _ / * ? + = ~ : % -`; character classes `[...]` and
/// `[^...]` of those characters (no `/` or `,`) and ranges such as `a-z`, with `-` only first
/// or inside a range; and one level of alternation `{a,b}` with at least two alternatives
/// and no empty one between two commas (`{,a}` and `{a,}` are fine, `{a}` and `{a,,b}` are
/// not). No spaces, quotes, commas outside `{}`, `#`, `@`, `$`, `\` or newlines.
pub const APPARMOR_PATH_PATTERN: &str = concat!(
    "^/(",
    apparmor_atom!(),
    r"|\{",
    apparmor_atom!(),
    "*(,",
    apparmor_atom!(),
    "+)*,",
    apparmor_atom!(),
    r"*\})*$"
);

/// The seccomp profile generated for the profile's workloads.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(validation = Rule::new("!has(self.defaultErrno) || self.defaultAction == 'ERRNO'")
    .message("defaultErrno is only allowed with defaultAction ERRNO"))]
#[serde(rename_all = "camelCase")]
pub struct SeccompSpec {
    /// The system calls allowed before `allow` and `deny` apply. `RuntimeDefault`: what
    /// the container engines' default profile allows a container granted no capabilities
    /// beyond the default ones (305 calls on x86_64, plus `clone` without namespace flags,
    /// `socket` except AF_ALG/AF_VSOCK and `personality` with the usual values; namespaces,
    /// mounts, BPF, keyrings, kernel modules, clock changes and the like are denied).
    /// `Strict`: 115 calls a program needs to start, run threads, use files, pipes, polling,
    /// clocks and signals; no sockets, no ptrace, no namespaces, no IPC (add what the
    /// workload needs with `allow`, or learn it with `hardening-operator learn`). Both answer
    /// `clone3` with ENOSYS, so that the C library falls back to the filtered `clone`.
    #[serde(default)]
    pub baseline: SeccompBaseline,
    /// What happens on every call not allowed: `ERRNO` (default), `KILL_PROCESS`,
    /// `KILL_THREAD`, `TRAP` or `LOG`.
    #[serde(default)]
    pub default_action: SeccompAction,
    /// The errno returned by `defaultAction: ERRNO`, 1 to 4095. Default 1 (EPERM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "errno_schema")]
    pub default_errno: Option<u16>,
    /// System calls allowed in addition to the baseline, unconditionally (a call the
    /// baseline allows only with an argument filter, such as `clone`, becomes fully allowed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 512),
        inner(length(max = 64), regex(pattern = SYSCALL_NAME_PATTERN)),
        extend("x-kubernetes-list-type" = "set")
    )]
    pub allow: Vec<String>,
    /// System calls denied whatever the baseline and `allow` say, with their action.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub deny: Vec<SeccompDenyRule>,
    /// Architectures the profile covers. Default `[x86_64, x86, x32, aarch64, arm]`: 64-bit
    /// x86 and ARM with their 32-bit compatibility modes, as the container engines do.
    #[serde(default = "default_architectures")]
    #[schemars(length(min = 1, max = 5), extend("x-kubernetes-list-type" = "set"))]
    pub architectures: Vec<SeccompArch>,
}

/// An errno value, 1 to 4095, without the `uint16` format the API server warns about.
fn errno_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "integer",
        "minimum": 1,
        "maximum": 4095,
    })
}

fn default_architectures() -> Vec<SeccompArch> {
    vec![
        SeccompArch::X86_64,
        SeccompArch::X86,
        SeccompArch::X32,
        SeccompArch::Aarch64,
        SeccompArch::Arm,
    ]
}

/// The allow-list a seccomp profile starts from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum SeccompBaseline {
    /// Equivalent to the container engines' default profile for a container holding no
    /// capabilities beyond the default ones.
    #[default]
    RuntimeDefault,
    /// A tight allow-list of the calls nearly every program needs.
    Strict,
}

/// A seccomp action for calls that are not allowed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SeccompAction {
    /// The call fails with an errno (default EPERM).
    #[default]
    Errno,
    /// The whole process is killed (SIGSYS).
    KillProcess,
    /// The calling thread is killed.
    KillThread,
    /// SIGSYS is sent to the thread, which may handle it.
    Trap,
    /// The call is allowed and logged by the kernel.
    Log,
}

impl SeccompAction {
    /// The OCI runtime spec / libseccomp name, e.g. `SCMP_ACT_ERRNO`.
    pub fn oci_name(self) -> &'static str {
        match self {
            Self::Errno => "SCMP_ACT_ERRNO",
            Self::KillProcess => "SCMP_ACT_KILL_PROCESS",
            Self::KillThread => "SCMP_ACT_KILL_THREAD",
            Self::Trap => "SCMP_ACT_TRAP",
            Self::Log => "SCMP_ACT_LOG",
        }
    }
}

/// System calls denied with one action.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("!has(self.errno) || self.action == 'ERRNO'")
    .message("errno is only allowed with action ERRNO"))]
#[serde(rename_all = "camelCase")]
pub struct SeccompDenyRule {
    /// System call names, e.g. `[unshare, setns, mount]`.
    #[schemars(
        length(min = 1, max = 64),
        inner(length(max = 64), regex(pattern = SYSCALL_NAME_PATTERN)),
        extend("x-kubernetes-list-type" = "set")
    )]
    pub names: Vec<String>,
    /// `ERRNO` (default), `KILL_PROCESS`, `KILL_THREAD`, `TRAP` or `LOG`.
    #[serde(default)]
    pub action: SeccompAction,
    /// The errno returned with action `ERRNO`, 1 to 4095. Default 1 (EPERM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "errno_schema")]
    pub errno: Option<u16>,
}

/// A CPU architecture (seccomp audit architecture).
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum SeccompArch {
    #[serde(rename = "x86_64")]
    X86_64,
    X86,
    X32,
    Aarch64,
    Arm,
}

impl SeccompArch {
    /// The OCI runtime spec name, e.g. `SCMP_ARCH_X86_64`.
    pub fn oci_name(self) -> &'static str {
        match self {
            Self::X86_64 => "SCMP_ARCH_X86_64",
            Self::X86 => "SCMP_ARCH_X86",
            Self::X32 => "SCMP_ARCH_X32",
            Self::Aarch64 => "SCMP_ARCH_AARCH64",
            Self::Arm => "SCMP_ARCH_ARM",
        }
    }
}

/// Most wildcard characters (`*`, `?`) the path globs of one profile may hold before the
/// end of their paths (a trailing `*` or `**` is free). `apparmor_parser` builds one DFA of
/// all rules, which grows exponentially with such wildcards: 16 rules like `/*a*b` take it
/// more than 40 s, 8 rules like `/**a**b` more than 30 s; within this budget the worst measured
/// takes 2 s. Checked by [`super::validate`] only: a CEL rule summing over the three lists
/// exceeds the CRD's CEL cost budget.
pub const MAX_INTERIOR_WILDCARDS: usize = 8;

/// The wildcard characters of `path` that count against [`MAX_INTERIOR_WILDCARDS`].
pub fn interior_wildcards(path: &str) -> usize {
    let body = path
        .strip_suffix("**")
        .or_else(|| path.strip_suffix('*'))
        .unwrap_or(path);
    body.chars().filter(|c| matches!(c, '*' | '?')).count()
}

/// The AppArmor profile generated for the profile's workloads.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppArmorSpec {
    /// The rules the profile starts from. `RuntimeDefault`: the rules of the container
    /// engines' default profile (`docker-default`, containerd's `cri-containerd.apparmor.d`):
    /// no mounts, no writes to most of `/proc` and `/sys`, signals only from the runtime.
    #[serde(default)]
    pub baseline: AppArmorBaseline,
    /// Path globs that may not be written, created, deleted or linked (`deny PATH wl,`),
    /// e.g. `/etc/**`. Wildcards before the end of a path (`/var/*/data`) are limited to 8
    /// across `denyWrite`, `readOnly` and `noExec` together.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 64),
        inner(length(max = 256), regex(pattern = APPARMOR_PATH_PATTERN)),
        extend("x-kubernetes-list-type" = "set")
    )]
    pub deny_write: Vec<String>,
    /// Path globs that may only be read: no writing, linking, locking, executing or
    /// mapping as code (`deny PATH wlkmx,`), e.g. `/config/**`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 64),
        inner(length(max = 256), regex(pattern = APPARMOR_PATH_PATTERN)),
        extend("x-kubernetes-list-type" = "set")
    )]
    pub read_only: Vec<String>,
    /// Path globs from which nothing may be executed or mapped as code (`deny PATH mx,`),
    /// e.g. `/tmp/**`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 64),
        inner(length(max = 256), regex(pattern = APPARMOR_PATH_PATTERN)),
        extend("x-kubernetes-list-type" = "set")
    )]
    pub no_exec: Vec<String>,
    /// Network restrictions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<AppArmorNetwork>,
    /// Capability restrictions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<AppArmorCapabilities>,
    /// Ready-made rule sets, by name. `NoShellsOrPackageManagers`: no shell (`sh`, `bash`,
    /// `dash`, `ash`, `zsh`, `ksh`, `busybox`, ...) and no package manager (`apt`, `dpkg`,
    /// `apk`, `yum`, `dnf`, `rpm`, `pip`, `npm`, ...) may be executed from the usual
    /// directories (`/bin`, `/sbin`, `/usr/bin`, `/usr/sbin`, `/usr/local/bin`,
    /// `/usr/local/sbin`): immutable containers, with nothing to install or run by hand.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8), extend("x-kubernetes-list-type" = "set"))]
    pub presets: Vec<AppArmorPreset>,
}

/// A named set of AppArmor rules (`spec.apparmor.presets`).
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
pub enum AppArmorPreset {
    /// No shell and no package manager may be executed (`deny <path> x,` for each).
    NoShellsOrPackageManagers,
}

impl AppArmorPreset {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoShellsOrPackageManagers => "NoShellsOrPackageManagers",
        }
    }
}

/// The rules an AppArmor profile starts from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum AppArmorBaseline {
    /// The container engines' default profile rules.
    #[default]
    RuntimeDefault,
}

/// Network rules of the AppArmor profile.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppArmorNetwork {
    /// Deny raw and packet sockets (`deny network raw,`, `deny network packet,`): no
    /// crafted packets, no sniffing. Default `true`.
    #[serde(default = "yes")]
    pub deny_raw: bool,
}

fn yes() -> bool {
    true
}

/// Capability rules of the AppArmor profile.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppArmorCapabilities {
    /// Capabilities denied even if the container holds them, e.g. `[NET_ADMIN, SYS_ADMIN]`
    /// (names as in a container's `securityContext.capabilities`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 41), extend("x-kubernetes-list-type" = "set"))]
    pub deny: Vec<Capability>,
}

macro_rules! capabilities {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// A Linux capability, without the `CAP_` prefix.
        #[derive(
            Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash,
            JsonSchema,
        )]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum Capability {
            $($variant,)*
        }

        impl Capability {
            /// The AppArmor spelling, e.g. `net_admin`.
            pub fn apparmor_name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }
        }
    };
}

capabilities! {
    Chown => "chown",
    DacOverride => "dac_override",
    DacReadSearch => "dac_read_search",
    Fowner => "fowner",
    Fsetid => "fsetid",
    Kill => "kill",
    Setgid => "setgid",
    Setuid => "setuid",
    Setpcap => "setpcap",
    LinuxImmutable => "linux_immutable",
    NetBindService => "net_bind_service",
    NetBroadcast => "net_broadcast",
    NetAdmin => "net_admin",
    NetRaw => "net_raw",
    IpcLock => "ipc_lock",
    IpcOwner => "ipc_owner",
    SysModule => "sys_module",
    SysRawio => "sys_rawio",
    SysChroot => "sys_chroot",
    SysPtrace => "sys_ptrace",
    SysPacct => "sys_pacct",
    SysAdmin => "sys_admin",
    SysBoot => "sys_boot",
    SysNice => "sys_nice",
    SysResource => "sys_resource",
    SysTime => "sys_time",
    SysTtyConfig => "sys_tty_config",
    Mknod => "mknod",
    Lease => "lease",
    AuditWrite => "audit_write",
    AuditControl => "audit_control",
    Setfcap => "setfcap",
    MacOverride => "mac_override",
    MacAdmin => "mac_admin",
    Syslog => "syslog",
    WakeAlarm => "wake_alarm",
    BlockSuspend => "block_suspend",
    AuditRead => "audit_read",
    Perfmon => "perfmon",
    Bpf => "bpf",
    CheckpointRestore => "checkpoint_restore",
}

/// The `securityContext` fields with which a pod (or container) uses the profiles a
/// HardeningProfile generates; reported in its status.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSecurityContext {
    /// `{type: Localhost, localhostProfile: hardening.dev/<profile>.json}`, when the
    /// profile declares `seccomp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp_profile: Option<LocalhostProfile>,
    /// `{type: Localhost, localhostProfile: hardening.dev-<profile>}`, when the profile
    /// declares `apparmor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_armor_profile: Option<LocalhostProfile>,
}

/// A `Localhost` seccomp or AppArmor profile reference, as in a pod's `securityContext`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalhostProfile {
    /// Always `Localhost`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The profile's name on the node.
    pub localhost_profile: String,
}

impl LocalhostProfile {
    fn new(name: String) -> Self {
        Self {
            type_: "Localhost".to_owned(),
            localhost_profile: name,
        }
    }
}

/// What pods set to use the profiles `profile` declares; `None` when it declares neither.
/// Pure.
pub fn workload_security_context(
    profile: &super::HardeningProfile,
) -> Option<WorkloadSecurityContext> {
    let name = kube::ResourceExt::name_any(profile);
    let context = WorkloadSecurityContext {
        seccomp_profile: profile
            .spec
            .seccomp
            .as_ref()
            .map(|_| LocalhostProfile::new(crate::core::seccomp::localhost_profile(&name))),
        app_armor_profile: profile
            .spec
            .apparmor
            .as_ref()
            .map(|_| LocalhostProfile::new(crate::core::apparmor::profile_name(&name))),
    };
    (context != WorkloadSecurityContext::default()).then_some(context)
}

/// Why `path` is not an [`APPARMOR_PATH_PATTERN`] path glob, if it is not (the same check
/// as the CRD schema's pattern, for offline validation).
pub fn apparmor_path_problem(path: &str) -> Option<String> {
    if path.len() > 256 {
        return Some("must be at most 256 characters".to_owned());
    }
    if !path.starts_with('/') {
        return Some(format!("{path:?} must be an absolute path starting with /"));
    }
    glob_problem(path).map(|problem| format!("{path:?}: {problem}"))
}

fn is_apparmor_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._/*?+=~:%-".contains(c)
}

fn is_apparmor_member(c: char) -> bool {
    c != '/' && c != '-' && is_apparmor_plain(c)
}

/// What in `path` leaves [`APPARMOR_PATH_PATTERN`], if anything.
fn glob_problem(path: &str) -> Option<String> {
    let mut chars = path.chars().peekable();
    // Inside `{...}`: the commas seen so far, and whether the last character was one.
    let mut alternation: Option<(usize, bool)> = None;
    while let Some(c) = chars.next() {
        let after_comma = alternation.is_some_and(|(_, after)| after);
        if let Some((_, after)) = alternation.as_mut() {
            *after = c == ',';
        }
        match c {
            '[' => {
                if let Some(problem) = class_problem(&mut chars) {
                    return Some(problem);
                }
            }
            '{' if alternation.is_none() => alternation = Some((0, false)),
            '{' => return Some("nested { is not supported".to_owned()),
            '}' => match alternation.take() {
                None => return Some("} without {".to_owned()),
                Some((0, _)) => {
                    return Some(
                        "{...} needs at least two alternatives, such as {a,b} or {,a}".to_owned(),
                    );
                }
                Some(_) => {}
            },
            ',' if alternation.is_some() => {
                if after_comma {
                    return Some(
                        "an empty alternative between two commas (,,) is not allowed".to_owned(),
                    );
                }
                if let Some((commas, _)) = alternation.as_mut() {
                    *commas += 1;
                }
            }
            c if is_apparmor_plain(c) => {}
            other => {
                return Some(format!(
                    "character {other:?} is not allowed (letters, digits, . _ / * ? + = ~ : % -, [...] and {{a,b}})"
                ));
            }
        }
    }
    alternation.map(|_| "unclosed {".to_owned())
}

/// Checks a class after its `[`, consuming it through `]`: why it is not one
/// `apparmor_parser` accepts (see [`APPARMOR_PATH_PATTERN`]), if it is not.
fn class_problem(chars: &mut std::iter::Peekable<std::str::Chars>) -> Option<String> {
    let problem = |text: &str| Some(text.to_owned());
    if chars.peek() == Some(&'^') {
        chars.next();
    }
    let mut members = 0;
    if chars.peek() == Some(&'-') {
        chars.next();
        if chars.peek() == Some(&']') {
            chars.next();
            return None;
        }
    }
    loop {
        match chars.next() {
            Some(']') if members > 0 => return None,
            Some(']') => return problem("an empty [...] class"),
            Some(m) if is_apparmor_member(m) => {
                members += 1;
                if chars.peek() == Some(&'-') {
                    chars.next();
                    match chars.next() {
                        Some(end) if is_apparmor_member(end) => {}
                        _ => {
                            return problem(
                                "in a [...] class '-' may only come first or between the two ends of a range such as a-z",
                            );
                        }
                    }
                }
            }
            Some('-') => {
                return problem(
                    "in a [...] class '-' may only come first or between the two ends of a range such as a-z",
                );
            }
            Some(other) => {
                return Some(format!(
                    "character {other:?} is not allowed in a [...] class"
                ));
            }
            None => return problem("unclosed ["),
        }
    }
}

/// Whether `name` looks like a system call name ([`SYSCALL_NAME_PATTERN`]).
pub fn is_syscall_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Whether `name` is a system call of x86_64 or one the baselines name for the other
/// architectures: a misspelt name would be ignored by the runtime, silently.
fn is_known_syscall(name: &str) -> bool {
    crate::core::seccomp::x86_64_number(name).is_some()
        || crate::core::seccomp::baseline::runtime_default().contains(&name)
}

fn unknown_syscall(name: &str) -> String {
    format!(
        "{name} is not a system call the operator knows (x86_64, or a 32-bit/ARM name of the RuntimeDefault baseline); the runtime would ignore it"
    )
}

/// Problems with a seccomp section at `path` that its schema does not catch (and the
/// schema's formats again, for offline validation): `(field, message)`.
pub(super) fn seccomp_problems(path: &str, spec: &SeccompSpec) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    if spec.default_errno.is_some() && spec.default_action != SeccompAction::Errno {
        problems.push((
            format!("{path}.defaultErrno"),
            "only allowed with defaultAction ERRNO".to_owned(),
        ));
    }
    if spec.default_errno.is_some_and(|e| !(1..=4095).contains(&e)) {
        problems.push((
            format!("{path}.defaultErrno"),
            "must be between 1 and 4095".to_owned(),
        ));
    }
    let mut seen = std::collections::BTreeMap::new();
    for (i, name) in spec.allow.iter().enumerate() {
        let field = format!("{path}.allow[{i}]");
        if !is_syscall_name(name) {
            problems.push((
                field,
                format!("{name:?} is not a system call name (^[a-z0-9_]+$)"),
            ));
        } else if !is_known_syscall(name) {
            problems.push((field, unknown_syscall(name)));
        } else if let Some(first) = seen.get(name.as_str()) {
            problems.push((field, format!("{name} is already listed at {first}")));
        } else {
            seen.insert(name.as_str(), field);
        }
    }
    for (i, rule) in spec.deny.iter().enumerate() {
        let rule_path = format!("{path}.deny[{i}]");
        if rule.names.is_empty() {
            problems.push((
                format!("{rule_path}.names"),
                "must name at least one system call".to_owned(),
            ));
        }
        for (j, name) in rule.names.iter().enumerate() {
            let field = format!("{rule_path}.names[{j}]");
            if !is_syscall_name(name) {
                problems.push((
                    field,
                    format!("{name:?} is not a system call name (^[a-z0-9_]+$)"),
                ));
            } else if !is_known_syscall(name) {
                problems.push((field, unknown_syscall(name)));
            } else if let Some(first) = seen.get(name.as_str()) {
                problems.push((field, format!("{name} is already listed at {first}: a call is either allowed or denied once")));
            } else {
                seen.insert(name.as_str(), field);
            }
        }
        if rule.errno.is_some() && rule.action != SeccompAction::Errno {
            problems.push((
                format!("{rule_path}.errno"),
                "only allowed with action ERRNO".to_owned(),
            ));
        }
        if rule.errno.is_some_and(|e| !(1..=4095).contains(&e)) {
            problems.push((
                format!("{rule_path}.errno"),
                "must be between 1 and 4095".to_owned(),
            ));
        }
    }
    if spec.architectures.is_empty() {
        problems.push((
            format!("{path}.architectures"),
            "must name at least one architecture".to_owned(),
        ));
    }
    problems
}

/// Problems with an AppArmor section at `path`: `(field, message)`.
pub(super) fn apparmor_problems(path: &str, spec: &AppArmorSpec) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for (field, paths) in [
        ("denyWrite", &spec.deny_write),
        ("readOnly", &spec.read_only),
        ("noExec", &spec.no_exec),
    ] {
        for (i, glob) in paths.iter().enumerate() {
            if let Some(problem) = apparmor_path_problem(glob) {
                problems.push((format!("{path}.{field}[{i}]"), problem));
            }
        }
    }
    let wildcards: usize = [&spec.deny_write, &spec.read_only, &spec.no_exec]
        .into_iter()
        .flatten()
        .map(|glob| interior_wildcards(glob))
        .sum();
    if wildcards > MAX_INTERIOR_WILDCARDS {
        problems.push((
            path.to_owned(),
            format!(
                "denyWrite, readOnly and noExec hold {wildcards} wildcards (* and ?) before the ends of their paths, more than {MAX_INTERIOR_WILDCARDS} (a trailing * or ** is free): apparmor_parser's rule compilation grows exponentially with them"
            ),
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::core::api::validate;
    use crate::fixtures::profile;

    fn errors(spec: &str) -> Vec<String> {
        match validate(&profile("p").spec_yaml(spec).build()) {
            Ok(()) => vec![],
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn sections_parse_with_defaults() {
        let p = profile("p")
            .spec_yaml("  seccomp: {}\n  apparmor: {network: {}}\n")
            .build();
        let seccomp = p.spec.seccomp.unwrap();
        assert_eq!(seccomp.baseline, SeccompBaseline::RuntimeDefault);
        assert_eq!(seccomp.default_action, SeccompAction::Errno);
        assert_eq!(seccomp.architectures.len(), 5);
        let apparmor = p.spec.apparmor.unwrap();
        assert_eq!(apparmor.baseline, AppArmorBaseline::RuntimeDefault);
        assert!(apparmor.network.unwrap().deny_raw);
        let rule: SeccompDenyRule =
            serde_yaml_ng::from_str("{names: [ptrace], action: KILL_THREAD}").unwrap();
        assert_eq!(rule.action.oci_name(), "SCMP_ACT_KILL_THREAD");
        assert!(serde_yaml_ng::from_str::<SeccompDenyRule>("{names: [x], action: KILL}").is_err());
        assert!(
            serde_yaml_ng::from_str::<AppArmorCapabilities>("{deny: [CAP_SYS_ADMIN]}").is_err()
        );
    }

    #[test]
    fn valid_sections_pass() {
        assert_eq!(
            errors(
                "  seccomp:\n    baseline: Strict\n    allow: [socket, connect]\n    deny: [{names: [ptrace], action: KILL_PROCESS}, {names: [mount], errno: 13}]\n  apparmor:\n    denyWrite: [/etc/**]\n    readOnly: ['/config/{a,b}/**']\n    noExec: ['/tmp/[^.]*']\n    capabilities: {deny: [NET_RAW]}\n"
            ),
            Vec::<String>::new()
        );
    }

    #[test]
    fn seccomp_problems_name_their_fields() {
        assert_eq!(
            errors(
                "  seccomp:\n    defaultAction: LOG\n    defaultErrno: 5\n    allow: [read, Read, read, opneat]\n    deny:\n      - {names: [mount, read], action: TRAP, errno: 1}\n      - {names: [mount]}\n"
            ),
            [
                "spec.seccomp.defaultErrno: only allowed with defaultAction ERRNO",
                "spec.seccomp.allow[1]: \"Read\" is not a system call name (^[a-z0-9_]+$)",
                "spec.seccomp.allow[2]: read is already listed at spec.seccomp.allow[0]",
                "spec.seccomp.allow[3]: opneat is not a system call the operator knows (x86_64, or a 32-bit/ARM name of the RuntimeDefault baseline); the runtime would ignore it",
                "spec.seccomp.deny[0].names[1]: read is already listed at spec.seccomp.allow[0]: a call is either allowed or denied once",
                "spec.seccomp.deny[0].errno: only allowed with action ERRNO",
                "spec.seccomp.deny[1].names[0]: mount is already listed at spec.seccomp.deny[0].names[0]: a call is either allowed or denied once",
            ]
        );
    }

    #[test]
    fn apparmor_paths_that_would_break_the_profile_are_rejected() {
        for good in [
            "/",
            "/etc/**",
            "/var/lib/app/*.db",
            "/config/{a,b}/**",
            "/proc/[^1-9]*",
            "/opt/app-1.2/bin/run_me",
            "/{,a}",
            "/{a,}",
            "/{,}",
            "/{a,b,}",
            "/[-]",
            "/[^-]",
            "/[-a-z]",
            "/[a-z0-9_.]",
            "/x/{[a-z],b}/*",
        ] {
            assert_eq!(apparmor_path_problem(good), None, "{good}");
        }
        for bad in [
            "etc/**",
            "",
            "/a,b",
            "/a\"b",
            "/a\nb",
            "/a b",
            "/a#b",
            "/@{HOME}/x",
            "/a\\,b",
            "/{a,b",
            "/a}",
            "/{a,{b,c}}",
            "/[abc",
            "/[]",
            "/[a/b]",
            "/x/{a,b},/y rw",
            // Forms the character-class regex let through and apparmor_parser rejects.
            "/{a}",
            "/{}",
            "/{**}",
            "/{a,,b}",
            "/{,a,,}",
            "/[a-]",
            "/[a-z-]",
            "/[a-c-e]",
            "/[---]",
            "/[^]",
            "/[^^-a]",
        ] {
            assert!(
                apparmor_path_problem(bad).is_some(),
                "{bad:?} should be rejected"
            );
        }
        assert_eq!(
            errors("  apparmor:\n    noExec: [/ok, '/tmp/** rwx, /']\n"),
            [
                "spec.apparmor.noExec[1]: \"/tmp/** rwx, /\": character ' ' is not allowed (letters, digits, . _ / * ? + = ~ : % -, [...] and {a,b})"
            ]
        );
    }

    #[test]
    fn interior_wildcards_are_budgeted() {
        assert_eq!(interior_wildcards("/etc/**"), 0);
        assert_eq!(interior_wildcards("/tmp/*"), 0);
        assert_eq!(interior_wildcards("/var/*/data/**"), 1);
        assert_eq!(interior_wildcards("/a/**/b?"), 3);
        assert_eq!(interior_wildcards("/a/***"), 1);
        // 1 + 2 + 1 + 2 + 0 + 1 + 1 = 8.
        let within = "  apparmor:\n    denyWrite: ['/a/*/b/**', '/c/**/d', '/e?f']\n    noExec: ['/g/*h*/i/**', '/j/**']\n    readOnly: ['/l/*/m', '/n?o']\n";
        assert_eq!(errors(within), Vec::<String>::new());
        assert_eq!(
            errors(&within.replace("'/j/**'", "'/j/**', '/k?/**'")),
            [
                "spec.apparmor: denyWrite, readOnly and noExec hold 9 wildcards (* and ?) before the ends of their paths, more than 8 (a trailing * or ** is free): apparmor_parser's rule compilation grows exponentially with them"
            ]
        );
    }

    #[test]
    fn workload_security_context_names_the_localhost_profiles() {
        assert_eq!(workload_security_context(&profile("p").build()), None);
        let both = workload_security_context(
            &profile("p")
                .spec_yaml("  seccomp: {}\n  apparmor: {}\n")
                .build(),
        );
        assert_eq!(
            serde_json::to_value(both).unwrap(),
            serde_json::json!({
                "seccompProfile": {"type": "Localhost", "localhostProfile": "hardening.dev/p.json"},
                "appArmorProfile": {"type": "Localhost", "localhostProfile": "hardening.dev-p"},
            })
        );
        let seccomp_only =
            workload_security_context(&profile("p").spec_yaml("  seccomp: {}\n").build()).unwrap();
        assert_eq!(seccomp_only.app_armor_profile, None);
    }

    #[test]
    fn crd_schema_carries_the_patterns_and_rules() {
        let crd = serde_json::to_value(crate::core::crd::crd()).unwrap();
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
        let pattern = |schema: &Value| -> Value {
            let rule = schema["x-kubernetes-validations"][0]["rule"]
                .as_str()
                .unwrap_or_default();
            Value::from(
                rule.strip_prefix("self.matches(r'")
                    .and_then(|r| r.strip_suffix("')"))
                    .unwrap_or(rule),
            )
        };
        let seccomp = &spec["seccomp"];
        assert_eq!(
            pattern(&seccomp["properties"]["allow"]["items"]),
            SYSCALL_NAME_PATTERN
        );
        let deny = &seccomp["properties"]["deny"]["items"];
        assert_eq!(
            pattern(&deny["properties"]["names"]["items"]),
            SYSCALL_NAME_PATTERN
        );
        assert_eq!(
            deny["x-kubernetes-validations"][0]["rule"],
            "!has(self.errno) || self.action == 'ERRNO'"
        );
        assert_eq!(
            deny["properties"]["action"]["enum"],
            serde_json::json!(["ERRNO", "KILL_PROCESS", "KILL_THREAD", "TRAP", "LOG"])
        );
        assert_eq!(
            seccomp["x-kubernetes-validations"][0]["rule"],
            "!has(self.defaultErrno) || self.defaultAction == 'ERRNO'"
        );
        for field in ["denyWrite", "readOnly", "noExec"] {
            assert_eq!(
                pattern(&spec["apparmor"]["properties"][field]["items"]),
                APPARMOR_PATH_PATTERN,
                "{field}"
            );
        }
    }
}
