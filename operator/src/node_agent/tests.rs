use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use super::args::parse_period;
use super::*;
use crate::core::{apparmor, seccomp};

use crate::fixtures::profile;

const BOTH: &str =
    "  seccomp: {baseline: Strict, allow: [keyctl]}\n  apparmor: {denyWrite: [/etc/**]}\n";
const SECCOMP: &str = "  seccomp: {baseline: RuntimeDefault}\n";

/// A fresh directory standing in for the kubelet root (and the AppArmor directory).
use crate::test_support::TempDir;

#[derive(Default)]
struct FakeParser {
    calls: Vec<String>,
}

impl AppArmorLoader for FakeParser {
    fn load(&mut self, file: &Path) -> Result<(), String> {
        self.calls.push(format!(
            "-r {}",
            file.file_name().unwrap().to_string_lossy()
        ));
        Ok(())
    }
    fn unload(&mut self, file: &Path) -> Result<(), String> {
        self.calls.push(format!(
            "-R {}",
            file.file_name().unwrap().to_string_lossy()
        ));
        Ok(())
    }
}

fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn files(entries: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect()
}

#[test]
fn plan_writes_missing_repairs_own_removes_unwanted_and_spares_foreign() {
    let want = map(&[
        ("a.json", "A"),
        ("b.json", "B"),
        ("c.json", "C"),
        ("d.json", "D"),
    ]);
    let present = files(&[
        ("a.json", "A"),        // up to date
        ("b.json", "tampered"), // own, changed
        ("d.json", "theirs"),   // not own
        ("gone.json", "G"),     // own, unwanted
        ("other.json", "O"),    // not own, unwanted
        ("notes.txt", "N"),     // not a managed name
    ]);
    let own = |f: &str, _: &[u8]| matches!(f, "a.json" | "b.json" | "gone.json" | "notes.txt");
    let actions = plan(&want, &present, |f| seccomp_owner(f).is_some(), own);
    assert_eq!(
        actions,
        vec![
            Action::Write {
                file: "b.json".into(),
                repair: true
            },
            Action::Write {
                file: "c.json".into(),
                repair: false
            },
            Action::Foreign {
                file: "d.json".into()
            },
            Action::Remove {
                file: "gone.json".into()
            },
        ]
    );
}

#[test]
fn plan_of_an_up_to_date_directory_is_empty() {
    let want = map(&[("a.json", "A")]);
    assert!(plan(&want, &files(&[("a.json", "A")]), |_| true, |_, _| true).is_empty());
}

#[test]
fn managed_names() {
    assert_eq!(seccomp_owner("web.json"), Some("web"));
    assert_eq!(seccomp_owner("my.profile-1.json"), Some("my.profile-1"));
    assert_eq!(seccomp_owner(".web.json.tmp-1"), None);
    assert_eq!(seccomp_owner(RECORD_FILE), None);
    assert_eq!(seccomp_owner("Web.json"), None);
    assert_eq!(seccomp_owner("web.yaml"), None);
    assert_eq!(apparmor_owner("hardening.dev-web"), Some("web"));
    assert_eq!(apparmor_owner("docker-default"), None);
    // The marker is the renderer's first line.
    let text = apparmor::render(&profile("web").spec_yaml(BOTH).build()).unwrap();
    assert!(text.starts_with(&apparmor_marker("web")));
}

