//! AppArmor on this node: whether the kernel and `apparmor_parser` are there
//! ([`probe_apparmor`]), and loading and unloading profile files with the parser
//! ([`AppArmorLoader`], [`Parser`]). The profile text itself is `crate::core::apparmor`'s.

use std::path::{Path, PathBuf};

/// Whether this node can load AppArmor profiles, or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppArmorSupport {
    Available,
    Unavailable(String),
}

/// Probes the kernel and the parser: `/sys/module/apparmor/parameters/enabled` is `Y` and
/// `apparmor_parser` is on `PATH` (or in `/sbin`, `/usr/sbin`).
pub fn probe_apparmor() -> AppArmorSupport {
    match std::fs::read_to_string("/sys/module/apparmor/parameters/enabled") {
        Ok(text) if text.trim() == "Y" => {}
        Ok(_) => return AppArmorSupport::Unavailable("disabled in the kernel".into()),
        Err(_) => return AppArmorSupport::Unavailable("no AppArmor in the kernel".into()),
    }
    if find_parser().is_some() {
        AppArmorSupport::Available
    } else {
        AppArmorSupport::Unavailable("apparmor_parser not found".into())
    }
}

fn find_parser() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/sbin".into(), "/usr/sbin".into()])
        .map(|dir| dir.join("apparmor_parser"))
        .find(|p| p.is_file())
}

/// Loads (`-r`, replace) or unloads (`-R`) AppArmor profile files; injectable for tests.
pub trait AppArmorLoader {
    fn load(&mut self, file: &Path) -> Result<(), String>;
    fn unload(&mut self, file: &Path) -> Result<(), String>;
}

/// Runs `apparmor_parser`.
pub struct Parser;

impl AppArmorLoader for Parser {
    fn load(&mut self, file: &Path) -> Result<(), String> {
        run_parser("-r", file)
    }
    fn unload(&mut self, file: &Path) -> Result<(), String> {
        run_parser("-R", file)
    }
}

fn run_parser(flag: &str, file: &Path) -> Result<(), String> {
    let parser = find_parser().ok_or("apparmor_parser not found")?;
    let out = std::process::Command::new(parser)
        .arg(flag)
        .arg(file)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}
