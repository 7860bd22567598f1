//! The review commands: `render` prints what the operator would apply for a profile in
//! given namespaces, offline; `diff` compares that with a live cluster. Both go through the
//! controller's own code: [`crate::core::render`] for the objects and the Namespace body,
//! [`crate::core::plan`] for what changes. `main.rs` only wires the command line to [`render`]
//! and [`diff`].

pub mod cluster;
pub mod diff;
pub mod input;
pub mod learn;
pub mod render;
pub mod report;

use std::collections::BTreeSet;
use std::io::Write;

use crate::config::RunConfig;
pub use crate::core::api::{Selection, selection};

pub use input::InputError;

/// Exit status: success; for `diff`, the operator would change nothing.
pub const EXIT_OK: i32 = 0;
/// Exit status of `diff`: the operator would change something (as `diff(1)`, `kubectl diff`).
pub const EXIT_CHANGES: i32 = 1;
/// Exit status: invalid input, or the cluster could not be read.
pub const EXIT_ERROR: i32 = 2;

/// Namespaces the operator is configured to leave alone, as in `hardening-operator run`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Exclusions {
    /// Namespaces the operator is configured to leave alone (its --excluded-namespaces
    /// and its own namespace; comma-separated). kube-system, kube-public and
    /// kube-node-lease always are.
    #[arg(long, value_delimiter = ',', value_name = "NAMESPACES")]
    pub excluded_namespaces: Vec<String>,

    /// The operator's --protected-networks (`;`-separated `CIDR` or `CIDR:PORTS`), kept out
    /// of the generated egress rules. Default: the operator's default, the cloud metadata
    /// addresses.
    #[arg(long, value_delimiter = ';', value_name = "NETWORKS", default_values = crate::core::protected::CLOUD_METADATA, value_parser = crate::core::protected::parse)]
    pub protected_networks: Vec<crate::core::api::ProtectedNetwork>,
}

impl Exclusions {
    /// Every namespace the operator leaves alone: the same set `run` computes.
    pub fn excluded(&self) -> BTreeSet<String> {
        RunConfig {
            excluded_namespaces: self.excluded_namespaces.clone(),
            ..RunConfig::default()
        }
        .excluded()
    }
}

/// HardeningExceptions to review with the profiles, and the operator's bound on them.
#[derive(clap::Args, Clone, Debug)]
pub struct ExceptionArgs {
    /// HardeningException manifests: a file or a directory of them. Repeat for several.
    /// Each is checked as `kubectl apply` checks it, and judged as the operator would judge
    /// it now (its expiry in the future and within --max-exception-duration).
    #[arg(long = "exception", value_name = "FILE|DIR")]
    pub exceptions: Vec<std::path::PathBuf>,

    /// The operator's --max-exception-duration: the longest an exception may last from its
    /// creation (a manifest not yet applied counts as created now).
    #[arg(long, value_name = "DURATION", default_value = "2160h", value_parser = crate::config::parse_duration)]
    pub max_exception_duration: std::time::Duration,
}

/// No files, and the operator's default bound (as the command line gives it; a derived
/// default would be a bound of 0, refusing every exception).
impl Default for ExceptionArgs {
    fn default() -> Self {
        Self {
            exceptions: Vec::new(),
            max_exception_duration: crate::core::exceptions::DEFAULT_MAX_DURATION,
        }
    }
}

impl ExceptionArgs {
    /// The exceptions of the files given (none without --exception), with notes on what was
    /// skipped in directories.
    pub fn read(&self) -> Result<input::Read<crate::core::api::HardeningException>, CliError> {
        if self.exceptions.is_empty() {
            return Ok(input::Read {
                objects: Vec::new(),
                notes: Vec::new(),
            });
        }
        input::read_exceptions(&self.exceptions).map_err(CliError::Inputs)
    }
}

