//! The container image's binary, built the way the Dockerfile builds it: both run
//! `tests/build-static.sh` (here with `--profile release`, the image with `dist`: the same
//! code and linking, without LTO). There is no container engine here, so the test checks what the
//! distroless/static base needs: a statically linked executable (no ELF interpreter, no
//! shared library) that runs.

use std::process::Command;

use hardening_tests::repo_root;

#[test]
fn image_binary_is_static_and_runs() {
    let dockerfile = std::fs::read_to_string(repo_root().join("Dockerfile")).unwrap();
    for line in [
        "FROM rust:1-bookworm AS build",
        "tests/build-static.sh > /tmp/built && cp \"$(tail -n 1 /tmp/built)\" /hardening-operator",
        "FROM gcr.io/distroless/static-debian12:nonroot",
        "USER 65532:65532",
        "ENTRYPOINT [\"/hardening-operator\"]",
    ] {
        assert!(dockerfile.contains(line), "the Dockerfile lacks `{line}`");
    }

    let binary = hardening_tests::on_node::static_binary();

    let elf = std::fs::read(&binary).unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
    let linking = static_linking(&elf).unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
    assert!(
        linking.interpreter.is_none(),
        "dynamically linked: interpreter {:?}",
        linking.interpreter
    );
    assert_eq!(linking.needed, 0, "needs shared libraries");

    // The binary accepts every argument the chart gives it (clap checks each one before
    // it gets to `--help`).
    let docs = hardening_tests::helm::render("hardening-operator", "hardening-system", &[]);
    let deployment = hardening_tests::helm::one(&docs, "Deployment");
    let mut chart_args = hardening_tests::helm::strings(
        &deployment["spec"]["template"]["spec"]["containers"][0]["args"],
    );
    chart_args.push("--help".into());

    for args in [
        vec!["--help".to_owned()],
        vec!["run".into(), "--help".into()],
        chart_args,
    ] {
        let out = Command::new(&binary).args(&args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}: {out:?}");
        assert!(
            text.contains("Usage: hardening-operator"),
            "{args:?}: {text}"
        );
    }
}

/// The Dockerfile's stages: `FROM` lines with the RUN/USER/ENTRYPOINT/CMD lines after each.
/// `docker build` without `--target` builds the last stage, so the distroless operator image
/// stays last; `--target node-agent-apparmor` builds the node agent with `apparmor_parser`
/// (the chart's `nodeAgent.apparmor` needs it).
#[test]
fn dockerfile_has_a_node_agent_apparmor_stage_and_ends_with_distroless() {
    let dockerfile = std::fs::read_to_string(repo_root().join("Dockerfile")).unwrap();
    // Instructions, with `\` continuations joined and comments dropped.
    let mut instructions: Vec<String> = Vec::new();
    let mut continued = false;
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        let (text, continues) = match trimmed.strip_suffix('\\') {
            Some(head) => (head.trim(), true),
            None => (trimmed, false),
        };
        if continued {
            let last = instructions.last_mut().unwrap();
            last.push(' ');
            last.push_str(text);
        } else {
            instructions.push(text.to_owned());
        }
        continued = continues;
    }
    // (FROM line, the stage's other instructions)
    let mut stages: Vec<(String, Vec<String>)> = Vec::new();
    for instruction in instructions {
        if instruction.starts_with("FROM ") {
            stages.push((instruction, Vec::new()));
        } else if let Some((_, body)) = stages.last_mut() {
            body.push(instruction);
        }
    }
    let froms: Vec<&str> = stages.iter().map(|(from, _)| from.as_str()).collect();

    let (_, apparmor) = stages
        .iter()
        .find(|(from, _)| from.ends_with(" AS node-agent-apparmor"))
        .unwrap_or_else(|| panic!("no `node-agent-apparmor` stage: {froms:?}"));
    let install = apparmor
        .iter()
        .find(|i| i.starts_with("RUN ") && i.contains("apt-get install"))
        .unwrap_or_else(|| panic!("the node-agent-apparmor stage installs nothing: {apparmor:?}"));
    let packages: Vec<&str> = install
        .split("apt-get install")
        .nth(1)
        .unwrap()
        .split("&&")
        .next()
        .unwrap()
        .split_whitespace()
        .filter(|word| !word.starts_with('-'))
        .collect();
    assert_eq!(packages, ["apparmor"], "{install}");
    assert!(install.contains("--no-install-recommends"), "{install}");
    assert!(install.contains("rm -rf /var/lib/apt/lists"), "{install}");
    for line in [
        "COPY --from=build /hardening-operator /hardening-operator",
        "ENTRYPOINT [\"/hardening-operator\"]",
        "CMD [\"node-agent\"]",
    ] {
        assert!(
            apparmor.iter().any(|i| i == line),
            "the node-agent-apparmor stage lacks `{line}`: {apparmor:?}"
        );
    }

    let (last_from, last) = stages.last().expect("the Dockerfile has stages");
    assert!(
        last_from.starts_with("FROM gcr.io/distroless/static-debian12:nonroot"),
        "the default (last) stage must be the distroless operator image: {froms:?}"
    );
    for line in [
        "USER 65532:65532",
        "ENTRYPOINT [\"/hardening-operator\"]",
        "CMD [\"run\"]",
    ] {
        assert!(
            last.iter().any(|i| i == line),
            "the last stage lacks `{line}`: {last:?}"
        );
    }
    // Both build commands are documented in the header.
    for command in [
        "docker build -t hardening-operator:",
        "docker build --target node-agent-apparmor -t hardening-operator-node-agent-apparmor:",
    ] {
        assert!(
            dockerfile.contains(command),
            "the Dockerfile header lacks `{command}`"
        );
    }
}

