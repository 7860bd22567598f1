//! `hardening-operator learn -- CMD ARGS...`: runs a command under ptrace, following every
//! process and thread it starts, records the system calls they make (x86_64), and prints a
//! `seccomp:` section for a HardeningProfile that allows them: baseline `Strict` plus the
//! recorded calls Strict lacks.
//!
//! Tracing: the child stops itself after `PTRACE_TRACEME`; the tracer then sets
//! `PTRACE_O_TRACESYSGOOD | TRACEFORK | TRACEVFORK | TRACECLONE | TRACEEXEC | EXITKILL` and
//! resumes it with `PTRACE_SYSCALL`, so every system call entry and exit of it and of its
//! descendants stops (new ones are attached automatically) and `orig_rax` names the call.
//! Recording starts at the command's `execve`, so the tracer's own set-up is not counted.
//! Recording ends when every traced task has ended: stop a long-running workload with
//! Ctrl-C (the recorder itself ignores SIGINT) or by signalling it.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::fmt::Write as _;

use crate::core::plural::{agree, count};
use crate::core::seccomp;

/// `hardening-operator learn`: record the system calls of a command.
#[derive(clap::Args, Debug)]
#[command(
    about = "Run a command under ptrace and print a seccomp allow-list for it",
    long_about = "Runs CMD ARGS... under ptrace, following every process and thread it starts, \
                  records the x86_64 system calls they make and prints a `seccomp:` section for a \
                  HardeningProfile (baseline Strict plus the recorded calls Strict lacks). \
                  Exercise everything the workload does while it runs: calls it did not make \
                  stay denied. Stop a long-running workload with Ctrl-C: the recording ends \
                  when every traced process has ended. The command's standard output goes to \
                  standard error."
)]
pub struct LearnArgs {
    /// The command and its arguments, after `--`.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// What a traced run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recording {
    /// x86_64 system call numbers made after the command's `execve`.
    pub syscalls: BTreeSet<u64>,
    /// Processes and threads seen, the command included.
    pub tasks: usize,
    /// The command's exit code, or 128 + signal.
    pub exit_code: i32,
    /// Whether some task ran in 32-bit mode (its calls use other numbers: not recorded).
    pub saw_32_bit: bool,
}

/// Why a command could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    #[error("learn records x86_64 system calls only")]
    UnsupportedArchitecture,
    #[error("the command is empty")]
    EmptyCommand,
    #[error("argument contains a NUL byte: {0:?}")]
    NulByte(String),
    #[error("{0} failed: {1}")]
    Os(&'static str, std::io::Error),
    #[error(
        "ptrace(PTRACE_TRACEME) was refused: tracing needs CAP_SYS_PTRACE or a permissive \
         kernel.yama.ptrace_scope, and no seccomp profile denying ptrace"
    )]
    PtraceRefused,
    #[error("could not execute {0:?} (exit code {1})")]
    ExecFailed(String, i32),
}

/// The CLI entry: records `args.command` and prints the profile section on stdout and a
/// summary on stderr (where the command's own standard output goes too). Exit status: 0, or 2 when the command could not be recorded.
pub fn main(args: &LearnArgs) -> i32 {
    match record(&args.command) {
        Ok(recording) => {
            print!("{}", profile_yaml(&args.command, &recording));
            eprintln!(
                "hardening-operator learn: {} in {}; the command exited with {}",
                count(recording.syscalls.len(), "system call"),
                count(recording.tasks, "task"),
                recording.exit_code
            );
            0
        }
        Err(e) => {
            eprintln!("hardening-operator learn: {e}");
            2
        }
    }
}

/// The `seccomp:` YAML section allowing what `recording` saw, with comments saying where
/// it came from. Pure.
pub fn profile_yaml(command: &[String], recording: &Recording) -> String {
    let strict: BTreeSet<&str> = seccomp::baseline::strict().into_iter().collect();
    let mut names = BTreeSet::new();
    let mut unknown = BTreeSet::new();
    for number in &recording.syscalls {
        match seccomp::x86_64_name(*number) {
            Some(name) => {
                names.insert(name);
            }
            None => {
                unknown.insert(*number);
            }
        }
    }
    // The runtime starts the program with execve after loading the filter.
    names.insert("execve");
    let in_strict = names.iter().filter(|n| strict.contains(*n)).count();
    // clone3 stays answered ENOSYS (its flags are invisible to seccomp): the C library
    // falls back to clone, which the baseline allows without namespace flags.
    let extra: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !strict.contains(n) && *n != "clone" && *n != "clone3")
        .collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Learned by `hardening-operator learn` (x86_64) from: {}",
        shell_words(command)
    );
    let _ = writeln!(
        out,
        "# {} in {}; {in_strict} of them {} in the Strict baseline.",
        count(names.len(), "distinct system call"),
        count(recording.tasks, "task"),
        agree(in_strict, "is", "are")
    );
    if names.contains("clone3") {
        let _ = writeln!(
            out,
            "# clone3 is answered ENOSYS by the baseline; the C library falls back to clone."
        );
    }
    if !unknown.is_empty() {
        let numbers: Vec<String> = unknown.iter().map(u64::to_string).collect();
        let _ = writeln!(
            out,
            "# Unknown system call numbers, not allowed: {}",
            numbers.join(", ")
        );
    }
    if recording.saw_32_bit {
        let _ = writeln!(
            out,
            "# Some tasks ran 32-bit code, whose system calls were not recorded."
        );
    }
    out.push_str("seccomp:\n  baseline: Strict\n");
    if extra.is_empty() {
        out.push_str("  allow: []\n");
    } else {
        out.push_str("  allow:\n");
        for name in extra {
            let _ = writeln!(out, "    - {name}");
        }
    }
    out
}

