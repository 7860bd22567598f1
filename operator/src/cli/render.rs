//! `hardening-operator render`: the objects the operator would apply for a profile in the
//! namespaces of some manifests, as a YAML stream, without a cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Namespace;
use serde_json::Value;

use super::{CliError, EXIT_OK, ExceptionArgs, Exclusions, Selection, input, selection};
use crate::core::api::{HardeningProfile, Mode};
use crate::core::labels::NAMESPACE_NAME_LABEL;
use crate::core::render::render_with;
use crate::core::seccomp;
use crate::node_agent;

/// Print as YAML what the operator would apply for profiles in given namespaces (offline)
///
/// --profile and --namespace take files or directories (as GitOps repositories are laid
/// out: every .yaml, .yml and .json file of the directory, in name order, not descending
/// into subdirectories; documents of other kinds there are skipped, and counted on
/// stderr), and may be repeated. Every HardeningProfile found is rendered; where several
/// select a namespace, the one that takes precedence (highest priority, then the
/// alphabetically first name) governs it, as in the cluster, and stderr says so.
///
/// For every Namespace in the --namespace manifests that a profile selects, prints the
/// Namespace as the operator applies it (only the Pod Security labels and the
/// `hardening.dev/profile` annotation it owns) followed by every generated object
/// (NetworkPolicies, ResourceQuota, LimitRange), as one multi-document YAML stream on
/// stdout, ready for review or `kubectl apply --server-side --field-manager
/// hardening-operator`. Uses the controller's own rendering; reads and writes no cluster.
///
/// Namespaces the profile does not select are named on stderr with the reason: labels not
/// matching spec.namespaceSelector, excluded by the profile, a system namespace, or
/// excluded by --excluded-namespaces. Selection sees the `kubernetes.io/metadata.name`
/// label the API server puts on every namespace. A profile in Audit mode writes nothing
/// into namespaces, so nothing is printed for them. Precedence between several profiles
/// selecting one namespace needs the cluster: see `diff`.
///
/// A profile in Enforce mode, or with spec.guardrails, also gets its cluster-scoped
/// ValidatingAdmissionPolicy and ValidatingAdmissionPolicyBinding (`hardening.dev-<profile>`:
/// the guardrails, and in Enforce mode the protection of what the operator generates,
/// trusting the identity the chart gives the operator,
/// system:serviceaccount:hardening-system:hardening-operator; in Audit mode with
/// validationActions [Warn, Audit]), in Enforce mode those of the creation gate
/// (`hardening.dev-<profile>-gate`) and of its stamp (`hardening.dev-<profile>-stamp`, bound
/// to every namespace: only that identity writes the stamp) and, in Enforce mode with Pod
/// Security labels, its
/// MutatingAdmissionPolicy and binding (the labels set at namespace creation), printed last;
/// offline, the bindings exclude only the profile's and the always-excluded namespaces, not
/// those other profiles govern.
///
/// With --exception FILE|DIR (repeatable), HardeningExceptions are judged as the operator
/// would judge them now (the local clock, --max-exception-duration): each one of a given
/// profile is named on stderr with what it suspends, for whom, where, until when, who owns
/// it, why, and whether it would apply; those in force lower the Pod Security enforce label
/// of the namespaces they name.
///
/// Objects rendered offline carry no ownerReferences: the operator sets one to the stored
/// profile (which has a uid) when it applies them.
///
/// With --confinement-dir DIR, also writes the node files of the profile's spec.seccomp and
/// spec.apparmor exactly as the node agent installs them on every node (whatever the mode
/// and the namespaces): DIR/seccomp/hardening.dev/<profile>.json, the seccomp profile
/// (DIR stands for the kubelet root), and DIR/apparmor/hardening.dev-<profile>, the
/// AppArmor profile (DIR/apparmor stands for the agent's --apparmor-dir). Directories are
/// created and files of those names replaced; stderr names every file written
/// (`wrote PATH`), or says that the profile has neither section. Nothing is loaded into
/// the kernel. Without the option, a profile with either section gets a hint on stderr.
///
/// Each profile is checked as the API server checks it on `kubectl apply`: the CRD's
/// schema (a misspelt field such as podSecurty is an error, not a section silently
/// dropped; types, enums, ranges, patterns) and its rules, then what the operator checks
/// beyond them; what `kubectl apply` or the operator would refuse is an error here.
///
/// Exit status: 0 rendered (possibly nothing); 2 invalid input, reported as
/// `FILE[:LINE:COLUMN]: [document N: ][FIELD: ]MESSAGE`, or a node file that could not be
/// written, reported as `PATH: cannot write: MESSAGE` or `PATH: cannot create directory:
/// MESSAGE` (nothing is printed on stdout then).
#[derive(clap::Args, Clone, Debug)]
#[command(verbatim_doc_comment)]
pub struct RenderArgs {
    /// HardeningProfile manifests: a file (YAML documents separated by `---`) or a
    /// directory of them. Repeat for several.
    #[arg(long = "profile", value_name = "FILE|DIR", required = true)]
    pub profiles: Vec<PathBuf>,