/// The check itself: this test binary is linked dynamically, and it says so.
#[test]
fn elf_check_sees_a_dynamically_linked_executable() {
    let exe = std::env::current_exe().unwrap();
    let linking = static_linking(&std::fs::read(&exe).unwrap()).unwrap();
    assert!(
        linking
            .interpreter
            .as_deref()
            .is_some_and(|i| i.contains("ld-linux")),
        "{:?}",
        linking.interpreter
    );
    assert!(linking.needed > 0, "libc at least");
}

struct Linking {
    /// The PT_INTERP path (the dynamic loader), if any.
    interpreter: Option<String>,
    /// DT_NEEDED entries: shared libraries the executable needs.
    needed: usize,
}

/// Reads the program headers of a 64-bit little-endian ELF file. A static-pie executable
/// has a PT_DYNAMIC segment (for relocating itself) but no interpreter and no DT_NEEDED.
fn static_linking(elf: &[u8]) -> Result<Linking, String> {
    let u16_at = |at: usize| -> Result<u64, String> {
        elf.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as u64)
            .ok_or_else(|| format!("truncated at {at}"))
    };
    let u32_at = |at: usize| -> Result<u64, String> {
        elf.get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()) as u64)
            .ok_or_else(|| format!("truncated at {at}"))
    };
    let u64_at = |at: usize| -> Result<u64, String> {
        elf.get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
            .ok_or_else(|| format!("truncated at {at}"))
    };
    if elf.get(..4) != Some(b"\x7fELF") || elf.get(4) != Some(&2) || elf.get(5) != Some(&1) {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    let phoff = u64_at(0x20)? as usize;
    let phentsize = u16_at(0x36)? as usize;
    let phnum = u16_at(0x38)? as usize;
    let mut linking = Linking {
        interpreter: None,
        needed: 0,
    };
    for i in 0..phnum {
        let header = phoff + i * phentsize;
        let kind = u32_at(header)?;
        let offset = u64_at(header + 8)? as usize;
        let size = u64_at(header + 32)? as usize;
        match kind {
            // PT_INTERP
            3 => {
                let path = elf
                    .get(offset..offset + size)
                    .ok_or("truncated PT_INTERP")?;
                linking.interpreter =
                    Some(String::from_utf8_lossy(path).trim_end_matches('\0').into());
            }
            // PT_DYNAMIC: (tag, value) pairs of 8 bytes each, up to DT_NULL.
            2 => {
                for entry in (offset..offset + size).step_by(16) {
                    match u64_at(entry)? {
                        0 => break,
                        1 => linking.needed += 1,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(linking)
}
