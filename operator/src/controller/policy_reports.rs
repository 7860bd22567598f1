//! Writes the policy reports ([`crate::core::policy_report`]): one report per governed namespace,
//! from the namespace reconciler's outcomes, written only when its content changes and
//! deleted when the namespace is no longer governed; and one cluster-scoped report per
//! profile (what is not namespaced: the profile's readiness, conflicts, guardrails), from
//! the status the profile reconciler wrote, deleted with the profile. The report API is detected once at
//! start-up (logged); with neither API installed this does nothing. Runs on the leader only,
//! beside the controllers, and looks every [`PERIOD`] at the namespaces whose outcome was
//! recorded since (a [`ReportQueue`](super::state::ReportQueue)): its work per look is what changed, not the cluster.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::{DefaultHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;
use tracing::{info, warn};

use super::context::Context;
use super::managed::{drive, watch_backoff};
use crate::core::api::HardeningProfile;
use crate::core::compliance::ProfileFacts;
use crate::core::labels::PROFILE_LABEL;
use crate::core::labels::{FIELD_MANAGER, MANAGED_BY_LABEL, MANAGED_BY_VALUE};
use crate::core::policy_report::{
    REPORT_NAME, ReportApi, cluster_report_name, cluster_report_object, cluster_results,
    namespace_results, report_object,
};
use crate::core::status::profile_facts_of;
use crate::server::Health;

/// The topic of `/readyz`'s line on policy reports.
pub const HEALTH_TOPIC: &str = "policy reports";

/// How often the outcomes are compared with the reports written.
pub const PERIOD: Duration = Duration::from_secs(2);

/// Reports written at once, at most (the client's write slots adapt below this).
const REPORTS_IN_FLIGHT: usize = 64;

/// A report as the writer last wrote it: the digest of what it wanted and of what the API
/// server stored (the same, unless the server defaults something), so that the watch can
/// tell its own write from someone else's change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Digests {
    wanted: u64,
    stored: u64,
}

impl Digests {
    fn same(digest: u64) -> Self {
        Self {
            wanted: digest,
            stored: digest,
        }
    }

    /// Whether a report the watch saw (`None`: deleted) is this one.
    fn matches(&self, seen: Option<u64>) -> bool {
        seen.is_some_and(|d| d == self.wanted || d == self.stored)
    }
}

/// What decides whether a report changed (metadata aside), as a digest: the writer keeps
/// one per namespace, not the report. `report` is the whole object or its `data` (a
/// [`DynamicObject`]'s fields besides metadata): only `scope`, `summary`, `results` and
/// `source` count.
///
/// The digest of `{"results":…,"scope":…,"source":…,"summary":…}` as one JSON text (keys
/// sorted, as `serde_json` writes an object), written into the hasher as it is serialized:
/// neither a copy of the report nor its text is made.
fn content(report: &Value) -> u64 {
    /// Hashes what is written to it, as `str::hash` hashes the whole text at once (the
    /// bytes, then 0xFF).
    struct Hashing(DefaultHasher);
    impl std::io::Write for Hashing {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.write(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut out = Hashing(DefaultHasher::new());
    for (i, key) in ["results", "scope", "source", "summary"].iter().enumerate() {
        let separator: &[u8] = if i == 0 { b"{" } else { b"," };
        let _ = std::io::Write::write_all(&mut out, separator);
        let _ = serde_json::to_writer(&mut out, key);
        let _ = std::io::Write::write_all(&mut out, b":");
        let _ = serde_json::to_writer(&mut out, &report[*key]);
    }
    let _ = std::io::Write::write_all(&mut out, b"}");
    out.0.write_u8(0xff);
    out.0.finish()
}

fn resource(api: ReportApi) -> ApiResource {
    let (kind, plural) = api.kind();
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(api.group(), api.version(), kind),
        plural,
    )
}

fn cluster_resource(api: ReportApi) -> ApiResource {
    let (kind, plural) = api.cluster_kind();
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(api.group(), api.version(), kind),
        plural,
    )
}