    /// Namespace manifests: a file of one or more Namespaces, or a directory of them.
    /// Repeat for several.
    #[arg(long = "namespace", value_name = "FILE|DIR", required = true)]
    pub namespaces: Vec<PathBuf>,

    #[command(flatten)]
    pub exclusions: Exclusions,

    #[command(flatten)]
    pub exceptions: ExceptionArgs,

    /// Also write the profile's seccomp and AppArmor node files under DIR, as the node
    /// agent installs them (see above).
    #[arg(long, value_name = "DIR")]
    pub confinement_dir: Option<PathBuf>,
}

/// Runs `render`; the exit status of the command line.
pub fn main(args: &RenderArgs) -> i32 {
    // Buffered: stdout alone flushes every line, a system call per line of the stream.
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut stderr = std::io::stderr().lock();
    let result = run(args, &mut stdout, &mut stderr).map(|()| EXIT_OK);
    super::exit_status(result, &mut stderr)
}

/// Reads the manifests and writes the YAML stream to `out`, notes to `notes`.
pub fn run(args: &RenderArgs, out: &mut dyn Write, notes: &mut dyn Write) -> Result<(), CliError> {
    let profiles = input::read_profiles(&args.profiles).map_err(CliError::Inputs)?;
    let namespaces = input::read_all_namespaces(&args.namespaces).map_err(CliError::Inputs)?;
    for note in profiles.notes.iter().chain(&namespaces.notes) {
        writeln!(notes, "{note}")?;
    }
    let mut seen = BTreeMap::new();
    for (file, profile) in &profiles.objects {
        let name = profile.metadata.name.clone().unwrap_or_default();
        if let Some(first) = seen.insert(name.clone(), file) {
            return Err(CliError::Failed(format!(
                "{file}: profile {name} is given twice (also in {first})"
            )));
        }
    }
    let mut seen = BTreeMap::new();
    for (file, namespace) in &namespaces.objects {
        let name = namespace.metadata.name.clone().unwrap_or_default();
        if let Some(first) = seen.insert(name.clone(), file) {
            return Err(CliError::Failed(format!(
                "{file}: namespace {name} is given twice (also in {first})"
            )));
        }
    }
    let exceptions = args.exceptions.read()?;
    for note in &exceptions.notes {
        writeln!(notes, "{note}")?;
    }
    let exceptions: Vec<crate::core::api::HardeningException> =
        exceptions.objects.into_iter().map(|(_, e)| e).collect();
    let mut profiles: Vec<HardeningProfile> =
        profiles.objects.into_iter().map(|(_, p)| p).collect();
    // The exceptions as the operator would judge them now: those in force lower the Pod
    // Security labels they name and shape the admission policy's parameter; each is named
    // on stderr with what it does, or why it would not apply.
    let now = k8s_openapi::jiff::Timestamp::now();
    for profile in &mut profiles {
        let judged = super::with_exceptions(
            profile,
            &exceptions,
            now,
            args.exceptions.max_exception_duration,
        );
        let profile_name = profile.metadata.name.clone().unwrap_or_default();
        for exception in exceptions.iter().filter(|e| e.spec.profile == profile_name) {
            let name = exception.metadata.name.clone().unwrap_or_default();
            let verdict = judged
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, j)| match j.state {
                    crate::core::api::ExceptionState::Active => "in force".to_owned(),
                    _ => format!("not applied: {}", j.message),
                })
                .unwrap_or_default();
            writeln!(
                notes,
                "profile {profile_name}: HardeningException {name} ({verdict}): {}",
                crate::core::review::describe_exception(&exception.spec)
            )?;
        }
    }
    for exception in &exceptions {
        if !profiles
            .iter()
            .any(|p| p.metadata.name.as_deref() == Some(exception.spec.profile.as_str()))
        {
            writeln!(
                notes,
                "HardeningException {}: names profile {}, which is not among the given profiles",
                exception.metadata.name.as_deref().unwrap_or_default(),
                exception.spec.profile
            )?;
        }
    }
    let namespaces: Vec<Namespace> = namespaces.objects.into_iter().map(|(_, ns)| ns).collect();
    let (documents, messages) = documents(&profiles, &namespaces, &args.exclusions)?;
    for message in messages {
        writeln!(notes, "{message}")?;
    }
    // Before stdout: if a file cannot be written, nothing is printed for `kubectl apply`.
    for profile in &profiles {
        confinement(profile, args.confinement_dir.as_deref(), notes)?;
    }
    for document in documents {
        write!(out, "---\n{}", to_yaml(&document))?;
    }
    out.flush()?;
    Ok(())
}