#[test]
fn sync_against_a_kubelet_root() {
    let root = TempDir::new("node-agent-sync");
    let aa_dir = root.0.join("apparmor.d/hardening.dev");
    let mut agent = Agent::new(
        &root.0,
        &aa_dir,
        AppArmorSupport::Available,
        FakeParser::default(),
    );
    let seccomp_dir = root.0.join("seccomp/hardening.dev");
    let web = profile("web").spec_yaml(BOTH).build();
    let db = profile("db").spec_yaml(SECCOMP).build();
    let plain = profile("plain").build();

    // First pass: every file, byte-identical to the renderers; AppArmor loaded.
    let report = agent.sync(&[web.clone(), db.clone(), plain.clone()]);
    let web_json = std::fs::read_to_string(seccomp_dir.join("web.json")).unwrap();
    assert_eq!(Some(web_json), seccomp::render(&web));
    let db_json = std::fs::read_to_string(seccomp_dir.join("db.json")).unwrap();
    assert_eq!(Some(db_json), seccomp::render(&db));
    assert!(!seccomp_dir.join("plain.json").exists());
    let web_aa = std::fs::read_to_string(aa_dir.join("hardening.dev-web")).unwrap();
    assert_eq!(Some(web_aa), apparmor::render(&web));
    assert_eq!(agent.loader.calls, vec!["-r hardening.dev-web"]);
    assert_eq!(report.seccomp["web"], FileState::Installed);
    assert_eq!(report.seccomp["db"], FileState::Installed);
    assert_eq!(report.apparmor["web"], FileState::Installed);
    assert_eq!(report.written.len(), 3);
    let data = report.config_map_data();
    assert_eq!(data["apparmor"], "available");
    assert_eq!(data["web.seccomp"], "installed");
    assert_eq!(data["web.apparmor"], "installed");
    assert_eq!(data.len(), 4);

    // Nothing changed: nothing written, nothing loaded again.
    let report = agent.sync(&[web.clone(), db.clone(), plain.clone()]);
    assert!(report.written.is_empty() && report.removed.is_empty());
    assert_eq!(agent.loader.calls.len(), 1);

    // Foreign files in the agent's directories, and a profile whose file someone else
    // wrote before it existed.
    std::fs::write(seccomp_dir.join("other.json"), "{}\n").unwrap();
    std::fs::write(seccomp_dir.join("notes.txt"), "mine\n").unwrap();
    std::fs::write(
        seccomp_dir.join("api.json"),
        "{\"defaultAction\":\"SCMP_ACT_LOG\"}\n",
    )
    .unwrap();
    std::fs::write(aa_dir.join("hardening.dev-other"), "profile other {}\n").unwrap();
    let api = profile("api").spec_yaml(SECCOMP).build();

    // Tampered and deleted files are rewritten; the edited AppArmor file is loaded again.
    std::fs::write(seccomp_dir.join("web.json"), "{}\n").unwrap();
    std::fs::remove_file(seccomp_dir.join("db.json")).unwrap();
    let edited = format!("{}  # edited\n", apparmor::render(&web).unwrap());
    std::fs::write(aa_dir.join("hardening.dev-web"), edited).unwrap();
    let report = agent.sync(&[web.clone(), db.clone(), api.clone()]);
    assert_eq!(
        std::fs::read_to_string(seccomp_dir.join("web.json")).ok(),
        seccomp::render(&web)
    );
    assert_eq!(
        std::fs::read_to_string(seccomp_dir.join("db.json")).ok(),
        seccomp::render(&db)
    );
    assert_eq!(
        std::fs::read_to_string(aa_dir.join("hardening.dev-web")).ok(),
        apparmor::render(&web)
    );
    assert_eq!(
        agent.loader.calls,
        vec!["-r hardening.dev-web", "-r hardening.dev-web"]
    );
    assert_eq!(report.written.len(), 3);
    // api.json was not written by the agent: left alone, reported.
    assert_eq!(
        std::fs::read_to_string(seccomp_dir.join("api.json")).unwrap(),
        "{\"defaultAction\":\"SCMP_ACT_LOG\"}\n"
    );
    assert_eq!(
        report.seccomp["api"],
        FileState::Failed("foreign file".into())
    );
    assert_eq!(
        report.config_map_data()["api.seccomp"],
        "failed: foreign file"
    );

    // Deleted profiles (and a dropped section) lose their files; AppArmor is unloaded first.
    let web_seccomp_only = profile("web").spec_yaml(SECCOMP).build();
    let report = agent.sync(std::slice::from_ref(&web_seccomp_only));
    assert!(!seccomp_dir.join("db.json").exists());
    assert!(!aa_dir.join("hardening.dev-web").exists());
    assert_eq!(
        std::fs::read_to_string(seccomp_dir.join("web.json")).ok(),
        seccomp::render(&web_seccomp_only)
    );
    assert_eq!(agent.loader.calls.last().unwrap(), "-R hardening.dev-web");
    assert_eq!(report.removed.len(), 2);

    // Foreign files survive everything, including a profile named like them going away.
    let report = agent.sync(&[]);
    assert!(!seccomp_dir.join("web.json").exists());
    assert_eq!(report.removed.len(), 1);
    assert_eq!(
        std::fs::read_to_string(seccomp_dir.join("other.json")).unwrap(),
        "{}\n"
    );
    assert_eq!(
        std::fs::read_to_string(seccomp_dir.join("notes.txt")).unwrap(),
        "mine\n"
    );
    assert!(seccomp_dir.join("api.json").exists());
    assert_eq!(
        std::fs::read_to_string(aa_dir.join("hardening.dev-other")).unwrap(),
        "profile other {}\n"
    );
    // No temporary files are left behind.
    let names: BTreeSet<String> = std::fs::read_dir(&seccomp_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        names,
        ["api.json", "notes.txt", "other.json", RECORD_FILE]
            .map(String::from)
            .into()
    );
}