/// The cluster-scoped reports: one per profile this operator handles, rebuilt when the
/// profile (its status included) changes, or when someone else changed or deleted one.
struct ClusterReports {
    api: ReportApi,
    reports: Api<DynamicObject>,
    /// Per profile: the resourceVersion last looked at and the digest of the report written.
    written: HashMap<String, (Option<String>, Digests)>,
    /// Per profile: the generation and the profile-wide facts its namespaces' verdicts were
    /// last judged with; when they change, its namespaces' reports are judged again.
    judged_with: HashMap<String, (Option<i64>, ProfileFacts)>,
}

/// What the report watch saw of one of the operator's reports: its content's digest, or
/// `None` when it was deleted.
#[derive(Debug)]
enum Seen {
    Namespaced(String, Option<u64>),
    /// By profile.
    Cluster(String, Option<u64>),
}

/// Watches the operator's reports of both scopes (by its managed-by label) and sends what
/// it sees: a report someone deleted or changed is written again like any generated
/// object. Only digests travel; no report is kept.
fn watch_reports(
    ctx: &Context,
    api: ReportApi,
    seen: tokio::sync::mpsc::UnboundedSender<Seen>,
) -> Vec<futures::future::BoxFuture<'static, ()>> {
    let config =
        watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"));
    let mut drivers = Vec::new();
    for cluster in [false, true] {
        let resource = if cluster {
            cluster_resource(api)
        } else {
            resource(api)
        };
        let reports: Api<DynamicObject> = Api::all_with(ctx.client.clone(), &resource);
        let seen = seen.clone();
        let events = watcher(reports, config.clone())
            .backoff(watch_backoff())
            .map_ok(move |event| {
                let (object, deleted) = match event {
                    watcher::Event::Apply(o) | watcher::Event::InitApply(o) => (o, false),
                    watcher::Event::Delete(o) => (o, true),
                    watcher::Event::Init | watcher::Event::InitDone => return,
                };
                let digest = (!deleted).then(|| content(&object.data));
                let event = if cluster {
                    object
                        .labels()
                        .get(PROFILE_LABEL)
                        .map(|profile| Seen::Cluster(profile.clone(), digest))
                } else {
                    object
                        .namespace()
                        .filter(|_| object.name_any() == REPORT_NAME)
                        .map(|namespace| Seen::Namespaced(namespace, digest))
                };
                if let Some(event) = event {
                    let _ = seen.send(event);
                }
            });
        drivers.push(drive(
            if cluster {
                api.cluster_kind().0
            } else {
                api.kind().0
            },
            events,
        ));
    }
    drivers
}

