//! The operator's Pod Security judge (`hardening_operator::core::pod_security`, a port of
//! k8s.io/pod-security-admission v0.36.2) against its two oracles:
//! - Kubernetes' own fixtures: every pod of `test/testdata/<level>/v1.<N>/{pass,fail}` of
//!   the module, for both levels and every policy version it has fixtures for;
//! - the API server itself: generated pods, each created with a server-side dry-run in
//!   namespaces that enforce `baseline` and `restricted` at several versions.

use std::collections::BTreeMap;
use std::path::Path;

use hardening_operator::core::pod_security::{
    Level, Version, Violation, active_checks, checks, evaluate_pod, newest_policy, overridden_by,
};
use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

/// A fixture file as the typed Pod the operator reads, and the YAML as JSON.
fn read_fixture(file: &Path) -> (Pod, Value) {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let value: Value =
        serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let pod =
        serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    (pod, value)
}

/// The one default of the API server the fixtures rely on (the Go test creates them through
/// an API server; the operator judges stored pods): a volume without a source is an
/// `emptyDir` (`SetDefaults_Volume`; restricted's `restrictedvolumes0` pass fixture has one,
/// "implicit empty dir"). Returns how many volumes it defaulted.
fn default_volumes(pod: &mut Pod) -> usize {
    let volumes = pod
        .spec
        .iter_mut()
        .flat_map(|s| s.volumes.iter_mut().flatten());
    let mut defaulted = 0;
    for volume in volumes {
        let fields = serde_json::to_value(&*volume).unwrap();
        if fields.as_object().is_some_and(|o| o.len() == 1) {
            volume.empty_dir = Some(Default::default());
            defaulted += 1;
        }
    }
    defaulted
}

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// The check a fixture's name names: `runasnonroot2.yaml` is `runAsNonRoot`'s (the Go test
/// names them `strings.ToLower(checkID) + index`); `None` for `base*.yaml`.
fn named_check(file: &Path) -> Option<&'static str> {
    let stem = file.file_stem()?.to_str()?;
    let name = stem.trim_end_matches(|c: char| c.is_ascii_digit());
    checks()
        .into_iter()
        .map(|c| c.id)
        .find(|id| id.to_lowercase() == name)
}

fn level_named(level: &str) -> Level {
    match level {
        "baseline" => Level::Baseline,
        "restricted" => Level::Restricted,
        other => panic!("no fixture level {other}"),
    }
}

#[derive(Default)]
struct Tally {
    pass: usize,
    fail: usize,
    /// Fail fixtures whose only violation is the named check's.
    fail_single: usize,
    named: usize,
    /// Fixture fields the typed Pod does not keep (k8s-openapi's schema lacks them).
    dropped_fields: usize,
    /// Volumes without a source, defaulted to `emptyDir` as the API server does.
    defaulted_volumes: usize,
    problems: Vec<String>,
}

#[test]
fn evaluate_judges_every_pod_security_fixture_as_kubernetes_does() {
    let mut tally = Tally::default();
    let mut per_level = BTreeMap::new();
    for level_name in ["baseline", "restricted"] {
        let level = level_named(level_name);
        let versions = hardening_tests::pod_security_fixtures(level_name);
        // One directory per policy version from v1.0 to the newest policy, which `latest`
        // must be.
        let minors: Vec<u64> = versions.iter().map(|(m, _)| *m).collect();
        let newest = *minors.last().unwrap();
        assert_eq!(minors, (0..=newest).collect::<Vec<_>>(), "{level_name}");
        assert_eq!(
            newest_policy(),
            Version::V1(newest),
            "{level_name}: the newest fixtures are v1.{newest}, the port's newest policy {}",
            newest_policy()
        );
        let before = (tally.pass, tally.fail);
        for (minor, dir) in &versions {
            let version = Version::V1(*minor);
            let mut versions_to_try = vec![version];
            if *minor == newest {
                versions_to_try.push(Version::Latest);
            }
            for version in versions_to_try {
                judge_fixtures(&mut tally, level, version, dir);
            }
        }
        per_level.insert(level_name, (tally.pass - before.0, tally.fail - before.1));
    }
    eprintln!(
        "Pod Security fixtures: {per_level:?} (pass, fail) fixture evaluations per level (the newest version twice: as v1.N and as latest); {} fail fixtures name their check, {} fail only that check; {} fixture fields the typed Pod drops; {} volumes without a source defaulted to emptyDir",
        tally.named, tally.fail_single, tally.dropped_fields, tally.defaulted_volumes
    );
    assert!(
        tally.problems.is_empty(),
        "{} of {} fixture evaluations disagree with Kubernetes' fixtures:\n{}",
        tally.problems.len(),
        tally.pass + tally.fail,
        tally.problems.join("\n")
    );
    assert!(tally.pass > 0 && tally.fail > 0);
}

