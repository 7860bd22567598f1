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
    let section: Section = serde_yaml_ng::from_str(&profile_yaml(&command(), &recording)).unwrap();
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
