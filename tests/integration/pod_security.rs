//! The operator's Pod Security judge (`hardening_operator::core::pod_security`, a port of
//! k8s.io/pod-security-admission v0.36.2) against its two oracles:
//! - Kubernetes' own fixtures: every pod of `test/testdata/<level>/v1.<N>/{pass,fail}` of
//!   the module, for both levels and every policy version it has fixtures for;
//! - the API server itself: generated pods, each created with a server-side dry-run in
//!   namespaces that enforce `baseline` and `restricted` at several versions.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use hardening_operator::core::pod_security::{
    Level, Version, Violation, active_checks, checks, evaluate_pod, newest_policy, overridden_by,
    rejection_message,
};
use hardening_tests::TestNamespace;
use hardening_tests::seeds::parse_seed;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ApiResource, DynamicObject, PostParams};
use kube::core::Status;
use kube::{Api, Client};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use serde_json::{Value, json};

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
    let mut per_level = Vec::new();
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
        per_level.push(format!(
            "{level_name} {} pass, {} fail",
            tally.pass - before.0,
            tally.fail - before.1
        ));
    }
    eprintln!(
        "Pod Security fixtures judged (the newest version twice, as v1.N and as latest): {}; \
         {} fail fixtures name their check, {} fail only that check; \
         {} fixture fields the typed Pod drops; {} volumes without a source defaulted to emptyDir",
        per_level.join(", "),
        tally.named,
        tally.fail_single,
        tally.dropped_fields,
        tally.defaulted_volumes
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

// ---------------------------------------------------------------------------------------
// The API server as the oracle: generated pods, each dry-run created where Pod Security
// enforces a level and version; the API server must reject exactly the pods `evaluate`
// finds violations in, with exactly the message it would write from them.

/// Pods tried per run (7 requests each): about 6 s on the 2-core reference machine.
const DEFAULT_CASES: u32 = 500;
const DEFAULT_SEED: &str = "706f642d73656375726974792d6f7261636c652d686172642d6f702d73656564";
/// The policy versions enforced besides `latest`: v1.24 before the Windows exemptions (1.25),
/// the later sysctls (1.27+), `container_engine_t` (1.31), probe hosts (1.34) and the user
/// namespace relaxations (1.35); v1.18 before seccomp's fields (1.19: the annotations are
/// judged), dropping capabilities (1.22) and runAsUser (1.23).
const PINNED_VERSIONS: [&str; 2] = ["v1.24", "v1.18"];
const POD_NAME: &str = "psa-oracle";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluate_rejects_exactly_what_the_api_server_rejects() {
    let client = hardening_tests::cluster().client().await;
    // Where the pod is stored as the API server stores it (defaulted, mutated), unjudged.
    let probe = TestNamespace::create(
        &client,
        "psa-probe",
        &[("pod-security.kubernetes.io/enforce", "privileged")],
    )
    .await;
    let mut enforced = Vec::new();
    for level in ["baseline", "restricted"] {
        for version in std::iter::once("latest").chain(PINNED_VERSIONS) {
            let namespace = TestNamespace::create(
                &client,
                &format!("psa-{level}-{}", version.replace('.', "-")),
                &[
                    ("pod-security.kubernetes.io/enforce", level),
                    ("pod-security.kubernetes.io/enforce-version", version),
                ],
            )
            .await;
            enforced.push((
                level_named(level),
                version.parse::<Version>().unwrap(),
                namespace,
            ));
        }
    }
    let oracle = ApiOracle {
        client,
        probe: probe.name().to_owned(),
        enforced: enforced
            .iter()
            .map(|(level, version, ns)| (*level, *version, ns.name().to_owned()))
            .collect(),
        handle: tokio::runtime::Handle::current(),
        stats: Mutex::default(),
    };
    let started = Instant::now();
    let (oracle, result) = tokio::task::spawn_blocking(move || {
        let result = oracle.run();
        (oracle, result)
    })
    .await
    .expect("the oracle thread");
    let stats = oracle.stats.lock().unwrap();
    eprintln!(
        "Pod Security API server oracle: {} pods in {:.1} s; {}",
        stats.pods,
        started.elapsed().as_secs_f64(),
        stats.summary()
    );
    if let Err(failure) = result {
        panic!("{failure}");
    }
    assert!(
        stats.judged > stats.invalid * 9,
        "too many invalid pods: {} of {}",
        stats.invalid,
        stats.pods
    );
    // The generator reaches every check and both verdicts at every policy (a run of the
    // default size; a smaller one may not).
    if stats.pods >= DEFAULT_CASES {
        let missed: Vec<&str> = checks()
            .iter()
            .map(|c| c.id)
            .filter(|id| !stats.checks.contains_key(id))
            .collect();
        assert!(missed.is_empty(), "no generated pod violated {missed:?}");
        for (policy, (rejected, admitted)) in &stats.verdicts {
            assert!(
                *rejected > 0 && *admitted > 0,
                "{policy}: {rejected} rejected, {admitted} admitted"
            );
        }
    }
}

struct ApiOracle {
    client: Client,
    probe: String,
    enforced: Vec<(Level, Version, String)>,
    handle: tokio::runtime::Handle,
    stats: Mutex<OracleStats>,
}

/// Counts of the cases tried before the first failure (not of the shrinking after it).
#[derive(Default)]
struct OracleStats {
    failed: bool,
    pods: u32,
    /// Pods the API server refused as invalid (422) before Pod Security: skipped.
    invalid: u32,
    invalid_classes: BTreeMap<String, u32>,
    /// Pods judged in every enforcing namespace.
    judged: u32,
    /// Per `level:version`: (rejected, admitted).
    verdicts: BTreeMap<String, (u32, u32)>,
    /// Violations per check over every rejection.
    checks: BTreeMap<&'static str, u32>,
    /// Pods whose manifest `evaluate` judges otherwise than the stored pod (defaulting and
    /// the API server's own changes matter; the stored pod is what the operator reads).
    manifest_differs: u32,
    /// The checks that made the difference (found in one and not the other, or worded
    /// otherwise), over every policy.
    differing_checks: BTreeMap<&'static str, u32>,
}

impl OracleStats {
    fn summary(&self) -> String {
        let list = |items: Vec<String>| items.join(", ");
        format!(
            "{} judged, {} skipped as invalid ({}); rejected/admitted per policy: {}; violations per check: {}; {} pods judged otherwise as sent than as stored (by check: {})",
            self.judged,
            self.invalid,
            list(
                self.invalid_classes
                    .iter()
                    .map(|(c, n)| format!("{n}x {c}"))
                    .collect()
            ),
            list(
                self.verdicts
                    .iter()
                    .map(|(p, (r, a))| format!("{p} {r}/{a}"))
                    .collect()
            ),
            list(
                self.checks
                    .iter()
                    .map(|(c, n)| format!("{c} {n}"))
                    .collect()
            ),
            self.manifest_differs,
            list(
                self.differing_checks
                    .iter()
                    .map(|(c, n)| format!("{c} {n}"))
                    .collect()
            ),
        )
    }
}

impl ApiOracle {
    fn run(&self) -> Result<(), String> {
        let cases = std::env::var("HARDENING_PSA_ORACLE_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(DEFAULT_CASES);
        let seed_hex =
            std::env::var("HARDENING_PSA_ORACLE_SEED").unwrap_or_else(|_| DEFAULT_SEED.to_owned());
        let seed = parse_seed(&seed_hex).ok_or_else(|| {
            format!("HARDENING_PSA_ORACLE_SEED {seed_hex:?} is not 64 hex digits")
        })?;
        let config = Config {
            cases,
            max_shrink_iters: 200,
            failure_persistence: None,
            ..Config::default()
        };
        let mut runner =
            TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
        match runner.run(&pod_case(), |case| self.handle.block_on(self.check(&case))) {
            Ok(()) => Ok(()),
            Err(TestError::Fail(reason, case)) => Err(format!(
                "Pod Security oracle (seed {seed_hex}): {reason}\nminimal failing pod:\n{}",
                serde_yaml_ng::to_string(&case.manifest()).unwrap_or_default()
            )),
            Err(TestError::Abort(reason)) => Err(format!("Pod Security oracle aborted: {reason}")),
        }
    }

    async fn check(&self, case: &PodCase) -> Result<(), TestCaseError> {
        let outcome = self.judge(&case.manifest()).await;
        let mut stats = self.stats.lock().unwrap();
        if outcome.is_err() {
            stats.failed = true;
        }
        outcome.map_err(TestCaseError::fail)
    }

    async fn judge(&self, manifest: &Value) -> Result<(), String> {
        let counting = !self.stats.lock().unwrap().failed;
        let object: DynamicObject = serde_json::from_value(manifest.clone()).unwrap();
        let stored = match dry_run_create(&self.client, &self.probe, &object).await? {
            Ok(stored) => stored,
            Err(status) if status.code == 422 => {
                if counting {
                    let mut stats = self.stats.lock().unwrap();
                    stats.pods += 1;
                    stats.invalid += 1;
                    *stats
                        .invalid_classes
                        .entry(invalid_class(&status.message))
                        .or_default() += 1;
                }
                return Ok(());
            }
            Err(status) => {
                return Err(format!(
                    "the privileged namespace refused the pod: {} {}",
                    status.code, status.message
                ));
            }
        };
        let sent: Pod = serde_json::from_value(manifest.clone()).unwrap();
        let verdicts = futures::future::join_all(self.enforced.iter().map(
            |(level, version, namespace)| async {
                let answer = dry_run_create(&self.client, namespace, &object).await;
                (*level, *version, answer)
            },
        ))
        .await;
        let mut differing = Vec::new();
        let mut tally = Vec::new();
        for (level, version, answer) in verdicts {
            let policy = format!("{}:{version}", level.as_str());
            let violations = evaluate_pod(level, version, &stored);
            let as_sent = evaluate_pod(level, version, &sent);
            differing.extend(
                violations
                    .iter()
                    .filter(|v| !as_sent.contains(v))
                    .chain(as_sent.iter().filter(|v| !violations.contains(v)))
                    .map(|v| v.check),
            );
            match answer? {
                Ok(_) if violations.is_empty() => tally.push((policy, None)),
                Ok(_) => {
                    return Err(format!(
                        "{policy}: the API server admits the pod, evaluate finds {}",
                        list(&violations)
                    ));
                }
                Err(status) => {
                    let expected = format!(
                        "pods \"{POD_NAME}\" is forbidden: {}",
                        rejection_message(level, version, &violations)
                    );
                    if violations.is_empty() {
                        return Err(format!(
                            "{policy}: the API server rejects the pod ({} {}), evaluate finds nothing",
                            status.code, status.message
                        ));
                    }
                    if status.code != 403 || status.message != expected {
                        return Err(format!(
                            "{policy}: the API server says\n  {} {}\nevaluate says\n  403 {expected}",
                            status.code, status.message
                        ));
                    }
                    tally.push((policy, Some(violations)));
                }
            }
        }
        if counting {
            let mut stats = self.stats.lock().unwrap();
            stats.pods += 1;
            stats.judged += 1;
            stats.manifest_differs += u32::from(!differing.is_empty());
            for check in differing {
                *stats.differing_checks.entry(check).or_default() += 1;
            }
            for (policy, violations) in tally {
                let entry = stats.verdicts.entry(policy).or_default();
                match violations {
                    Some(violations) => {
                        entry.0 += 1;
                        for violation in violations {
                            *stats.checks.entry(violation.check).or_default() += 1;
                        }
                    }
                    None => entry.1 += 1,
                }
            }
        }
        Ok(())
    }
}

/// A server-side dry-run create (`dryRun=All`): the pod as stored, or the refusal.
async fn dry_run_create(
    client: &Client,
    namespace: &str,
    pod: &DynamicObject,
) -> Result<Result<Pod, Status>, String> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &ApiResource::erase::<Pod>(&()));
    let params = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    match api.create(&params, pod).await {
        Ok(stored) => Ok(Ok(serde_json::from_value(
            serde_json::to_value(stored).unwrap(),
        )
        .map_err(|e| format!("the stored pod: {e}"))?)),
        Err(kube::Error::Api(status)) => Ok(Err(*status)),
        Err(e) => Err(format!("dry-run create in {namespace}: {e}")),
    }
}

