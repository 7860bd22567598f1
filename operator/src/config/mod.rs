//! Operator configuration: command-line flags, each also settable through an environment
//! variable (`HARDENING_*`), and a YAML file (`--config`, see `config/operator.yaml`).
//! Precedence: flags > environment > file > defaults. Each setting is declared once, in
//! [`RunConfig`] or [`LogArgs`] (see [`settings`] for how the file is read through them).

#[macro_use]
pub mod settings;
mod duration;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use duration::{format_duration, parse_duration};

pub use crate::core::api::SYSTEM_NAMESPACES;

settings! {
    #[derive(clap::Args, Clone, Debug, PartialEq)]
    pub struct RunConfig {
        /// YAML configuration file (see `config/operator.yaml`); flags and environment
        /// variables override its values.
        #[arg(long, env = "HARDENING_CONFIG", value_name = "FILE")]
        pub config: Option<PathBuf>,

        /// Namespaces never hardened, in addition to kube-system, kube-public,
        /// kube-node-lease and the operator's own namespace (comma-separated).
        #[arg(long, env = "HARDENING_EXCLUDED_NAMESPACES", value_delimiter = ',')]
        pub excluded_namespaces: Vec<String> => "excludedNamespaces",

        /// The operator's own namespace, excluded like the system namespaces
        /// (in a Pod: set from the downward API).
        #[arg(long, env = "POD_NAMESPACE")]
        pub operator_namespace: Option<String>,

        /// Only handle HardeningProfiles matching this label selector (e.g. `shard=a`), to
        /// split profiles between several operator deployments. Default: all profiles.
        #[arg(long, env = "HARDENING_PROFILE_SELECTOR")]
        pub profile_selector: Option<String> => "profileSelector",

        /// Networks no pod of a governed namespace may reach (BSI SYS.1.6.A5, APP.4.4.A7),
        /// `;`-separated: `CIDR` (every port) or `CIDR:PORTS` with PORTS like
        /// `22,10250,30000-32767/UDP` (TCP unless `/UDP` or `/SCTP`). Replaces the default,
        /// the cloud metadata addresses; a profile's `networkPolicy.protectedNetworks` adds to
        /// it. Kept out of every generated egress allow-list, isolated away where a profile
        /// leaves egress open, reported (and with the guardrail rejected) in tenant policies.
        #[arg(long, env = "HARDENING_PROTECTED_NETWORKS", value_delimiter = ';', value_name = "NETWORKS", default_values = crate::core::protected::CLOUD_METADATA, value_parser = crate::core::protected::parse)]
        pub protected_networks: Vec<crate::core::api::ProtectedNetwork> => "protectedNetworks",

        /// Namespace of the node agent's per-node ConfigMaps, read (list/watch on configmaps
        /// there) for the profiles' `nodeBaseline`. Unset: not read (the chart sets its
        /// release namespace when it runs the agent).
        #[arg(long, env = "HARDENING_NODE_AGENT_NAMESPACE")]
        pub node_agent_namespace: Option<String> => "nodeAgentNamespace",

        /// The longest a HardeningException may last: its `expires` at most this long after
        /// its creation (a longer one is refused and never applies; a longer deviation needs
        /// a new exception, a new decision). Go durations: `2160h` (90 days), `720h`, `10m`.
        #[arg(long, env = "HARDENING_MAX_EXCEPTION_DURATION", default_value = "2160h", value_parser = parse_duration)]
        pub max_exception_duration: Duration => "maxExceptionDuration",

        /// Namespaces reconciled in parallel at most; the writes in flight to the API server
        /// are at most twice that (a reconcile writes its objects at once). Within this bound
        /// the writes in flight adapt to what the API server answers (its write rate,
        /// latency, and 429/503 answers, which are retried after their Retry-After),
        /// starting at 32.
        #[arg(long, env = "HARDENING_CONCURRENCY", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=1024))]
        pub concurrency: u16 => "concurrency",

        /// Safety-net resync: every namespace is re-checked this often even without a watch
        /// event (watches do the real work). Go durations: `30m`, `1h`, `1h30m`, `90s`; a
        /// bare number means seconds.
        #[arg(long, env = "HARDENING_RESYNC_PERIOD", default_value = "1h", value_parser = parse_duration)]
        pub resync_period: Duration => "resyncPeriod",

        /// Client-side rate limit of requests to the API server: requests per second on
        /// average. Default 0: none; the API server's priority and fairness decides, and a 429
        /// answer is retried after its Retry-After.
        #[arg(long, env = "HARDENING_API_QPS", default_value_t = DEFAULT_API_QPS, value_parser = parse_qps)]
        pub api_qps: f64 => "apiClient.qps",

        /// Client-side rate limit: requests sent at once before the QPS limit applies.
        #[arg(long, env = "HARDENING_API_BURST", default_value_t = DEFAULT_API_BURST, value_parser = parse_burst)]
        pub api_burst: u32 => "apiClient.burst",

        /// Address of the HTTP listener for /metrics, /livez and /readyz (port 0: any free
        /// port).
        #[arg(long, env = "HARDENING_METRICS_ADDRESS", default_value = "0.0.0.0:8080", value_parser = parse_address)]
        pub metrics_address: SocketAddr => "metricsAddress",

        #[command(flatten)]
        pub log: LogArgs => flatten,

        /// Watch pods (not finished ones; only their seccomp/AppArmor fields are kept) to
        /// report those not using their profile's seccomp/AppArmor profiles in the profile's
        /// status (`unconfinedPods`). Needs list/watch on pods in every namespace.
        #[arg(long, env = "HARDENING_POD_REPORT", value_name = "BOOL", default_value_t = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
        pub pod_report: bool => "podReport",

        /// The group whose members may change or delete what the operator generated, which
        /// its admission policies otherwise forbid to anyone but the operator itself: the
        /// break-glass for cluster administrators (`kubectl --as=<you> --as-group=<group>`).
        #[arg(long, env = "HARDENING_BREAK_GLASS_GROUP", default_value = crate::core::guardrails::DEFAULT_BREAK_GLASS_GROUP, value_parser = parse_group)]
        pub break_glass_group: String => "breakGlassGroup",

        /// Leader election with a coordination.k8s.io Lease, so only one replica writes:
        /// `true`, `false` or `auto` (on when running inside a cluster).
        #[arg(long, env = "HARDENING_LEADER_ELECTION", value_name = "BOOL", default_value = "auto", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_leader_election)]
        pub leader_election: LeaderElection => "leaderElection.enabled",

        /// Namespace of the Lease `hardening-operator`. Default: the operator's namespace.
        #[arg(long, env = "HARDENING_LEADER_ELECTION_NAMESPACE")]
        pub leader_election_namespace: Option<String> => "leaderElection.namespace",

        /// This replica's identity in the Lease (in a Pod: its name, from the downward API).
        /// Default: hostname and process id.
        #[arg(long, env = "POD_NAME")]
        pub leader_election_identity: Option<String>,

        /// How long a Lease holds without renewal before another replica takes over
        /// (whole seconds).
        #[arg(long, env = "HARDENING_LEADER_ELECTION_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
        pub leader_election_lease_duration: Duration => "leaderElection.leaseDuration",

        /// How often the leader renews the Lease (shorter than the lease duration).
        #[arg(long, env = "HARDENING_LEADER_ELECTION_RENEW_PERIOD", default_value = "5s", value_parser = parse_duration)]
        pub leader_election_renew_period: Duration => "leaderElection.renewPeriod",
    }
}

