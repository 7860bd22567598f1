//! `hardening-bench`: how fast the operator rolls a profile out, repairs drift and how quiet
//! it is, against the floor of what any client needs, each on a fresh local control plane.
//! Run through `tests/bench.sh` (which builds the release binaries first); see the README's
//! "Benchmark" section. It prints figures and asserts nothing about them.

mod audit;
mod drift;
mod floor;
mod operator;
mod report;
mod setup;
mod verify;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use clap::Parser;
use hardening_operator::config::RunConfig;
use hardening_operator::core::plural;

use crate::audit::{Event, requests, requests_by_verb, writes};
use crate::operator::Operator;
use crate::report::{CONVERGE, Measured, RunResult, percentile};
use crate::setup::{Cluster, MEASURED_USER};

/// Benchmark of the operator against the floor (a minimal server-side-apply client)
///
/// Per repetition, floor then operator, each on a fresh local control plane (etcd,
/// kube-apiserver, kube-controller-manager) with N namespaces the profile
/// tests/bench/profile.yaml selects (6 writes each). The floor applies exactly what
/// `render` produces, at the operator's default concurrency. The operator is the release
/// binary with default flags. Timings and request counts come from the API server's audit
/// log. Figures go to stdout as a Markdown table (min / median / max over the
/// repetitions), progress to stderr.
#[derive(Parser, Debug)]
#[command(verbatim_doc_comment)]
struct Args {
    /// Namespaces to roll the profile out to.
    #[arg(long, default_value_t = 1_000)]
    namespaces: usize,
    /// Repetitions of each client, alternating.
    #[arg(long, default_value_t = 3)]
    repetitions: usize,
    /// Seconds the converged operator is watched idle.
    #[arg(long, default_value_t = 300)]
    idle_seconds: u64,
    /// The operator binary. Default: `hardening-operator` next to this binary.
    #[arg(long, value_name = "BIN")]
    operator: Option<PathBuf>,
    /// Drifts made one at a time after the idle period.
    #[arg(long, default_value_t = 100)]
    drifts: usize,
    /// Seconds a drift may take to be repaired before it counts as unrepaired.
    #[arg(long, default_value_t = 10)]
    drift_timeout_seconds: u64,
    /// Seconds the operator may take to converge before the run counts as failed.
    #[arg(long, default_value_t = 3_600)]
    converge_timeout_seconds: u64,
    /// Only this client (default: both).
    #[arg(long, value_enum)]
    only: Option<Measured>,
    /// Copy each run's operator log, audit log and kube-apiserver log into DIR/<run>/.
    #[arg(long, value_name = "DIR")]
    keep_logs: Option<PathBuf>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse();
    let operator_bin = args.operator.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .expect("the benchmark's own path")
            .with_file_name("hardening-operator")
    });
    if args.only != Some(Measured::Floor) && !operator_bin.is_file() {
        fail(format!(
            "no operator binary at {} (tests/bench.sh builds it; or give --operator BIN)",
            operator_bin.display()
        ));
    }
    if args.namespaces == 0 || args.repetitions == 0 {
        fail("--namespaces and --repetitions must be at least 1".into());
    }
    let bin = hardening_tests::controlplane::binaries_dir().unwrap_or_else(|e| fail(e.to_string()));
    let started = Instant::now();
    let header = header(&args, &bin, &operator_bin);
    eprintln!("{header}");
    let clients: Vec<Measured> = [Measured::Floor, Measured::Operator]
        .into_iter()
        .filter(|c| args.only.is_none_or(|only| only == *c))
        .collect();
    let mut results = Vec::new();
    let mut failures = 0;
    for repetition in 1..=args.repetitions {
        for &client in &clients {
            eprintln!(
                "== repetition {repetition}/{}: {} ({}) ==",
                args.repetitions,
                client.name(),
                plural::count(args.namespaces, "namespace")
            );
            let run = format!("{repetition}-{}", client.name());
            match measure(&args, &bin, &operator_bin, client, &run).await {
                Ok(result) => {
                    eprint!("{}", result.text());
                    results.push(result);
                }
                Err(e) => {
                    failures += 1;
                    eprintln!("  FAILED: {e}");
                }
            }
        }
    }
    println!("{header}");
    println!("{}", report::table(&results));
    println!(
        "One benchmark run took {:.0} s; {}.",
        started.elapsed().as_secs_f64(),
        plural::count(failures, "failed run")
    );
    if failures > 0 {
        std::process::exit(1);
    }
}

