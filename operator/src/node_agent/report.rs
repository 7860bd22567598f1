//! What one sync pass left on this node ([`NodeReport`]): each profile's state per section,
//! AppArmor support, the paths written and removed; and the per-node ConfigMap's data made
//! from it. Pure.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// A profile's state on this node, per section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    Installed,
    Failed(String),
}

impl FileState {
    fn text(&self) -> String {
        match self {
            FileState::Installed => "installed".into(),
            FileState::Failed(reason) => format!("failed: {reason}"),
        }
    }
}

/// What one [`Agent::sync`](super::Agent::sync) pass left: per profile and section, and
/// AppArmor support.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeReport {
    pub seccomp: BTreeMap<String, FileState>,
    pub apparmor: BTreeMap<String, FileState>,
    /// `None`: available.
    pub apparmor_unavailable: Option<String>,
    /// Files written (created or repaired) and removed in this pass.
    pub written: Vec<PathBuf>,
    pub removed: Vec<PathBuf>,
}

impl NodeReport {
    /// The per-node ConfigMap's data: `<profile>.seccomp` / `<profile>.apparmor` ->
    /// `installed` or `failed: <reason>`, and `apparmor` -> `available` or
    /// `unavailable: <reason>`. One key per profile section: bounded by the profiles.
    pub fn config_map_data(&self) -> BTreeMap<String, String> {
        let mut data = BTreeMap::new();
        data.insert(
            "apparmor".to_owned(),
            match &self.apparmor_unavailable {
                None => "available".to_owned(),
                Some(reason) => format!("unavailable: {reason}"),
            },
        );
        for (profile, state) in &self.seccomp {
            data.insert(format!("{profile}.seccomp"), state.text());
        }
        for (profile, state) in &self.apparmor {
            data.insert(format!("{profile}.apparmor"), state.text());
        }
        data
    }
}