/// The first cause of a 422, without the pod's name and the values.
fn invalid_class(message: &str) -> String {
    let cause = message.split_once(": ").map_or(message, |(_, rest)| rest);
    let cause = cause.split(", ").next().unwrap_or(cause);
    match cause.split_once(": ") {
        Some((field, why)) => format!("{field}: {}", why.chars().take(70).collect::<String>()),
        None => cause.chars().take(90).collect(),
    }
}

// ---------------------------------------------------------------------------------------
// The generator: pods across every field a check reads, mostly valid (the API server
// refuses invalid pods before Pod Security judges them), often close to restricted so that
// both verdicts occur at every level.

#[derive(Clone, Debug)]
enum Os {
    Unset,
    Linux,
    Windows,
}

/// `RuntimeDefault`, `Localhost` or `Unconfined` (seccomp and AppArmor alike).
type ProfileType = &'static str;

#[derive(Clone, Debug)]
struct SeLinux {
    type_: &'static str,
    user: &'static str,
    role: &'static str,
}

/// What the pod and a container have in common in their securityContext.
#[derive(Clone, Debug)]
struct Context {
    run_as_non_root: Option<bool>,
    run_as_user: Option<i64>,
    seccomp: Option<ProfileType>,
    app_armor: Option<ProfileType>,
    se_linux: Option<SeLinux>,
    /// `windowsOptions.hostProcess`.
    host_process: Option<bool>,
}

