//! The generated confinement profiles confine on the real kernel.
//!
//! seccomp: each rendered JSON profile is compiled into BPF with the system's libseccomp
//! the way runc does it (same defaults, unknown names skipped, rules equal to the default
//! action skipped), loaded with no_new_privs into a forked child, which then either makes
//! one system call and exits with its errno, or executes a program. AppArmor: each rendered
//! profile is compiled by `apparmor_parser -Q -K` (parse and compile only, nothing is
//! loaded into the kernel), and a broken rule is rejected.
//!
//! Needs the Debian packages `libseccomp-dev` (to link) and `apparmor` (apparmor_parser):
//! `tests/prerequisites.sh` installs both.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::Command;

use hardening_operator::core::api::{AppArmorSpec, SeccompSpec};
use hardening_operator::core::{apparmor, seccomp};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use serde_json::Value;

const EPERM: i32 = libc::EPERM;
const EACCES: i32 = libc::EACCES;
const ENOSYS: i32 = libc::ENOSYS;

fn seccomp_spec(yaml: &str) -> SeccompSpec {
    serde_yaml_ng::from_str(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

/// A classic BPF program, ready for `seccomp(SECCOMP_SET_MODE_FILTER)`.
pub struct Filter(Vec<libc::sock_filter>);

fn action(name: &str, errno: Option<u64>) -> ScmpAction {
    match name {
        "SCMP_ACT_ALLOW" => ScmpAction::Allow,
        "SCMP_ACT_ERRNO" => ScmpAction::Errno(errno.unwrap_or(1) as i32),
        "SCMP_ACT_KILL_PROCESS" => ScmpAction::KillProcess,
        "SCMP_ACT_KILL_THREAD" | "SCMP_ACT_KILL" => ScmpAction::KillThread,
        "SCMP_ACT_TRAP" => ScmpAction::Trap,
        "SCMP_ACT_LOG" => ScmpAction::Log,
        other => panic!("unexpected action {other}"),
    }
}

fn arch(name: &str) -> ScmpArch {
    match name {
        "SCMP_ARCH_X86_64" => ScmpArch::X8664,
        "SCMP_ARCH_X86" => ScmpArch::X86,
        "SCMP_ARCH_X32" => ScmpArch::X32,
        "SCMP_ARCH_AARCH64" => ScmpArch::Aarch64,
        "SCMP_ARCH_ARM" => ScmpArch::Arm,
        other => panic!("unexpected architecture {other}"),
    }
}

fn compare(arg: &Value) -> ScmpArgCompare {
    let index = arg["index"].as_u64().unwrap() as u32;
    let value = arg["value"].as_u64().unwrap();
    let value_two = arg["valueTwo"].as_u64().unwrap_or(0);
    let op = match arg["op"].as_str().unwrap() {
        "SCMP_CMP_NE" => ScmpCompareOp::NotEqual,
        "SCMP_CMP_LT" => ScmpCompareOp::Less,
        "SCMP_CMP_LE" => ScmpCompareOp::LessOrEqual,
        "SCMP_CMP_EQ" => ScmpCompareOp::Equal,
        "SCMP_CMP_GE" => ScmpCompareOp::GreaterEqual,
        "SCMP_CMP_GT" => ScmpCompareOp::Greater,
        // OCI: `value` is the mask, `valueTwo` the expected result.
        "SCMP_CMP_MASKED_EQ" => {
            return ScmpArgCompare::new(index, ScmpCompareOp::MaskedEqual(value), value_two);
        }
        other => panic!("unexpected operator {other}"),
    };
    ScmpArgCompare::new(index, op, value)
}

/// Compiles a rendered OCI seccomp profile as runc does. Panics with the package to
/// install when libseccomp is missing (the test binary would not have linked).
pub fn compile(json: &str) -> Filter {
    let profile: Value = serde_json::from_str(json).expect("rendered seccomp JSON parses");
    let default_errno = profile["defaultErrnoRet"].as_u64();
    let default_name = profile["defaultAction"].as_str().unwrap();
    let default = action(default_name, default_errno);
    let mut ctx = ScmpFilterContext::new(default).expect("libseccomp filter context");
    for a in profile["architectures"].as_array().unwrap() {
        let a = arch(a.as_str().unwrap());
        if !ctx.is_arch_present(a).unwrap() {
            ctx.add_arch(a).expect("add architecture");
        }
    }
    ctx.set_ctl_nnp(true).unwrap();
    for rule in profile["syscalls"].as_array().unwrap() {
        let name = rule["action"].as_str().unwrap();
        let errno = rule["errnoRet"].as_u64();
        // runc skips rules whose action is the filter's default one.
        if name == default_name && errno.or(Some(1)) == default_errno.or(Some(1)) {
            continue;
        }
        let act = action(name, errno);
        let conditions: Vec<ScmpArgCompare> = rule["args"]
            .as_array()
            .map(|args| args.iter().map(compare).collect())
            .unwrap_or_default();
        for call in rule["names"].as_array().unwrap() {
            let call = call.as_str().unwrap();
            // Like runc: a name this libseccomp does not know is ignored.
            let Ok(syscall) = ScmpSyscall::from_name(call) else {
                continue;
            };
            let result = if conditions.is_empty() {
                ctx.add_rule(act, syscall)
            } else {
                ctx.add_rule_conditional(act, syscall, &conditions)
            };
            result.unwrap_or_else(|e| panic!("adding rule for {call}: {e}"));
        }
    }
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "seccomp-{}-{}.bpf",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let file = std::fs::File::create(&path).unwrap();
    ctx.export_bpf(&file).expect("export BPF");
    drop(file);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(bytes.len() % 8, 0);
    Filter(
        bytes
            .chunks_exact(8)
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect(),
    )
}

static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How a confined child ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The probe returned this errno (0: the call succeeded), or the program exited with it.
    Exited(i32),
    /// Killed by a signal (SIGSYS for KILL_PROCESS, KILL_THREAD and an unhandled TRAP).
    Signaled(i32),
}

/// A raw system call: number and up to four arguments.
#[derive(Clone, Copy, Debug)]
pub struct Probe(pub libc::c_long, pub [libc::c_long; 4]);

/// What the child does once confined.
pub enum Task<'a> {
    Probe(Probe),
    Exec(&'a [&'a str]),
}

