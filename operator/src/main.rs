use clap::{Parser, Subcommand, ValueEnum};
use hardening_operator::cli;
use hardening_operator::config::RunConfig;
use tracing_subscriber::EnvFilter;

/// Kubernetes operator enforcing HardeningProfiles (BSI IT-Grundschutz SYS.1.6).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the operator against the cluster of the current kubeconfig (or the in-cluster
    /// service account). Log level: RUST_LOG (default `info`).
    Run {
        #[command(flatten)]
        config: RunConfig,
        /// Log format.
        #[arg(long, env = "HARDENING_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
    },
    /// Print the HardeningProfile CustomResourceDefinition as YAML.
    Crd,
    Render(cli::render::RenderArgs),
    Diff(cli::diff::DiffArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() {
    match Cli::parse().command {
        Command::Crd => print!("{}", hardening_operator::crd::crd_yaml()),
        Command::Render(args) => std::process::exit(cli::render::main(&args)),
        Command::Diff(args) => std::process::exit(cli::diff::main(&args)),
        Command::Run { config, log_format } => {
            init_logging(log_format);
            let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
            if let Err(e) = runtime.block_on(run(config)) {
                tracing::error!("{e}");
                std::process::exit(1);
            }
        }
    }
}

async fn run(config: RunConfig) -> Result<(), kube::Error> {
    let client = kube::Client::try_default().await?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), ?config, "starting");
    hardening_operator::controller::run(client, config, shutdown_signal()).await;
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

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