settings! {
    /// Logging flags, shared by `run` and `node-agent`.
    #[derive(clap::Args, Clone, Debug, PartialEq)]
    pub struct LogArgs {
        /// Log format.
        #[arg(long, env = "HARDENING_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
        pub log_format: LogFormat => "log.format",

        /// Log level or filter directives (`info`, `hardening_operator=debug,kube=warn`).
        /// Default: RUST_LOG if set, else `info`.
        #[arg(long, env = "HARDENING_LOG_LEVEL", default_value = "info", value_parser = parse_log_level)]
        pub log_level: String => "log.level",
    }
}

/// No client-side limit by default: it would slow the operator below what the API server
/// serves (50 QPS made a rollout of 1,000 namespaces 28 times slower than the API server
/// allows); the API server protects itself (priority and fairness) and the kube client
/// retries its 429 answers after their Retry-After.
pub const DEFAULT_API_QPS: f64 = 0.0;
pub const DEFAULT_API_BURST: u32 = 100;
/// Name of the Lease the replicas compete for.
pub const LEASE_NAME: &str = "hardening-operator";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaderElection {
    /// On when running inside a cluster (`KUBERNETES_SERVICE_HOST` is set).
    Auto,
    On,
    Off,
}

impl LeaderElection {
    pub fn enabled(self) -> bool {
        match self {
            Self::Auto => std::env::var_os("KUBERNETES_SERVICE_HOST").is_some(),
            Self::On => true,
            Self::Off => false,
        }
    }
}

impl RunConfig {
    /// Where the node agents publish their nodes' state (`--node-agent-namespace`); `None`:
    /// not read.
    pub fn node_agent_namespace(&self) -> Option<String> {
        self.node_agent_namespace.clone().filter(|n| !n.is_empty())
    }