/// What `render` prints: the documents for the selected namespaces, in the order given,
/// each rendered by the profile governing it among `profiles`, then each profile's
/// guardrails; and a note for every namespace that gets nothing from a profile.
pub fn documents(
    profiles: &[HardeningProfile],
    namespaces: &[Namespace],
    exclusions: &Exclusions,
) -> Result<(Vec<Value>, Vec<String>), CliError> {
    let excluded = exclusions.excluded();
    let mut documents = Vec::new();
    let mut notes = Vec::new();
    // Per profile: the given namespaces it selects that another profile governs.
    let mut outranked: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut rendered: BTreeSet<String> = BTreeSet::new();
    for namespace in namespaces {
        let namespace = as_stored(namespace);
        let name = namespace.metadata.name.as_deref().unwrap_or_default();
        let mut selecting = Vec::new();
        let mut why_not = Vec::new();
        for profile in profiles {
            match selection(&profile.spec, &namespace, &excluded) {
                Selection::Selected => selecting.push(profile),
                other => why_not.extend(other.note(name)),
            }
        }
        if selecting.is_empty() {
            // One profile says why; several, that none selects it (or the one reason all share).
            why_not.dedup();
            match why_not.as_slice() {
                [one] => notes.push(one.clone()),
                _ => notes.push(format!(
                    "namespace {name}: not selected by any of the {} given",
                    crate::core::plural::count(profiles.len(), "profile")
                )),
            }
        }
        let Some(profile) = crate::core::api::winner(selecting.iter().copied()) else {
            continue;
        };
        let profile_name = profile.metadata.name.as_deref().unwrap_or_default();
        for other in selecting
            .iter()
            .filter(|p| p.metadata.name != profile.metadata.name)
        {
            let other_name = other.metadata.name.as_deref().unwrap_or_default();
            notes.push(format!(
                "namespace {name}: governed by profile {profile_name} (priority {}), which takes precedence over {other_name} (priority {}): nothing of {other_name} is rendered there",
                profile.spec.priority, other.spec.priority
            ));
            outranked
                .entry(other_name.to_owned())
                .or_default()
                .insert(name.to_owned());
        }
        if profile.spec.mode == Mode::Audit {
            notes.push(format!(
                "namespace {name}: selected, but profile {profile_name} is in Audit mode, which writes nothing: nothing to render"
            ));
            continue;
        }
        let desired = render_with(profile, name, &exclusions.protected_networks).map_err(|e| {
            CliError::Failed(format!(
                "rendering profile {profile_name} for namespace {name}: {e}"
            ))
        })?;
        documents.push(desired.namespace_body(name, profile.spec.mode));
        documents.extend(desired.objects.iter().map(|o| o.to_json()));
        rendered.insert(profile_name.to_owned());
    }
    for profile in profiles {
        let profile_name = profile.metadata.name.as_deref().unwrap_or_default();
        if !rendered.contains(profile_name) {
            notes.push(format!(
                "profile {profile_name}: nothing to render for the given namespaces"
            ));
        }
    }
    // The guardrails' cluster-scoped policy and binding, in either mode. Offline, the
    // binding leaves out the excluded namespaces and the given ones another given profile
    // governs; which other namespaces the cluster's profiles govern needs the cluster
    // (`diff` and the operator know).
    for profile in profiles {
        let profile_name = profile.metadata.name.as_deref().unwrap_or_default();
        let mut not_governed = excluded.clone();
        not_governed.extend(outranked.get(profile_name).into_iter().flatten().cloned());
        if let Some(guardrails) = crate::core::guardrails::render(
            profile,
            &not_governed,
            &exclusions.protected_networks,
            &crate::core::guardrails::AdmissionEnv::default(),
        ) {
            for (_, object) in guardrails.iter() {
                let mut object = object.clone();
                if let Some(meta) = object["metadata"].as_object_mut()
                    && meta["ownerReferences"]
                        .as_array()
                        .is_some_and(Vec::is_empty)
                {
                    meta.remove("ownerReferences");
                }
                documents.push(object);
            }
        }
    }
    Ok((documents, notes))
}

