//! `hardening-bench`: how fast the operator rolls a profile out, hardens new namespaces,
//! repairs drift and how quiet it is, against the floor of what any client needs, each on a
//! fresh local control plane; and what its admission policy costs every pod creation. Run
//! through `tests/bench.sh` (which builds the `dist` binaries first, as shipped); see
//! docs/benchmark.md. It prints figures and asserts nothing about them.

mod admission;
mod audit;
mod drift;
mod floor;
mod onboard;
mod operator;
mod report;
mod setup;
mod verify;
mod workload;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use clap::Parser;
use hardening_operator::core::plural;

use crate::audit::{Event, requests, requests_by_verb, writes};
use crate::operator::Operator;
use crate::report::{CONVERGE, Client, Measured, RunResult, percentile};
use crate::setup::{Cluster, MEASURED_USER};
use crate::workload::ProfileKind;

/// Benchmark of the operator against the floor (a minimal server-side-apply client)
///
/// Per repetition, the floor at each --floor-concurrency, then the operator, each on a
/// fresh local control plane (etcd, kube-apiserver, kube-controller-manager) with N
/// namespaces the profile selects: --profile lean (tests/bench/profile.yaml) or full
/// (examples/bsi-strict.yaml, OpenReports CRDs installed, two pods per namespace). The
/// floor applies exactly what the operator's pure functions produce. The operator is the
/// `dist` binary (as shipped) with default flags; after converging it idles, onboards new namespaces,
/// repairs drifts, and is stopped for the admission cost. Timings and request counts come
/// from the API server's audit log. Figures go to stdout as a Markdown table (one column
/// per client: median, and min-max over the repetitions), progress to stderr.
#[derive(Parser, Debug)]
#[command(verbatim_doc_comment)]
struct Args {
    /// Namespaces to roll the profile out to.
    #[arg(long, default_value_t = 1_000)]
    namespaces: usize,
    /// The profile rolled out.
    #[arg(long, value_enum, default_value_t = ProfileKind::Lean)]
    profile: ProfileKind,
    /// The floor's namespaces in flight, one floor run per value (comma-separated): the
    /// API server's best write rate is the fastest of them.
    #[arg(long, value_delimiter = ',', default_values_t = [8, 16, 32, 64, 128])]
    floor_concurrency: Vec<usize>,
    /// New namespaces per second while onboarding (after the idle period).
    #[arg(long, default_value_t = 20.0)]
    onboard_rate: f64,
    /// Seconds of onboarding; 0 skips it.
    #[arg(long, default_value_t = 60)]
    onboard_seconds: u64,
    /// Pods created to measure the admission policies' cost (half with the profile's
    /// bindings, half without), and half as many again with a trivial policy of the
    /// benchmark's own bound instead (the floor); 0 skips it.
    #[arg(long, default_value_t = 1_000)]
    admission_pods: usize,
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
    if args.floor_concurrency.contains(&0) {
        fail("--floor-concurrency values must be at least 1".into());
    }
    if args.onboard_seconds > 0 && args.onboard_rate <= 0.0 {
        fail("--onboard-rate must be above 0".into());
    }
    let bin = hardening_tests::controlplane::binaries_dir().unwrap_or_else(|e| fail(e.to_string()));
    let started = Instant::now();
    let header = header(&args, &bin, &operator_bin);
    eprintln!("{header}");
    let clients: Vec<Client> = args
        .floor_concurrency
        .iter()
        .map(|&concurrency| Client::Floor { concurrency })
        .chain([Client::Operator])
        .filter(|c| args.only.is_none_or(|only| only == c.kind()))
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
            match measure(&args, &bin, &operator_bin, client, repetition, &run).await {
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
        "hardening-bench {}: {} profile, {}, {}, floor at {:?}, {} s idle, \
         onboarding {}/s for {} s, {} (timeout {} s), {}; \
         {cores} cores ({model}), {memory_gib:.0} GiB; Kubernetes binaries {}; operator {}",
        &date[..10],
        args.profile.name(),
        plural::count(args.namespaces, "namespace"),
        plural::count(args.repetitions, "repetition"),
        args.floor_concurrency,
        args.idle_seconds,
        args.onboard_rate,
        args.onboard_seconds,
        plural::count(args.drifts, "drift"),
        args.drift_timeout_seconds,
        plural::count(args.admission_pods, "admission pod"),
        bin.file_name().unwrap_or_default().to_string_lossy(),
        operator.display()
    )
}