    /// Every namespace the operator must leave alone.
    pub fn excluded(&self) -> BTreeSet<String> {
        SYSTEM_NAMESPACES
            .iter()
            .map(|s| s.to_string())
            .chain(self.operator_namespace.iter().cloned())
            .chain(
                self.excluded_namespaces
                    .iter()
                    .filter(|s| !s.is_empty())
                    .cloned(),
            )
            .collect()
    }
}

/// The declared defaults (clap's, with no flag and no environment variable).
impl Default for RunConfig {
    fn default() -> Self {
        settings::defaults()
    }
}

impl Default for LogArgs {
    fn default() -> Self {
        settings::defaults()
    }
}

impl LogArgs {
    /// `rust_log` (the `RUST_LOG` variable) counts as the environment's log level, unless
    /// `--log-level` or `HARDENING_LOG_LEVEL` gave one (`explicit_level`).
    pub fn with_rust_log(
        mut self,
        explicit_level: bool,
        rust_log: Option<String>,
    ) -> Result<Self, ConfigError> {
        if !explicit_level && let Some(level) = rust_log.filter(|l| !l.trim().is_empty()) {
            self.log_level =
                parse_log_level(&level).map_err(|e| ConfigError(format!("RUST_LOG: {e}")))?;
        }
        Ok(self)
    }
}

/// A group name as Kubernetes user info carries it: not empty, no surrounding spaces.
fn parse_group(value: &str) -> Result<String, String> {
    if value.is_empty() || value.trim() != value {
        return Err(format!(
            "{value:?} is not a group name (not empty, no spaces around it)"
        ));
    }
    Ok(value.to_owned())
}

fn parse_qps(text: &str) -> Result<f64, String> {
    let qps: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("invalid number {text:?}"))?;
    if !qps.is_finite() || qps < 0.0 {
        return Err(format!(
            "{text:?} must be 0 (unlimited) or a positive number"
        ));
    }
    Ok(qps)
}

fn parse_burst(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(burst) => Ok(burst),
        Err(e) => Err(format!("invalid number {text:?}: {e}")),
    }
}

fn parse_address(text: &str) -> Result<SocketAddr, String> {
    text.trim()
        .parse()
        .map_err(|e| format!("invalid address {text:?} (expected IP:PORT): {e}"))
}

fn parse_leader_election(text: &str) -> Result<LeaderElection, String> {
    match text.trim() {
        "auto" => Ok(LeaderElection::Auto),
        "true" => Ok(LeaderElection::On),
        "false" => Ok(LeaderElection::Off),
        other => Err(format!(
            "invalid value {other:?}: expected true, false or auto"
        )),
    }
}

fn parse_log_level(text: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(text)
        .map(|_| text.to_owned())
        .map_err(|e| format!("invalid log level {text:?}: {e}"))
}

/// A configuration problem, naming the file and key (or the flag) at fault.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Whether a value of `RunConfig` (by field name) was given as a flag or an environment
/// variable, from clap's matches of the `run` command.
pub fn explicit_in(matches: &clap::ArgMatches) -> impl Fn(&str) -> bool + '_ {
    move |id| {
        matches!(
            matches.value_source(id),
            Some(clap::parser::ValueSource::CommandLine | clap::parser::ValueSource::EnvVariable)
        )
    }
}

/// The effective configuration: `cli` holds flags, environment variables and clap's
/// defaults; `explicit(field)` says whether a value came from a flag or the environment.
/// Values of the file (`cli.config`) replace defaults only; `rust_log` (the `RUST_LOG`
/// variable) counts as the environment's log level.
pub fn resolve(
    mut config: RunConfig,
    explicit: &dyn Fn(&str) -> bool,
    rust_log: Option<String>,
) -> Result<RunConfig, ConfigError> {
    if let Some(path) = config.config.clone() {
        settings::apply_file(&mut config, &path, explicit)?;
    }
    config.log = config.log.with_rust_log(explicit("log_level"), rust_log)?;
    validate(&config)?;
    Ok(config)
}

