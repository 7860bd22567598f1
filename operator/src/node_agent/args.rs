//! `hardening-operator node-agent`'s flags (clap, each with its environment variable) and
//! the check period's parser.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// `hardening-operator node-agent` flags (logs are JSON unless `--log-format` says otherwise).
#[derive(clap::Args, Debug, Clone)]
#[command(mut_arg("log_format", |arg| arg.default_value("json")))]
pub struct NodeAgentArgs {
    /// The kubelet's root directory; profiles go to `<root>/seccomp/hardening.dev/`.
    #[arg(
        long,
        env = "HARDENING_KUBELET_ROOT",
        default_value = "/var/lib/kubelet"
    )]
    pub kubelet_root: PathBuf,
    /// Directory of the AppArmor profile files the agent writes and loads.
    #[arg(
        long,
        env = "HARDENING_APPARMOR_DIR",
        default_value = "/etc/apparmor.d/hardening.dev"
    )]
    pub apparmor_dir: PathBuf,
    /// How often files are compared with the profiles (repairs edits and deletions).
    #[arg(long, env = "HARDENING_CHECK_PERIOD", default_value = "30s", value_parser = parse_period)]
    pub check_period: Duration,
    /// The kubelet's configuration file (`KubeletConfiguration`), read for the profiles'
    /// node baseline and published with the node's state.
    #[arg(
        long,
        env = "HARDENING_KUBELET_CONFIG",
        default_value = "/var/lib/kubelet/config.yaml"
    )]
    pub kubelet_config: PathBuf,
    /// This node's name (names the ConfigMap `hardening-node-<node>`).
    #[arg(long, env = "NODE_NAME")]
    pub node_name: String,
    /// Namespace of the per-node ConfigMap (the agent's own).
    #[arg(long, env = "POD_NAMESPACE")]
    pub namespace: String,
    /// Address of `/metrics`, `/livez` and `/readyz`.
    #[arg(
        long,
        env = "HARDENING_METRICS_ADDRESS",
        default_value = "0.0.0.0:8081"
    )]
    pub metrics_address: SocketAddr,
    #[command(flatten)]
    pub log: crate::config::LogArgs,
}

/// A `--check-period`: a duration (`30s`, `1m`) above zero.
pub(super) fn parse_period(text: &str) -> Result<Duration, String> {
    let period = crate::config::parse_duration(text)?;
    if period.is_zero() {
        return Err("must be above zero".into());
    }
    Ok(period)
}