/// One run of `client` on a cluster of its own.
async fn measure(
    args: &Args,
    bin: &Path,
    operator_bin: &Path,
    client: Client,
    repetition: usize,
    run: &str,
) -> Result<RunResult, String> {
    let mut cluster = Cluster::prepare(bin, args.namespaces, args.profile).await?;
    let load_before = load_average();
    let mut result = RunResult::new(client, repetition);
    let measured = match client {
        Client::Floor { concurrency } => {
            measure_floor(&mut cluster, concurrency, &mut result).await
        }
        Client::Operator => measure_operator(args, &mut cluster, operator_bin, &mut result).await,
    };
    let mut result = measured.map(|()| result);
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
/// namespaces and objects in them (policy reports included; not its status writes or
/// Events).
struct Rollout {
    first_received_us: i64,
    last_completed_us: i64,
    writes: usize,
    /// Writes per namespace, by namespace.
    per_namespace: HashMap<String, usize>,
    /// Each write's time in the API server (received to response complete), ms, sorted.
    latencies_ms: Vec<f64>,
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
        let mut per_namespace: HashMap<String, usize> = HashMap::new();
        for write in &writes {
            let namespace = if write.resource == "namespaces" {
                &write.name
            } else {
                &write.namespace
            };
            *per_namespace.entry(namespace.clone()).or_default() += 1;
        }
        let mut latencies_ms: Vec<f64> = writes
            .iter()
            .map(|e| (e.completed_us - e.received_us) as f64 / 1000.0)
            .collect();
        latencies_ms.sort_by(f64::total_cmp);
        Some(Self {
            latencies_ms,
            first_received_us: writes.iter().map(|e| e.received_us).min()?,
            last_completed_us: writes.iter().map(|e| e.completed_us).max()?,
            writes: writes.len(),
            per_namespace,
        })
    }

    fn seconds(&self) -> f64 {
        (self.last_completed_us - self.first_received_us) as f64 / 1e6
    }

    /// Converge time, write rate and write latencies.
    fn add_to(&self, result: &mut RunResult) {
        result.add(CONVERGE, self.seconds());
        result.add(
            "rollout writes per second",
            self.writes as f64 / self.seconds(),
        );
        if !self.latencies_ms.is_empty() {
            result.add(
                "write latency p50 (ms)",
                percentile(&self.latencies_ms, 50.0),
            );
            result.add(
                "write latency p99 (ms)",
                percentile(&self.latencies_ms, 99.0),
            );
        }
    }

    /// The most writes one namespace got, and how many namespaces got more than `expected`.
    fn most(&self, expected: usize) -> (usize, usize) {
        let most = self.per_namespace.values().copied().max().unwrap_or(0);
        let over = self
            .per_namespace
            .values()
            .filter(|n| **n > expected)
            .count();
        (most, over)
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

/// The measured client's requests the API server answered as overloaded (429 from priority
/// and fairness, 503, 504): what halves the operator's write limit.
fn add_overloads(result: &mut RunResult, window: &[Event]) {
    let overloaded = window
        .iter()
        .filter(|e| e.user == MEASURED_USER && e.complete)
        .filter(|e| matches!(e.code, 429 | 503 | 504))
        .count();
    result.add("overload answers (429, 503, 504)", overloaded as f64);
}

/// The writes `render` asks for in one namespace (its objects and the Namespace), and with
/// reports the report: what the floor writes there.
fn rendered_writes(cluster: &Cluster) -> usize {
    let objects = hardening_operator::core::render::render(&cluster.profile, "bench")
        .map_or(0, |desired| desired.objects.len());
    objects + 1 + usize::from(cluster.kind.reports())
}

/// Up to this long for the audit log to show a request whose answer came back: the API
/// server logs ResponseComplete after it answered.
const AUDIT_LAG: Duration = Duration::from_secs(1);

async fn measure_floor(
    cluster: &mut Cluster,
    concurrency: usize,
    result: &mut RunResult,
) -> Result<(), String> {
    let client = cluster.measured_client().await?;
    cluster.audit.read_new();
    let mark = cluster.audit.mark();
    let cpu_before = admission::api_server_cpu_seconds(&cluster.admin).await;
    let started = Instant::now();
    floor::apply(
        &client,
        &cluster.profile,
        cluster.kind,
        MEASURED_USER,
        &cluster.namespaces,
        concurrency,
    )
    .await?;
    eprintln!(
        "  floor applied everything in {:.1} s (its own clock)",
        started.elapsed().as_secs_f64()
    );
    if let (Some(before), Some(after)) = (
        cpu_before,
        admission::api_server_cpu_seconds(&cluster.admin).await,
    ) {
        result.add("API server CPU while converging (s)", after - before);
    }
    tokio::time::sleep(AUDIT_LAG).await;
    cluster.audit.read_new();
    let window = cluster.audit.since(mark);
    let rollout = Rollout::of(window, &cluster.namespaces).ok_or("no rollout write logged")?;
    rollout.add_to(result);
    let by_verb = requests_by_verb(window, MEASURED_USER);
    add_requests(result, &by_verb, cluster.namespaces.len());
    add_overloads(result, window);
    let verified = verify::objects(&cluster.admin, &cluster.profile, &cluster.namespaces).await?;
    result
        .notes
        .push(verification(&verified, cluster.namespaces.len()));
    Ok(())
}

async fn measure_operator(
    args: &Args,
    cluster: &mut Cluster,
    bin: &Path,
    result: &mut RunResult,
) -> Result<(), String> {
    let count = cluster.namespaces.len();
    let profile_name = cluster.profile.metadata.name.clone().unwrap_or_default();
    cluster.audit.read_new();
    let mark = cluster.audit.mark();
    let log = cluster.plane().dir().join("operator.log");
    let api_cpu_before = admission::api_server_cpu_seconds(&cluster.admin).await;
    let mut operator = Operator::start(bin, &cluster.measured_kubeconfig(), &log)?;
    let converged = operator::wait_converged(
        &cluster.admin,
        &profile_name,
        count,
        &mut operator,
        Duration::from_secs(args.converge_timeout_seconds),
    )
    .await?;
    let counts = converged.counts;
    // Where the machine's CPU went until the status said in sync (both share it here).
    if let (Some(before), Some(after)) = (
        api_cpu_before,
        admission::api_server_cpu_seconds(&cluster.admin).await,
    ) {
        result.add("API server CPU while converging (s)", after - before);
    }
    if let Some(cpu) = operator.cpu_seconds() {
        result.add("operator CPU while converging (s)", cpu);
    }
    // What the write slots did while converging (sampled once a second): the limit the
    // operator settled on, the writes it had in flight, and those waiting for a slot
    // (waiting most of the time: the limit set the pace, not the operator's own work).
    let gauges = &converged.write_gauges;
    for (what, read) in [
        (
            "write limit",
            (|g| g.limit) as fn(&operator::WriteGauges) -> u64,
        ),
        ("writes in flight", |g| g.in_flight),
        ("writes waiting for a slot", |g| g.waiting),
    ] {
        let mut values: Vec<f64> = gauges.iter().map(|g| read(g) as f64).collect();
        values.sort_by(f64::total_cmp);
        if values.is_empty() {
            continue;
        }
        for p in [10.0, 50.0, 90.0] {
            result.add(
                format!("{what} p{p} while converging"),
                percentile(&values, p),
            );
        }
    }
    let in_sync_at = Instant::now();
    if cluster.kind.reports() {
        operator::wait_for_reports(
            &mut cluster.audit,
            mark,
            &cluster.namespaces,
            &mut operator,
            Duration::from_secs(args.converge_timeout_seconds),
        )
        .await?;
        eprintln!(
            "  every namespace's report written {:.1} s after the status said in sync",
            in_sync_at.elapsed().as_secs_f64()
        );
    }
    let converged_memory = operator.memory();
    tokio::time::sleep(AUDIT_LAG).await;
    cluster.audit.read_new();
    let window = cluster.audit.since(mark);
    let rollout = Rollout::of(window, &cluster.namespaces).ok_or("no rollout write logged")?;
    rollout.add_to(result);
    let started_us = micros(operator.started);
    result.add(
        "start-up to first write (s)",
        (rollout.first_received_us - started_us) as f64 / 1e6,
    );
    let status_writes: Vec<&Event> = window
        .iter()
        .filter(|e| e.user == MEASURED_USER && e.complete && e.is_write())
        .filter(|e| e.resource == "hardeningprofiles" && e.subresource == "status")
        .collect();
    if let Some(last_status_us) = status_writes.iter().map(|e| e.completed_us).max() {
        let in_sync = (last_status_us - rollout.first_received_us) as f64 / 1e6;
        result.add("status in sync (s)", in_sync);
        result.add("status writes", status_writes.len() as f64);
        result.add(
            "status writes per second",
            status_writes.len() as f64 / in_sync.max(1.0),
        );
        result.add(
            "status writes in the busiest second",
            busiest_second(&status_writes) as f64,
        );
    }
    let by_verb = requests_by_verb(window, MEASURED_USER);
    add_requests(result, &by_verb, count);
    add_overloads(result, window);
    let expected = rendered_writes(cluster);
    let (most, over) = rollout.most(expected);
    result.add("most writes to one namespace", most as f64);
    result.add(
        format!("namespaces with more than {expected} writes"),
        over as f64,
    );
    let rollout_writes = rollout.writes;
    let verified = verify::objects(&cluster.admin, &cluster.profile, &cluster.namespaces).await?;
    result.notes.push(format!(
        "{}; status: {}/{} in sync; {}",
        verification(&verified, count),
        counts.in_sync,
        plural::count(counts.selected, "namespace"),
        plural::count(rollout_writes, "rollout write")
    ));
    if cluster.kind.reports() {
        let reports =
            verify::reports(&cluster.admin, &cluster.profile, &cluster.namespaces).await?;
        result.add("largest report (bytes)", reports.largest_bytes as f64);
        result.notes.push(format!(
            "reports: {}/{} as the floor writes them{}",
            reports.as_expected,
            plural::count(count, "namespace"),
            reports
                .first_difference
                .map(|d| format!("; first difference: {d}"))
                .unwrap_or_default()
        ));
    }
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
    }

    if args.onboard_seconds > 0 {
        eprintln!(
            "  onboarding: {} new namespaces per second for {} s",
            args.onboard_rate, args.onboard_seconds
        );
        let onboarded = onboard::run(
            &cluster.admin,
            &mut cluster.audit,
            &profile_name,
            args.onboard_rate,
            args.onboard_seconds,
        )
        .await?;
        operator.check_running()?;
        onboard_figures(result, &onboarded);
    }

    if args.drifts > 0 {
        eprintln!("  {}, one at a time", plural::count(args.drifts, "drift"));
        let outcomes = drift::run(
            &cluster.drifter,
            &mut cluster.audit,
            &cluster.profile,
            &cluster.namespaces,
            args.drifts,
            Duration::from_secs(args.drift_timeout_seconds),
        )
        .await?;
        operator.check_running()?;
        drift_figures(result, &outcomes);
    }
    if let Some(memory) = operator.memory() {
        result.add("peak RSS, VmHWM (MiB)", mib(memory.peak_kib));
    }
    tokio::task::block_in_place(|| operator.stop());

    if args.admission_pods > 0 {
        eprintln!(
            "  operator stopped; admission cost: {} created one at a time",
            plural::count(args.admission_pods, "pod")
        );
        let cost = admission::run(
            &cluster.admin,
            &mut cluster.audit,
            &cluster.profile,
            &cluster.namespaces,
            args.admission_pods,
        )
        .await?;
        admission_figures(result, &cost);
    }
    Ok(())
}

/// The most of `events` sent within one second.
fn busiest_second(events: &[&Event]) -> usize {
    let mut times: Vec<i64> = events.iter().map(|e| e.received_us).collect();
    times.sort_unstable();
    let mut most = 0;
    let mut start = 0;
    for end in 0..times.len() {
        while times[end] - times[start] >= 1_000_000 {
            start += 1;
        }
        most = most.max(end - start + 1);
    }
    most
}

fn onboard_figures(result: &mut RunResult, onboarded: &onboard::Onboarded) {
    let latencies = &onboarded.latencies_ms;
    if !latencies.is_empty() {
        result.add(
            "new namespace to stamped p50 (ms)",
            percentile(latencies, 50.0),
        );
        result.add(
            "new namespace to stamped p99 (ms)",
            percentile(latencies, 99.0),
        );
        result.add(
            "new namespace to stamped max (ms)",
            latencies[latencies.len() - 1],
        );
    }
    result.add(
        format!("new namespaces not stamped (of {})", onboarded.created),
        (onboarded.created - latencies.len()) as f64,
    );
    result.notes.push(format!(
        "onboarding: {} created at {:.1}/s; {} stamped within 30 s of the last; {} carry the stamp when read back",
        onboarded.created,
        onboarded.achieved_rate,
        latencies.len(),
        onboarded.stamped_on_read
    ));
}

fn admission_figures(result: &mut RunResult, cost: &admission::Cost) {
    use admission::State;
    let states = [
        (State::On, "policy on"),
        (State::Off, "policy off"),
        (State::Floor, "trivial policy"),
    ];
    for (state, name) in states {
        if let (Some(p50), Some(p99)) = (cost.p(state, 50.0), cost.p(state, 99.0)) {
            result.add(format!("pod creation p50, {name} (ms)"), p50);
            result.add(format!("pod creation p99, {name} (ms)"), p99);
        }
    }
    if let (Some(on), Some(off)) = (cost.p(State::On, 99.0), cost.p(State::Off, 99.0)) {
        result.add("policy's cost at p99 (ms)", on - off);
    }
    if let (Some(on), Some(off)) = (cost.p(State::On, 50.0), cost.p(State::Off, 50.0)) {
        result.add("policy's cost at p50 (ms)", on - off);
    }
    for (state, name) in states {
        if let Some(ms) = cost.plugin(state) {
            result.add(format!("policy plugin per creation, {name} (ms)"), ms);
        }
    }
    for (state, name) in states {
        if let Some(ms) = cost.cpu(state) {
            result.add(format!("API server CPU per creation, {name} (ms)"), ms);
        }
    }
    result.notes.push(format!(
        "admission: {} pods with the profile's policies, {} without, {} with the trivial policy only, {} rejected",
        cost.on_ms.len(),
        cost.off_ms.len(),
        cost.floor_ms.len(),
        cost.rejected
    ));
}

fn drift_figures(result: &mut RunResult, outcomes: &[drift::Outcome]) {
    let mut latencies: Vec<f64> = outcomes.iter().filter_map(|o| o.latency_ms).collect();
    latencies.sort_by(f64::total_cmp);
    if !latencies.is_empty() {
        result.add("drift repair p50 (ms)", percentile(&latencies, 50.0));
        result.add("drift repair p99 (ms)", percentile(&latencies, 99.0));
        result.add("drift repair max (ms)", latencies[latencies.len() - 1]);
    }
    let refused = outcomes.iter().filter(|o| o.refused).count();
    result.add(
        format!("drifts unrepaired (of {})", outcomes.len()),
        (outcomes.len() - refused - latencies.len()) as f64,
    );
    if refused > 0 {
        result.add(
            format!("drifts refused at admission (of {})", outcomes.len()),
            refused as f64,
        );
    }
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
            .filter(|o| o.latency_ms.is_none() && !o.refused)
            .map(|o| o.namespace.as_str())
            .take(3)
            .collect();
        let refused = of_kind.iter().filter(|o| o.refused).count();
        result.notes.push(format!(
            "drift {}: {}/{} repaired{}, median {median}{}",
            kind.describe(),
            repaired.len(),
            of_kind.len(),
            if refused > 0 {
                format!(" ({refused} refused at admission)")
            } else {
                String::new()
            },
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