fn judge_fixtures(tally: &mut Tally, level: Level, version: Version, dir: &Path) {
    let at = format!("{}:{version}", level.as_str());
    for file in files(&dir.join("pass")) {
        let (mut pod, value) = read_fixture(&file);
        tally.dropped_fields += dropped(&pod, &value, &file, &mut tally.problems);
        tally.defaulted_volumes += default_volumes(&mut pod);
        tally.pass += 1;
        let violations = evaluate_pod(level, version, &pod);
        if !violations.is_empty() {
            tally.problems.push(format!(
                "{at} {}: a pass fixture, but {}",
                file.display(),
                list(&violations)
            ));
        }
    }
    for file in files(&dir.join("fail")) {
        let (mut pod, value) = read_fixture(&file);
        tally.dropped_fields += dropped(&pod, &value, &file, &mut tally.problems);
        tally.defaulted_volumes += default_volumes(&mut pod);
        tally.fail += 1;
        let violations = evaluate_pod(level, version, &pod);
        if violations.is_empty() {
            tally.problems.push(format!(
                "{at} {}: a fail fixture, and no violation",
                file.display()
            ));
            continue;
        }
        let Some(named) = named_check(&file) else {
            continue;
        };
        tally.named += 1;
        // A baseline check a restricted check overrides at this version is judged by that one
        // (restricted's `capabilities_baseline` fixtures fail `capabilities_restricted`).
        let expected = if active_checks(level, version).contains(&named) {
            named
        } else {
            match overridden_by(named, version) {
                Some(by) if level == Level::Restricted => by,
                _ => {
                    tally.problems.push(format!(
                        "{at} {}: names {named}, which does not judge pods here",
                        file.display()
                    ));
                    continue;
                }
            }
        };
        if !violations.iter().any(|v| v.check == expected) {
            tally.problems.push(format!(
                "{at} {}: want a violation of {expected}, got {}",
                file.display(),
                list(&violations)
            ));
        } else if violations.len() == 1 {
            tally.fail_single += 1;
        }
    }
}

fn list(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| format!("[{}] {v}", v.check))
        .collect::<Vec<_>>()
        .join("; ")
}

/// How many fields of the fixture the typed Pod lost (each also a problem): a field
/// k8s-openapi's schema does not know would be judged as unset.
fn dropped(pod: &Pod, value: &Value, file: &Path, problems: &mut Vec<String>) -> usize {
    let typed = serde_json::to_value(pod).unwrap();
    let mut missing = Vec::new();
    missing_paths(value, &typed, String::new(), &mut missing);
    for path in &missing {
        problems.push(format!("{}: the typed Pod drops {path}", file.display()));
    }
    missing.len()
}

fn missing_paths(want: &Value, got: &Value, path: String, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(want), Value::Object(got)) => {
            for (key, value) in want {
                match got.get(key) {
                    Some(got) => missing_paths(value, got, format!("{path}.{key}"), out),
                    None => out.push(format!("{path}.{key}")),
                }
            }
        }
        (Value::Array(want), Value::Array(got)) => {
            for (i, value) in want.iter().enumerate() {
                match got.get(i) {
                    Some(got) => missing_paths(value, got, format!("{path}[{i}]"), out),
                    None => out.push(format!("{path}[{i}]")),
                }
            }
        }
        _ => {}
    }
}