impl ClusterReports {
    async fn new(ctx: &Context, api: ReportApi) -> Self {
        let reports = Api::all_with(ctx.client.clone(), &cluster_resource(api));
        let mut this = Self {
            api,
            reports,
            written: HashMap::new(),
            judged_with: HashMap::new(),
        };
        let params =
            ListParams::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"));
        match this.reports.list(&params).await {
            Ok(list) => {
                for report in list.items {
                    let Some(profile) = report
                        .metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(PROFILE_LABEL))
                        .cloned()
                    else {
                        continue;
                    };
                    this.written
                        .insert(profile, (None, Digests::same(content(&report.data))));
                }
            }
            Err(e) => warn!(error = %e, "cluster policy reports: could not list the existing ones"),
        }
        this
    }

    /// Writes the report of each profile that changed since the last look; deletes those of
    /// profiles gone from the cache that no longer exist (a profile another operator's
    /// `--profile-selector` took is that operator's to report).
    async fn sync(&mut self, ctx: &Context) {
        let profiles = ctx.caches.profiles.state();
        let current: HashSet<&str> = profiles
            .iter()
            .filter_map(|p| p.metadata.name.as_deref())
            .collect();
        let gone: Vec<String> = self
            .written
            .keys()
            .filter(|name| !current.contains(name.as_str()))
            .cloned()
            .collect();
        for name in gone {
            self.judged_with.remove(&name);
            self.forget_or_delete(ctx, &name).await;
        }
        for profile in &profiles {
            let Some(name) = profile.metadata.name.as_deref() else {
                continue;
            };
            let version = profile.metadata.resource_version.clone();
            // The namespaces' verdicts depend on the generation and on whether the guardrails
            // are enforced: when those change, every namespace of the profile is judged again
            // (rare: not on every status write).
            let judged = (
                profile.metadata.generation,
                profile_facts_of(profile, ctx.caches.pods.is_some()),
            );
            if self.judged_with.insert(name.to_owned(), judged) != Some(judged) {
                for namespace in ctx.state.outcomes.governed_by(name) {
                    ctx.state.reports.touch(&namespace);
                }
            }
            if self
                .written
                .get(name)
                .is_some_and(|(seen, _)| seen.is_some() && *seen == version)
            {
                continue;
            }
            // Written from the status: none yet for this generation, nothing to say yet.
            if !status_current(profile) {
                continue;
            }
            let report = cluster_report_object(self.api, name, &cluster_results(profile));
            let wanted = content(&report);
            if let Some((_, digests)) = self.written.get(name).cloned()
                && digests.wanted == wanted
            {
                self.written.insert(name.to_owned(), (version, digests));
                continue;
            }
            match apply(&self.reports, &cluster_report_name(name), report).await {
                Ok(stored) => {
                    let digests = Digests { wanted, stored };
                    self.written.insert(name.to_owned(), (version, digests));
                }
                // Tried again at the next look (the version is not recorded as seen).
                Err(e) => {
                    warn!(profile = name, error = %e, "cluster policy report: could not write")
                }
            }
        }
    }

    /// The watch saw the report of `profile` with content `digest` (`None`: deleted). Whether
    /// it is someone else's change (then it is written again at the next look).
    fn seen(&mut self, profile: &str, digest: Option<u64>) -> bool {
        match self.written.get(profile) {
            Some((_, written)) if !written.matches(digest) => {
                self.written.remove(profile);
                true
            }
            _ => false,
        }
    }

    async fn forget_or_delete(&mut self, ctx: &Context, profile: &str) {
        let profiles: Api<HardeningProfile> = Api::all(ctx.client.clone());
        match profiles.get_opt(profile).await {
            Ok(Some(_)) => {
                self.written.remove(profile);
            }
            Ok(None) => {
                match self
                    .reports
                    .delete(&cluster_report_name(profile), &DeleteParams::default())
                    .await
                {
                    Ok(_) => {
                        self.written.remove(profile);
                    }
                    Err(kube::Error::Api(status)) if status.code == 404 => {
                        self.written.remove(profile);
                    }
                    Err(e) => {
                        warn!(profile, error = %e, "cluster policy report: could not delete")
                    }
                }
            }
            Err(e) => {
                warn!(profile, error = %e, "cluster policy report: could not read the profile")
            }
        }
    }
}

/// A server-side apply of `report` (built by `policy_report`) as `name`: the digest of what
/// the API server stored.
async fn apply(reports: &Api<DynamicObject>, name: &str, report: Value) -> Result<u64, String> {
    let stored = reports
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&report),
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(content(&stored.data))
}

/// The report `namespace` should have now (`Some(None)`: not governed, no report), or
/// `None` while its profile's status is not written for the current generation.
fn desired(ctx: &Context, api: ReportApi, namespace: &str) -> Option<Option<Value>> {
    ctx.state.outcomes.read(|outcomes| {
        let outcome = outcomes.get(namespace).map(|r| &r.outcome);
        let profile =
            outcome.and_then(|outcome| ctx.caches.profiles.get(&ObjectRef::new(outcome.winner()?)));
        // The verdicts rest on facts the profile's status states (guardrails enforced,
        // images scanned): until it is written for this generation, a report would say
        // what is not so yet and be written again moments later.
        if profile.as_ref().is_some_and(|p| !status_current(p)) {
            ctx.state.reports.touch(namespace);
            return None;
        }
        Some(outcome.zip(profile).map(|(outcome, profile)| {
            let facts = profile_facts_of(&profile, ctx.caches.pods.is_some());
            let results = namespace_results(&profile, namespace, outcome, &facts);
            report_object(api, namespace, &results)
        }))
    })
}

