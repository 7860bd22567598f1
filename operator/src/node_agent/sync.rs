//! One sync pass ([`Agent::sync`]): lists the agent's two directories, asks the pure
//! [`plan`] what to do and does it (writes, removals, AppArmor loading and unloading), and
//! says what it left in a [`NodeReport`]. The agent's memory between passes (which AppArmor
//! files this process loaded) lives here too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::apparmor_loader::{AppArmorLoader, AppArmorSupport};
use super::files::{listing, read_record, write_atomic, write_record};
use super::plan::{Action, apparmor_marker, apparmor_owner, desired, plan, seccomp_owner};
use super::report::{FileState, NodeReport};
use crate::core::api::HardeningProfile;
use crate::core::seccomp;

/// The agent's directories and what it remembers between passes.
pub struct Agent<L> {
    pub seccomp_dir: PathBuf,
    pub apparmor_dir: PathBuf,
    pub support: AppArmorSupport,
    pub loader: L,
    /// AppArmor files loaded by this process (loaded again after a restart).
    loaded: BTreeSet<String>,
}

impl<L: AppArmorLoader> Agent<L> {
    pub fn new(
        kubelet_root: &Path,
        apparmor_dir: &Path,
        support: AppArmorSupport,
        loader: L,
    ) -> Self {
        Agent {
            seccomp_dir: kubelet_root.join("seccomp").join(seccomp::LOCALHOST_DIR),
            apparmor_dir: apparmor_dir.to_owned(),
            support,
            loader,
            loaded: BTreeSet::new(),
        }
    }

    /// One pass: brings both directories to what `profiles` want.
    pub fn sync(&mut self, profiles: &[HardeningProfile]) -> NodeReport {
        let (want_seccomp, want_apparmor) = desired(profiles);
        let mut report = NodeReport::default();
        self.sync_seccomp(&want_seccomp, &mut report);
        match self.support.clone() {
            AppArmorSupport::Available => self.sync_apparmor(&want_apparmor, &mut report),
            AppArmorSupport::Unavailable(reason) => {
                let dir = self.apparmor_dir.clone();
                Section::new(Kind::AppArmor, &dir, &want_apparmor, &mut report)
                    .fail_all(&format!("AppArmor unavailable on this node: {reason}"));
                report.apparmor_unavailable = Some(reason);
            }
        }
        report
    }

    fn sync_seccomp(&mut self, want: &BTreeMap<String, String>, report: &mut NodeReport) {
        let dir = self.seccomp_dir.clone();
        let mut section = Section::new(Kind::Seccomp, &dir, want, report);
        let Some(present) = section.open() else {
            return;
        };
        let mut record = read_record(&dir);
        let own = |file: &str, have: &[u8]| {
            record.contains(file) || want.get(file).is_some_and(|w| w.as_bytes() == have)
        };
        let actions = section.plan(&present, own);
        // Identical content found: adopt it.
        record.extend(want.keys().filter(|f| present.contains_key(*f)).cloned());
        for action in actions {
            match action {
                Action::Write { file, .. } => {
                    if section.write(&file) {
                        record.insert(file);
                    }
                }
                Action::Remove { file } => match section.remove(&file) {
                    Ok(()) => {
                        record.remove(&file);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        record.remove(&file);
                    }
                    Err(e) => {
                        tracing::warn!(path = %dir.join(&file).display(), "cannot remove: {e}")
                    }
                },
                Action::Foreign { file } => {
                    section.fail(&file, "foreign file".into());
                    record.remove(&file);
                }
            }
        }
        // Names the agent recorded but that are gone and unwanted are forgotten.
        record.retain(|f| want.contains_key(f) || dir.join(f).exists());
        if let Err(e) = write_record(&dir, &record) {
            tracing::warn!(dir = %dir.display(), "cannot write the record: {e}");
        }
    }

