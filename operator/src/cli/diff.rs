//! `hardening-operator diff`: what the operator would change in a live cluster for a
//! profile. The reads are here; deciding what changes is [`crate::core::plan::plan`], the
//! controller's own function, and turning that into text and an exit status is pure.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DynamicObject, ListParams};
use kube::{Api, Client, ResourceExt};

use super::cluster::ClusterArgs;
use super::{
    CliError, EXIT_CHANGES, EXIT_OK, ExceptionArgs, Exclusions, Selection, input, selection,
};
use crate::core::api::{HardeningException, HardeningProfile, Mode};
use crate::core::diff::Drift;
use crate::core::plan::{self, Action, Step};
use crate::core::plural::count;
use crate::core::render::{ManagedKind, render_with};
use crate::live::api_resource;

/// Show what the operator would change in the live cluster for profiles (exit 1 if anything)
///
/// Connects to the cluster (--kubeconfig and --context as for kubectl; default the current
/// context of KUBECONFIG or ~/.kube/config, or the in-cluster service account), reads the
/// namespaces to compare (the -n/--namespace ones, or every namespace a profile selects)
/// and their generated objects, and prints for each profile of the --profile files or
/// directories (as GitOps repositories are laid out; see `render --help`):
///
/// first, what changes in the profile itself that no namespaced object shows, in words:
/// each guardrail turned on or off or changed (with what it admits or rejects from then
/// on and the BSI requirement it serves), the mode, the priority, the selector; then per
/// namespace what the operator would do with this profile:
///
///   create     an object that does not exist
///   update     an object (or the namespace's labels and annotations) that differs, with
///              each drifted field: expected and actual value, and the field manager
///              that last changed it
///   unchanged  an object that matches
///   delete     an object the operator generated (managed-by label) that the profile no
///              longer renders
///   conflict   an object with a generated name that the operator did not create; it is
///              left alone
///
/// For a profile in Audit mode the same differences are listed as missing, drifted and
/// unwanted: the operator reports them and changes nothing.
///
/// With --exception FILE|DIR (repeatable), the HardeningExceptions of the files, with the
/// cluster's in place of those of the same name, are judged as the operator would judge
/// them now (the local clock, --max-exception-duration): each new or changed one of a
/// profile is said in words (what it suspends, for whom, where, until when, owner, reason,
/// the requirements it weakens, whether the operator would apply it), the cluster's in
/// force are named, the Pod Security labels follow those in force, and a change of the
/// exceptions in force counts as a change. Without --exception, the cluster's exceptions
/// are judged alone.
///
/// Then, for a profile with a Pod Security enforce level or guardrails, the existing pods
/// enforcing it would reject ("enforcing would reject POD: REASON"; those an exception in
/// force covers as "accepted by HardeningException NAME: POD: RULE: REASON"): Pod Security through a
/// server-side dry-run of the namespace's enforce label (the API server names the pods,
/// grouping those with the same violation as "POD (and N other pods)"), the guardrails by
/// evaluating the namespace's pods.
///
/// Decides as the controller does: the same rendering, selection and drift rules; the
/// namespace's `hardening.dev/rendered` fingerprint is the one `render` computes, so it
/// shows only when something rendered changes. Other HardeningProfiles in the cluster
/// (those matching --profile-selector), with the given files' versions in place of the
/// stored ones, count for precedence: a namespace governed by another profile is skipped
/// with a note on stderr. The stored profile of the same name, if any, provides the uid
/// for ownerReferences. Reads only (the dry-run included); writes nothing.
///
/// Each profile is checked as `kubectl apply` checks it before anything is read (see
/// `render --help`).
///
/// Exit status: 0 the operator would change nothing (always so in Audit mode, guardrails
/// aside); 1 it would change something; 2 invalid input or the cluster could not be read.
#[derive(clap::Args, Clone, Debug)]
#[command(verbatim_doc_comment)]
pub struct DiffArgs {
    /// HardeningProfile manifests, the versions to review: a file or a directory of them.
    /// Repeat for several.
    #[arg(long = "profile", value_name = "FILE|DIR", required = true)]
    pub profiles: Vec<PathBuf>,

    /// A live namespace to compare; repeat for several. Default: every namespace a
    /// profile selects.
    #[arg(short = 'n', long = "namespace", value_name = "NAME")]
    pub namespaces: Vec<String>,

