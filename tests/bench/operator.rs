//! The operator under test: the shipped (`dist`) binary as a process of its own (so its memory is
//! its own), `run` with default flags but for the metrics address, with the kubeconfig of
//! the measured user; and the wait for its profile status to report every namespace in
//! sync, through one watch of that profile.

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use hardening_operator::core::api::HardeningProfile;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde_json::Value;

/// How long a stopped operator gets before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How often progress is printed while the operator converges.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// How long a read of the operator's metrics may take.
const METRICS_TIMEOUT: Duration = Duration::from_millis(500);

pub struct Operator {
    child: Child,
    log: PathBuf,
    /// Where its metrics are served (127.0.0.1).
    metrics_port: u16,
    /// When the process was started.
    pub started: SystemTime,
}

/// Resident memory of the process, KiB.
#[derive(Clone, Copy, Debug)]
pub struct Memory {
    /// VmRSS: resident now.
    pub rss_kib: u64,
    /// VmHWM: the most it was resident so far.
    pub peak_kib: u64,
}

impl Operator {
    /// Starts `bin run`, logging to `log`. Only `KUBECONFIG` is passed on from an
    /// environment of its own, so no `HARDENING_*` variable changes a default.
    pub fn start(bin: &Path, kubeconfig: &Path, log: &Path) -> Result<Self, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("finding a free port: {e}"))?
            .port();
        let out = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let mut command = Command::new(bin);
        command
            .arg("run")
            .arg(format!("--metrics-address=127.0.0.1:{port}"))
            .env_clear()
            .env("KUBECONFIG", kubeconfig)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        // SAFETY: prctl is async-signal-safe; the operator dies with this process, even on
        // SIGKILL, as the control plane does (by its reaper).
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let started = SystemTime::now();
        let child = command
            .spawn()
            .map_err(|e| format!("starting {}: {e}", bin.display()))?;
        Ok(Self {
            child,
            log: log.to_path_buf(),
            metrics_port: port,
            started,
        })
    }

    /// The operator's write gauges now (`hardening_api_write_limit`,
    /// `hardening_api_writes_in_flight`, `hardening_api_writes_waiting`), read from its
    /// metrics endpoint; `None` while it does not answer yet.
    pub async fn write_gauges(&self) -> Option<WriteGauges> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let read = async {
            let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.metrics_port))
                .await
                .ok()?;
            stream
                .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                .await
                .ok()?;
            let mut body = String::new();
            stream.read_to_string(&mut body).await.ok()?;
            Some(body)
        };
        let body = tokio::time::timeout(METRICS_TIMEOUT, read).await.ok()??;
        let gauge = |name: &str| -> Option<u64> {
            body.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))?
                .trim()
                .parse()
                .ok()
        };
        Some(WriteGauges {
            limit: gauge("hardening_api_write_limit")?,
            in_flight: gauge("hardening_api_writes_in_flight")?,
            waiting: gauge("hardening_api_writes_waiting")?,
        })
    }

    /// The CPU time (user and system, seconds) the operator has used so far.
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // Fields after the command's closing parenthesis: state is the 3rd field of the
        // whole line, utime the 14th and stime the 15th.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i - 3)?.parse::<f64>().ok();
        // SAFETY: sysconf only reads a configuration value.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        (per_second > 0.0).then_some((ticks(14)? + ticks(15)?) / per_second)
    }

    pub fn memory(&self) -> Option<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let field = |name: &str| -> Option<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        };
        Some(Memory {
            rss_kib: field("VmRSS:")?,
            peak_kib: field("VmHWM:")?,
        })
    }

    /// `Err` with the end of its log once the process has exited.
    pub fn check_running(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!(
                "the operator exited ({status}); last lines of {}:\n{}",
                self.log.display(),
                self.log_tail(20)
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// SIGTERM, then SIGKILL after [`STOP_GRACE`].
    pub fn stop(&mut self) {
        // SAFETY: a plain syscall on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The counts of a profile's status that convergence is read from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub selected: u64,
    pub in_sync: u64,
    /// `status.observedGeneration` equals `metadata.generation`.
    pub current: bool,
}

impl Counts {
    pub fn of(profile: &Value) -> Self {
        let status = &profile["status"];
        let count = |key: &str| status[key].as_u64().unwrap_or(0);
        Self {
            selected: count("selectedNamespaces"),
            in_sync: count("inSyncNamespaces"),
            current: status["observedGeneration"].as_i64().is_some()
                && status["observedGeneration"] == profile["metadata"]["generation"],
        }
    }

    pub fn converged(&self, namespaces: usize) -> bool {
        self.current && self.selected == namespaces as u64 && self.in_sync == namespaces as u64
    }
}

/// The profile API as raw JSON: the benchmark reads the status by its API field names.
pub fn profiles(admin: &Client) -> Api<DynamicObject> {
    Api::all_with(admin.clone(), &ApiResource::erase::<HardeningProfile>(&()))
}

/// The operator's write slots at one moment.
#[derive(Clone, Copy, Debug)]
pub struct WriteGauges {
    /// Writes it allows in flight.
    pub limit: u64,
    /// Writes sent and not answered yet.
    pub in_flight: u64,
    /// Writes waiting for a slot.
    pub waiting: u64,
}

/// What the wait for convergence saw.
pub struct Converged {
    pub counts: Counts,
    /// The operator's write gauges, read once a second while it converged.
    pub write_gauges: Vec<WriteGauges>,
}

/// Waits, through one watch of the profile, until its status counts every namespace in
/// sync; reads the operator's write gauges every second and prints the count and the limit
/// every [`PROGRESS_EVERY`]. `Err` when the operator exits or `timeout` passes first.
pub async fn wait_converged(
    admin: &Client,
    profile: &str,
    namespaces: usize,
    operator: &mut Operator,
    timeout: Duration,
) -> Result<Converged, String> {
    let config = watcher::Config::default().fields(&format!("metadata.name={profile}"));
    let mut events = std::pin::pin!(watcher(profiles(admin), config).default_backoff());
    let started = Instant::now();
    let mut counts = Counts::default();
    let mut write_gauges: Vec<WriteGauges> = Vec::new();
    let mut progress = tokio::time::interval(PROGRESS_EVERY);
    progress.tick().await;
    let mut alive = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object))) => {
                    counts = Counts::of(&serde_json::to_value(&object).map_err(|e| e.to_string())?);
                    if counts.converged(namespaces) {
                        return Ok(Converged { counts, write_gauges });
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => eprintln!("  watching the profile: {e} (retrying)"),
                None => return Err("the profile watch ended".into()),
            },
            _ = progress.tick() => eprintln!(
                "  operator: {}/{} in sync after {:.0} s, write limit {}",
                counts.in_sync,
                hardening_operator::core::plural::count(namespaces, "namespace"),
                started.elapsed().as_secs_f64(),
                write_gauges.last().map_or("unknown".to_owned(), |g| format!(
                    "{}, {} in flight, {} waiting", g.limit, g.in_flight, g.waiting
                ))
            ),
            _ = alive.tick() => {
                operator.check_running()?;
                write_gauges.extend(operator.write_gauges().await);
                if started.elapsed() > timeout {
                    return Err(format!(
                        "not converged within {timeout:?}: status counts {counts:?}"
                    ));
                }
            }
        }
    }
}

