//! `hardening-operator report`: the compliance report of a live cluster (BSI IT-Grundschutz
//! SYS.1.6 and APP.4.4, edition 2023). The
//! reads are here; the report itself is [`crate::core::compliance_report`], pure.

use std::io::Write;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, ListParams};

use super::{CliError, EXIT_OK, Exclusions};
use crate::core::compliance_report::{self, ClusterIdentity, Report};

/// Write a compliance report of the live cluster: BSI IT-Grundschutz SYS.1.6 and APP.4.4,
/// edition 2023, as Markdown, HTML or OSCAL assessment results
///
/// Connects to the cluster (--kubeconfig and --context as for kubectl; default the current
/// context of KUBECONFIG or ~/.kube/config, or the in-cluster service account), reads the
/// HardeningProfiles (spec and status) and the namespaces, and reports for every requirement
/// of SYS.1.6 "Containerisierung" (A1-A26) and APP.4.4 "Kubernetes" (A1-A21), edition 2023,
/// its verdict:
///
///   Met              every condition holds in every governed namespace
///   Partial          what the operator does holds; what is missing is said
///   NotMet           why not (a namespace failed, drifted or pending, running pods
///                    breaking it, the profile not declaring it, ...)
///   Organisational   organisational, or not checked by the operator: listed apart,
///                    never counted as met
///
/// A profile's verdicts are those of its status (status.compliance, computed by the operator
/// from the profile and what the cluster shows, the worst over its namespaces), when that
/// status describes the profile's current generation; the cluster's verdict of a requirement
/// is the worst of the profiles governing a namespace in the report. --namespace-selector
/// limits the namespaces listed and the profiles counted to those governing one of them; a
/// profile's verdicts still cover all its namespaces.
///
/// The report names the cluster (API server, kubeconfig context, the uid of kube-system,
/// the Kubernetes version) and the time, sums the verdicts per catalogue and level, shows
/// title, level, reason and evidence (namespace, object, field) per requirement, and sets
/// the organisational ones apart. --format html writes one self-contained page (inline CSS
/// and SVG, no script, no external asset); --format oscal writes OSCAL 1.1.2 assessment
/// results (JSON). `hardening-operator component-definition` prints the OSCAL component
/// definition of what the operator implements. Reads only; writes nothing to the cluster.
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
    /// OSCAL assessment results (JSON).
    Oscal,
}

/// Runs `report` against the cluster the flags name; the exit status.
pub fn main(args: &ReportArgs) -> i32 {
    let mut stderr = std::io::stderr().lock();
    let result = tokio::runtime::Runtime::new()
        .map_err(|e| CliError::Failed(format!("starting the runtime: {e}")))
        .and_then(|runtime| {
            runtime.block_on(async {
                let config = args.cluster.config().await?;
                let server = config.cluster_url.to_string();
                let client = Client::try_from(config).map_err(|e| {
                    CliError::Failed(format!(
                        "connecting to {}: {}",
                        args.cluster.describe(),
                        crate::error::words(&e)
                    ))
                })?;
                let cluster = identify(&client, server, args.cluster.context_name()).await;
                let text = render(&read(&client, args, cluster).await?, args.format);
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

/// Who the cluster behind `client` is: `server` and `context` as the kubeconfig says, the
/// uid of its kube-system namespace and its version, where readable.
pub async fn identify(client: &Client, server: String, context: Option<String>) -> ClusterIdentity {
    let uid = Api::<Namespace>::all(client.clone())
        .get_opt("kube-system")
        .await
        .ok()
        .flatten()
        .and_then(|ns| ns.metadata.uid);
    let version = client.apiserver_version().await.ok().map(|v| v.git_version);
    ClusterIdentity {
        server,
        context,
        uid,
        version,
    }
}

/// The report of the cluster behind `client`.
pub async fn read(
    client: &Client,
    args: &ReportArgs,
    cluster: ClusterIdentity,
) -> Result<Report, CliError> {
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
    Ok(compliance_report::build(
        &profiles,
        &namespaces,
        &args.exclusions.excluded(),
        cluster,
        format!("{:.0}", Timestamp::now()),
    ))
}

pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Markdown => compliance_report::markdown(report),
        Format::Html => compliance_report::html(report),
        Format::Oscal => format!(
            "{:#}\n",
            compliance_report::oscal::assessment_results(report)
        ),
    }
}

/// Print the OSCAL component definition of what the operator implements of BSI
/// IT-Grundschutz SYS.1.6 and APP.4.4 (edition 2023)
///
/// One component (hardening-operator), one control implementation per catalogue, one
/// implemented requirement per requirement the operator assesses, with what it generates,
/// enforces or checks, the best verdict it can reach and the Grundschutz++ controls the
/// BSI's mapping gives. Offline: needs no cluster.
#[derive(clap::Args, Clone, Debug)]
#[command(verbatim_doc_comment)]
pub struct ComponentDefinitionArgs {}

/// Prints the component definition; the exit status.
pub fn component_definition(_: &ComponentDefinitionArgs) -> i32 {
    let document =
        compliance_report::oscal::component_definition(&format!("{:.0}", Timestamp::now()));
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{document:#}") {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("writing output: {e}");
            super::EXIT_ERROR
        }
    }
}