#[derive(Clone, Debug)]
struct ContainerCase {
    context: Context,
    privileged: Option<bool>,
    allow_privilege_escalation: Option<bool>,
    capabilities: Option<(Vec<&'static str>, Vec<&'static str>)>,
    proc_mount: Option<&'static str>,
    host_port: bool,
    /// (where: liveness, readiness, startup, postStart, preStop; host).
    probe: Option<(usize, &'static str)>,
}

#[derive(Clone, Debug)]
struct PodCase {
    os: Os,
    host_network: bool,
    host_pid: bool,
    host_ipc: bool,
    host_users: Option<bool>,
    pod: Context,
    sysctls: Vec<&'static str>,
    init_containers: Vec<ContainerCase>,
    containers: Vec<ContainerCase>,
    volumes: Vec<&'static str>,
    /// (`container.apparmor...`/`container.seccomp...`/`seccomp...pod`, container index, value).
    annotations: Vec<(usize, usize, &'static str)>,
}

const CAPABILITIES: &[&str] = &[
    "NET_BIND_SERVICE",
    "CHOWN",
    "KILL",
    "NET_RAW",
    "SYS_TIME",
    "ALL",
];
const DROPS: &[&str] = &["ALL", "NET_RAW", "CHOWN"];
/// The first [`SAFE_SYSCTLS`] are allowed at every policy version.
const SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_rmem",
    "kernel.msgmax",
    "net.core.somaxconn",
];
const SAFE_SYSCTLS: usize = 3;
/// The first [`RESTRICTED_VOLUMES`] are the types `restricted` allows.
const VOLUMES: &[&str] = &[
    "emptyDir",
    "configMap",
    "secret",
    "projected",
    "downwardAPI",
    "persistentVolumeClaim",
    "csi",
    "ephemeral",
    "image",
    "hostPath",
    "nfs",
    "gitRepo",
    "iscsi",
    "rbd",
    "cephfs",
    "flexVolume",
    "fc",
    "azureFile",
    "azureDisk",
    "cinder",
    "glusterfs",
    "quobyte",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "vsphereVolume",
    "photonPersistentDisk",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "flocker",
];
const RESTRICTED_VOLUMES: usize = 9;
const PROBE_HOSTS: &[&str] = &["", "127.0.0.1", "example.com"];
/// The annotation kinds of `PodCase::annotations`: AppArmor's for a container, seccomp's
/// for a container, seccomp's for the pod.
const ANNOTATION_KINDS: usize = 3;
const APPARMOR_ANNOTATION_VALUES: &[&str] =
    &["runtime/default", "localhost/profile-a", "unconfined"];
const SECCOMP_ANNOTATION_VALUES: &[&str] = &[
    "runtime/default",
    "docker/default",
    "localhost/profile-a",
    "unconfined",
];

/// Mostly `good`, sometimes unset or `bad`.
fn leaning<T: Clone + std::fmt::Debug + 'static>(good: T, bad: T) -> BoxedStrategy<Option<T>> {
    prop_oneof![5 => Just(Some(good)), 2 => Just(None), 2 => Just(Some(bad))].boxed()
}