    /// Only HardeningProfiles matching this label selector compete with these for
    /// precedence, as for an operator run with the same --profile-selector.
    #[arg(long, value_name = "SELECTOR")]
    pub profile_selector: Option<String>,

    #[command(flatten)]
    pub exclusions: Exclusions,

    #[command(flatten)]
    pub exceptions: ExceptionArgs,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// The uid a profile gets once stored, for a profile the cluster does not hold yet: the
/// operator's objects carry an ownerReference to it, so the field is not stale.
const NOT_YET_STORED_UID: &str = "00000000-0000-0000-0000-000000000000";

/// Runs `diff` against the cluster the flags name; the exit status.
pub fn main(args: &DiffArgs) -> i32 {
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    // Invalid input is reported before any attempt to connect.
    let result = input::read_profiles(&args.profiles)
        .map_err(CliError::Inputs)
        .and_then(|read| Ok((read, args.exceptions.read()?)))
        .and_then(|(read, exceptions)| {
            for note in read.notes.iter().chain(&exceptions.notes) {
                let _ = writeln!(stderr, "{note}");
            }
            let profiles: Vec<HardeningProfile> =
                read.objects.into_iter().map(|(_, p)| p).collect();
            let exceptions: Vec<HardeningException> =
                exceptions.objects.into_iter().map(|(_, e)| e).collect();
            let runtime = tokio::runtime::Runtime::new()
                .map_err(|e| CliError::Failed(format!("starting the runtime: {e}")))?;
            runtime.block_on(async {
                let client = args.cluster.client().await?;
                compare_all(
                    &client,
                    profiles,
                    &exceptions,
                    args,
                    &mut stdout,
                    &mut stderr,
                )
                .await
            })
        })
        .map(|outcome| outcome.exit_status());
    super::exit_status(result, &mut stderr)
}

/// Reads the profile files and compares them with the cluster behind `client`: the report
/// goes to `out`, notes (namespaces skipped and why) to `notes`.
pub async fn run(
    client: &Client,
    args: &DiffArgs,
    out: &mut dyn Write,
    notes: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let read = input::read_profiles(&args.profiles).map_err(CliError::Inputs)?;
    let exceptions = args.exceptions.read()?;
    for note in read.notes.iter().chain(&exceptions.notes) {
        writeln!(notes, "{note}")?;
    }
    let profiles = read.objects.into_iter().map(|(_, p)| p).collect();
    let exceptions: Vec<HardeningException> =
        exceptions.objects.into_iter().map(|(_, e)| e).collect();
    compare_all(client, profiles, &exceptions, args, out, notes).await
}

async fn compare_all(
    client: &Client,
    profiles: Vec<HardeningProfile>,
    exceptions: &[HardeningException],
    args: &DiffArgs,
    out: &mut dyn Write,
    notes: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let stored = list_profiles(client, args.profile_selector.as_deref()).await?;
    let stored_exceptions = list_exceptions(client).await?;
    // What the cluster will hold once the files are applied: their versions in place of
    // the stored ones, new ones added.
    let mut others: Vec<HardeningProfile> = stored
        .iter()
        .filter(|s| !profiles.iter().any(|p| p.name_any() == s.name_any()))
        .cloned()
        .collect();
    others.extend(profiles.iter().cloned());
    let mut total = Outcome::default();
    for profile in profiles {
        let current = stored.iter().find(|p| p.name_any() == profile.name_any());
        let exceptions = Exceptions {
            stored: &stored_exceptions,
            files: exceptions,
        };
        let outcome = compare(
            client,
            profile,
            current,
            &others,
            &exceptions,
            args,
            out,
            notes,
        )
        .await?;
        total.merge(&outcome);
    }
    Ok(total)
}

/// The HardeningExceptions of the cluster and of the files.
struct Exceptions<'a> {
    stored: &'a [HardeningException],
    files: &'a [HardeningException],
}

