//! The agent's own files on disk: listing a directory, the record of the seccomp files it
//! created, and atomic writes (also used by `render --confinement-dir`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::Path;

use super::plan::seccomp_owner;

/// The agent's record of the seccomp files it created, in the seccomp directory.
pub const RECORD_FILE: &str = ".hardening-node-agent";

/// Regular files of `dir` whose names pass `keep`, with their content.
pub(super) fn listing(dir: &Path, keep: impl Fn(&str) -> bool) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !keep(&name) || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        if let Ok(content) = std::fs::read(entry.path()) {
            files.insert(name, content);
        }
    }
    files
}

pub(super) fn read_record(dir: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(dir.join(RECORD_FILE))
        .unwrap_or_default()
        .lines()
        .filter(|l| seccomp_owner(l).is_some())
        .map(str::to_owned)
        .collect()
}

pub(super) fn write_record(dir: &Path, record: &BTreeSet<String>) -> std::io::Result<()> {
    let path = dir.join(RECORD_FILE);
    let text: String = record.iter().map(|f| format!("{f}\n")).collect();
    if std::fs::read(&path).is_ok_and(|have| have == text.as_bytes()) {
        return Ok(());
    }
    write_atomic(&path, text.as_bytes())
}

/// Writes `path` so readers see the old or the new content, never a part: a temporary file
/// in the same directory, fsync, rename, fsync of the directory.
pub fn write_atomic(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        file.write_all(content)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