/// Forks; the child loads `filter` (if any) with no_new_privs and runs `task`. Only raw
/// system calls run in the child (the test process has threads), everything it needs is
/// prepared before the fork.
pub fn run(filter: Option<&Filter>, task: Task<'_>) -> Outcome {
    let args: Vec<CString> = match &task {
        Task::Exec(argv) => argv.iter().map(|a| CString::new(*a).unwrap()).collect(),
        Task::Probe(_) => vec![],
    };
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let devnull = CString::new("/dev/null").unwrap();
    let prog = filter.map(|f| libc::sock_fprog {
        len: f.0.len() as u16,
        filter: f.0.as_ptr() as *mut libc::sock_filter,
    });
    // SAFETY: the child only makes async-signal-safe system calls and exits or execs.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        unsafe {
            if let Some(prog) = &prog {
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    libc::_exit(200);
                }
                if libc::syscall(
                    libc::SYS_seccomp,
                    1, // SECCOMP_SET_MODE_FILTER
                    0,
                    prog as *const libc::sock_fprog,
                ) != 0
                {
                    libc::_exit(201);
                }
            }
            match task {
                Task::Probe(Probe(nr, a)) => {
                    let result = libc::syscall(nr, a[0], a[1], a[2], a[3]);
                    let code = if result < 0 {
                        *libc::__errno_location()
                    } else {
                        0
                    };
                    libc::_exit(code);
                }
                Task::Exec(_) => {
                    let fd = libc::open(devnull.as_ptr(), libc::O_WRONLY);
                    libc::dup2(fd, 1);
                    libc::execv(argv[0], argv.as_ptr());
                    libc::_exit(202);
                }
            }
        }
    }
    let mut status = 0;
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    if libc::WIFSIGNALED(status) {
        Outcome::Signaled(libc::WTERMSIG(status))
    } else {
        let code = libc::WEXITSTATUS(status);
        assert!(
            !(200..=202).contains(&code),
            "the child could not load the filter or exec (code {code})"
        );
        Outcome::Exited(code)
    }
}

fn probe(filter: Option<&Filter>, p: Probe) -> Outcome {
    run(filter, Task::Probe(p))
}

/// mount("none", "/nonexistent-...", "tmpfs", 0, NULL): ENOENT when allowed (harmless).
fn mount_probe(buffers: &(CString, CString, CString)) -> Probe {
    Probe(
        libc::SYS_mount,
        [
            buffers.0.as_ptr() as libc::c_long,
            buffers.1.as_ptr() as libc::c_long,
            buffers.2.as_ptr() as libc::c_long,
            0,
        ],
    )
}