#[allow(clippy::too_many_arguments)]
async fn compare(
    client: &Client,
    mut profile: HardeningProfile,
    stored: Option<&HardeningProfile>,
    others: &[HardeningProfile],
    exceptions: &Exceptions<'_>,
    args: &DiffArgs,
    out: &mut dyn Write,
    notes: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let profile_name = profile.name_any();
    let mode = profile.spec.mode;
    profile.metadata.uid = Some(
        stored
            .and_then(|p| p.uid())
            .unwrap_or_else(|| NOT_YET_STORED_UID.to_owned()),
    );
    let mut outcome = Outcome::default();

    // Its exceptions once the files are applied (the files' versions in place of the stored
    // ones), judged now as the operator would: what its status, admission policy and labels
    // will honour.
    let mut all: Vec<HardeningException> = exceptions
        .stored
        .iter()
        .filter(|s| {
            !exceptions
                .files
                .iter()
                .any(|f| f.name_any() == s.name_any())
        })
        .cloned()
        .collect();
    all.extend(exceptions.files.iter().cloned());
    let judged = super::with_exceptions(
        &mut profile,
        &all,
        k8s_openapi::jiff::Timestamp::now(),
        args.exceptions.max_exception_duration,
    );
    let before: Vec<&HardeningException> = exceptions
        .stored
        .iter()
        .filter(|e| e.spec.profile == profile_name)
        .collect();
    let files: Vec<&HardeningException> = exceptions
        .files
        .iter()
        .filter(|e| e.spec.profile == profile_name)
        .collect();

    // The profile's own changes that no namespaced object shows, in words.
    let mut changes =
        crate::core::review::spec_changes(&profile_name, stored.map(|p| &p.spec), &profile.spec);
    changes.extend(crate::core::review::exception_changes(
        &before, &files, &judged,
    ));
    let old_active = stored
        .map(crate::core::exceptions::active_of)
        .unwrap_or_default();
    if crate::core::exceptions::active_of(&profile) != old_active {
        // The status lists other exceptions: the admission policy honours others.
        outcome.exceptions = 1;
    }
    if !changes.is_empty() {
        writeln!(out, "profile {profile_name}:")?;
        for change in &changes {
            writeln!(out, "  {change}")?;
        }
    }
    let old_guardrails = stored.and_then(|p| p.spec.guardrails.as_ref());
    let old_mode = stored.map(|p| p.spec.mode);
    if old_guardrails != profile.spec.guardrails.as_ref()
        || (profile.spec.guardrails.is_some() && old_mode != Some(mode))
    {
        // The ValidatingAdmissionPolicy and binding are written (or deleted).
        outcome.guardrails = 1;
    }

    let named = !args.namespaces.is_empty();
    let namespaces = read_namespaces(client, &args.namespaces).await?;
    let excluded = args.exclusions.excluded();
    if mode == Mode::Audit {
        writeln!(
            notes,
            "profile {profile_name} is in Audit mode: the operator changes nothing and reports the drift listed"
        )?;
    }
    for namespace in &namespaces {
        let name = namespace.name_any();
        let selected = selection(&profile.spec, namespace, &excluded);
        if selected != Selection::Selected {
            if named && let Some(note) = selected.note(&name) {
                writeln!(notes, "{note}")?;
            }
            continue;
        }
        let governing = governing(&profile, others, namespace);
        if governing.name_any() != profile_name {
            writeln!(
                notes,
                "namespace {name}: governed by profile {} (priority {}), which takes precedence over {profile_name} (priority {}): the operator would not apply {profile_name} there",
                governing.name_any(),
                governing.spec.priority,
                profile.spec.priority
            )?;
            continue;
        }
        let desired =
            render_with(&profile, &name, &args.exclusions.protected_networks).map_err(|e| {
                CliError::Failed(format!(
                    "rendering profile {profile_name} for namespace {name}: {e}"
                ))
            })?;
        let live = read_live(client, &name).await?;
        let covering = crate::core::exceptions::covering(
            crate::core::exceptions::active_of(&profile),
            &name,
            namespace.labels(),
        );
        let steps =
            plan::plan(namespace, &desired, mode, &live).map_err(crate::error::Error::from)?;
        write_namespace(out, &name, &profile_name, mode, &steps)?;
        outcome.add(mode, &steps);
        // What enforcing would reject among the pods running there (the preview).
        if crate::core::preview::applies(&profile) {
            let preview = crate::live::list_and_judge(client, &profile, &name, &covering)
                .await
                .map_err(|e| CliError::Failed(format!("previewing namespace {name}: {e}")))?;
            for (who, reason) in preview.lines() {
                writeln!(out, "  enforcing would reject {who}: {reason}")?;
            }
            for accepted in &preview.accepted {
                writeln!(
                    out,
                    "  accepted by HardeningException {}: {}: {}: {}",
                    accepted.exception, accepted.pod, accepted.rule, accepted.reason
                )?;
            }
            outcome.would_reject += preview.rejected_pods() as usize;
        }
    }
    if outcome.namespaces == 0 {
        writeln!(
            notes,
            "profile {profile_name}: no namespace to compare (none selected and governed by it)"
        )?;
        if outcome.guardrails > 0 {
            writeln!(out, "{}", outcome.summary(mode))?;
        }
    } else {
        writeln!(out, "{}", outcome.summary(mode))?;
    }
    out.flush()?;
    Ok(outcome)
}