/// Waits, reading the audit log from `mark`, until the operator has written the policy
/// report of every namespace (the full profile). `Err` when it exits or `timeout` passes.
pub async fn wait_for_reports(
    audit: &mut crate::audit::AuditLog,
    mark: usize,
    namespaces: &[String],
    operator: &mut Operator,
    timeout: Duration,
) -> Result<(), String> {
    let wanted: std::collections::HashSet<&str> = namespaces.iter().map(String::as_str).collect();
    let mut written = std::collections::HashSet::new();
    let started = Instant::now();
    let mut read = mark;
    let mut last_note = Instant::now();
    loop {
        audit.read_new();
        for event in audit.since(read) {
            if event.user == crate::setup::MEASURED_USER
                && event.resource == "reports"
                && event.complete
                && event.is_write()
                && event.code < 400
                && wanted.contains(event.namespace.as_str())
            {
                written.insert(event.namespace.clone());
            }
        }
        read = audit.mark();
        if written.len() == wanted.len() {
            return Ok(());
        }
        operator.check_running()?;
        if started.elapsed() > timeout {
            return Err(format!(
                "{} of {} namespaces have a report after {timeout:?}",
                written.len(),
                wanted.len()
            ));
        }
        if last_note.elapsed() > PROGRESS_EVERY {
            eprintln!(
                "  operator: {}/{} reports written",
                written.len(),
                wanted.len()
            );
            last_note = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