fn mount_buffers() -> (CString, CString, CString) {
    (
        CString::new("none").unwrap(),
        CString::new("/nonexistent-hardening-test").unwrap(),
        CString::new("tmpfs").unwrap(),
    )
}

/// keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0).
const KEYCTL: Probe = Probe(libc::SYS_keyctl, [0, -3, 0, 0]);
/// bpf(BPF_MAP_CREATE, NULL, 0): EINVAL/EFAULT when allowed.
const BPF: Probe = Probe(libc::SYS_bpf, [0, 0, 0, 0]);
/// ptrace with an invalid request: EIO/ESRCH when allowed.
const PTRACE: Probe = Probe(libc::SYS_ptrace, [0x7fff, 0, 0, 0]);
/// unshare(CLONE_NEWUTS): new namespace in the child only.
const UNSHARE: Probe = Probe(
    libc::SYS_unshare,
    [libc::CLONE_NEWUTS as libc::c_long, 0, 0, 0],
);
/// clone3(NULL, 0): EINVAL/EFAULT when allowed.
const CLONE3: Probe = Probe(libc::SYS_clone3, [0, 0, 0, 0]);
/// socket(AF_VSOCK, SOCK_STREAM, 0), socket(AF_INET, SOCK_DGRAM, 0).
const SOCKET_VSOCK: Probe = Probe(libc::SYS_socket, [libc::AF_VSOCK as libc::c_long, 1, 0, 0]);
const SOCKET_INET: Probe = Probe(libc::SYS_socket, [libc::AF_INET as libc::c_long, 2, 0, 0]);
/// getpid(): always succeeds when allowed.
const GETPID: Probe = Probe(libc::SYS_getpid, [0, 0, 0, 0]);

/// The unconfined result must differ from the confined one, or the test proves nothing.
fn assert_confined(filter: &Filter, what: &str, p: Probe, expected: Outcome) {
    let unconfined = probe(None, p);
    assert_ne!(
        unconfined, expected,
        "{what}: unconfined already gives {unconfined:?}; the probe proves nothing"
    );
    assert_eq!(probe(Some(filter), p), expected, "{what} under the profile");
}

fn assert_allowed(filter: &Filter, what: &str, p: Probe) {
    let unconfined = probe(None, p);
    assert_eq!(
        probe(Some(filter), p),
        unconfined,
        "{what} should behave as unconfined"
    );
}

/// mount, unshare and the unconfined baselines of the probes need root (as CI runs).
fn require_root() {
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test needs root: its probes (mount, unshare) behave differently for other users"
    );
}

fn runs(filter: &Filter, argv: &[&str]) -> Outcome {
    run(Some(filter), Task::Exec(argv))
}

#[test]
fn runtime_default_denies_namespaces_mounts_keyrings_bpf_and_runs_programs() {
    require_root();
    let filter = compile(&seccomp::render_spec(&seccomp_spec("{}")));
    let m = mount_buffers();
    assert_confined(&filter, "mount", mount_probe(&m), Outcome::Exited(EPERM));
    assert_confined(&filter, "keyctl", KEYCTL, Outcome::Exited(EPERM));
    assert_confined(&filter, "bpf", BPF, Outcome::Exited(EPERM));
    assert_confined(&filter, "unshare", UNSHARE, Outcome::Exited(EPERM));
    assert_confined(&filter, "clone3", CLONE3, Outcome::Exited(ENOSYS));
    assert_confined(
        &filter,
        "socket(AF_VSOCK)",
        SOCKET_VSOCK,
        Outcome::Exited(EPERM),
    );
    assert_allowed(&filter, "socket(AF_INET)", SOCKET_INET);
    assert_allowed(&filter, "ptrace", PTRACE);
    assert_allowed(&filter, "getpid", GETPID);
    // A shell pipeline with forks, execs, pipes and directory reads runs to completion.
    assert_eq!(
        runs(
            &filter,
            &[
                "/bin/sh",
                "-c",
                "ls -la / | wc -l && cat /etc/hostname && date"
            ]
        ),
        Outcome::Exited(0)
    );
    // Whereas a program needing a denied call fails.
    assert_ne!(
        runs(&filter, &["/usr/bin/unshare", "--uts", "true"]),
        Outcome::Exited(0)
    );
}