/// HardeningExceptions in the cluster; none when their CRD is not installed.
pub(crate) async fn list_exceptions(client: &Client) -> Result<Vec<HardeningException>, CliError> {
    match Api::<HardeningException>::all(client.clone())
        .list(&ListParams::default())
        .await
    {
        Ok(list) => Ok(list.items),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Vec::new()),
        Err(e) => Err(CliError::Failed(format!(
            "listing HardeningExceptions: {}",
            crate::error::words(&e)
        ))),
    }
}

/// HardeningProfiles in the cluster; none when the CRD is not installed.
pub(crate) async fn list_profiles(
    client: &Client,
    selector: Option<&str>,
) -> Result<Vec<HardeningProfile>, CliError> {
    let mut params = ListParams::default();
    if let Some(selector) = selector {
        params = params.labels(selector);
    }
    match Api::<HardeningProfile>::all(client.clone())
        .list(&params)
        .await
    {
        Ok(list) => Ok(list.items),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Vec::new()),
        Err(e) => Err(CliError::Failed(format!(
            "listing HardeningProfiles: {}",
            crate::error::words(&e)
        ))),
    }
}

/// The named namespaces (each must exist), or every namespace, by name.
async fn read_namespaces(client: &Client, names: &[String]) -> Result<Vec<Namespace>, CliError> {
    let api = Api::<Namespace>::all(client.clone());
    if names.is_empty() {
        let mut all = api
            .list(&ListParams::default())
            .await
            .map_err(|e| {
                CliError::Failed(format!("listing namespaces: {}", crate::error::words(&e)))
            })?
            .items;
        all.sort_by_key(|ns| ns.name_any());
        return Ok(all);
    }
    let mut namespaces = Vec::new();
    let mut seen = BTreeSet::new();
    for name in names {
        if !seen.insert(name) {
            continue;
        }
        let namespace = api
            .get_opt(name)
            .await
            .map_err(|e| {
                CliError::Failed(format!(
                    "reading namespace {name}: {}",
                    crate::error::words(&e)
                ))
            })?
            .ok_or_else(|| CliError::Failed(format!("namespace {name} not found")))?;
        namespaces.push(namespace);
    }
    Ok(namespaces)
}

/// The objects the controller's indexes hold for `namespace`: every object of a managed
/// kind there.
async fn read_live(
    client: &Client,
    namespace: &str,
) -> Result<Vec<(ManagedKind, Arc<DynamicObject>)>, CliError> {
    let mut live = Vec::new();
    for kind in ManagedKind::ALL {
        let listed =
            Api::<DynamicObject>::namespaced_with(client.clone(), namespace, &api_resource(kind))
                .list(&ListParams::default())
                .await
                .map_err(|e| {
                    CliError::Failed(format!(
                        "listing {} in {namespace}: {}",
                        kind.plural(),
                        crate::error::words(&e)
                    ))
                })?;
        live.extend(listed.items.into_iter().map(|o| (kind, Arc::new(o))));
    }
    Ok(live)
}