fn rarely<T: Clone + std::fmt::Debug + 'static>(value: T) -> BoxedStrategy<Option<T>> {
    prop_oneof![6 => Just(None), 1 => Just(Some(value))].boxed()
}

fn profile_type() -> BoxedStrategy<Option<ProfileType>> {
    prop_oneof![
        4 => Just(None),
        3 => Just(Some("RuntimeDefault")),
        1 => Just(Some("Localhost")),
        1 => Just(Some("Unconfined")),
    ]
    .boxed()
}

fn se_linux() -> BoxedStrategy<Option<SeLinux>> {
    let options = (
        proptest::sample::select(&["", "container_t", "container_engine_t", "spc_t"][..]),
        proptest::sample::select(&["", "", "system_u"][..]),
        proptest::sample::select(&["", "", "system_r"][..]),
    )
        .prop_map(|(type_, user, role)| SeLinux { type_, user, role });
    prop_oneof![5 => Just(None), 1 => options.prop_map(Some)].boxed()
}

fn context(pod_level: bool) -> impl Strategy<Value = Context> {
    let non_root = if pod_level {
        leaning(true, false)
    } else {
        prop_oneof![4 => Just(None), 1 => Just(Some(true)), 1 => Just(Some(false))].boxed()
    };
    (
        non_root,
        prop_oneof![4 => Just(None), 1 => Just(Some(0i64)), 1 => Just(Some(1000i64))],
        if pod_level {
            leaning("RuntimeDefault", "Unconfined").boxed()
        } else {
            profile_type()
        },
        profile_type(),
        se_linux(),
        prop_oneof![8 => Just(None), 1 => Just(Some(false)), 1 => Just(Some(true))],
    )
        .prop_map(
            |(run_as_non_root, run_as_user, seccomp, app_armor, se_linux, host_process)| Context {
                run_as_non_root,
                run_as_user,
                seccomp,
                app_armor,
                se_linux,
                host_process,
            },
        )
}