#[test]
fn strict_with_deny_actions_kills_and_returns_the_configured_errno() {
    require_root();
    let filter = compile(&seccomp::render_spec(&seccomp_spec(
        "baseline: Strict\ndeny:\n  - {names: [ptrace], action: KILL_PROCESS}\n  - {names: [keyctl], errno: 13}\n  - {names: [bpf], action: TRAP}\n",
    )));
    assert_confined(&filter, "ptrace", PTRACE, Outcome::Signaled(libc::SIGSYS));
    assert_confined(&filter, "keyctl", KEYCTL, Outcome::Exited(EACCES));
    assert_confined(&filter, "bpf", BPF, Outcome::Signaled(libc::SIGSYS));
    // Not in Strict: the default action, EPERM.
    assert_confined(
        &filter,
        "socket(AF_INET)",
        SOCKET_INET,
        Outcome::Exited(EPERM),
    );
    assert_confined(&filter, "unshare", UNSHARE, Outcome::Exited(EPERM));
    assert_confined(&filter, "clone3", CLONE3, Outcome::Exited(ENOSYS));
    assert_allowed(&filter, "getpid", GETPID);
    assert_eq!(runs(&filter, &["/bin/true"]), Outcome::Exited(0));
    assert_eq!(
        runs(&filter, &["/bin/cat", "/etc/hostname"]),
        Outcome::Exited(0)
    );
}

#[test]
fn default_actions_other_than_errno() {
    let kill = compile(&seccomp::render_spec(&seccomp_spec(
        "baseline: Strict\ndefaultAction: KILL_PROCESS\n",
    )));
    assert_confined(&kill, "keyctl", KEYCTL, Outcome::Signaled(libc::SIGSYS));
    assert_allowed(&kill, "getpid", GETPID);
    assert_eq!(runs(&kill, &["/bin/true"]), Outcome::Exited(0));
    let errno = compile(&seccomp::render_spec(&seccomp_spec(
        "baseline: Strict\ndefaultErrno: 13\n",
    )));
    assert_confined(&errno, "keyctl", KEYCTL, Outcome::Exited(EACCES));
    // LOG lets the call through (and the kernel logs it).
    let log = compile(&seccomp::render_spec(&seccomp_spec(
        "baseline: Strict\ndefaultAction: LOG\n",
    )));
    assert_allowed(&log, "keyctl", KEYCTL);
}

#[test]
fn allow_list_additions_are_allowed() {
    let filter = compile(&seccomp::render_spec(&seccomp_spec(
        "baseline: Strict\nallow: [keyctl, socket]\n",
    )));
    assert_allowed(&filter, "keyctl", KEYCTL);
    assert_allowed(&filter, "socket(AF_INET)", SOCKET_INET);
    assert_confined(&filter, "bpf", BPF, Outcome::Exited(EPERM));
}

#[test]
fn x86_64_table_matches_libseccomp() {
    let mut checked = 0;
    for (number, name) in seccomp::x86_64::SYSCALLS {
        // This libseccomp may predate the newest calls; those it knows must agree.
        if let Ok(resolved) = ScmpSyscall::from_name_by_arch(name, ScmpArch::X8664) {
            assert_eq!(i32::from(resolved), *number as i32, "{name}");
            checked += 1;
        }
    }
    assert!(
        checked > 330,
        "only {checked} names checked against libseccomp"
    );
}

fn apparmor_parser() -> PathBuf {
    for dir in ["/usr/sbin", "/sbin", "/usr/bin"] {
        let path = Path::new(dir).join("apparmor_parser");
        if path.exists() {
            return path;
        }
    }
    panic!(
        "apparmor_parser not found: install the Debian package `apparmor` (tests/prerequisites.sh)"
    );
}