/// The profile that would govern `namespace`: `profile` (the file's version of a stored
/// profile of the same name, if any) or another stored profile that selects it and
/// takes precedence ([`crate::core::api::winner`], as the controller decides).
pub fn governing<'a>(
    profile: &'a HardeningProfile,
    others: &'a [HardeningProfile],
    namespace: &Namespace,
) -> &'a HardeningProfile {
    let name = namespace.name_any();
    let rivals = others.iter().filter(|other| {
        other.name_any() != profile.name_any()
            && other.metadata.deletion_timestamp.is_none()
            && crate::core::api::selects(&other.spec, &name, namespace.labels())
    });
    crate::core::api::winner(std::iter::once(profile).chain(rivals)).unwrap_or(profile)
}

/// What a diff found, over every namespace compared.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Namespaces compared.
    pub namespaces: usize,
    /// Namespaces where the operator would change something.
    pub changed_namespaces: usize,
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub unchanged: usize,
    /// Objects with a generated name that the operator did not create.
    pub conflicts: usize,
    /// Audit mode: objects differing from the profile (reported, never changed).
    pub drifted: usize,
    /// Existing pods the profile's Pod Security `enforce` level or guardrails would reject.
    pub would_reject: usize,
    /// Profiles whose guardrails' policy and binding would be written or deleted.
    pub guardrails: usize,
    /// Profiles whose exceptions in force would change.
    pub exceptions: usize,
}

impl Outcome {
    /// Counts the steps of one namespace.
    pub fn add(&mut self, mode: Mode, steps: &[Step]) {
        self.namespaces += 1;
        let mut changed = false;
        for step in steps {
            match (mode, step.action) {
                (_, Action::Unchanged) => self.unchanged += 1,
                (_, Action::Foreign) => self.conflicts += 1,
                (Mode::Audit, _) => self.drifted += 1,
                (Mode::Enforce, Action::Create) => self.create += 1,
                (Mode::Enforce, Action::Update) => self.update += 1,
                (Mode::Enforce, Action::Delete) => self.delete += 1,
            }
            changed |= mode == Mode::Enforce && step.action.is_change();
        }
        self.changed_namespaces += usize::from(changed);
    }

    /// Adds another profile's outcome.
    pub fn merge(&mut self, other: &Outcome) {
        self.namespaces += other.namespaces;
        self.changed_namespaces += other.changed_namespaces;
        self.create += other.create;
        self.update += other.update;
        self.delete += other.delete;
        self.unchanged += other.unchanged;
        self.conflicts += other.conflicts;
        self.drifted += other.drifted;
        self.would_reject += other.would_reject;
        self.guardrails += other.guardrails;
        self.exceptions += other.exceptions;
    }

    /// Whether the operator would write anything.
    pub fn would_change(&self) -> bool {
        self.create + self.update + self.delete + self.guardrails + self.exceptions > 0
    }

    /// 0 when the operator would change nothing, 1 when it would.
    pub fn exit_status(&self) -> i32 {
        if self.would_change() {
            EXIT_CHANGES
        } else {
            EXIT_OK
        }
    }

    /// The last line of the report.
    pub fn summary(&self, mode: Mode) -> String {
        let namespaces = count(self.namespaces, "namespace");
        let conflicts = match self.conflicts {
            0 => String::new(),
            n => format!(", {}", count(n, "conflict")),
        };
        let conflicts = match self.would_reject {
            0 => conflicts,
            n => format!(
                "{conflicts}; enforcing would reject {}",
                count(n, "existing pod")
            ),
        };
        let conflicts = match self.guardrails {
            0 => conflicts,
            _ => format!("{conflicts}; the guardrails' policy and binding change"),
        };
        let conflicts = match self.exceptions {
            0 => conflicts,
            _ => format!("{conflicts}; the exceptions in force change"),
        };
        match mode {
            Mode::Enforce if self.would_change() => format!(
                "summary: {namespaces} ({} with changes): {} to create, {} to update, {} to delete, {} unchanged{conflicts}",
                self.changed_namespaces, self.create, self.update, self.delete, self.unchanged
            ),
            Mode::Enforce => {
                format!(
                    "summary: {namespaces}: no changes, {} unchanged{conflicts}",
                    self.unchanged
                )
            }
            Mode::Audit => format!(
                "summary: {namespaces}: {} drifted (Audit mode: reported, not changed), {} unchanged{conflicts}",
                self.drifted, self.unchanged
            ),
        }
    }
}