fn container_case() -> impl Strategy<Value = ContainerCase> {
    let capabilities = (
        prop::collection::vec(proptest::sample::select(CAPABILITIES), 0..3),
        prop::collection::vec(proptest::sample::select(DROPS), 0..2),
    );
    (
        context(false),
        prop_oneof![5 => Just(None), 1 => Just(Some(false)), 1 => Just(Some(true))],
        leaning(false, true),
        prop_oneof![
            1 => Just(None),
            3 => Just(Some((vec![], vec!["ALL"]))),
            2 => capabilities.prop_map(Some),
        ],
        prop_oneof![8 => Just(None), 1 => Just(Some("Default")), 2 => Just(Some("Unmasked"))],
        rarely(true).prop_map(|set| set.is_some()),
        prop_oneof![
            3 => Just(None),
            1 => (0usize..5, proptest::sample::select(PROBE_HOSTS)).prop_map(Some),
        ],
    )
        .prop_map(
            |(
                context,
                privileged,
                allow_privilege_escalation,
                capabilities,
                proc_mount,
                host_port,
                probe,
            )| ContainerCase {
                context,
                privileged,
                allow_privilege_escalation,
                capabilities,
                proc_mount,
                host_port,
                probe,
            },
        )
}

fn pod_case() -> impl Strategy<Value = PodCase> {
    (
        prop_oneof![6 => Just(Os::Unset), 2 => Just(Os::Linux), 2 => Just(Os::Windows)],
        (rarely(true), rarely(true), rarely(true)),
        prop_oneof![3 => Just(None), 2 => Just(Some(false)), 1 => Just(Some(true))],
        context(true),
        prop::collection::btree_set(proptest::sample::select(SYSCTLS), 0..3),
        prop::collection::vec(container_case(), 0..2),
        prop::collection::vec(container_case(), 1..3),
        prop::collection::vec(
            prop_oneof![
                3 => proptest::sample::select(&VOLUMES[..RESTRICTED_VOLUMES]),
                2 => proptest::sample::select(VOLUMES),
                // Baseline's one volume rule.
                1 => Just("hostPath"),
            ],
            0..3,
        ),
        prop::collection::vec((0..ANNOTATION_KINDS, 0usize..3, 0usize..4), 0..3),
        prop_oneof![1 => Just(None), 1 => (0..=Aspect::ALL.len()).prop_map(Some)],
    )
        .prop_map(
            |(
                os,
                (host_network, host_pid, host_ipc),
                host_users,
                pod,
                sysctls,
                init_containers,
                containers,
                volumes,
                annotations,
                only,
            )| {
                let mut case = PodCase {
                    os,
                    host_network: host_network.is_some(),
                    host_pid: host_pid.is_some(),
                    host_ipc: host_ipc.is_some(),
                    host_users,
                    pod,
                    sysctls: sysctls.into_iter().collect(),
                    init_containers,
                    containers,
                    volumes,
                    annotations: annotations
                        .into_iter()
                        .map(|(kind, container, n)| (kind, container, annotation_value(kind, n)))
                        .collect(),
                };
                if let Some(only) = only {
                    // Half the pods comply with restricted but for one aspect (or none).
                    case.comply_except(Aspect::ALL.get(only).copied());
                }
                case.make_valid();
                case
            },
        )
}

/// The `n`th value (wrapping) an annotation of `kind` may have.
fn annotation_value(kind: usize, n: usize) -> &'static str {
    let values = if kind == APPARMOR_ANNOTATION {
        APPARMOR_ANNOTATION_VALUES
    } else {
        SECCOMP_ANNOTATION_VALUES
    };
    values[n % values.len()]
}

/// What one or a few checks judge: [`PodCase::comply_except`] keeps one of them random.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Aspect {
    HostNamespaces,
    Privileged,
    Capabilities,
    HostPorts,
    ProbeHosts,
    SeLinux,
    AppArmor,
    Seccomp,
    Sysctls,
    Volumes,
    ProcMount,
    RunAsNonRoot,
    RunAsUser,
    PrivilegeEscalation,
    HostProcess,
}

impl Aspect {
    const ALL: [Aspect; 15] = [
        Aspect::HostNamespaces,
        Aspect::Privileged,
        Aspect::Capabilities,
        Aspect::HostPorts,
        Aspect::ProbeHosts,
        Aspect::SeLinux,
        Aspect::AppArmor,
        Aspect::Seccomp,
        Aspect::Sysctls,
        Aspect::Volumes,
        Aspect::ProcMount,
        Aspect::RunAsNonRoot,
        Aspect::RunAsUser,
        Aspect::PrivilegeEscalation,
        Aspect::HostProcess,
    ];
}