/// `apparmor_parser -Q -K` (compile only; nothing is loaded) on `text`.
fn parse_apparmor(name: &str, text: &str) -> Result<(), String> {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{name}-{}.profile", std::process::id()));
    std::fs::write(&path, text).unwrap();
    let output = Command::new(apparmor_parser())
        .args(["-Q", "-K"])
        .arg(&path)
        .output()
        .expect("apparmor_parser runs");
    std::fs::remove_file(&path).unwrap();
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

#[test]
fn generated_apparmor_profiles_compile_and_broken_rules_do_not() {
    let specs = [
        "{}",
        "network: {denyRaw: false}",
        "presets: [NoShellsOrPackageManagers]",
        "noExec: [/tmp/**]\npresets: [NoShellsOrPackageManagers]",
        "denyWrite: [/etc/**, /usr/**, '/var/lib/{dpkg,apt}/**']\nreadOnly: ['/config/[^.]*/**']\nnoExec: [/tmp/**, /dev/shm/**]\nnetwork: {}\ncapabilities: {deny: [CHOWN, DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER, FSETID, KILL, SETGID, SETUID, SETPCAP, LINUX_IMMUTABLE, NET_BIND_SERVICE, NET_BROADCAST, NET_ADMIN, NET_RAW, IPC_LOCK, IPC_OWNER, SYS_MODULE, SYS_RAWIO, SYS_CHROOT, SYS_PTRACE, SYS_PACCT, SYS_ADMIN, SYS_BOOT, SYS_NICE, SYS_RESOURCE, SYS_TIME, SYS_TTY_CONFIG, MKNOD, LEASE, AUDIT_WRITE, AUDIT_CONTROL, SETFCAP, MAC_OVERRIDE, MAC_ADMIN, SYSLOG, WAKE_ALARM, BLOCK_SUSPEND, AUDIT_READ, PERFMON, BPF, CHECKPOINT_RESTORE]}",
    ];
    for (i, yaml) in specs.iter().enumerate() {
        let spec: AppArmorSpec = serde_yaml_ng::from_str(yaml).unwrap();
        let text = apparmor::render_spec("bsi-strict", &spec);
        parse_apparmor(&format!("generated-{i}"), &text).unwrap_or_else(|e| {
            panic!("apparmor_parser rejected the profile for {yaml}: {e}\n{text}")
        });
    }
    // The profile of the example in examples/.
    let example: hardening_operator::core::api::HardeningProfile = serde_yaml_ng::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/bsi-strict.yaml"
        ))
        .unwrap(),
    )
    .unwrap();
    let text = apparmor::render(&example).expect("bsi-strict declares apparmor");
    parse_apparmor("example", &text).unwrap_or_else(|e| panic!("example rejected: {e}\n{text}"));
    assert!(
        text.contains("# spec.apparmor.presets: NoShellsOrPackageManagers"),
        "the example uses the preset:\n{text}"
    );
    // The parser is a real check: paths the API rejects break the profile.
    let good = apparmor::render_spec(
        "p",
        &serde_yaml_ng::from_str("denyWrite: [/etc/**]").unwrap(),
    );
    for broken in ["/etc/{a **", "/etc/a b/**", "etc/**", "/etc/\"**"] {
        assert!(
            hardening_operator::core::api::apparmor_path_problem(broken).is_some(),
            "the API must reject {broken:?}"
        );
        let text = good.replace("deny /etc/** wl,", &format!("deny {broken} wl,"));
        assert_ne!(text, good);
        assert!(
            parse_apparmor("broken", &text).is_err(),
            "apparmor_parser accepted {broken:?}"
        );
    }
}

/// `hardening-operator learn -- argv`: the learned seccomp section and the task count.
fn learn(argv: &[&str]) -> (SeccompSpec, usize) {
    let output = Command::new(env!("CARGO_BIN_EXE_hardening-operator"))
        .arg("learn")
        .arg("--")
        .args(argv)
        .output()
        .expect("hardening-operator learn runs");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "learn failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    #[derive(serde::Deserialize)]
    struct Section {
        seccomp: SeccompSpec,
    }
    let section: Section = serde_yaml_ng::from_str(&stdout)
        .unwrap_or_else(|e| panic!("learn printed no seccomp section: {e}\n{stdout}"));
    let tasks = stdout
        .split(" task")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no task count in\n{stdout}"));
    (section.seccomp, tasks)
}

#[test]
fn learned_profile_runs_the_program_and_still_blocks_what_it_never_used() {
    require_root();
    let command = [
        "/bin/sh",
        "-c",
        "ls -la / | wc -l; cat /etc/hostname; id; date",
    ];
    let (spec, tasks) = learn(&command);
    // sh, ls, wc, cat, id and date: the tracer followed the forks.
    assert!(tasks >= 6, "only {tasks} tasks traced");
    assert!(
        !spec
            .allow
            .iter()
            .any(|n| ["keyctl", "mount", "bpf", "unshare"].contains(&n.as_str()))
    );
    let filter = compile(&seccomp::render_spec(&spec));
    assert_eq!(runs(&filter, &command), Outcome::Exited(0));
    let m = mount_buffers();
    assert_confined(&filter, "keyctl", KEYCTL, Outcome::Exited(EPERM));
    assert_confined(&filter, "mount", mount_probe(&m), Outcome::Exited(EPERM));
    assert_confined(&filter, "bpf", BPF, Outcome::Exited(EPERM));
    assert_confined(&filter, "ptrace", PTRACE, Outcome::Exited(EPERM));

    let (ls, _) = learn(&["/bin/ls", "/"]);
    eprintln!(
        "learned for `/bin/ls /`: allow {:?}; the profile allows {} calls in all",
        ls.allow,
        seccomp::allowed_names(&ls).len()
    );
    assert_eq!(
        runs(&compile(&seccomp::render_spec(&ls)), &["/bin/ls", "/"]),
        Outcome::Exited(0)
    );
}