/// What the writer did about one namespace's report at a look.
enum Looked {
    /// Nothing to do (unchanged, or not due yet).
    Nothing,
    /// Not governed any more: its report is to be deleted.
    Ungoverned(String),
    /// Written (or tried): the digest wanted and the API server's answer.
    Written(String, u64, Result<u64, String>),
}

/// Whether `profile`'s status was written for its current generation.
fn status_current(profile: &HardeningProfile) -> bool {
    profile
        .status
        .as_ref()
        .is_some_and(|s| s.observed_generation == profile.metadata.generation)
}

/// The report API the cluster serves: OpenReports if its CRDs are installed, else
/// wgpolicyk8s.io v1alpha2, else none (`Ok(None)`). Both kinds of an API must be served.
pub async fn detect(client: &kube::Client) -> Result<Option<ReportApi>, kube::Error> {
    for api in ReportApi::ALL {
        let resources = match client.list_api_group_resources(&api.api_version()).await {
            Ok(list) => list.resources,
            Err(kube::Error::Api(status)) if status.code == 404 => continue,
            Err(e) => return Err(e),
        };
        let served = |plural: &str| resources.iter().any(|r| r.name == plural);
        if served(api.kind().1) && served(api.cluster_kind().1) {
            return Ok(Some(api));
        }
    }
    Ok(None)
}