fn fail(message: String) -> ! {
    eprintln!("hardening-bench: {message}");
    std::process::exit(2);
}

/// Date, machine and parameters, for the table.
fn header(args: &Args, bin: &Path, operator: &Path) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let date = k8s_openapi::jiff::Timestamp::now().to_string();
    format!(
        "hardening-bench {}: {}, {}, {} s idle, {} (timeout {} s); \
         {cores} cores ({model}), {memory_gib:.0} GiB; Kubernetes binaries {}; operator {}",
        &date[..10],
        plural::count(args.namespaces, "namespace"),
        plural::count(args.repetitions, "repetition"),
        args.idle_seconds,
        plural::count(args.drifts, "drift"),
        args.drift_timeout_seconds,
        bin.file_name().unwrap_or_default().to_string_lossy(),
        operator.display()
    )
}

/// One run of `client` on a cluster of its own.
async fn measure(
    args: &Args,
    bin: &Path,
    operator_bin: &Path,
    client: Measured,
    run: &str,
) -> Result<RunResult, String> {
    let mut cluster = Cluster::prepare(bin, args.namespaces).await?;
    let load_before = load_average();
    let mut result = match client {
        Measured::Floor => measure_floor(&mut cluster).await,
        Measured::Operator => measure_operator(args, &mut cluster, operator_bin).await,
    };
    if let Ok(result) = &mut result {
        // Other work on the machine skews every figure: say how busy it was.
        result.notes.push(format!(
            "load average (1 min) at the start {load_before}, at the end {}",
            load_average()
        ));
    }
    if let Some(dir) = &args.keep_logs {
        let dir = dir.join(run);
        let _ = std::fs::create_dir_all(&dir);
        for name in ["operator.log", "audit.log", "kube-apiserver.log"] {
            let _ = std::fs::copy(cluster.plane().dir().join(name), dir.join(name));
        }
    }
    cluster.stop().await;
    result
}

/// The rollout writes among `events`: the measured user's writes to the benchmark's
/// namespaces and objects in them (not its status writes or Events).
struct Rollout {
    first_received_us: i64,
    last_completed_us: i64,
    writes: usize,
}

impl Rollout {
    fn of(events: &[Event], namespaces: &[String]) -> Option<Self> {
        let namespaces: HashSet<&str> = namespaces.iter().map(String::as_str).collect();
        let writes: Vec<&Event> = events
            .iter()
            .filter(|e| e.user == MEASURED_USER && e.complete && e.is_write())
            .filter(|e| e.resource != "events")
            .filter(|e| {
                namespaces.contains(e.namespace.as_str())
                    || (e.resource == "namespaces" && namespaces.contains(e.name.as_str()))
            })
            .collect();
        Some(Self {
            first_received_us: writes.iter().map(|e| e.received_us).min()?,
            last_completed_us: writes.iter().map(|e| e.completed_us).max()?,
            writes: writes.len(),
        })
    }

    fn seconds(&self) -> f64 {
        (self.last_completed_us - self.first_received_us) as f64 / 1e6
    }
}

/// Writes and requests per namespace, overall and by verb.
fn add_requests(result: &mut RunResult, by_verb: &BTreeMap<String, u64>, namespaces: usize) {
    let per = |n: u64| n as f64 / namespaces as f64;
    result.add("writes per namespace", per(writes(by_verb)));
    result.add("requests per namespace", per(requests(by_verb)));
    for (verb, n) in by_verb {
        result.add(format!("  {verb} per namespace"), per(*n));
    }
}

