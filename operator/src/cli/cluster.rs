//! Which cluster `diff` and `report` read: kubectl's flags, `--kubeconfig` and `--context`,
//! with kubectl's defaults (`KUBECONFIG`, else `~/.kube/config`, else the in-cluster
//! service account; the kubeconfig's current context).

use std::path::PathBuf;

use kube::Client;
use kube::config::{Config, KubeConfigOptions, Kubeconfig};

use super::CliError;

/// The cluster to read, as kubectl chooses it.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ClusterArgs {
    /// The kubeconfig file to use (default: KUBECONFIG, else ~/.kube/config, else the
    /// in-cluster service account), as for kubectl.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use (default: its current context), as for kubectl.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

impl ClusterArgs {
    /// The cluster these flags name, in words: `the cluster of context kind-dev`.
    pub fn describe(&self) -> String {
        let context = match &self.context {
            Some(context) => format!("context {context}"),
            None => "the current context".to_owned(),
        };
        match &self.kubeconfig {
            Some(file) => format!("the cluster of {context} in {}", file.display()),
            None if self.context.is_some() => format!("the cluster of {context}"),
            None => "the cluster of the current kubeconfig".to_owned(),
        }
    }

    /// A client for that cluster.
    pub async fn client(&self) -> Result<Client, CliError> {
        let config = self.config().await?;
        Client::try_from(config).map_err(|e| {
            CliError::Failed(format!(
                "connecting to {}: {}",
                self.describe(),
                crate::error::words(&e)
            ))
        })
    }

    /// The client configuration of that cluster.
    pub async fn config(&self) -> Result<Config, CliError> {
        let failed = |e: &dyn std::fmt::Display| {
            CliError::Failed(format!("connecting to {}: {e}", self.describe()))
        };
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..KubeConfigOptions::default()
        };
        let config = match &self.kubeconfig {
            Some(path) => {
                let kubeconfig = Kubeconfig::read_from(path).map_err(|e| failed(&e))?;
                Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|e| failed(&e))?
            }
            None if self.context.is_some() => Config::from_kubeconfig(&options)
                .await
                .map_err(|e| failed(&e))?,
            None => Config::infer().await.map_err(|e| failed(&e))?,
        };
        Ok(config)
    }

    /// The context these flags name: `--context`, else the kubeconfig's current one.
    pub fn context_name(&self) -> Option<String> {
        if let Some(context) = &self.context {
            return Some(context.clone());
        }
        let kubeconfig = match &self.kubeconfig {
            Some(path) => Kubeconfig::read_from(path).ok(),
            None => Kubeconfig::read().ok(),
        };
        kubeconfig.and_then(|k| k.current_context)
    }
}