/// The word for what happens to an object.
pub fn verb(action: Action, mode: Mode) -> &'static str {
    match (mode, action) {
        (_, Action::Unchanged) => "unchanged",
        (_, Action::Foreign) => "conflict",
        (Mode::Enforce, Action::Create) => "create",
        (Mode::Enforce, Action::Update) => "update",
        (Mode::Enforce, Action::Delete) => "delete",
        (Mode::Audit, Action::Create) => "missing",
        (Mode::Audit, Action::Update) => "drifted",
        (Mode::Audit, Action::Delete) => "unwanted",
    }
}

/// The report of one namespace: a heading, then one line per object and one indented
/// line per drifted field.
pub fn write_namespace(
    out: &mut dyn Write,
    namespace: &str,
    profile: &str,
    mode: Mode,
    steps: &[Step],
) -> std::io::Result<()> {
    let mode_text = match mode {
        Mode::Enforce => "Enforce",
        Mode::Audit => "Audit: reported, not changed",
    };
    writeln!(
        out,
        "namespace {namespace} (profile {profile}, {mode_text}):"
    )?;
    for step in steps {
        let verb = verb(step.action, mode);
        let object = format!("{} {}", step.kind, step.name);
        match step.action {
            Action::Create | Action::Unchanged => writeln!(out, "  {verb:<10} {object}")?,
            Action::Update => {
                writeln!(out, "  {verb:<10} {object}")?;
                for drift in &step.drifts {
                    writeln!(out, "{:13}{}", "", drift_line(drift))?;
                }
            }
            Action::Delete => {
                let why = step
                    .drifts
                    .iter()
                    .find_map(|d| d.actual.clone())
                    .unwrap_or_default();
                writeln!(out, "  {verb:<10} {object} ({why}; no longer rendered)")?;
            }
            Action::Foreign => writeln!(
                out,
                "  {verb:<10} {object}: exists and is not managed by the operator; left alone"
            )?,
        }
    }
    Ok(())
}