/// `command` as a shell would need it typed, on one line.
fn shell_words(command: &[String]) -> String {
    let word = |arg: &String| {
        let plain = !arg.is_empty()
            && arg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@%".contains(c));
        if plain {
            arg.clone()
        } else {
            format!("'{}'", arg.replace('\'', "'\\''").replace('\n', "\\n"))
        }
    };
    command.iter().map(word).collect::<Vec<_>>().join(" ")
}

/// Runs `command` under ptrace until it and every task it started have ended.
#[cfg(target_arch = "x86_64")]
pub fn record(command: &[String]) -> Result<Recording, LearnError> {
    let Some(program) = command.first() else {
        return Err(LearnError::EmptyCommand);
    };
    let args: Vec<CString> = command
        .iter()
        .map(|a| CString::new(a.as_str()).map_err(|_| LearnError::NulByte(a.clone())))
        .collect::<Result<_, _>>()?;
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());

    // SAFETY: the child only makes async-signal-safe calls before exec or _exit.
    let root = unsafe { libc::fork() };
    if root < 0 {
        return Err(LearnError::Os("fork", std::io::Error::last_os_error()));
    }
    if root == 0 {
        unsafe {
            if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) != 0 {
                libc::_exit(126);
            }
            // Standard output is for the profile: the command writes to standard error.
            libc::dup2(2, 1);
            libc::raise(libc::SIGSTOP);
            libc::execvp(argv[0], argv.as_ptr());
            libc::_exit(127);
        }
    }
    // Ctrl-C at a terminal goes to the whole process group: it is meant to stop the
    // workload (which ends the recording), not the recorder.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    let mut status = 0;
    if unsafe { libc::waitpid(root, &mut status, 0) } != root {
        return Err(LearnError::Os("waitpid", std::io::Error::last_os_error()));
    }
    if !libc::WIFSTOPPED(status) {
        return Err(LearnError::PtraceRefused);
    }
    let options = libc::PTRACE_O_TRACESYSGOOD
        | libc::PTRACE_O_TRACEFORK
        | libc::PTRACE_O_TRACEVFORK
        | libc::PTRACE_O_TRACECLONE
        | libc::PTRACE_O_TRACEEXEC
        | libc::PTRACE_O_EXITKILL;
    if unsafe { libc::ptrace(libc::PTRACE_SETOPTIONS, root, 0, options) } != 0 {
        let error = std::io::Error::last_os_error();
        unsafe {
            libc::kill(root, libc::SIGKILL);
            libc::waitpid(root, &mut status, 0);
        }
        return Err(LearnError::Os("ptrace(PTRACE_SETOPTIONS)", error));
    }
    let resume = |pid: libc::pid_t, signal: libc::c_int| unsafe {
        libc::ptrace(libc::PTRACE_SYSCALL, pid, 0, signal);
    };
    resume(root, 0);

    let mut recording = Recording::default();
    let mut live: BTreeSet<libc::pid_t> = BTreeSet::from([root]);
    let mut seen: BTreeSet<libc::pid_t> = BTreeSet::from([root]);
    let mut started: BTreeSet<libc::pid_t> = BTreeSet::from([root]);
    let mut recording_started = false;
    let mut root_exit = None;
    while !live.is_empty() {
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::__WALL) };
        if pid < 0 {
            let error = std::io::Error::last_os_error();
            if error.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            if error.raw_os_error() == Some(libc::ECHILD) {
                break;
            }
            return Err(LearnError::Os("waitpid", error));
        }
        if seen.insert(pid) {
            live.insert(pid);
        }
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            live.remove(&pid);
            if pid == root {
                root_exit = Some(if libc::WIFEXITED(status) {
                    libc::WEXITSTATUS(status)
                } else {
                    128 + libc::WTERMSIG(status)
                });
            }
            continue;
        }
        if !libc::WIFSTOPPED(status) {
            continue;
        }
        let signal = libc::WSTOPSIG(status);
        let event = (status >> 16) & 0xff;
        if signal == (libc::SIGTRAP | 0x80) {
            // A system call entry or exit.
            if recording_started {
                let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
                let got = unsafe {
                    libc::ptrace(
                        libc::PTRACE_GETREGS,
                        pid,
                        0,
                        &mut regs as *mut libc::user_regs_struct,
                    )
                };
                if got == 0 {
                    if regs.cs == 0x23 {
                        recording.saw_32_bit = true;
                    } else if regs.orig_rax != u64::MAX {
                        recording.syscalls.insert(regs.orig_rax);
                    }
                }
            }
            resume(pid, 0);
        } else if event != 0 {
            // fork, vfork, clone (the new task is attached by the kernel) or exec.
            if event == libc::PTRACE_EVENT_EXEC && pid == root {
                recording_started = true;
            }
            resume(pid, 0);
        } else if signal == libc::SIGSTOP && !started.contains(&pid) {
            // The first stop of a newly attached task.
            started.insert(pid);
            resume(pid, 0);
        } else {
            // A real signal: deliver it.
            resume(pid, signal);
        }
    }
    recording.tasks = seen.len();
    let exit_code = root_exit.unwrap_or(0);
    recording.exit_code = exit_code;
    if !recording_started {
        return Err(LearnError::ExecFailed(program.clone(), exit_code));
    }
    Ok(recording)
}