/// Runs until `shutdown`; says in the log and on `/readyz` (`health`) which report API it
/// writes, if any.
pub async fn run(ctx: Arc<Context>, health: Arc<Health>, shutdown: impl Future<Output = ()>) {
    let api = match detect(&ctx.client).await {
        Ok(Some(api)) => {
            info!(
                api = %api.api_version(),
                kind = api.kind().0,
                cluster_kind = api.cluster_kind().0,
                "policy reports: one per governed namespace, one cluster-scoped per profile"
            );
            health.set_note(
                HEALTH_TOPIC,
                format!(
                    "{} ({} per governed namespace, {} per profile)",
                    api.api_version(),
                    api.kind().0,
                    api.cluster_kind().0
                ),
            );
            api
        }
        Ok(None) => {
            info!(
                "policy reports: off (neither openreports.io/v1alpha1 nor wgpolicyk8s.io/v1alpha2 is installed)"
            );
            health.set_note(
                HEALTH_TOPIC,
                "off (neither openreports.io/v1alpha1 nor wgpolicyk8s.io/v1alpha2 is installed)"
                    .to_owned(),
            );
            return;
        }
        Err(e) => {
            warn!(error = %e, "policy reports: off (could not discover the report APIs)");
            health.set_note(
                HEALTH_TOPIC,
                format!("off (could not discover the report APIs: {e})"),
            );
            return;
        }
    };
    let resource = resource(api);
    // What is already there (written by an earlier run) counts as written.
    let mut written: HashMap<String, Digests> = HashMap::new();
    let all: Api<DynamicObject> = Api::all_with(ctx.client.clone(), &resource);
    let params = ListParams::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"));
    match all.list(&params).await {
        Ok(list) => {
            for report in list.items {
                if let (Some(namespace), true) = (
                    report.metadata.namespace.clone(),
                    report.metadata.name.as_deref() == Some(REPORT_NAME),
                ) {
                    written.insert(namespace, Digests::same(content(&report.data)));
                }
            }
        }
        Err(e) => warn!(error = %e, "policy reports: could not list the existing reports"),
    }

    // Every outcome recorded so far, and each one recorded from now on.
    ctx.state.reports.start(|| ctx.state.outcomes.namespaces());
    // Reports of namespaces no longer governed while the operator was away.
    let stale: Vec<String> = written
        .keys()
        .filter(|namespace| !ctx.state.outcomes.contains(namespace))
        .cloned()
        .collect();
    for namespace in stale {
        ctx.state.reports.touch(&namespace);
    }

    let mut cluster = ClusterReports::new(&ctx, api).await;
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
    let watches = futures::future::join_all(watch_reports(&ctx, api, seen_tx));
    tokio::pin!(watches);

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = tokio::time::sleep(PERIOD) => {}
            () = &mut shutdown => return,
            _ = &mut watches => warn!("policy reports: the report watches ended"),
        }
        // Reports someone else deleted or changed since the last look are written again.
        while let Ok(event) = seen_rx.try_recv() {
            match event {
                Seen::Namespaced(namespace, digest) => {
                    if written.get(&namespace).is_some_and(|w| !w.matches(digest)) {
                        written.remove(&namespace);
                        restored(&ctx, api, false, &namespace, digest).await;
                        ctx.state.reports.touch(&namespace);
                    }
                }
                Seen::Cluster(profile, digest) => {
                    if cluster.seen(&profile, digest) {
                        restored(&ctx, api, true, &profile, digest).await;
                    }
                }
            }
        }
        cluster.sync(&ctx).await;
        // Side by side: one after another, a rollout's reports trailed its objects by many
        // seconds. The client's write slots bound the writes in flight. Each report is
        // built when its turn comes, so at most REPORTS_IN_FLIGHT are held at once (a
        // rollout's 1,000 reports of the full profile built up front were the peak of the
        // operator's heap, some 35 MB).
        let seen = &written;
        let looked: Vec<Looked> = futures::stream::iter(ctx.state.reports.take())
            .map(|namespace| {
                let ctx = &ctx;
                let resource = &resource;
                async move {
                    let report = match desired(ctx, api, &namespace) {
                        None => return Looked::Nothing,
                        Some(None) if seen.contains_key(&namespace) => {
                            return Looked::Ungoverned(namespace);
                        }
                        Some(None) => return Looked::Nothing,
                        Some(Some(report)) => report,
                    };
                    let wanted = content(&report);
                    if seen.get(&namespace).is_some_and(|w| w.wanted == wanted) {
                        return Looked::Nothing;
                    }
                    let reports: Api<DynamicObject> =
                        Api::namespaced_with(ctx.client.clone(), &namespace, resource);
                    let result = apply(&reports, REPORT_NAME, report).await;
                    Looked::Written(namespace, wanted, result)
                }
            })
            .buffer_unordered(REPORTS_IN_FLIGHT)
            .collect()
            .await;
        for looked in looked {
            match looked {
                Looked::Nothing => {}
                Looked::Ungoverned(namespace) => {
                    delete(&ctx, &resource, &namespace, &mut written).await;
                }
                Looked::Written(namespace, wanted, Ok(stored)) => {
                    written.insert(namespace, Digests { wanted, stored });
                }
                Looked::Written(namespace, _, Err(e)) => {
                    warn!(%namespace, error = %e, "policy report: could not write");
                    // Tried again at the next look.
                    ctx.state.reports.touch(&namespace);
                }
            }
        }
    }
}

/// Counts and announces the repair of a report someone else deleted or changed (it is
/// written again at this look): `scope` is the namespace, or the profile of a cluster report.
async fn restored(ctx: &Context, api: ReportApi, cluster: bool, scope: &str, digest: Option<u64>) {
    let kind = if cluster {
        api.cluster_kind().0
    } else {
        api.kind().0
    };
    let (profile, name, namespace) = if cluster {
        (Some(scope.to_owned()), cluster_report_name(scope), None)
    } else {
        let winner = ctx.state.outcomes.winner(scope);
        (winner, REPORT_NAME.to_owned(), Some(scope.to_owned()))
    };
    let shown = match &namespace {
        Some(namespace) => format!("{namespace}/{name}"),
        None => name.clone(),
    };
    let what = if digest.is_none() {
        "deleted"
    } else {
        "changed"
    };
    info!(kind, report = %shown, what, "restoring a policy report someone else changed or deleted");
    ctx.metrics.drift_detected(kind);
    ctx.metrics.drift_repaired(kind);
    let Some(profile) = profile.and_then(|p| ctx.caches.profiles.get(&ObjectRef::new(&p))) else {
        return;
    };
    ctx.state.counts.add_repairs(&profile.name_any(), 1);
    let note = format!("repaired {kind} {shown}: {what} by someone else, written again");
    // Its own Event series: Events about the same related object are folded into one.
    let related = k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some(api.api_version()),
        kind: Some(kind.to_owned()),
        name: Some(name),
        namespace,
        ..Default::default()
    };
    ctx.events.repaired(&profile, &note, related).await;
}