/// `profile` with the status the operator would give it for its exceptions of `exceptions`
/// at `now`: their judgement, and `status.exceptions` (what its admission policy, labels and
/// verdicts honour); the judgement of each is returned too.
pub fn with_exceptions(
    profile: &mut crate::core::api::HardeningProfile,
    exceptions: &[crate::core::api::HardeningException],
    now: k8s_openapi::jiff::Timestamp,
    max: std::time::Duration,
) -> Vec<(String, crate::core::exceptions::Judgement)> {
    let judged = crate::core::exceptions::profile_exceptions(profile, exceptions, now, max);
    profile
        .status
        .get_or_insert_with(Default::default)
        .exceptions = judged.status;
    judged.judged
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A file is unreadable or invalid; the message names it.
    #[error("{0}")]
    Input(#[from] InputError),
    /// Several files are, each named.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Inputs(Vec<InputError>),
    /// Any other problem, said in full.
    #[error("{0}")]
    Failed(String),
    #[error("{0}")]
    Operator(#[from] crate::error::Error),
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
}

/// Prints `result`'s error, if any, and turns it into an exit status.
pub fn exit_status(result: Result<i32, CliError>, stderr: &mut dyn Write) -> i32 {
    match result {
        Ok(status) => status,
        Err(error) => {
            let _ = writeln!(stderr, "{error}");
            EXIT_ERROR
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::core::v1::Namespace;

    use super::*;
    use crate::core::api::HardeningProfileSpec;
    use crate::fixtures::profile;

    /// The commands stand on the core, the client and [`crate::live`], never on the
    /// controller: what both need lives where both can use it.
    #[test]
    fn the_commands_do_not_use_the_controller() {
        fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    sources(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(path);
                }
            }
        }
        let mut files = Vec::new();
        sources(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cli"),
            &mut files,
        );
        assert!(files.len() > 5, "{files:?}");
        // Spelt in two pieces so that this test does not find itself.
        let needle = ["crate", "controller"].join("::");
        let found: Vec<String> = files
            .iter()
            .flat_map(|file| {
                let text = std::fs::read_to_string(file).unwrap();
                text.lines()
                    .enumerate()
                    .filter(|(_, line)| line.contains(&needle))
                    .map(|(n, _)| format!("{}:{}", file.display(), n + 1))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert!(found.is_empty(), "the CLI uses the controller: {found:?}");
    }

    fn spec() -> HardeningProfileSpec {
        profile("p")
            .spec_yaml(
                "{namespaceSelector: {matchLabels: {tier: strict}}, excludedNamespaces: [legacy]}",
            )
            .build()
            .spec
    }

    fn namespace(name: &str, labels: &[(&str, &str)]) -> Namespace {
        serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": name,
                "labels": labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
            }
        }))
        .unwrap()
    }

    #[test]
    fn selection_says_why_a_namespace_is_not_selected() {
        let excluded = Exclusions {
            excluded_namespaces: vec!["ops".into()],
            protected_networks: Vec::new(),
        }
        .excluded();
        let strict = [("tier", "strict")];
        let cases = [
            ("team-a", &strict[..], Selection::Selected, None),
            (
                "team-b",
                &[][..],
                Selection::NotMatching,
                Some(
                    "namespace team-b: not selected: its labels do not match the profile's spec.namespaceSelector",
                ),
            ),
            (
                "legacy",
                &strict[..],
                Selection::ExcludedByProfile,
                Some(
                    "namespace legacy: not selected: excluded by the profile (spec.excludedNamespaces)",
                ),
            ),
            (
                "kube-system",
                &strict[..],
                Selection::SystemNamespace,
                Some(
                    "namespace kube-system: not selected: a system namespace (kube-system, kube-public and kube-node-lease are never hardened)",
                ),
            ),
            (
                "ops",
                &strict[..],
                Selection::ExcludedByOperator,
                Some("namespace ops: not selected: excluded by --excluded-namespaces"),
            ),
        ];
        for (name, labels, expected, note) in cases {
            let got = selection(&spec(), &namespace(name, labels), &excluded);
            assert_eq!(got, expected, "{name}");
            assert_eq!(got.note(name).as_deref(), note, "{name}");
        }
        let mut terminating = namespace("team-a", &strict);
        terminating.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Default::default()),
        );
        assert_eq!(
            selection(&spec(), &terminating, &excluded),
            Selection::Terminating
        );
    }

    #[test]
    fn errors_exit_with_status_2_and_say_why() {
        let mut stderr = Vec::new();
        assert_eq!(exit_status(Ok(EXIT_OK), &mut stderr), 0);
        assert_eq!(exit_status(Ok(EXIT_CHANGES), &mut stderr), 1);
        assert!(stderr.is_empty());
        let status = exit_status(Err(CliError::Failed("boom".into())), &mut stderr);
        assert_eq!(status, 2);
        assert_eq!(String::from_utf8(stderr).unwrap(), "boom\n");
    }
}