/// The node files of `profile` under `dir`, with their content, named and rendered as the
/// node agent installs them ([`node_agent::desired`]): `dir` stands for the kubelet root
/// (`dir/seccomp/hardening.dev/<profile>.json`) and `dir/apparmor` for the AppArmor
/// directory (`dir/apparmor/hardening.dev-<profile>`). Empty without either section.
pub fn confinement_files(profile: &HardeningProfile, dir: &Path) -> Vec<(PathBuf, String)> {
    let (seccomp_files, apparmor_files) = node_agent::desired(std::slice::from_ref(profile));
    let seccomp_dir = dir.join("seccomp").join(seccomp::LOCALHOST_DIR);
    let apparmor_dir = dir.join("apparmor");
    seccomp_files
        .into_iter()
        .map(|(file, text)| (seccomp_dir.join(file), text))
        .chain(
            apparmor_files
                .into_iter()
                .map(|(file, text)| (apparmor_dir.join(file), text)),
        )
        .collect()
}

/// With `dir`, writes the node files of `profile` there ([`confinement_files`]) and names
/// each on `notes`; without, a hint on `notes` if the profile has any.
pub fn confinement(
    profile: &HardeningProfile,
    dir: Option<&Path>,
    notes: &mut dyn Write,
) -> Result<(), CliError> {
    let profile_name = profile.metadata.name.as_deref().unwrap_or_default();
    let sections: Vec<&str> = [
        ("spec.seccomp", profile.spec.seccomp.is_some()),
        ("spec.apparmor", profile.spec.apparmor.is_some()),
    ]
    .into_iter()
    .filter_map(|(section, declared)| declared.then_some(section))
    .collect();
    let Some(dir) = dir else {
        if !sections.is_empty() {
            writeln!(
                notes,
                "profile {profile_name}: declares {}: --confinement-dir DIR writes its node files",
                sections.join(" and ")
            )?;
        }
        return Ok(());
    };
    let files = confinement_files(profile, dir);
    if files.is_empty() {
        writeln!(
            notes,
            "profile {profile_name}: no spec.seccomp or spec.apparmor: no node files to write"
        )?;
    }
    for (path, text) in files {
        let parent = path.parent().expect("a node file is in a directory");
        std::fs::create_dir_all(parent).map_err(|e| {
            CliError::Failed(format!(
                "{}: cannot create directory: {e}",
                parent.display()
            ))
        })?;
        node_agent::write_atomic(&path, text.as_bytes())
            .map_err(|e| CliError::Failed(format!("{}: cannot write: {e}", path.display())))?;
        writeln!(notes, "wrote {}", path.display())?;
    }
    Ok(())
}