async fn delete(
    ctx: &Context,
    resource: &ApiResource,
    namespace: &str,
    written: &mut HashMap<String, Digests>,
) {
    let reports: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), namespace, resource);
    match reports.delete(REPORT_NAME, &DeleteParams::default()).await {
        Ok(_) => {
            written.remove(namespace);
        }
        Err(kube::Error::Api(status)) if status.code == 404 => {
            written.remove(namespace);
        }
        Err(e) => {
            warn!(%namespace, error = %e, "policy report: could not delete");
            ctx.state.reports.touch(namespace);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::hash::Hash;

    use super::*;
    use crate::core::policy_report::{Outcome, ReportResult};

    /// The digest as it was first defined: the JSON text of a new object of the four
    /// fields, hashed (the oracle: digests of reports written by earlier versions must stay
    /// equal, or every report would be written again after an upgrade).
    fn content_as_text(report: &Value) -> u64 {
        let content = serde_json::json!({
            "scope": report["scope"],
            "summary": report["summary"],
            "results": report["results"],
            "source": report["source"],
        });
        let mut hasher = DefaultHasher::new();
        content.to_string().hash(&mut hasher);
        hasher.finish()
    }

    proptest::proptest! {
        /// For reports of either API with any results (messages with quotes, escapes and
        /// non-ASCII text, resources or none), the digest written while serializing equals
        /// the digest of the JSON text, of the whole object and of a `DynamicObject`'s
        /// data read back from it (as the watch, the list and the API server's answer
        /// give it); and it changes with the content.
        #[test]
        fn the_content_digest_is_that_of_the_json_text(
            results in proptest::collection::vec(
                ("[a-z]{1,8}", "\\PC{0,40}", 0u8..5, proptest::bool::ANY),
                0..12,
            ),
            api in proptest::sample::select(ReportApi::ALL.to_vec()),
            namespace in "[a-z][a-z0-9-]{0,20}",
        ) {
            let results: Vec<ReportResult> = results
                .into_iter()
                .map(|(rule, message, outcome, resource)| ReportResult {
                    source: "hardening-operator".into(),
                    policy: "BSI SYS.1.6 (2023)".into(),
                    rule,
                    category: "c".into(),
                    result: [Outcome::Pass, Outcome::Fail, Outcome::Warn, Outcome::Error, Outcome::Skip][outcome as usize],
                    scored: true,
                    message,
                    resources: if resource {
                        vec![k8s_openapi::api::core::v1::ObjectReference {
                            kind: Some("Pod".into()),
                            name: Some("app-0".into()),
                            ..Default::default()
                        }]
                    } else {
                        Vec::new()
                    },
                    properties: [("profile".to_owned(), "p".to_owned())].into(),
                })
                .collect();
            let report = report_object(api, &namespace, &results);
            let digest = content(&report);
            proptest::prop_assert_eq!(digest, content_as_text(&report));
            let object: DynamicObject = serde_json::from_value(report.clone()).unwrap();
            proptest::prop_assert_eq!(content(&object.data), digest);
            let fewer = report_object(api, &namespace, results.get(1..).unwrap_or_default());
            proptest::prop_assert_eq!(content(&fewer) == digest, results.is_empty());
        }
    }
}