/// `spec.hard.pods: expected 20, actual 99 (changed by kubectl-edit)`.
pub fn drift_line(drift: &Drift) -> String {
    let value = |v: &Option<String>| match v.as_deref() {
        None => "(unset)".to_owned(),
        Some("") => "\"\"".to_owned(),
        Some(text) => text.to_owned(),
    };
    let manager = match &drift.manager {
        Some(manager) => format!(" (changed by {manager})"),
        None => String::new(),
    };
    format!(
        "{}: expected {}, actual {}{manager}",
        drift.field,
        value(&drift.expected),
        value(&drift.actual)
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::core::plan::Target;
    use crate::core::render::Desired;
    use crate::fixtures::profile;

    fn drift(
        field: &str,
        expected: Option<&str>,
        actual: Option<&str>,
        manager: Option<&str>,
    ) -> Drift {
        Drift {
            field: field.to_owned(),
            path: Vec::new(),
            expected: expected.map(str::to_owned),
            actual: actual.map(str::to_owned),
            manager: manager.map(str::to_owned),
            change: match (expected, actual) {
                (Some(_), None) => crate::core::diff::Change::Removed,
                (None, _) => crate::core::diff::Change::Added,
                (Some(_), Some(_)) => crate::core::diff::Change::Changed,
            },
        }
    }

    fn desired() -> Desired {
        let profile = profile("p")
            .spec_yaml("resourceQuota: {hard: {pods: \"20\"}}")
            .build();
        crate::core::render::render(&profile, "team-a").unwrap()
    }

    fn old_limits() -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "LimitRange",
            "metadata": { "name": "hardening-limits", "namespace": "team-a" },
        }))
        .unwrap()
    }

    /// One step of every action.
    fn steps<'a>(desired: &'a Desired, old: &'a DynamicObject) -> Vec<Step<'a>> {
        let quota = &desired.objects[0];
        let step = |kind, name: &str, action, drifts, target| Step {
            kind,
            name: name.to_owned(),
            action,
            drifts,
            target,
        };
        vec![
            step(
                "Namespace",
                "team-a",
                Action::Update,
                vec![drift(
                    r#"metadata.labels["pod-security.kubernetes.io/enforce"]"#,
                    Some("restricted"),
                    Some("privileged"),
                    Some("kubectl-label"),
                )],
                Target::Namespace(json!({})),
            ),
            step(
                "NetworkPolicy",
                "hardening-default-deny",
                Action::Create,
                vec![drift("(object)", Some("object exists"), None, None)],
                Target::Object(quota),
            ),
            step(
                "ResourceQuota",
                "hardening-quota",
                Action::Update,
                vec![
                    drift(
                        "spec.hard.pods",
                        Some("20"),
                        Some("99"),
                        Some("kubectl-edit"),
                    ),
                    drift(r#"spec.hard["limits.cpu"]"#, None, Some("4"), None),
                ],
                Target::Object(quota),
            ),
            step(
                "NetworkPolicy",
                "hardening-allow-dns",
                Action::Unchanged,
                Vec::new(),
                Target::Object(quota),
            ),
            step(
                "NetworkPolicy",
                "hardening-allow-egress",
                Action::Foreign,
                Vec::new(),
                Target::Object(quota),
            ),
            step(
                "LimitRange",
                "hardening-limits",
                Action::Delete,
                vec![drift(
                    "(object)",
                    Some("object absent"),
                    Some("generated for profile old"),
                    None,
                )],
                Target::Unwanted(ManagedKind::LimitRange, old),
            ),
        ]
    }

    fn report(mode: Mode, steps: &[Step]) -> String {
        let mut out = Vec::new();
        write_namespace(&mut out, "team-a", "p", mode, steps).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_report_lists_every_object_and_every_drifted_field() {
        let (desired, old) = (desired(), old_limits());
        assert_eq!(
            report(Mode::Enforce, &steps(&desired, &old)),
            r#"namespace team-a (profile p, Enforce):
  update     Namespace team-a
             metadata.labels["pod-security.kubernetes.io/enforce"]: expected restricted, actual privileged (changed by kubectl-label)
  create     NetworkPolicy hardening-default-deny
  update     ResourceQuota hardening-quota
             spec.hard.pods: expected 20, actual 99 (changed by kubectl-edit)
             spec.hard["limits.cpu"]: expected (unset), actual 4
  unchanged  NetworkPolicy hardening-allow-dns
  conflict   NetworkPolicy hardening-allow-egress: exists and is not managed by the operator; left alone
  delete     LimitRange hardening-limits (generated for profile old; no longer rendered)
"#
        );
    }

    #[test]
    fn audit_mode_words_the_same_differences_as_drift() {
        let (desired, old) = (desired(), old_limits());
        let text = report(Mode::Audit, &steps(&desired, &old));
        let verbs: Vec<&str> = text
            .lines()
            .skip(1)
            .filter(|line| !line.starts_with("             "))
            .map(|line| line.split_whitespace().next().unwrap())
            .collect();
        assert_eq!(
            verbs,
            vec![
                "drifted",
                "missing",
                "drifted",
                "unchanged",
                "conflict",
                "unwanted"
            ]
        );
        assert!(text.starts_with("namespace team-a (profile p, Audit: reported, not changed):\n"));
    }

    #[test]
    fn exit_status_is_1_only_when_the_operator_would_change_something() {
        let (desired, old) = (desired(), old_limits());
        let all = steps(&desired, &old);
        let only = |actions: &[Action]| -> Vec<Step> {
            all.iter()
                .filter(|s| actions.contains(&s.action))
                .cloned()
                .collect()
        };

        let mut changes = Outcome::default();
        changes.add(Mode::Enforce, &all);
        assert_eq!(
            changes,
            Outcome {
                namespaces: 1,
                changed_namespaces: 1,
                create: 1,
                update: 2,
                delete: 1,
                unchanged: 1,
                conflicts: 1,
                drifted: 0,
                would_reject: 0,
                guardrails: 0,
                exceptions: 0,
            }
        );
        assert_eq!(changes.exit_status(), EXIT_CHANGES);
        assert_eq!(
            changes.summary(Mode::Enforce),
            "summary: 1 namespace (1 with changes): 1 to create, 2 to update, 1 to delete, 1 unchanged, 1 conflict"
        );
        // The preview changes nothing the operator would do: only the summary mentions it.
        let previewed = Outcome {
            would_reject: 3,
            ..changes.clone()
        };
        assert_eq!(previewed.exit_status(), EXIT_CHANGES);
        assert!(
            previewed
                .summary(Mode::Enforce)
                .ends_with("1 conflict; enforcing would reject 3 existing pods"),
            "{}",
            previewed.summary(Mode::Enforce)
        );
        // A guardrails-only change is a change: the policy and binding are written.
        let guardrails_only = Outcome {
            namespaces: 1,
            unchanged: 4,
            guardrails: 1,
            ..Outcome::default()
        };
        assert_eq!(guardrails_only.exit_status(), EXIT_CHANGES);
        assert!(
            guardrails_only
                .summary(Mode::Enforce)
                .ends_with("; the guardrails' policy and binding change"),
            "{}",
            guardrails_only.summary(Mode::Enforce)
        );
        for action in [Action::Create, Action::Update, Action::Delete] {
            let mut outcome = Outcome::default();
            outcome.add(Mode::Enforce, &only(&[Action::Unchanged, action]));
            assert_eq!(outcome.exit_status(), 1, "{action:?}");
        }

        // In sync, or only a foreign object the operator leaves alone: nothing to change.
        let mut in_sync = Outcome::default();
        in_sync.add(Mode::Enforce, &only(&[Action::Unchanged]));
        in_sync.add(Mode::Enforce, &only(&[Action::Unchanged, Action::Foreign]));
        assert_eq!(in_sync.exit_status(), EXIT_OK);
        assert_eq!(in_sync.changed_namespaces, 0);
        assert_eq!(
            in_sync.summary(Mode::Enforce),
            "summary: 2 namespaces: no changes, 2 unchanged, 1 conflict"
        );

        // Audit mode changes nothing, whatever drifted.
        let mut audit = Outcome::default();
        audit.add(Mode::Audit, &all);
        assert_eq!(audit.exit_status(), EXIT_OK);
        assert_eq!(audit.drifted, 4);
        assert_eq!(
            audit.summary(Mode::Audit),
            "summary: 1 namespace: 4 drifted (Audit mode: reported, not changed), 1 unchanged, 1 conflict"
        );

        // What the command line exits with (errors: see `cli::exit_status`).
        let mut stderr = Vec::new();
        assert_eq!(
            crate::cli::exit_status(Ok(changes.exit_status()), &mut stderr),
            1
        );
        assert_eq!(
            crate::cli::exit_status(Ok(in_sync.exit_status()), &mut stderr),
            0
        );
    }

    #[test]
    fn drift_lines_show_unset_and_empty_values() {
        assert_eq!(
            drift_line(&drift("metadata.labels.a", Some(""), None, None)),
            r#"metadata.labels.a: expected "", actual (unset)"#
        );
    }

    fn stored(name: &str, priority: i32, selector: serde_json::Value) -> HardeningProfile {
        profile(name)
            .uid(&format!("uid-{name}"))
            .spec(json!({ "namespaceSelector": selector, "priority": priority }))
            .build()
    }

    #[test]
    fn another_profile_with_precedence_governs() {
        let namespace: Namespace = serde_json::from_value(json!({
            "metadata": { "name": "team-a", "labels": { "tier": "strict" } }
        }))
        .unwrap();
        let strict = json!({ "matchLabels": { "tier": "strict" } });
        let ours = stored("p", 10, strict.clone());

        // Nobody else selects it.
        let others = vec![stored(
            "q",
            50,
            json!({ "matchLabels": { "tier": "other" } }),
        )];
        assert_eq!(governing(&ours, &others, &namespace).name_any(), "p");

        // A higher priority wins; a lower one or an equal one with a later name does not.
        let others = vec![
            stored("a-low", 5, strict.clone()),
            stored("z-equal", 10, strict.clone()),
            stored("high", 20, strict.clone()),
        ];
        assert_eq!(governing(&ours, &others, &namespace).name_any(), "high");
        assert_eq!(governing(&ours, &others[..2], &namespace).name_any(), "p");

        // The stored version of the same profile is replaced by the file's.
        let others = vec![stored("p", 1000, strict.clone())];
        let governs = governing(&ours, &others, &namespace);
        assert_eq!(governs.spec.priority, 10);

        // A profile being deleted governs nothing.
        let mut leaving = stored("high", 20, strict);
        leaving.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Default::default()),
        );
        assert_eq!(governing(&ours, &[leaving], &namespace).name_any(), "p");
    }
}