impl PodCase {
    /// Makes every aspect but `kept` what `restricted` asks for (the Pod Security
    /// Standards' wording, not the port's), so that pods near each check's boundary occur.
    fn comply_except(&mut self, kept: Option<Aspect>) {
        let fix = |aspect| kept != Some(aspect);
        let secure_profile = |p: &mut Option<ProfileType>| {
            *p = p.filter(|t| *t != "Unconfined");
        };
        if fix(Aspect::HostNamespaces) {
            (self.host_network, self.host_pid, self.host_ipc) = (false, false, false);
        }
        if fix(Aspect::Sysctls) {
            self.sysctls.retain(|s| SYSCTLS[..SAFE_SYSCTLS].contains(s));
        }
        if fix(Aspect::Volumes) {
            self.volumes
                .retain(|v| VOLUMES[..RESTRICTED_VOLUMES].contains(v));
        }
        if fix(Aspect::HostProcess) {
            self.pod.host_process = None;
        }
        if fix(Aspect::RunAsNonRoot) {
            self.pod.run_as_non_root = Some(true);
        }
        if fix(Aspect::RunAsUser) {
            self.pod.run_as_user = self.pod.run_as_user.filter(|u| *u != 0);
        }
        if fix(Aspect::Seccomp) {
            self.pod.seccomp = Some("RuntimeDefault");
            self.annotations
                .retain(|(kind, _, v)| *kind == APPARMOR_ANNOTATION || *v != "unconfined");
        }
        if fix(Aspect::AppArmor) {
            secure_profile(&mut self.pod.app_armor);
            self.annotations
                .retain(|(kind, _, v)| *kind != APPARMOR_ANNOTATION || *v != "unconfined");
        }
        if fix(Aspect::SeLinux) {
            self.pod.se_linux = None;
        }
        for container in self.all_containers() {
            let context = &mut container.context;
            if fix(Aspect::Privileged) {
                container.privileged = None;
            }
            if fix(Aspect::Capabilities) {
                container.capabilities = Some((vec![], vec!["ALL"]));
            }
            if fix(Aspect::HostPorts) {
                container.host_port = false;
            }
            if fix(Aspect::ProbeHosts) {
                container.probe = container.probe.map(|(place, _)| (place, ""));
            }
            if fix(Aspect::ProcMount) {
                container.proc_mount = None;
            }
            if fix(Aspect::PrivilegeEscalation) {
                container.allow_privilege_escalation = Some(false);
            }
            if fix(Aspect::SeLinux) {
                context.se_linux = None;
            }
            if fix(Aspect::AppArmor) {
                secure_profile(&mut context.app_armor);
            }
            if fix(Aspect::Seccomp) {
                secure_profile(&mut context.seccomp);
            }
            if fix(Aspect::RunAsNonRoot) {
                context.run_as_non_root = context.run_as_non_root.filter(|r| *r);
            }
            if fix(Aspect::RunAsUser) {
                context.run_as_user = context.run_as_user.filter(|u| *u != 0);
            }
            if fix(Aspect::HostProcess) {
                context.host_process = None;
            }
        }
    }

    fn all_containers(&mut self) -> impl Iterator<Item = &mut ContainerCase> {
        self.init_containers.iter_mut().chain(&mut self.containers)
    }

    /// Removes what pod validation refuses (so that few pods are skipped as invalid),
    /// keeping every combination Pod Security may judge.
    fn make_valid(&mut self) {
        match self.os {
            // Linux-only fields cannot be set for a Windows pod.
            Os::Windows => {
                self.host_users = None;
                self.host_pid = false;
                self.host_ipc = false;
                self.sysctls.clear();
                let linux_only = |c: &mut Context| {
                    c.run_as_user = None;
                    c.seccomp = None;
                    c.app_armor = None;
                    c.se_linux = None;
                };
                linux_only(&mut self.pod);
                for container in self.all_containers() {
                    linux_only(&mut container.context);
                    container.privileged = None;
                    container.allow_privilege_escalation = None;
                    container.capabilities = None;
                    container.proc_mount = None;
                }
            }
            // Windows options cannot be set for a Linux pod.
            Os::Linux => {
                self.pod.host_process = None;
                for container in self.all_containers() {
                    container.context.host_process = None;
                }
            }
            Os::Unset => {}
        }
        // HostProcess: every container or none, pod and containers agreeing, on the host's
        // network (which a user namespace excludes).
        let pod_host_process = self.pod.host_process;
        let any_host_process = pod_host_process == Some(true)
            || self
                .all_containers()
                .any(|c| c.context.host_process == Some(true));
        if any_host_process {
            if pod_host_process == Some(false) {
                self.pod.host_process = None;
            }
            let pod_true = self.pod.host_process == Some(true);
            for container in self.all_containers() {
                if container.context.host_process == Some(false) || !pod_true {
                    container.context.host_process = (!pod_true).then_some(true);
                }
            }
            self.host_network = true;
            self.host_users = None;
        }
        // A user namespace shares none of the host's namespaces; only there may /proc be
        // unmasked.
        let user_namespace = self.host_users == Some(false);
        if user_namespace {
            self.host_network = false;
            self.host_pid = false;
            self.host_ipc = false;
        }
        for container in self.all_containers() {
            if !user_namespace && container.proc_mount == Some("Unmasked") {
                container.proc_mount = Some("Default");
            }
            // Privileged containers escalate privileges by definition.
            if container.privileged == Some(true) {
                container.allow_privilege_escalation =
                    container.allow_privilege_escalation.filter(|a| *a);
            }
        }
        // Namespaced sysctls cannot be set in a namespace shared with the host.
        let (host_network, host_ipc) = (self.host_network, self.host_ipc);
        self.sysctls.retain(|s| {
            !(host_network && s.starts_with("net.") || host_ipc && s.starts_with("kernel."))
        });
    }

