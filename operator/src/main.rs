use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use hardening_operator::cli;
use hardening_operator::config::{self, LogFormat, RunConfig};
use tracing_subscriber::EnvFilter;

/// Kubernetes operator enforcing HardeningProfiles (BSI IT-Grundschutz SYS.1.6 and APP.4.4,
/// edition 2023).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the operator against the cluster of the current kubeconfig (or the in-cluster
    /// service account). Precedence: flags > environment > --config file > defaults.
    Run {
        #[command(flatten)]
        config: RunConfig,
    },
    /// Print a CustomResourceDefinition as YAML: the HardeningProfile's, or with --kind
    /// HardeningException the HardeningException's.
    Crd {
        /// Which CRD.
        #[arg(long, value_enum, default_value_t = CrdKind::HardeningProfile)]
        kind: CrdKind,
    },
    Render(cli::render::RenderArgs),
    Diff(cli::diff::DiffArgs),
    Report(cli::report::ReportArgs),
    ComponentDefinition(cli::report::ComponentDefinitionArgs),
    Learn(hardening_operator::cli::learn::LearnArgs),
    /// Run on every node: keep the profiles' seccomp files in
    /// `<kubelet-root>/seccomp/hardening.dev/` and their AppArmor profiles loaded.
    NodeAgent(hardening_operator::node_agent::NodeAgentArgs),
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
#[value(rename_all = "verbatim")]
enum CrdKind {
    HardeningProfile,
    HardeningException,
}

fn main() {
    let matches = Cli::command().get_matches();
    let command = Cli::from_arg_matches(&matches)
        .unwrap_or_else(|e| e.exit())
        .command;
    match command {
        Command::Crd { kind } => print!(
            "{}",
            match kind {
                CrdKind::HardeningProfile => hardening_operator::core::crd::crd_yaml(),
                CrdKind::HardeningException => hardening_operator::core::crd::exception_crd_yaml(),
            }
        ),
        Command::Render(args) => std::process::exit(cli::render::main(&args)),
        Command::Diff(args) => std::process::exit(cli::diff::main(&args)),
        Command::Report(args) => std::process::exit(cli::report::main(&args)),
        Command::ComponentDefinition(args) => {
            std::process::exit(cli::report::component_definition(&args))
        }
        Command::Learn(args) => std::process::exit(hardening_operator::cli::learn::main(&args)),
        Command::NodeAgent(args) => {
            let flags = matches
                .subcommand_matches("node-agent")
                .expect("its matches");
            let explicit = config::explicit_in(flags)("log_level");
            let log = args
                .log
                .clone()
                .with_rust_log(explicit, std::env::var("RUST_LOG").ok())
                .unwrap_or_else(|e| {
                    eprintln!("hardening-operator: {e}");
                    std::process::exit(2);
                });
            init_logging(log.log_format, &log.log_level);
            let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
            let result = runtime.block_on(async {
                let client = kube::Client::try_default().await?;
                hardening_operator::node_agent::run(client, args, shutdown_signal()).await
            });
            if let Err(e) = result {
                tracing::error!("{e}");
                std::process::exit(1);
            }
        }
        Command::Run { config } => {
            let flags = matches.subcommand_matches("run").expect("run's matches");
            let rust_log = std::env::var("RUST_LOG").ok();
            let config = config::resolve(config, &config::explicit_in(flags), rust_log)
                .unwrap_or_else(|e| {
                    eprintln!("hardening-operator: {e}");
                    std::process::exit(2);
                });
            init_logging(config.log.log_format, &config.log.log_level);
            let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
            if let Err(e) = runtime.block_on(run(config)) {
                tracing::error!("{e}");
                std::process::exit(1);
            }
        }
    }
}

async fn run(config: RunConfig) -> Result<(), Box<dyn std::error::Error>> {
    let kube_config = kube::Config::infer().await?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), ?config, "starting");
    tokio::spawn(hardening_operator::run::release_freed_memory());
    let running = hardening_operator::run::start(kube_config, config, shutdown_signal()).await?;
    // Losing the lead ends the process: Kubernetes restarts it as a standby.
    running.wait().await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM (what Kubernetes sends before killing a Pod).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// `level` was validated by `config::resolve` or `LogArgs::with_rust_log`.
fn init_logging(format: LogFormat, level: &str) {
    let filter = EnvFilter::new(level);
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
