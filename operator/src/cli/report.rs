//! `hardening-operator report`: the BSI SYS.1.6 compliance report of a live cluster. The
//! reads are here; the report itself is [`crate::core::report`], pure.

use std::io::Write;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, ListParams};

use super::{CliError, EXIT_OK, Exclusions};
use crate::core::report::{self, Report};

/// Write a BSI SYS.1.6 compliance report of the live cluster, as Markdown or HTML
///
/// Connects to the cluster (--kubeconfig and --context as for kubectl; default the current
/// context of KUBECONFIG or ~/.kube/config, or the in-cluster service account), reads the HardeningProfiles (spec and status) and the
/// namespaces, and reports for every requirement A1-A27 of BSI IT-Grundschutz SYS.1.6:
///
///   covered          met in every namespace a profile governs
///   partly covered   met in some of them; what is missing where, and why
///   not covered      met in none (no profile covers it, or it is withdrawn everywhere)
///   organisational   organisational or host-level: an operator cannot enforce it
///
/// then per profile (mode, Ready, namespaces by state, repairs, what it covers and what the
/// cluster withdraws) and per governed namespace (its state, the requirements met there,
/// and why the others are not). A requirement counts as met in a namespace when its
/// governing profile covers it, the status shows the namespace in sync at the profile's
/// current generation, and no tenant finding withdraws it (unconfined pods: A4, A24;
/// widening NetworkPolicies: A9, A24), as the profile's status decides `compliance`.
/// Drift and compliance reporting (A21, A25) hold whatever the namespace's state.
///
/// --format html writes one self-contained page (inline CSS and SVG, no script, no
/// external asset) with charts of requirement coverage and of namespaces by state. Reads
/// only; writes nothing to the cluster.
///
/// Exit status: 0 written; 2 the cluster could not be read or the output not written.
#[derive(clap::Args, Clone, Debug)]
#[command(verbatim_doc_comment)]
pub struct ReportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    pub format: Format,

    /// Write to this file instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Only HardeningProfiles matching this label selector, as for an operator run with
    /// the same --profile-selector.
    #[arg(long, value_name = "SELECTOR")]
    pub profile_selector: Option<String>,

    /// Only namespaces matching this label selector (e.g. one tenant's). Default: every
    /// namespace.
    #[arg(long, value_name = "SELECTOR")]
    pub namespace_selector: Option<String>,

    #[command(flatten)]
    pub exclusions: Exclusions,

    #[command(flatten)]
    pub cluster: super::cluster::ClusterArgs,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Html,
}

/// Runs `report` against the cluster the flags name; the exit status.
pub fn main(args: &ReportArgs) -> i32 {
    let mut stderr = std::io::stderr().lock();
    let result = tokio::runtime::Runtime::new()
        .map_err(|e| CliError::Failed(format!("starting the runtime: {e}")))
        .and_then(|runtime| {
            runtime.block_on(async {
                let client = args.cluster.client().await?;
                let text = render(&read(&client, args).await?, args.format);
                match &args.output {
                    Some(path) => std::fs::write(path, text).map_err(|e| {
                        CliError::Failed(format!("writing {}: {e}", path.display()))
                    })?,
                    None => std::io::stdout().lock().write_all(text.as_bytes())?,
                }
                Ok(EXIT_OK)
            })
        });
    super::exit_status(result, &mut stderr)
}

/// The report of the cluster behind `client`.
pub async fn read(client: &Client, args: &ReportArgs) -> Result<Report, CliError> {
    let profiles = super::diff::list_profiles(client, args.profile_selector.as_deref()).await?;
    let mut params = ListParams::default();
    if let Some(selector) = &args.namespace_selector {
        params = params.labels(selector);
    }
    let namespaces: Vec<Namespace> = Api::<Namespace>::all(client.clone())
        .list(&params)
        .await
        .map_err(|e| CliError::Failed(format!("listing namespaces: {}", crate::error::words(&e))))?
        .items;
    Ok(report::build(
        &profiles,
        &namespaces,
        &args.exclusions.excluded(),
        format!("{:.0}", Timestamp::now()),
    ))
}

pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Markdown => report::markdown(report),
        Format::Html => report::html(report),
    }
}