    fn manifest(&self) -> Value {
        let mut annotations = serde_json::Map::new();
        let names: Vec<String> = self
            .init_containers
            .iter()
            .enumerate()
            .map(|(i, _)| format!("init-{i}"))
            .chain(
                self.containers
                    .iter()
                    .enumerate()
                    .map(|(i, _)| format!("app-{i}")),
            )
            .collect();
        let all: Vec<&ContainerCase> = self
            .init_containers
            .iter()
            .chain(&self.containers)
            .collect();
        let windows = matches!(self.os, Os::Windows);
        for (kind, index, value) in &self.annotations {
            let container = all[index % all.len()];
            let name = &names[index % all.len()];
            // An annotation and the field it stands for must agree.
            let (key, field, fallback) = match *kind {
                APPARMOR_ANNOTATION => (
                    format!("container.apparmor.security.beta.kubernetes.io/{name}"),
                    container.context.app_armor,
                    self.pod.app_armor,
                ),
                SECCOMP_CONTAINER_ANNOTATION => (
                    format!("container.seccomp.security.alpha.kubernetes.io/{name}"),
                    container.context.seccomp,
                    None,
                ),
                _ => (
                    "seccomp.security.alpha.kubernetes.io/pod".to_owned(),
                    self.pod.seccomp,
                    None,
                ),
            };
            let value = match field.or(fallback) {
                Some(_) if windows => *value,
                Some("RuntimeDefault") => "runtime/default",
                Some("Localhost") => "localhost/profile-a",
                Some(_) => "unconfined",
                None => *value,
            };
            annotations.insert(key, json!(value));
        }
        let mut port = 8080;
        let mut containers = |cases: &[ContainerCase], prefix: &str, probes: bool| -> Vec<Value> {
            cases
                .iter()
                .enumerate()
                .map(|(i, case)| {
                    port += 1;
                    container_manifest(
                        case,
                        &format!("{prefix}-{i}"),
                        port,
                        self.host_network,
                        probes,
                    )
                })
                .collect()
        };
        let init_containers = containers(&self.init_containers, "init", false);
        let containers = containers(&self.containers, "app", true);
        let mut pod_context = context_manifest(&self.pod);
        if !self.sysctls.is_empty() {
            pod_context["sysctls"] = self
                .sysctls
                .iter()
                .map(|name| json!({ "name": name, "value": "1" }))
                .collect();
        }
        let mut spec = json!({
            "containers": containers,
            "securityContext": pod_context,
        });
        let fields = [
            ("hostNetwork", self.host_network),
            ("hostPID", self.host_pid),
            ("hostIPC", self.host_ipc),
        ];
        for (field, set) in fields {
            if set {
                spec[field] = json!(true);
            }
        }
        if let Some(host_users) = self.host_users {
            spec["hostUsers"] = json!(host_users);
        }
        match self.os {
            Os::Unset => {}
            Os::Linux => spec["os"] = json!({ "name": "linux" }),
            Os::Windows => spec["os"] = json!({ "name": "windows" }),
        }
        if !init_containers.is_empty() {
            spec["initContainers"] = json!(init_containers);
        }
        if !self.volumes.is_empty() {
            spec["volumes"] = self
                .volumes
                .iter()
                .enumerate()
                .map(|(i, kind)| {
                    let mut volume = json!({ "name": format!("volume-{i}") });
                    volume[*kind] = volume_source(kind);
                    volume
                })
                .collect();
        }
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": { "name": POD_NAME, "annotations": annotations },
            "spec": spec,
        })
    }
}

const APPARMOR_ANNOTATION: usize = 0;
const SECCOMP_CONTAINER_ANNOTATION: usize = 1;

fn profile_manifest(kind: ProfileType) -> Value {
    match kind {
        "Localhost" => json!({ "type": kind, "localhostProfile": "profile-a" }),
        _ => json!({ "type": kind }),
    }
}