/// Checks across values, whatever their source.
fn validate(c: &RunConfig) -> Result<(), ConfigError> {
    parse_log_level(&c.log.log_level)
        .map_err(|e| ConfigError(format!("--log-level (HARDENING_LOG_LEVEL): {e}")))?;
    if c.leader_election_renew_period >= c.leader_election_lease_duration {
        return Err(ConfigError(format!(
            "leader election: the renew period ({}, leaderElection.renewPeriod or \
             --leader-election-renew-period) must be shorter than the lease duration ({}, \
             leaderElection.leaseDuration or --leader-election-lease-duration)",
            format_duration(c.leader_election_renew_period),
            format_duration(c.leader_election_lease_duration)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches, Parser};
    use std::path::Path;

    #[derive(Parser)]
    struct TestCli {
        #[command(flatten)]
        run: RunConfig,
    }

    const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/operator.yaml");

    /// A config file in the temp directory, removed when dropped.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, text: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "hardening-config-{}-{name}.yaml",
                std::process::id()
            ));
            std::fs::write(&path, text).unwrap();
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn with_file(path: &Path) -> RunConfig {
        RunConfig {
            config: Some(path.to_path_buf()),
            ..Default::default()
        }
    }

    fn error(name: &str, text: &str) -> String {
        let file = TempFile::new(name, text);
        let message = resolve(with_file(&file.0), &|_| false, None)
            .unwrap_err()
            .to_string();
        message.replace(&file.0.display().to_string(), "FILE")
    }

    /// Parses `args` as clap would, ignoring HARDENING_* variables of the test
    /// environment only in that they must not be set.
    fn parse(args: &[&str]) -> Result<RunConfig, ConfigError> {
        let matches = TestCli::command()
            .try_get_matches_from(std::iter::once("test").chain(args.iter().copied()))
            .map_err(|e| ConfigError(e.to_string()))?;
        let cli = TestCli::from_arg_matches(&matches).unwrap();
        resolve(cli.run, &explicit_in(&matches), None)
    }

    #[test]
    fn the_shipped_file_parses_and_holds_the_defaults() {
        let resolved = resolve(with_file(Path::new(SHIPPED)), &|_| false, None).unwrap();
        assert_eq!(resolved, with_file(Path::new(SHIPPED)));
    }

    /// The shipped file holds every file key of the declaration (and, above, nothing else:
    /// an unknown key is an error), each with the flag and environment variable of its
    /// setting in the comment above it.
    #[test]
    fn the_shipped_file_holds_every_key_with_its_flag_and_variable() {
        let text = std::fs::read_to_string(SHIPPED).unwrap();
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
        let command = TestCli::command();
        for key in <RunConfig as settings::FileKeys>::file_keys() {
            let value = key.key.split('.').try_fold(&yaml, |v, k| v.get(k));
            assert!(value.is_some(), "{} is missing from {SHIPPED}", key.key);
            let arg = command
                .get_arguments()
                .find(|a| a.get_id() == key.id)
                .unwrap();
            let flag = format!("--{}", arg.get_long().unwrap());
            let variable = arg.get_env().unwrap().to_str().unwrap();
            // The comment block right above the key's line.
            let leaf = key.key.rsplit('.').next().unwrap();
            let line = text
                .lines()
                .position(|l| l.trim_start().starts_with(&format!("{leaf}:")))
                .unwrap();
            let lines: Vec<&str> = text.lines().collect();
            let comment = lines[..line]
                .iter()
                .rev()
                .take_while(|l| l.trim_start().starts_with('#'))
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
            assert!(
                comment.contains(&flag) && comment.contains(variable),
                "{}: the comment above it names {flag} and {variable}: {comment:?}",
                key.key
            );
        }
    }

    #[test]
    fn clap_defaults_are_the_defaults() {
        assert_eq!(parse(&[]).unwrap(), RunConfig::default());
    }

    #[test]
    fn flags_override_the_file_and_the_file_overrides_defaults() {
        let file = TempFile::new(
            "precedence",
            "concurrency: 4\nresyncPeriod: 30m\napiClient: {qps: 5, burst: 7}\n\
             log: {format: json, level: debug}\nleaderElection: {enabled: true, namespace: ops}\n",
        );
        let path = file.0.display().to_string();
        let config = parse(&[
            "--config",
            &path,
            "--concurrency",
            "8",
            "--leader-election=false",
        ])
        .unwrap();
        // From flags.
        assert_eq!(config.concurrency, 8);
        assert_eq!(config.leader_election, LeaderElection::Off);
        // From the file.
        assert_eq!(config.resync_period, Duration::from_secs(1800));
        assert_eq!((config.api_qps, config.api_burst), (5.0, 7));
        assert_eq!(config.log.log_format, LogFormat::Json);
        assert_eq!(config.log.log_level, "debug");
        assert_eq!(config.leader_election_namespace.as_deref(), Some("ops"));
        // Defaults.
        assert_eq!(config.metrics_address, RunConfig::default().metrics_address);
        assert_eq!(
            config.leader_election_lease_duration,
            Duration::from_secs(15)
        );
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let file = TempFile::new("environment", "concurrency: 4\nlog: {level: debug}\n");
        // As clap reports a value from HARDENING_CONCURRENCY: explicit, like a flag.
        let from_env = RunConfig {
            concurrency: 9,
            ..with_file(&file.0)
        };
        let config = resolve(from_env.clone(), &|id| id == "concurrency", None).unwrap();
        assert_eq!(config.concurrency, 9);
        assert_eq!(config.log.log_level, "debug");
        // RUST_LOG is the environment's log level: above the file, below --log-level.
        let config = resolve(from_env.clone(), &|_| false, Some("warn".into())).unwrap();
        assert_eq!(config.log.log_level, "warn");
        let flagged = RunConfig {
            log: LogArgs {
                log_level: "error".into(),
                ..LogArgs::default()
            },
            ..from_env
        };
        let config = resolve(flagged, &|id| id == "log_level", Some("warn".into())).unwrap();
        assert_eq!(config.log.log_level, "error");
    }

    #[test]
    fn leader_election_flag_forms() {
        assert_eq!(
            parse(&["--leader-election"]).unwrap().leader_election,
            LeaderElection::On
        );
        assert_eq!(
            parse(&["--leader-election=auto"]).unwrap().leader_election,
            LeaderElection::Auto
        );
        assert!(parse(&["--leader-election=maybe"]).is_err());
        let config = parse(&[
            "--leader-election-lease-duration",
            "4s",
            "--leader-election-renew-period",
            "2s",
        ])
        .unwrap();
        assert_eq!(config.leader_election_renew_period, Duration::from_secs(2));
    }

    #[test]
    fn bad_values_name_the_file_and_key() {
        assert_eq!(
            error("duration", "resyncPeriod: 1d\n"),
            "FILE: resyncPeriod: invalid duration \"1d\": unknown unit 'd' (use h, m, s, ms, us or ns)"
        );
        assert_eq!(
            error("concurrency", "concurrency: 0\n"),
            "FILE: concurrency: 0 is not in 1..=1024"
        );
        assert_eq!(
            error("format", "log:\n  format: xml\n"),
            "FILE: log.format: invalid value \"xml\": expected text or json"
        );
        assert_eq!(
            error("enabled", "leaderElection: {enabled: sometimes}\n"),
            "FILE: leaderElection.enabled: invalid value \"sometimes\": expected true, false or auto"
        );
        assert_eq!(
            error("qps", "apiClient: {qps: -1}\n"),
            "FILE: apiClient.qps: \"-1\" must be 0 (unlimited) or a positive number"
        );
        assert!(
            error("address", "metricsAddress: localhost\n").starts_with(
                "FILE: metricsAddress: invalid address \"localhost\" (expected IP:PORT)"
            )
        );
        let lease = error(
            "lease",
            "leaderElection: {leaseDuration: 5s, renewPeriod: 5s}\n",
        );
        assert!(lease.contains("renew period (5s"), "{lease}");
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_errors() {
        let unknown = error("unknown", "resyncPeriode: 1h\n");
        assert!(
            unknown.starts_with("FILE: unknown field `resyncPeriode`, expected one of"),
            "{unknown}"
        );
        let nested = error("nested", "apiClient:\n  qps: 5\n  brust: 10\n");
        assert!(nested.contains("unknown field `brust`"), "{nested}");
        let wrong = error("type", "concurrency: many\n");
        assert!(
            wrong.starts_with("FILE: concurrency: invalid type"),
            "{wrong}"
        );
        let missing = resolve(
            with_file(Path::new("/nonexistent/operator.yaml")),
            &|_| false,
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            missing.starts_with("/nonexistent/operator.yaml: cannot read:"),
            "{missing}"
        );
    }

    #[test]
    fn an_empty_file_is_the_defaults() {
        let file = TempFile::new("empty", "# nothing\n");
        assert_eq!(
            resolve(with_file(&file.0), &|_| false, None).unwrap(),
            with_file(&file.0)
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h30m"), Ok(Duration::from_secs(9000)));
        assert!(
            parse_duration("1d")
                .unwrap_err()
                .contains("unknown unit 'd'")
        );
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn system_and_own_namespaces_are_always_excluded() {
        let config = RunConfig {
            operator_namespace: Some("hardening-system".into()),
            excluded_namespaces: vec!["legacy".into(), "".into()],
            ..Default::default()
        };
        let excluded: Vec<_> = config.excluded().into_iter().collect();
        assert_eq!(
            excluded,
            vec![
                "hardening-system",
                "kube-node-lease",
                "kube-public",
                "kube-system",
                "legacy"
            ]
        );
    }
}