/// The namespace as the API server stores it: with the `kubernetes.io/metadata.name`
/// label, which selectors may use.
fn as_stored(namespace: &Namespace) -> Namespace {
    let mut namespace = namespace.clone();
    let name = namespace.metadata.name.clone().unwrap_or_default();
    namespace
        .metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(NAMESPACE_NAME_LABEL.to_owned(), name);
    namespace
}

fn to_yaml(document: &Value) -> String {
    serde_yaml_ng::to_string(document).expect("JSON values always serialize to YAML")
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::fixtures::profile;

    /// What the profile `p` of these tests declares before a test adds sections.
    const STRICT: &str = "\
namespaceSelector: {matchLabels: {tier: strict}}
podSecurity: {enforce: {level: restricted}}
resourceQuota: {hard: {pods: \"10\"}}
";

    fn namespaces() -> Vec<Namespace> {
        input::parse_namespaces(
            "ns.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: {tier: strict}}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n",
        )
        .unwrap()
    }

    fn kinds_and_names(documents: &[Value]) -> Vec<String> {
        documents
            .iter()
            .map(|d| {
                format!(
                    "{} {}/{}",
                    d["kind"].as_str().unwrap(),
                    d["metadata"]["namespace"].as_str().unwrap_or("-"),
                    d["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect()
    }

    #[test]
    fn renders_the_selected_namespaces_and_says_why_not_the_others() {
        let (documents, notes) = super::documents(
            &[profile("p").spec_yaml(STRICT).build()],
            &namespaces(),
            &Exclusions::default(),
        )
        .unwrap();
        assert_eq!(
            kinds_and_names(&documents),
            vec![
                "Namespace -/a",
                "ResourceQuota a/hardening-quota",
                "MutatingAdmissionPolicy -/hardening.dev-p",
                "MutatingAdmissionPolicyBinding -/hardening.dev-p",
                "ValidatingAdmissionPolicy -/hardening.dev-p-gate",
                "ValidatingAdmissionPolicyBinding -/hardening.dev-p-gate",
                "ValidatingAdmissionPolicy -/hardening.dev-p-stamp",
                "ValidatingAdmissionPolicyBinding -/hardening.dev-p-stamp",
                "ValidatingAdmissionPolicy -/hardening.dev-p",
                "ValidatingAdmissionPolicyBinding -/hardening.dev-p"
            ]
        );
        assert_eq!(
            documents[0],
            serde_json::json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {
                    "name": "a",
                    "labels": {
                        "pod-security.kubernetes.io/enforce": "restricted",
                        "pod-security.kubernetes.io/enforce-version": "latest",
                    },
                    "annotations": {
                        "hardening.dev/profile": "p",
                        "hardening.dev/rendered": documents[0]["metadata"]["annotations"]["hardening.dev/rendered"],
                    },
                },
            })
        );
        assert!(documents[1]["metadata"].get("ownerReferences").is_none());
        assert_eq!(
            notes,
            vec![
                "namespace b: not selected: its labels do not match the profile's spec.namespaceSelector"
            ]
        );
    }

    #[test]
    fn selectors_see_the_name_label_the_api_server_sets() {
        let profile = profile("p").spec_yaml(STRICT).build();
        let mut by_name = profile.clone();
        by_name.spec.namespace_selector = serde_json::from_value(
            serde_json::json!({ "matchLabels": { "kubernetes.io/metadata.name": "b" } }),
        )
        .unwrap();
        let (documents, _) = super::documents(
            std::slice::from_ref(&by_name),
            &namespaces(),
            &Exclusions::default(),
        )
        .unwrap();
        assert_eq!(
            kinds_and_names(&documents)[..2],
            ["Namespace -/b", "ResourceQuota b/hardening-quota"]
        );
    }

    #[test]
    fn several_profiles_render_each_namespace_by_the_one_that_governs_it() {
        let strict = profile("strict")
            .spec_yaml(STRICT)
            .spec_yaml("  priority: 10\n  guardrails: {denyExec: true}\n")
            .build();
        let everyone = profile("everyone")
            .spec_yaml("namespaceSelector: {}\nresourceQuota: {hard: {pods: \"5\"}}\nguardrails: {denyExec: true}\n")
            .build();
        let (documents, notes) = super::documents(
            &[everyone.clone(), strict.clone()],
            &namespaces(),
            &Exclusions::default(),
        )
        .unwrap();
        let governed: Vec<(String, String)> = documents
            .iter()
            .filter(|d| d["kind"] == "Namespace")
            .map(|d| {
                (
                    d["metadata"]["name"].as_str().unwrap().to_owned(),
                    d["metadata"]["annotations"]["hardening.dev/profile"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                )
            })
            .collect();
        assert_eq!(
            governed,
            [
                ("a".into(), "strict".into()),
                ("b".into(), "everyone".into())
            ]
        );
        assert_eq!(
            notes,
            [
                "namespace a: governed by profile strict (priority 10), which takes precedence over everyone (priority 0): nothing of everyone is rendered there"
            ]
        );
        // everyone's binding leaves out the namespace strict governs, as the operator's does.
        let binding = documents
            .iter()
            .find(|d| {
                d["kind"] == "ValidatingAdmissionPolicyBinding"
                    && d["metadata"]["name"] == "hardening.dev-everyone"
            })
            .unwrap();
        let not_in = binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"][0]
            ["values"]
            .as_array()
            .unwrap();
        assert!(not_in.contains(&Value::from("a")), "{binding}");
    }

    #[test]
    fn audit_mode_renders_nothing_and_says_so() {
        let (documents, notes) = super::documents(
            &[profile("p")
                .spec_yaml(STRICT)
                .spec_yaml("  mode: Audit\n")
                .build()],
            &namespaces(),
            &Exclusions::default(),
        )
        .unwrap();
        assert!(documents.is_empty());
        assert_eq!(
            notes[0],
            "namespace a: selected, but profile p is in Audit mode, which writes nothing: nothing to render"
        );
        assert_eq!(
            notes.last().unwrap(),
            "profile p: nothing to render for the given namespaces"
        );
    }

    #[test]
    fn the_namespace_body_is_the_controllers() {
        let profile = profile("p").spec_yaml(STRICT).build();
        let desired = crate::core::render::render(&profile, "a").unwrap();
        let (documents, _) = super::documents(
            std::slice::from_ref(&profile),
            &namespaces(),
            &Exclusions::default(),
        )
        .unwrap();
        assert_eq!(
            documents[0],
            crate::core::render::namespace_apply_body(
                "a",
                &desired.namespace_labels,
                &desired.namespace_annotations
            )
        );
    }

    const CONFINED: &str = "  seccomp:\n    baseline: Strict\n    defaultAction: KILL_PROCESS\n    deny: [{names: [ptrace], action: ERRNO}]\n  apparmor:\n    baseline: RuntimeDefault\n    noExec: [/tmp/**]\n";

    use crate::test_support::TempDir;

    fn lines(notes: Vec<u8>) -> Vec<String> {
        String::from_utf8(notes)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn confinement_dir_gets_the_node_agents_files() {
        let profile = profile("p").spec_yaml(STRICT).spec_yaml(CONFINED).build();
        let tmp = TempDir::new("render-both");
        let dir = tmp.0.join("out");
        let mut notes = Vec::new();
        confinement(&profile, Some(&dir), &mut notes).unwrap();

        let seccomp_path = dir.join("seccomp").join(seccomp::localhost_profile("p"));
        let apparmor_path = dir
            .join("apparmor")
            .join(crate::core::apparmor::profile_name("p"));
        assert_eq!(
            seccomp_path,
            dir.join("seccomp/hardening.dev/p.json"),
            "the seccomp file's place"
        );
        assert_eq!(apparmor_path, dir.join("apparmor/hardening.dev-p"));
        let seccomp_text = std::fs::read_to_string(&seccomp_path).unwrap();
        assert_eq!(seccomp_text, seccomp::render(&profile).unwrap());
        let json: Value = serde_json::from_str(&seccomp_text).unwrap();
        assert_eq!(json["defaultAction"], "SCMP_ACT_KILL_PROCESS");
        assert_eq!(
            std::fs::read_to_string(&apparmor_path).unwrap(),
            crate::core::apparmor::render(&profile).unwrap()
        );
        // Byte for byte what the node agent installs, under the same names.
        let (want_seccomp, want_apparmor) = node_agent::desired(std::slice::from_ref(&profile));
        assert_eq!(want_seccomp["p.json"], seccomp_text);
        assert!(want_apparmor.contains_key("hardening.dev-p"));
        assert_eq!(
            lines(notes),
            vec![
                format!("wrote {}", seccomp_path.display()),
                format!("wrote {}", apparmor_path.display()),
            ]
        );
        // Nothing else is written (no temporary files left, no agent record).
        let mut all = Vec::new();
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    all.push(path);
                }
            }
        }
        all.sort();
        assert_eq!(all, vec![apparmor_path, seccomp_path]);
    }

    #[test]
    fn a_profile_without_confinement_writes_nothing_and_says_so() {
        let tmp = TempDir::new("render-none");
        let dir = tmp.0.join("out");
        let mut notes = Vec::new();
        confinement(
            &profile("p").spec_yaml(STRICT).build(),
            Some(&dir),
            &mut notes,
        )
        .unwrap();
        assert!(!dir.exists(), "nothing created");
        assert_eq!(
            lines(notes),
            vec!["profile p: no spec.seccomp or spec.apparmor: no node files to write"]
        );
    }

    #[test]
    fn without_confinement_dir_a_confined_profile_gets_a_hint() {
        let mut notes = Vec::new();
        confinement(
            &profile("p").spec_yaml(STRICT).spec_yaml(CONFINED).build(),
            None,
            &mut notes,
        )
        .unwrap();
        assert_eq!(
            lines(notes),
            vec![
                "profile p: declares spec.seccomp and spec.apparmor: --confinement-dir DIR writes its node files"
            ]
        );
        let mut notes = Vec::new();
        confinement(&profile("p").spec_yaml(STRICT).build(), None, &mut notes).unwrap();
        assert!(notes.is_empty());
    }

    #[test]
    fn an_unwritable_confinement_dir_exits_2_naming_the_path() {
        let tmp = TempDir::new("render-unwritable");
        let file = tmp.0.join("a-file");
        std::fs::write(&file, "").unwrap();
        let dir = file.join("out");
        let mut notes = Vec::new();
        let error = confinement(
            &profile("p").spec_yaml(STRICT).spec_yaml(CONFINED).build(),
            Some(&dir),
            &mut notes,
        )
        .unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with(&format!(
                "{}: cannot create directory: ",
                dir.join("seccomp/hardening.dev").display()
            )),
            "{message}"
        );
        assert!(notes.is_empty());
        let mut stderr = Vec::new();
        assert_eq!(super::super::exit_status(Err(error), &mut stderr), 2);
        assert_eq!(String::from_utf8(stderr).unwrap(), format!("{message}\n"));
    }

    #[test]
    fn guardrails_are_rendered_once_in_either_mode() {
        let mut p = profile("p").spec_yaml(STRICT).build();
        p.spec.guardrails = Some(crate::core::api::Guardrails {
            deny_exec: true,
            ..Default::default()
        });
        for mode in [Mode::Enforce, Mode::Audit] {
            p.spec.mode = mode;
            let (documents, _) = super::documents(
                std::slice::from_ref(&p),
                &namespaces(),
                &Exclusions::default(),
            )
            .unwrap();
            let kinds: Vec<&str> = documents
                .iter()
                .filter_map(|d| d["kind"].as_str())
                .filter(|k| k.starts_with("ValidatingAdmissionPolicy"))
                .collect();
            // Enforce mode: the creation gate's and its stamp's policy and binding too.
            let pairs = if mode == Mode::Enforce { 3 } else { 1 };
            assert_eq!(
                kinds,
                [
                    "ValidatingAdmissionPolicy",
                    "ValidatingAdmissionPolicyBinding"
                ]
                .repeat(pairs),
                "{mode:?}"
            );
            assert!(
                documents
                    .iter()
                    .all(|d| d["metadata"].get("ownerReferences").is_none())
            );
        }
    }
}