#[cfg(not(target_arch = "x86_64"))]
pub fn record(_command: &[String]) -> Result<Recording, LearnError> {
    Err(LearnError::UnsupportedArchitecture)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command() -> Vec<String> {
        vec!["/bin/ls".to_owned(), "/".to_owned()]
    }

    #[test]
    fn yaml_allows_what_strict_lacks() {
        let recording = Recording {
            // read, write, ioctl, socket, clone3, 9999 (unknown)
            syscalls: [0, 1, 16, 41, 435, 9999].into_iter().collect(),
            tasks: 2,
            exit_code: 0,
            saw_32_bit: false,
        };
        assert_eq!(
            profile_yaml(&command(), &recording),
            "# Learned by `hardening-operator learn` (x86_64) from: /bin/ls /\n\
         # 6 distinct system calls in 2 tasks; 4 of them are in the Strict baseline.\n\
         # clone3 is answered ENOSYS by the baseline; the C library falls back to clone.\n\
         # Unknown system call numbers, not allowed: 9999\n\
         seccomp:\n  baseline: Strict\n  allow:\n    - socket\n"
        );
    }

    #[test]
    fn yaml_parses_as_a_seccomp_section() {
        #[derive(serde::Deserialize)]
        struct Section {
            seccomp: crate::core::api::SeccompSpec,
        }
        let recording = Recording {
            syscalls: [0, 60, 231, 165].into_iter().collect(),
            tasks: 1,
            ..Recording::default()
        };
        let section: Section =
            serde_yaml_ng::from_str(&profile_yaml(&command(), &recording)).unwrap();
        assert_eq!(
            section.seccomp.baseline,
            crate::core::api::SeccompBaseline::Strict
        );
        assert_eq!(section.seccomp.allow, ["mount"]);
    }

    #[test]
    fn command_is_quoted_in_the_comment() {
        let command: Vec<String> = ["/bin/sh", "-c", "ls -la / | wc -l", "it's"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            shell_words(&command),
            r"/bin/sh -c 'ls -la / | wc -l' 'it'\''s'"
        );
    }

    #[test]
    fn the_summary_agrees_with_its_counts() {
        let summary = |syscalls: &[u64], tasks| {
            let recording = Recording {
                syscalls: syscalls.iter().copied().collect(),
                tasks,
                ..Recording::default()
            };
            profile_yaml(&command(), &recording)
                .lines()
                .nth(1)
                .unwrap()
                .to_owned()
        };
        // execve is always there: the runtime starts the program with it.
        assert_eq!(
            summary(&[], 0),
            "# 1 distinct system call in 0 tasks; 1 of them is in the Strict baseline."
        );
        assert_eq!(
            summary(&[0], 1),
            "# 2 distinct system calls in 1 task; 2 of them are in the Strict baseline."
        );
        assert_eq!(
            summary(&[0, 1], 2),
            "# 3 distinct system calls in 2 tasks; 3 of them are in the Strict baseline."
        );
    }
}