    fn sync_apparmor(&mut self, want: &BTreeMap<String, String>, report: &mut NodeReport) {
        let dir = self.apparmor_dir.clone();
        let mut section = Section::new(Kind::AppArmor, &dir, want, report);
        let Some(present) = section.open() else {
            return;
        };
        let own = |file: &str, have: &[u8]| {
            apparmor_owner(file).is_some_and(|p| have.starts_with(apparmor_marker(p).as_bytes()))
        };
        let actions = section.plan(&present, own);
        let mut to_load: BTreeSet<String> = want
            .keys()
            .filter(|f| present.contains_key(*f) && !self.loaded.contains(*f))
            .cloned()
            .collect();
        for action in actions {
            match action {
                Action::Write { file, .. } => {
                    if section.write(&file) {
                        to_load.insert(file);
                    } else {
                        to_load.remove(&file);
                    }
                }
                Action::Remove { file } => {
                    let path = dir.join(&file);
                    if let Err(e) = self.loader.unload(&path) {
                        tracing::warn!(path = %path.display(), "apparmor_parser -R: {e}");
                    }
                    self.loaded.remove(&file);
                    if let Err(e) = section.remove(&file) {
                        tracing::warn!(path = %path.display(), "cannot remove: {e}");
                    }
                }
                Action::Foreign { file } => {
                    section.fail(&file, "foreign file".into());
                    to_load.remove(&file);
                }
            }
        }
        for file in to_load {
            match self.loader.load(&dir.join(&file)) {
                Ok(()) => {
                    self.loaded.insert(file);
                }
                Err(e) => {
                    self.loaded.remove(&file);
                    section.fail(&file, format!("apparmor_parser: {e}"));
                }
            }
        }
    }
}

/// The two sections of a node's files.
#[derive(Clone, Copy)]
enum Kind {
    Seccomp,
    AppArmor,
}

/// One of the agent's directories during a pass: the files wanted in it, which names are
/// the agent's, and the report the pass's outcome goes to.
struct Section<'a> {
    kind: Kind,
    dir: &'a Path,
    want: &'a BTreeMap<String, String>,
    report: &'a mut NodeReport,
}

impl<'a> Section<'a> {
    fn new(
        kind: Kind,
        dir: &'a Path,
        want: &'a BTreeMap<String, String>,
        report: &'a mut NodeReport,
    ) -> Self {
        Section {
            kind,
            dir,
            want,
            report,
        }
    }

    /// The profile a file name belongs to, if the agent could have written it here.
    fn owner(&self) -> fn(&str) -> Option<&str> {
        match self.kind {
            Kind::Seccomp => seccomp_owner,
            Kind::AppArmor => apparmor_owner,
        }
    }

    /// The profile `file` belongs to, or the file name itself.
    fn profile_of(&self, file: &str) -> String {
        self.owner()(file).unwrap_or(file).to_owned()
    }

    /// This section's states in the report.
    fn states(&mut self) -> &mut BTreeMap<String, FileState> {
        match self.kind {
            Kind::Seccomp => &mut self.report.seccomp,
            Kind::AppArmor => &mut self.report.apparmor,
        }
    }

    /// Creates the directory if needed and lists the files in it the agent could have
    /// written; when it cannot be created, every wanted profile fails and there is nothing.
    fn open(&mut self) -> Option<BTreeMap<String, Vec<u8>>> {
        if let Err(e) = std::fs::create_dir_all(self.dir) {
            self.fail_all(&format!("{}: {e}", self.dir.display()));
            return None;
        }
        let owner = self.owner();
        Some(listing(self.dir, |f| owner(f).is_some()))
    }

    /// What to do about `present` (`own`: see the module docs of `node_agent`); every
    /// wanted profile counts as installed until an action fails.
    fn plan(
        &mut self,
        present: &BTreeMap<String, Vec<u8>>,
        own: impl Fn(&str, &[u8]) -> bool,
    ) -> Vec<Action> {
        let owner = self.owner();
        let actions = plan(self.want, present, |f| owner(f).is_some(), own);
        for file in self.want.keys() {
            let profile = self.profile_of(file);
            self.states().insert(profile, FileState::Installed);
        }
        actions
    }

    /// Writes `file`'s wanted content; when that fails, its profile fails with the error.
    /// Whether it was written.
    fn write(&mut self, file: &str) -> bool {
        let path = self.dir.join(file);
        match write_atomic(&path, self.want[file].as_bytes()) {
            Ok(()) => {
                self.report.written.push(path);
                true
            }
            Err(e) => {
                self.fail(file, e.to_string());
                false
            }
        }
    }

    fn remove(&mut self, file: &str) -> std::io::Result<()> {
        let path = self.dir.join(file);
        std::fs::remove_file(&path)?;
        self.report.removed.push(path);
        Ok(())
    }

    fn fail(&mut self, file: &str, reason: String) {
        let profile = self.profile_of(file);
        self.states().insert(profile, FileState::Failed(reason));
    }

    /// Marks the profile of every wanted file failed with `reason`.
    fn fail_all(&mut self, reason: &str) {
        for file in self.want.keys() {
            self.fail(file, reason.to_owned());
        }
    }
}