fn context_manifest(context: &Context) -> Value {
    let mut out = json!({});
    if let Some(value) = context.run_as_non_root {
        out["runAsNonRoot"] = json!(value);
    }
    if let Some(value) = context.run_as_user {
        out["runAsUser"] = json!(value);
    }
    if let Some(kind) = context.seccomp {
        out["seccompProfile"] = profile_manifest(kind);
    }
    if let Some(kind) = context.app_armor {
        out["appArmorProfile"] = profile_manifest(kind);
    }
    if let Some(options) = &context.se_linux {
        let mut value = json!({});
        for (field, text) in [
            ("type", options.type_),
            ("user", options.user),
            ("role", options.role),
        ] {
            if !text.is_empty() {
                value[field] = json!(text);
            }
        }
        out["seLinuxOptions"] = value;
    }
    if let Some(host_process) = context.host_process {
        out["windowsOptions"] = json!({ "hostProcess": host_process });
    }
    out
}

fn container_manifest(
    case: &ContainerCase,
    name: &str,
    port: u16,
    host_network: bool,
    probes: bool,
) -> Value {
    let mut context = context_manifest(&case.context);
    if let Some(value) = case.privileged {
        context["privileged"] = json!(value);
    }
    if let Some(value) = case.allow_privilege_escalation {
        context["allowPrivilegeEscalation"] = json!(value);
    }
    if let Some((add, drop)) = &case.capabilities {
        context["capabilities"] = json!({ "add": add, "drop": drop });
    }
    if let Some(value) = case.proc_mount {
        context["procMount"] = json!(value);
    }
    let mut ports = json!({ "containerPort": port });
    if case.host_port {
        // On the host's network a host port is the container port.
        ports["hostPort"] = json!(if host_network { port } else { port + 1000 });
    }
    let mut container = json!({
        "name": name,
        "image": "registry.k8s.io/pause",
        "ports": [ports],
        "securityContext": context,
    });
    if let Some((place, host)) = case.probe.filter(|_| probes) {
        let http = json!({ "httpGet": { "port": 80, "host": host } });
        let tcp = json!({ "tcpSocket": { "port": 80, "host": host } });
        match place {
            0 => container["livenessProbe"] = http,
            1 => container["readinessProbe"] = tcp,
            2 => container["startupProbe"] = http,
            3 => container["lifecycle"] = json!({ "postStart": http }),
            _ => container["lifecycle"] = json!({ "preStop": tcp }),
        }
    }
    container
}

/// A minimal valid source of each volume type.
fn volume_source(kind: &str) -> Value {
    match kind {
        "configMap" => json!({ "name": "c" }),
        "secret" => json!({ "secretName": "s" }),
        "projected" => json!({ "sources": [] }),
        "downwardAPI" => {
            json!({ "items": [{ "path": "labels", "fieldRef": { "fieldPath": "metadata.labels" } }] })
        }
        "persistentVolumeClaim" => json!({ "claimName": "c" }),
        "csi" => json!({ "driver": "csi.example.com" }),
        "ephemeral" => json!({ "volumeClaimTemplate": { "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": "1Gi" } } } } }),
        "image" => json!({ "reference": "registry.k8s.io/pause", "pullPolicy": "IfNotPresent" }),
        "hostPath" => json!({ "path": "/tmp" }),
        "nfs" => json!({ "server": "nfs.example.com", "path": "/x" }),
        "gitRepo" => json!({ "repository": "https://example.com/r.git" }),
        "iscsi" => {
            json!({ "targetPortal": "10.0.0.1:3260", "iqn": "iqn.2001-04.com.example:storage", "lun": 0 })
        }
        "rbd" => json!({ "monitors": ["10.0.0.1:6789"], "image": "i" }),
        "cephfs" => json!({ "monitors": ["10.0.0.1:6789"] }),
        "flexVolume" => json!({ "driver": "example/flex" }),
        "fc" => json!({ "targetWWNs": ["500a0982991b8dc5"], "lun": 0 }),
        "azureFile" => json!({ "secretName": "s", "shareName": "x" }),
        "azureDisk" => json!({ "diskName": "d", "diskURI": "https://example.com/d.vhd" }),
        "cinder" => json!({ "volumeID": "v" }),
        "glusterfs" => json!({ "endpoints": "e", "path": "p" }),
        "quobyte" => json!({ "registry": "r:7861", "volume": "v" }),
        "portworxVolume" => json!({ "volumeID": "v" }),
        "scaleIO" => {
            json!({ "gateway": "https://g", "system": "s", "volumeName": "v", "secretRef": { "name": "s" } })
        }
        "storageos" => json!({ "volumeName": "v" }),
        "vsphereVolume" => json!({ "volumePath": "[ds] v.vmdk" }),
        "photonPersistentDisk" => json!({ "pdID": "p" }),
        "gcePersistentDisk" => json!({ "pdName": "p" }),
        "awsElasticBlockStore" => json!({ "volumeID": "v" }),
        "flocker" => json!({ "datasetName": "d" }),
        _ => json!({}),
    }
}