/// Up to this long for the audit log to show a request whose answer came back: the API
/// server logs ResponseComplete after it answered.
const AUDIT_LAG: Duration = Duration::from_secs(1);

async fn measure_floor(cluster: &mut Cluster) -> Result<RunResult, String> {
    let client = cluster.measured_client().await?;
    let concurrency = usize::from(RunConfig::default().concurrency);
    cluster.audit.read_new();
    let mark = cluster.audit.mark();
    let started = Instant::now();
    floor::apply(&client, &cluster.profile, &cluster.namespaces, concurrency).await?;
    eprintln!(
        "  floor applied everything in {:.1} s (its own clock)",
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(AUDIT_LAG).await;
    cluster.audit.read_new();
    let window = cluster.audit.since(mark);
    let rollout = Rollout::of(window, &cluster.namespaces).ok_or("no rollout write logged")?;
    let mut result = RunResult::new(Measured::Floor);
    result.add(CONVERGE, rollout.seconds());
    let by_verb = requests_by_verb(window, MEASURED_USER);
    add_requests(&mut result, &by_verb, cluster.namespaces.len());
    let verified = verify::objects(&cluster.admin, &cluster.profile, &cluster.namespaces).await?;
    result
        .notes
        .push(verification(&verified, cluster.namespaces.len()));
    Ok(result)
}

async fn measure_operator(
    args: &Args,
    cluster: &mut Cluster,
    bin: &Path,
) -> Result<RunResult, String> {
    let count = cluster.namespaces.len();
    let profile_name = cluster.profile.metadata.name.clone().unwrap_or_default();
    cluster.audit.read_new();
    let mark = cluster.audit.mark();
    let log = cluster.plane().dir().join("operator.log");
    let mut operator = Operator::start(bin, &cluster.measured_kubeconfig(), &log)?;
    let counts = operator::wait_converged(
        &cluster.admin,
        &profile_name,
        count,
        &mut operator,
        Duration::from_secs(args.converge_timeout_seconds),
    )
    .await?;
    let converged_memory = operator.memory();
    tokio::time::sleep(AUDIT_LAG).await;
    cluster.audit.read_new();
    let window = cluster.audit.since(mark);
    let rollout = Rollout::of(window, &cluster.namespaces).ok_or("no rollout write logged")?;
    let mut result = RunResult::new(Measured::Operator);
    result.add(CONVERGE, rollout.seconds());
    let started_us = micros(operator.started);
    result.add(
        "start-up to first write (s)",
        (rollout.first_received_us - started_us) as f64 / 1e6,
    );
    let last_status_us = window
        .iter()
        .filter(|e| e.user == MEASURED_USER && e.complete && e.is_write())
        .filter(|e| e.resource == "hardeningprofiles" && e.subresource == "status")
        .map(|e| e.completed_us)
        .max();
    if let Some(last_status_us) = last_status_us {
        result.add(
            "status in sync (s)",
            (last_status_us - rollout.first_received_us) as f64 / 1e6,
        );
    }
    let by_verb = requests_by_verb(window, MEASURED_USER);
    add_requests(&mut result, &by_verb, count);
    let rollout_writes = rollout.writes;
    let verified = verify::objects(&cluster.admin, &cluster.profile, &cluster.namespaces).await?;
    result.notes.push(format!(
        "{}; status: {}/{} in sync; {}",
        verification(&verified, count),
        counts.in_sync,
        plural::count(counts.selected, "namespace"),
        plural::count(rollout_writes, "rollout write")
    ));
    let stored = operator::profiles(&cluster.admin)
        .get(&profile_name)
        .await
        .map_err(|e| format!("reading the profile: {e}"))?;
    let status_bytes = serde_json::to_vec(&stored.data["status"]).map_or(0, |b| b.len());
    result.add("status size (bytes)", status_bytes as f64);

    // Idle: nothing changes; every request now is the operator's own doing.
    cluster.audit.read_new();
    let idle_mark = cluster.audit.mark();
    eprintln!("  converged; idle for {} s", args.idle_seconds);
    tokio::time::sleep(Duration::from_secs(args.idle_seconds)).await;
    operator.check_running()?;
    cluster.audit.read_new();
    let idle = requests_by_verb(cluster.audit.since(idle_mark), MEASURED_USER);
    result.add(
        format!("idle writes ({} s)", args.idle_seconds),
        writes(&idle) as f64,
    );
    result.add(
        format!("idle requests ({} s)", args.idle_seconds),
        requests(&idle) as f64,
    );
    if !idle.is_empty() {
        result
            .notes
            .push(format!("idle requests by verb: {idle:?}"));
    }
    let idle_memory = operator.memory();
    let mib = |kib: u64| kib as f64 / 1024.0;
    if let Some(memory) = converged_memory {
        result.add("RSS at convergence (MiB)", mib(memory.rss_kib));
    }
    if let Some(memory) = idle_memory {
        result.add("RSS after idle (MiB)", mib(memory.rss_kib));
        result.add("peak RSS, VmHWM (MiB)", mib(memory.peak_kib));
    }

    if args.drifts > 0 {
        eprintln!("  {}, one at a time", plural::count(args.drifts, "drift"));
        let outcomes = drift::run(
            &cluster.admin,
            &mut cluster.audit,
            &cluster.profile,
            &cluster.namespaces,
            args.drifts,
            Duration::from_secs(args.drift_timeout_seconds),
        )
        .await?;
        operator.check_running()?;
        drift_figures(&mut result, &outcomes);
    }
    tokio::task::block_in_place(|| operator.stop());
    Ok(result)
}

fn drift_figures(result: &mut RunResult, outcomes: &[drift::Outcome]) {
    let mut latencies: Vec<f64> = outcomes.iter().filter_map(|o| o.latency_ms).collect();
    latencies.sort_by(f64::total_cmp);
    if !latencies.is_empty() {
        result.add("drift repair p50 (ms)", percentile(&latencies, 50.0));
        result.add("drift repair p99 (ms)", percentile(&latencies, 99.0));
        result.add("drift repair max (ms)", latencies[latencies.len() - 1]);
    }
    result.add(
        format!("drifts unrepaired (of {})", outcomes.len()),
        (outcomes.len() - latencies.len()) as f64,
    );
    for kind in drift::DriftKind::ALL {
        let of_kind: Vec<&drift::Outcome> = outcomes.iter().filter(|o| o.kind == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        let mut repaired: Vec<f64> = of_kind.iter().filter_map(|o| o.latency_ms).collect();
        repaired.sort_by(f64::total_cmp);
        let median = if repaired.is_empty() {
            "-".to_owned()
        } else {
            format!("{:.1} ms", report::median(&repaired))
        };
        let unrepaired: Vec<&str> = of_kind
            .iter()
            .filter(|o| o.latency_ms.is_none())
            .map(|o| o.namespace.as_str())
            .take(3)
            .collect();
        result.notes.push(format!(
            "drift {}: {}/{} repaired, median {median}{}",
            kind.describe(),
            repaired.len(),
            of_kind.len(),
            if unrepaired.is_empty() {
                String::new()
            } else {
                format!("; unrepaired e.g. in {}", unrepaired.join(", "))
            }
        ));
    }
}

fn verification(verified: &verify::Verified, count_of: usize) -> String {
    format!(
        "verified by reading them back: {}/{} as rendered ({} checked){}",
        verified.namespaces_in_sync,
        plural::count(count_of, "namespace"),
        plural::count(verified.objects_checked, "object"),
        verified
            .first_problem
            .as_ref()
            .map(|p| format!("; first difference: {p}"))
            .unwrap_or_default()
    )
}

/// The 1-minute load average of the machine.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

fn micros(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}