#[test]
fn the_record_survives_a_restart() {
    let root = TempDir::new("node-agent-restart");
    let aa_dir = root.0.join("aa");
    let seccomp_dir = root.0.join("seccomp/hardening.dev");
    let web = profile("web").spec_yaml(SECCOMP).build();
    let mut agent = Agent::new(
        &root.0,
        &aa_dir,
        AppArmorSupport::Available,
        FakeParser::default(),
    );
    agent.sync(std::slice::from_ref(&web));
    // The file is tampered with and the profile deleted while no agent runs.
    std::fs::write(seccomp_dir.join("web.json"), "{}\n").unwrap();
    drop(agent);
    let mut agent = Agent::new(
        &root.0,
        &aa_dir,
        AppArmorSupport::Available,
        FakeParser::default(),
    );
    let report = agent.sync(&[]);
    assert!(!seccomp_dir.join("web.json").exists());
    assert_eq!(report.removed.len(), 1);
}

#[test]
fn apparmor_unavailable_is_reported_and_nothing_is_loaded() {
    let root = TempDir::new("node-agent-noaa");
    let aa_dir = root.0.join("aa");
    let mut agent = Agent::new(
        &root.0,
        &aa_dir,
        AppArmorSupport::Unavailable("apparmor_parser not found".into()),
        FakeParser::default(),
    );
    let report = agent.sync(&[profile("web").spec_yaml(BOTH).build()]);
    assert!(agent.loader.calls.is_empty());
    assert!(!aa_dir.exists());
    assert_eq!(report.seccomp["web"], FileState::Installed);
    assert!(matches!(&report.apparmor["web"], FileState::Failed(r) if r.contains("unavailable")));
    let data = report.config_map_data();
    assert_eq!(data["apparmor"], "unavailable: apparmor_parser not found");

    let metrics = NodeMetrics::new();
    metrics.record(&report);
    let text = metrics.encode();
    assert!(
        text.contains("hardening_node_profiles_installed{kind=\"seccomp\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("hardening_node_profiles_failed{kind=\"apparmor\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("hardening_node_apparmor_available 0"),
        "{text}"
    );
}

#[test]
fn check_period_must_be_above_zero() {
    assert_eq!(parse_period("30s"), Ok(Duration::from_secs(30)));
    assert!(parse_period("0").is_err());
    assert!(parse_period("soon").is_err());
}