#[test]
fn learned_profile_is_specific_to_what_ran() {
    require_root();
    // unshare is allowed only in the profile learned from a program that used it.
    let unshare = ["/usr/bin/unshare", "--uts", "/bin/true"];
    let (learned, _) = learn(&unshare);
    assert!(
        learned.allow.contains(&"unshare".to_owned()),
        "{:?}",
        learned.allow
    );
    assert_eq!(
        runs(&compile(&seccomp::render_spec(&learned)), &unshare),
        Outcome::Exited(0)
    );
    let (only_true, _) = learn(&["/bin/true"]);
    assert_ne!(
        runs(&compile(&seccomp::render_spec(&only_true)), &unshare),
        Outcome::Exited(0)
    );
}

#[test]
fn learn_fails_clearly_where_ptrace_is_denied() {
    // Under RuntimeDefault without ptrace, as in a container: exit status 2, no profile.
    let filter = compile(&seccomp::render_spec(&seccomp_spec(
        "deny: [{names: [ptrace]}]",
    )));
    let binary = env!("CARGO_BIN_EXE_hardening-operator");
    assert_eq!(
        runs(&filter, &[binary, "learn", "--", "/bin/true"]),
        Outcome::Exited(2)
    );
}

#[test]
fn learned_profile_runs_threads_through_the_clone_fallback() {
    // Threads are created with clone3, which the profile answers ENOSYS: the C library
    // must fall back to clone, which the baseline allows without namespace flags.
    let python = "/usr/bin/python3";
    assert!(
        Path::new(python).exists(),
        "{python} not found: install the Debian package `python3` (tests/prerequisites.sh)"
    );
    let command = [
        python,
        "-c",
        "import threading; ts = [threading.Thread(target=sum, args=([1],)) for _ in range(4)]; [t.start() for t in ts]; [t.join() for t in ts]",
    ];
    let (spec, tasks) = learn(&command);
    assert!(tasks >= 5, "the 4 threads were not followed: {tasks} tasks");
    let filter = compile(&seccomp::render_spec(&spec));
    assert_eq!(runs(&filter, &command), Outcome::Exited(0));
    // With EPERM instead of ENOSYS for clone3 there is no fallback: threads fail.
    let mut eperm = spec.clone();
    eperm.allow.retain(|name| name != "clone3");
    eperm
        .deny
        .push(serde_yaml_ng::from_str("{names: [clone3]}").unwrap());
    assert_ne!(
        runs(&compile(&seccomp::render_spec(&eperm)), &command),
        Outcome::Exited(0)
    );
}

#[test]
fn example_profile_confines() {
    require_root();
    let example: hardening_operator::core::api::HardeningProfile = serde_yaml_ng::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/bsi-strict.yaml"
        ))
        .unwrap(),
    )
    .unwrap();
    let filter = compile(&seccomp::render(&example).expect("bsi-strict declares seccomp"));
    assert_confined(&filter, "ptrace", PTRACE, Outcome::Exited(EPERM));
    assert_confined(&filter, "unshare", UNSHARE, Outcome::Exited(EPERM));
    assert_allowed(&filter, "socket(AF_INET)", SOCKET_INET);
    assert_eq!(
        runs(&filter, &["/bin/sh", "-c", "ls -la / | wc -l"]),
        Outcome::Exited(0)
    );
}

#[test]
fn ctrl_c_stops_the_workload_and_the_recording_is_printed() {
    use std::os::unix::process::CommandExt;
    let child = Command::new(env!("CARGO_BIN_EXE_hardening-operator"))
        .args(["learn", "--", "/bin/sleep", "30"])
        .process_group(0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    // What a terminal does on Ctrl-C: SIGINT to the foreground process group.
    assert_eq!(unsafe { libc::kill(-(child.id() as i32), libc::SIGINT) }, 0);
    let started = std::time::Instant::now();
    let output = child.wait_with_output().unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("seccomp:\n  baseline: Strict\n"),
        "{stdout}"
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("the command exited with 130"), "{stderr}");
}
