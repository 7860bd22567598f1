//! The oracle test of issue 10: random profiles across the whole spec, each judged by the
//! real checkers. For every generated profile:
//! - the API server judges the profile itself (server-side dry-run create: schema + CEL),
//!   and `validate()` judges it;
//! - every object `render` produces is dry-run applied (`dryRun=All`, server-side apply as
//!   the operator's field manager) in a real namespace, the namespace with its Pod Security
//!   labels too, and the rendered AppArmor profile goes through `apparmor_parser -Q -K`.
//!
//! The API server judges the profile as `kubectl apply` sends it: with strict field
//! validation (`fieldValidation=Strict`), so an unknown field is an error, as it is for
//! `check_manifest()`, the offline check of `hardening-operator render` and `diff` (the
//! CRD's structural schema, then `validate()`).
//!
//! Properties: whatever the API server rejects, `check_manifest()` rejects too, naming
//! every field the API server names (or one enclosing or inside it); a profile both accept renders only objects the API server accepts and an
//! AppArmor profile the parser accepts; every rejection names a field of the profile
//! (`spec....`); and `validate()` alone (what `hardening-operator render` checks offline)
//! rejects every profile whose rendered objects the API server or the parser rejects, at
//! the profile field [`hardening_operator::core::rejection::profile_field`] maps the rejection to
//! (or one enclosing or inside it), a field the generator actually set.
//!
//! Seeded (`HARDENING_ORACLE_SEED`, 64 hex digits, to try another) and bounded
//! (`HARDENING_ORACLE_CASES`, default [`DEFAULT_CASES`]); a failure prints the minimal
//! profile (proptest shrinks it) as YAML. `HARDENING_ORACLE_SURVEY=1` counts every failure
//! by class and goes on, to see all that is wrong at once. The summary printed at the end
//! (`--nocapture`) says how many profiles each checker rejected and why.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Instant;

use hardening_operator::core::api::{HardeningProfile, ValidationError, check_manifest, validate};
use hardening_operator::core::rejection::{NAMESPACE_KIND, rejection_errors};
use hardening_operator::core::render::{DesiredObject, render};
use hardening_tests::seeds::parse_seed;
use hardening_tests::{TestNamespace, cluster};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use kube::core::{GroupVersionKind, Status};
use kube::{Api, Client};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use serde_json::{Value, json};

use crate::operator_env::install_crd;

/// Profiles tried per run: 35-60 s on the 2-core reference machine.
const DEFAULT_CASES: u32 = 1000;
const DEFAULT_SEED: &str = "68617264656e696e672d6f70657261746f722d6f7261636c652d736565643031";
const PROFILE_NAME: &str = "oracle";
/// The longest `apparmor_parser` may take for one profile (the worst within the wildcard
/// budget takes about 2 s).
const APPARMOR_PARSER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_agrees_with_the_api_server_and_apparmor_parser() {
    let client = cluster().client().await;
    install_crd(&client).await;
    let namespace = TestNamespace::create(&client, "oracle", &[]).await;
    let oracle = Oracle {
        client,
        namespace: namespace.name().to_owned(),
        handle: tokio::runtime::Handle::current(),
        stats: Mutex::default(),
        survey: std::env::var_os("HARDENING_ORACLE_SURVEY").is_some(),
    };
    let started = Instant::now();
    let (oracle, result) = tokio::task::spawn_blocking(move || {
        let result = oracle.run();
        (oracle, result)
    })
    .await
    .expect("the oracle thread");
    let stats = oracle.stats.lock().unwrap();
    eprintln!(
        "validation oracle: {} profiles in {:.1} s; {}",
        stats.profiles,
        started.elapsed().as_secs_f64(),
        stats.summary()
    );
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

struct Oracle {
    client: Client,
    namespace: String,
    handle: tokio::runtime::Handle,
    stats: Mutex<Stats>,
    /// `HARDENING_ORACLE_SURVEY=1`: count every failure instead of stopping at the first.
    survey: bool,
}

/// Counts of the cases tried before the first failure (not of the shrinking after it).
#[derive(Default)]
struct Stats {
    /// Set at the first failure: shrinking repeats variants of it, which are not counted.
    failed: bool,
    profiles: u32,
    crd_rejected: u32,
    validate_rejected: u32,
    both_accepted: u32,
    /// The CRD accepted what validate() rejected (validate() is stricter there).
    only_validate_rejected: u32,
    /// validate() accepted what the CRD rejected (the schema's part: check_manifest() has it).
    only_crd_rejected: u32,
    /// check_manifest() (offline render and diff) rejected.
    offline_rejected: u32,
    /// The CRD accepted what check_manifest() rejected (it is stricter there).
    only_offline_rejected: u32,
    objects_applied: u32,
    object_rejections: u32,
    apparmor_parsed: u32,
    apparmor_rejected: u32,
    /// API server rejections of rendered objects by kind and the first words of the message.
    rejection_classes: BTreeMap<String, u32>,
    /// CRD rejections by rule message (first words).
    crd_classes: BTreeMap<String, u32>,
    /// The same, for the profiles validate() accepted.
    only_crd_classes: BTreeMap<String, u32>,
    /// Survey mode: failures by their first words.
    failures: BTreeMap<String, u32>,
}

impl Stats {
    fn summary(&self) -> String {
        let classes = |map: &BTreeMap<String, u32>| {
            map.iter()
                .map(|(class, n)| format!("\n    {n:4} {class}"))
                .collect::<String>()
        };
        format!(
            "CRD rejected {}, check_manifest() rejected {} (of them the CRD accepted {}), validate() rejected {}, both accepted {} (CRD accepted but validate() rejected {}, validate() accepted but CRD rejected {}); rendered objects dry-run {} ({} rejected), AppArmor profiles parsed {} ({} rejected)\n  rendered-object rejections (all caught by validate()):{}\n  CRD rejections:{}\n  CRD rejections of profiles validate() accepts:{}\n  failures (survey mode):{}",
            self.crd_rejected,
            self.offline_rejected,
            self.only_offline_rejected,
            self.validate_rejected,
            self.both_accepted,
            self.only_validate_rejected,
            self.only_crd_rejected,
            self.objects_applied,
            self.object_rejections,
            self.apparmor_parsed,
            self.apparmor_rejected,
            classes(&self.rejection_classes),
            classes(&self.crd_classes),
            classes(&self.only_crd_classes),
            classes(&self.failures),
        )
    }
}

/// One rejection of something rendered from the profile, with its profile fields.
struct Rejection {
    what: String,
    errors: Vec<ValidationError>,
}

impl Oracle {
    fn run(&self) -> Result<(), String> {
        let cases = std::env::var("HARDENING_ORACLE_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(DEFAULT_CASES);
        let seed_hex =
            std::env::var("HARDENING_ORACLE_SEED").unwrap_or_else(|_| DEFAULT_SEED.to_owned());
        let seed = parse_seed(&seed_hex)
            .ok_or_else(|| format!("HARDENING_ORACLE_SEED {seed_hex:?} is not 64 hex digits"))?;
        let config = Config {
            cases,
            max_shrink_iters: 300,
            failure_persistence: None,
            ..Config::default()
        };
        let mut runner =
            TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
        match runner.run(&spec(), |spec| self.handle.block_on(self.check(spec))) {
            Ok(()) => Ok(()),
            Err(TestError::Fail(reason, spec)) => Err(format!(
                "validation oracle (seed {seed_hex}): {reason}\nminimal failing profile:\n{}",
                serde_yaml_ng::to_string(&manifest(&spec)).unwrap_or_default()
            )),
            Err(TestError::Abort(reason)) => Err(format!("validation oracle aborted: {reason}")),
        }
    }

    async fn check(&self, spec: Value) -> Result<(), TestCaseError> {
        let manifest = manifest(&spec);
        let outcome = self.judge(&manifest).await;
        if let Err(what) = &outcome {
            let mut stats = self.stats.lock().unwrap();
            if self.survey {
                // Survey mode: count the failure by its first words and go on.
                let class: String = what.chars().take(240).collect();
                *stats.failures.entry(class).or_default() += 1;
                return Ok(());
            }
            stats.failed = true;
        }
        outcome.map_err(|what| {
            TestCaseError::fail(format!(
                "{what}\nprofile: {}",
                serde_json::to_string(&manifest).unwrap()
            ))
        })
    }

    async fn judge(&self, manifest: &Value) -> Result<(), String> {
        let manifest = manifest.clone();
        let fail = |what: String| what;
        let crd = self.dry_run_create(&manifest).await.map_err(&fail)?;
        let crd_accepted = crd.is_ok();
        if let Err(status) = &crd {
            check_crd_rejection(status).map_err(&fail)?;
        }
        // The offline check (render, diff) rejects what the API server rejects, at its fields.
        let offline = check_manifest(&manifest);
        if let Err(errors) = &offline {
            for error in errors {
                if !names_a_profile_field(&error.field) {
                    return Err(fail(format!(
                        "check_manifest() error names no field of the profile: {error}"
                    )));
                }
            }
        }
        if let Err(status) = &crd {
            let Err(errors) = &offline else {
                return Err(fail(format!(
                    "the API server rejects the profile, check_manifest() (offline render) accepts it: {}",
                    status.message
                )));
            };
            for field in rejected_fields(status) {
                if !errors.iter().any(|e| related(&e.field, &field)) {
                    return Err(fail(format!(
                        "the API server rejects {field} ({}), check_manifest() does not name it; its errors: {:?}",
                        status.message,
                        errors.iter().map(ToString::to_string).collect::<Vec<_>>()
                    )));
                }
            }
        }
        self.count_one(|stats| {
            stats.offline_rejected += u32::from(offline.is_err());
            stats.only_offline_rejected += u32::from(offline.is_err() && crd_accepted);
        });
        // What the operator would read: the stored (defaulted) object, else the manifest.
        let source = crd.as_ref().unwrap_or(&manifest);
        let typed = match serde_json::from_value::<HardeningProfile>(source.clone()) {
            Ok(typed) => Some(typed),
            Err(e) if crd_accepted => {
                return Err(fail(format!(
                    "the operator cannot read a profile the API server accepted: {e}"
                )));
            }
            Err(_) => None,
        };
        let validation = typed.as_ref().map(validate);
        if let Some(Err(errors)) = &validation {
            for error in errors {
                if !names_a_profile_field(&error.field) {
                    return Err(fail(format!(
                        "validate() error names no field of the profile: {error}"
                    )));
                }
            }
        }
        let validate_accepted = matches!(validation, Some(Ok(())));
        let rejections = match &typed {
            Some(typed) => self.rendered_rejections(typed).await.map_err(&fail)?,
            None => Vec::new(),
        };
        self.count(&crd, validation.as_ref(), &rejections);

        if crd_accepted && validate_accepted && !rejections.is_empty() {
            return Err(fail(format!(
                "the CRD and validate() accept the profile, but {}",
                describe(&rejections)
            )));
        }
        let validate_errors = match &validation {
            Some(Err(errors)) => errors.as_slice(),
            _ => &[],
        };
        for rejection in &rejections {
            for error in &rejection.errors {
                if !field_or_parent_is_set(&manifest, &error.field) {
                    return Err(fail(format!(
                        "{} maps to {}, a field the profile does not set: {}",
                        rejection.what, error.field, error.message
                    )));
                }
                if !validate_errors
                    .iter()
                    .any(|v| related(&v.field, &error.field))
                {
                    return Err(fail(format!(
                        "validate() (offline render) does not report {} ({}: {}); its errors: {:?}",
                        rejection.what,
                        error.field,
                        error.message,
                        validate_errors
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                    )));
                }
            }
        }
        Ok(())
    }

    /// The API server's verdict on the profile itself: the stored object, or the rejection.
    /// As `kubectl apply` creates it: `fieldValidation=Strict` (kubectl's default), dry-run.
    async fn dry_run_create(&self, manifest: &Value) -> Result<Result<Value, Status>, String> {
        let request = http::Request::post(
            "/apis/hardening.dev/v1alpha1/hardeningprofiles?dryRun=All&fieldValidation=Strict",
        )
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(manifest).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
        match self.client.request::<Value>(request).await {
            Ok(stored) => Ok(Ok(stored)),
            // 422: schema or CEL; 400: strict decoding (an unknown field, a duplicate key).
            Err(kube::Error::Api(status)) if status.code == 422 || status.code == 400 => {
                Ok(Err(*status))
            }
            Err(e) => Err(format!("dry-run create of the profile failed: {e}")),
        }
    }

    /// Dry-run applies everything `profile` renders, and parses its AppArmor profile.
    async fn rendered_rejections(
        &self,
        profile: &HardeningProfile,
    ) -> Result<Vec<Rejection>, String> {
        let desired = render(profile, &self.namespace).map_err(|e| e.to_string())?;
        let params = PatchParams::apply("hardening-operator").force().dry_run();
        let mut rejections = Vec::new();
        let spec = &profile.spec;
        let namespace_body = desired.namespace_body(&self.namespace, profile.spec.mode);
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let outcome = namespaces
            .patch(&self.namespace, &params, &Patch::Apply(&namespace_body))
            .await;
        if let Some(status) = rejected(outcome.map(|_| ()))? {
            rejections.push(Rejection {
                what: format!("the namespace ({})", status.message),
                errors: rejection_errors(spec, NAMESPACE_KIND, &self.namespace, &status),
            });
        }
        for object in &desired.objects {
            let kind = object.kind();
            let resource = ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk(kind_group(object), kind_version(object), kind.kind()),
                kind.plural(),
            );
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.client.clone(), &self.namespace, &resource);
            let body = object.to_json();
            let outcome = api
                .patch(object.name(), &params, &Patch::Apply(&body))
                .await;
            self.count_one(|stats| stats.objects_applied += 1);
            if let Some(status) = rejected(outcome.map(|_| ()))? {
                rejections.push(Rejection {
                    what: format!("{} {} ({})", kind.kind(), object.name(), status.message),
                    errors: rejection_errors(spec, kind.kind(), object.name(), &status),
                });
            }
        }
        if let Some(text) = hardening_operator::core::apparmor::render(profile) {
            self.count_one(|stats| stats.apparmor_parsed += 1);
            if let Err(message) = apparmor_parse(&text) {
                let field = "spec.apparmor".to_owned();
                rejections.push(Rejection {
                    what: format!("apparmor_parser ({message})\n{text}"),
                    errors: vec![ValidationError {
                        field,
                        message: message.clone(),
                    }],
                });
            }
        }
        Ok(rejections)
    }

    fn count_one(&self, count: impl FnOnce(&mut Stats)) {
        let mut stats = self.stats.lock().unwrap();
        if !stats.failed {
            count(&mut stats);
        }
    }

    fn count(
        &self,
        crd: &Result<Value, Status>,
        validation: Option<&Result<(), Vec<ValidationError>>>,
        rejections: &[Rejection],
    ) {
        let mut stats = self.stats.lock().unwrap();
        if stats.failed {
            return;
        }
        stats.profiles += 1;
        let crd_ok = crd.is_ok();
        let validate_ok = matches!(validation, Some(Ok(())));
        stats.crd_rejected += u32::from(!crd_ok);
        stats.validate_rejected += u32::from(!validate_ok);
        stats.both_accepted += u32::from(crd_ok && validate_ok);
        stats.only_validate_rejected += u32::from(crd_ok && !validate_ok);
        stats.only_crd_rejected += u32::from(!crd_ok && validate_ok);
        if let Err(status) = crd {
            for cause in status.details.iter().flat_map(|d| &d.causes) {
                let entry = format!("{}: {}", class(&cause.field), class(&cause.message));
                *stats.crd_classes.entry(entry.clone()).or_default() += 1;
                if validate_ok {
                    *stats.only_crd_classes.entry(entry).or_default() += 1;
                }
            }
        }
        for rejection in rejections {
            if rejection.what.starts_with("apparmor_parser") {
                stats.apparmor_rejected += 1;
            } else {
                stats.object_rejections += 1;
            }
            for error in &rejection.errors {
                // "the API server rejects KIND NAME: FIELD: CAUSE", or the parser's words.
                let kind = rejection.what.split(' ').next().unwrap_or_default();
                let mut parts = error.message.splitn(3, ": ");
                let (_, field, cause) = (parts.next(), parts.next(), parts.next());
                let entry = match (field, cause) {
                    (Some(field), Some(cause)) => {
                        format!("{kind} {}: {}", class(field), class(cause))
                    }
                    _ => format!("{kind}: {}", class(&error.message)),
                };
                *stats.rejection_classes.entry(entry).or_default() += 1;
            }
        }
    }
}

fn kind_group(object: &DesiredObject) -> &'static str {
    let version = object.kind().api_version();
    version.split_once('/').map_or("", |(group, _)| group)
}

fn kind_version(object: &DesiredObject) -> &'static str {
    let version = object.kind().api_version();
    version.split_once('/').map_or(version, |(_, v)| v)
}

/// `Some(status)` for an API server rejection, `None` for success, `Err` otherwise. A
/// rejection is a 4xx answer, or the 500 server-side apply answers for a value it cannot
/// convert (a malformed quantity: "failed to convert new object").
fn rejected(outcome: Result<(), kube::Error>) -> Result<Option<Status>, String> {
    match outcome {
        Ok(()) => Ok(None),
        Err(kube::Error::Api(status))
            if (400..500).contains(&status.code)
                || (status.code == 500 && status.message.contains("failed to convert")) =>
        {
            Ok(Some(*status))
        }
        Err(e) => Err(format!("dry-run apply failed: {e}")),
    }
}

/// A CRD rejection must name profile fields: every cause has a `spec.`/`metadata.` field.
fn check_crd_rejection(status: &Status) -> Result<(), String> {
    if status.code == 400 {
        let fields = unknown_fields(&status.message);
        return if !fields.is_empty() && fields.iter().all(|f| names_a_profile_field(f)) {
            Ok(())
        } else {
            Err(format!(
                "a strict decoding rejection names no field of the profile: {}",
                status.message
            ))
        };
    }
    let causes: Vec<_> = status.details.iter().flat_map(|d| &d.causes).collect();
    if causes.is_empty() {
        return Err(format!(
            "the CRD rejection names no field: {}",
            status.message
        ));
    }
    let named: Vec<_> = causes
        .iter()
        // The API server's note that CEL rules were skipped after schema errors.
        .filter(|cause| {
            !(cause.field == "<nil>"
                && cause
                    .message
                    .contains("some validation rules were not checked"))
        })
        .collect();
    if named.is_empty() {
        return Err(format!(
            "the CRD rejection names no field: {}",
            status.message
        ));
    }
    for cause in named {
        if !names_a_profile_field(&cause.field) {
            return Err(format!(
                "a CRD rejection names no field of the profile: {:?}: {}",
                cause.field, cause.message
            ));
        }
    }
    Ok(())
}

/// The fields of `strict decoding error: unknown field "spec.x", unknown field "spec.y"`.
fn unknown_fields(message: &str) -> Vec<String> {
    message
        .split("unknown field \"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// The profile fields an API server rejection names.
fn rejected_fields(status: &Status) -> Vec<String> {
    if status.code == 400 {
        return unknown_fields(&status.message);
    }
    status
        .details
        .iter()
        .flat_map(|d| &d.causes)
        .map(|cause| cause.field.clone())
        .filter(|field| names_a_profile_field(field))
        .collect()
}

fn names_a_profile_field(field: &str) -> bool {
    field.starts_with("spec.") || field == "spec" || field.starts_with("metadata.")
}

/// Whether two profile fields are about the same thing: one contains the other (`a.b` and
/// `a.b["c"]`), or both lie in the same list entry or map value (`spec.limitRange.limits[0]`:
/// the API server may blame a defaulted field where validate() blames the one it came from).
fn related(a: &str, b: &str) -> bool {
    let (a, b) = (&plain_path(a), &plain_path(b));
    let inside = |outer: &str, inner: &str| {
        inner
            .strip_prefix(outer)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
    };
    let entry = |field: &str| field.find(']').map(|end| field[..=end].to_owned());
    inside(a, b) || inside(b, a) || entry(a).is_some_and(|e| Some(e) == entry(b))
}

/// A field path with map keys as plain dotted names, the form the API server uses for
/// some causes (`spec.resourceQuota.hard.pods`): `hard["pods"]` and `hard[pods]` alike.
fn plain_path(field: &str) -> String {
    let mut out = String::new();
    let mut rest = field;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let inner_start = open + 1;
        let close = if rest[inner_start..].starts_with('"') {
            quoted_end(&rest[inner_start + 1..]).map(|end| inner_start + 1 + end + 1)
        } else {
            rest[inner_start..].find(']').map(|end| inner_start + end)
        };
        let Some(close) = close else {
            out.push_str(&rest[open..]);
            return out;
        };
        let inner = &rest[inner_start..close];
        if inner.parse::<usize>().is_ok() {
            out.push_str(&format!("[{inner}]"));
        } else {
            let key: String = serde_json::from_str(inner).unwrap_or_else(|_| inner.to_owned());
            out.push('.');
            out.push_str(&key);
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// A message as a class of rejection: the value it quotes, list indices and map keys and
/// regular expressions left out, cut to its first words.
fn class(message: &str) -> String {
    let mut text = message.strip_prefix("Invalid value: ").unwrap_or(message);
    if let Some(quoted) = text.strip_prefix('"') {
        text = quoted.split_once("\": ").map_or(text, |(_, rest)| rest);
    } else if text.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '{')
        || text.starts_with("null")
    {
        text = text.split_once(": ").map_or(text, |(_, rest)| rest);
    }
    let text = text.split(" '^").next().unwrap_or(text);
    let mut class = String::new();
    let mut depth = 0;
    for c in text.chars() {
        match c {
            '[' => {
                depth += 1;
                if depth == 1 {
                    class.push_str("[]");
                }
            }
            ']' if depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            // Numbers vary from case to case: one class.
            c if c.is_ascii_digit() => {
                if !class.ends_with('N') {
                    class.push('N');
                }
            }
            c => class.push(c),
        }
    }
    class.chars().take(80).collect()
}

fn describe(rejections: &[Rejection]) -> String {
    rejections
        .iter()
        .map(|r| {
            let fields: Vec<_> = r.errors.iter().map(|e| e.field.as_str()).collect();
            format!("{} rejects it (profile fields {fields:?})", r.what)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn manifest(spec: &Value) -> Value {
    json!({
        "apiVersion": "hardening.dev/v1alpha1",
        "kind": "HardeningProfile",
        "metadata": { "name": PROFILE_NAME },
        "spec": spec,
    })
}

/// Whether the profile path (`spec.resourceQuota.hard["pods"]`, `spec.limitRange.limits[0]`)
/// leads to a value in `manifest`.
fn field_is_set(manifest: &Value, field: &str) -> bool {
    let mut value = manifest;
    let mut rest = field;
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix("[\"") {
            // A quoted key, as fieldpath::key writes it (JSON string escapes).
            let Some(end) = quoted_end(inner) else {
                return false;
            };
            let key: String = match serde_json::from_str(&format!("\"{}\"", &inner[..end])) {
                Ok(key) => key,
                Err(_) => return false,
            };
            let Some(next) = value.get(&key) else {
                return false;
            };
            value = next;
            rest = &inner[end + 2..];
        } else if let Some(inner) = rest.strip_prefix('[') {
            let Some(end) = inner.find(']') else {
                return false;
            };
            let Some(next) = inner[..end]
                .parse::<usize>()
                .ok()
                .and_then(|i| value.get(i))
            else {
                return false;
            };
            value = next;
            rest = &inner[end + 1..];
        } else {
            let name = rest.strip_prefix('.').unwrap_or(rest);
            let end = name.find(['.', '[']).unwrap_or(name.len());
            let Some(next) = value.get(&name[..end]) else {
                return false;
            };
            value = next;
            rest = &name[end..];
        }
    }
    true
}

/// Whether `field` is set, or (for a value the API server requires and the profile left
/// out) the field holding it.
fn field_or_parent_is_set(manifest: &Value, field: &str) -> bool {
    let parent = field.rfind(['.', '[']).map_or("", |end| &field[..end]);
    field_is_set(manifest, field) || (!parent.is_empty() && field_is_set(manifest, parent))
}

/// The end of a quoted key's text (before `"]`), honouring backslash escapes.
fn quoted_end(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' if bytes.get(i + 1) == Some(&b']') => return Some(i),
            _ => i += 1,
        }
    }
    None
}

fn apparmor_parse(text: &str) -> Result<(), String> {
    use std::io::Write as _;
    let parser = ["/usr/sbin/apparmor_parser", "/sbin/apparmor_parser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .ok_or("apparmor_parser not found: install the Debian package apparmor (tests/prerequisites.sh)")?;
    use std::os::unix::process::CommandExt as _;
    let mut child = Command::new(parser)
        .args(["-Q", "-K"])
        // Its own process group: the parser compiles in a child process, which a kill of
        // the parser alone would leave running.
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running {parser}: {e}"))?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(text.as_bytes())
        .map_err(|e| e.to_string())?;
    // A profile the parser cannot compile in reasonable time fails a node just the same.
    let started = Instant::now();
    while child.try_wait().map_err(|e| e.to_string())?.is_none() {
        if started.elapsed() > APPARMOR_PARSER_TIMEOUT {
            // SAFETY: kill(2) on the process group this function created.
            unsafe {
                libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
            }
            let _ = child.wait();
            return Err(format!(
                "apparmor_parser did not finish within {} s",
                APPARMOR_PARSER_TIMEOUT.as_secs()
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        // The parser's complaint, without its note about the missing kernel interface.
        Err(stderr
            .lines()
            .filter(|l| !l.contains("Cache read/write disabled"))
            .collect::<Vec<_>>()
            .join(" "))
    }
}

// ---------------------------------------------------------------------------------------
// Generators: mostly plausible values with a share of adversarial ones in every field, so
// that a good part of the profiles passes every check and the rest probes each rule.

/// One value in 13 adversarial, the others good.
fn mostly<T: std::fmt::Debug + Clone + 'static>(
    good: impl Strategy<Value = T> + 'static,
    bad: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<T> {
    prop_oneof![12 => good, 1 => bad].boxed()
}

fn optional(value: impl Strategy<Value = Value> + 'static) -> BoxedStrategy<Option<Value>> {
    prop_oneof![1 => Just(None), 1 => value.prop_map(Some)].boxed()
}

fn object(fields: Vec<(&'static str, Option<Value>)>) -> Value {
    Value::Object(
        fields
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
            .collect(),
    )
}

fn one_of(values: &'static [&'static str]) -> BoxedStrategy<String> {
    proptest::sample::select(values)
        .prop_map(str::to_owned)
        .boxed()
}

/// A spec, now and then with the slips people make in a manifest: a misspelt field, a
/// value of the wrong type, an explicit null.
fn spec() -> impl Strategy<Value = Value> {
    (
        well_formed_spec(),
        prop_oneof![12 => Just(None), 1 => (0usize..8, any::<u8>()).prop_map(Some)],
    )
        .prop_map(|(mut spec, slip)| {
            if let Some((kind, n)) = slip {
                slip_into(&mut spec, kind, n);
            }
            spec
        })
}

/// One slip of kind `kind` (`n` picks where), into `spec`.
fn slip_into(spec: &mut Value, kind: usize, n: u8) {
    let misspelt = [
        "podSecurty",
        "networkpolicy",
        "resourceQuotas",
        "guardrail",
        "exludedNamespaces",
    ];
    match kind {
        0 => spec[misspelt[n as usize % misspelt.len()]] = json!({}),
        1 if spec["networkPolicy"].is_object() => spec["networkPolicy"]["allowDNS"] = json!(true),
        2 if spec["podSecurity"]["enforce"].is_object() => {
            spec["podSecurity"]["enforce"]["levle"] = json!("restricted")
        }
        3 => spec["priority"] = json!(["high", "10", "1.5"][n as usize % 3]),
        4 => spec["mode"] = Value::Null,
        5 if spec["guardrails"].is_object() => spec["guardrails"]["denyExec"] = json!("yes"),
        6 => spec["networkPolicy"] = json!({ "defaultDeny": "Ingress" }),
        7 if spec["limitRange"]["limits"][0].is_object() => {
            spec["limitRange"]["limits"][0]["maximum"] = json!({ "cpu": "1" })
        }
        _ => spec["cleanupPolicy"] = json!(n.is_multiple_of(2)),
    }
}

fn well_formed_spec() -> impl Strategy<Value = Value> {
    (
        selector(),
        prop::collection::vec(
            mostly(
                one_of(&["kube-system", "default", "team-a"]),
                one_of(&["Team_A", "-x", "a.b"]),
            ),
            0..2,
        ),
        (
            optional(
                mostly(one_of(&["Enforce", "Audit"]), one_of(&["Sometimes"])).prop_map(Value::from),
            ),
            optional(
                mostly(-1000i64..=1000, prop_oneof![Just(5000i64), Just(-1001)])
                    .prop_map(Value::from),
            ),
            optional(
                mostly(one_of(&["Delete", "Orphan"]), one_of(&["Keep"])).prop_map(Value::from),
            ),
            optional(guardrails()),
        ),
        optional(pod_security()),
        optional(network_policy()),
        optional(resource_quota()),
        optional(limit_range()),
        optional(seccomp()),
        optional(apparmor()),
    )
        .prop_map(
            |(
                selector,
                excluded,
                (mode, priority, cleanup, guardrails),
                pod_security,
                network,
                quota,
                limits,
                seccomp,
                apparmor,
            )| {
                object(vec![
                    ("namespaceSelector", Some(selector)),
                    (
                        "excludedNamespaces",
                        (!excluded.is_empty()).then(|| json!(excluded)),
                    ),
                    ("mode", mode),
                    ("priority", priority),
                    ("cleanupPolicy", cleanup),
                    ("podSecurity", pod_security),
                    ("networkPolicy", network),
                    ("resourceQuota", quota),
                    ("limitRange", limits),
                    ("seccomp", seccomp),
                    ("apparmor", apparmor),
                    ("guardrails", guardrails),
                ])
            },
        )
}

// --- Guardrails ------------------------------------------------------------------------

fn guardrails() -> BoxedStrategy<Value> {
    let registry = mostly(
        one_of(&[
            "registry.example.com",
            "registry.example.com/team",
            "registry.example.com:5000",
            "localhost:5000/a/b",
            "ghcr.io",
            "docker.io/library",
            "a",
        ]),
        one_of(&[
            "Registry.example.com",
            "registry.example.com/",
            "https://registry.example.com",
            "registry.example.com:99999",
            "registry..com",
            "",
            "-registry.example.com",
            "registry.example.com/Team",
            "registry example",
        ]),
    );
    // The pod rules of issue 22: switches, a secret-like name pattern (some not RE2) and
    // scratch volume names (some not DNS labels).
    let pattern = mostly(
        one_of(&["(?i)passw(or)?d", "^SECRET_", "token|key", "[A-Z]+_KEY$"]),
        one_of(&["(unclosed", "*x", "a{2,1}", ""]),
    );
    let scratch = mostly(
        one_of(&["tmp", "cache", "run-dir"]),
        one_of(&["Tmp", "-x", "a_b"]),
    );
    const SWITCHES: [&str; 11] = [
        "requireProfiles",
        "requireUserNamespaces",
        "denySecretEnvLiterals",
        "denyServiceAccountToken",
        "denyDefaultServiceAccount",
        "oneServicePerContainer",
        "requireController",
        "requireProbes",
        "highAvailability",
        "requireReadOnlyMounts",
        "denyMountPropagation",
    ];
    let switches = prop::collection::vec(proptest::sample::select(&SWITCHES[..]), 0..4);
    (
        (
            prop::collection::vec(registry, 0..3),
            optional(any::<bool>().prop_map(Value::from)),
            optional(any::<bool>().prop_map(Value::from)),
            optional(any::<bool>().prop_map(Value::from)),
            optional(any::<bool>().prop_map(Value::from)),
            optional(any::<bool>().prop_map(Value::from)),
        ),
        (
            switches,
            optional(pattern.prop_map(Value::from)),
            prop::collection::vec(scratch, 0..2),
        ),
    )
        .prop_map(
            |(
                (registries, tag, digest, read_only, exec, widening),
                (switches, pattern, scratch),
            )| {
                let mut fields = vec![
                    (
                        "allowedRegistries",
                        (!registries.is_empty()).then(|| json!(registries)),
                    ),
                    ("requireImageTag", tag),
                    ("requireImageDigest", digest),
                    ("requireReadOnlyRootFilesystem", read_only),
                    ("denyExec", exec),
                    ("denyWideningNetworkPolicies", widening),
                    ("secretEnvNamePattern", pattern),
                    (
                        "scratchVolumes",
                        (!scratch.is_empty()).then(|| json!(scratch)),
                    ),
                ];
                for switch in switches {
                    fields.push((switch, Some(json!(true))));
                }
                object(fields)
            },
        )
        .boxed()
}

// --- Label selectors -------------------------------------------------------------------

fn label_key() -> BoxedStrategy<String> {
    mostly(
        one_of(&[
            "app",
            "tier",
            "k8s-app",
            "kubernetes.io/metadata.name",
            "hardening.dev/tier",
            "a.b_c-d",
            "A9",
        ]),
        one_of(&[
            "bad key",
            "-app",
            "app-",
            "Example.com/x",
            "a/b/c",
            "/x",
            "x/",
            "",
            "toolong-toolong-toolong-toolong-toolong-toolong-toolong-toolong-x",
        ]),
    )
}

fn label_value() -> BoxedStrategy<String> {
    mostly(
        one_of(&["", "a", "strict", "v1.2_x-y", "ingress-nginx", "X9"]),
        one_of(&[
            "a b",
            "-x",
            "x.",
            "é",
            "toolong-toolong-toolong-toolong-toolong-toolong-toolong-toolong-x",
        ]),
    )
}

fn selector() -> BoxedStrategy<Value> {
    let expression = (
        label_key(),
        mostly(
            one_of(&["In", "NotIn", "Exists", "DoesNotExist"]),
            one_of(&["Equals", "in"]),
        ),
        prop::collection::vec(label_value(), 1..3),
        prop::bool::weighted(0.08),
    )
        .prop_map(|(key, operator, values, wrong_shape)| {
            // Values for In/NotIn, none for Exists/DoesNotExist; now and then the reverse.
            let needs_values = matches!(operator.as_str(), "In" | "NotIn");
            let values = (needs_values != wrong_shape).then(|| json!(values));
            object(vec![
                ("key", Some(json!(key))),
                ("operator", Some(json!(operator))),
                ("values", values),
            ])
        });
    (
        prop::collection::btree_map(label_key(), label_value(), 0..3),
        prop::collection::vec(expression, 0..3),
    )
        .prop_map(|(labels, expressions)| {
            object(vec![
                ("matchLabels", (!labels.is_empty()).then(|| json!(labels))),
                (
                    "matchExpressions",
                    (!expressions.is_empty()).then(|| json!(expressions)),
                ),
            ])
        })
        .boxed()
}

// --- Pod Security ------------------------------------------------------------------------

fn pod_security() -> BoxedStrategy<Value> {
    let standard = (
        mostly(
            one_of(&["privileged", "baseline", "restricted"]),
            one_of(&["superstrict"]),
        ),
        optional(
            mostly(
                one_of(&["latest", "v1.33", "v1.0", "v1.36", "v1.9"]),
                one_of(&[
                    "v1.01",
                    "v1.",
                    "v2.0",
                    "v1.99999999999999999999",
                    "v1.123456789012345678",
                    "V1.3",
                ]),
            )
            .prop_map(Value::from),
        ),
    )
        .prop_map(|(level, version)| {
            object(vec![("level", Some(json!(level))), ("version", version)])
        });
    (
        optional(standard.clone()),
        optional(standard.clone()),
        optional(standard),
    )
        .prop_map(|(enforce, audit, warn)| {
            // At least one mode, as the schema requires (mostly).
            let enforce = match (&enforce, &audit, &warn) {
                (None, None, None) => Some(json!({ "level": "baseline" })),
                _ => enforce,
            };
            object(vec![("enforce", enforce), ("audit", audit), ("warn", warn)])
        })
        .boxed()
}

// --- NetworkPolicies ---------------------------------------------------------------------

fn port() -> BoxedStrategy<Value> {
    (
        mostly(1i64..=65535, prop_oneof![Just(0i64), Just(65536), Just(-1)]),
        optional(
            mostly(0i64..=2000, prop_oneof![Just(-5000i64), Just(70000)]).prop_map(Value::from),
        ),
        optional(
            mostly(one_of(&["TCP", "UDP", "SCTP"]), one_of(&["ICMP", "tcp"])).prop_map(Value::from),
        ),
    )
        .prop_map(|(port, end_offset, protocol)| {
            // endPort as an offset from port, so most ranges are well formed.
            let end_port = end_offset.map(|offset| json!(port + offset.as_i64().unwrap_or(0)));
            object(vec![
                ("port", Some(json!(port))),
                ("endPort", end_port),
                ("protocol", protocol),
            ])
        })
        .boxed()
}

fn peer() -> BoxedStrategy<Value> {
    prop_oneof![
        16 => (optional(selector()), optional(selector())).prop_map(|(ns, pods)| {
            // Mostly at least one selector.
            let pods = if ns.is_none() && pods.is_none() { Some(json!({})) } else { pods };
            object(vec![("namespaceSelector", ns), ("podSelector", pods)])
        }),
        1 => Just(json!({})),
    ]
    .boxed()
}

fn ipv4(address: u32, prefix: u8, keep_host_bits: bool) -> String {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    let address = if keep_host_bits {
        address
    } else {
        address & mask
    };
    format!("{}/{prefix}", std::net::Ipv4Addr::from(address))
}

fn ipv6(address: u128, prefix: u8, keep_host_bits: bool) -> String {
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    let address = if keep_host_bits {
        address
    } else {
        address & mask
    };
    format!("{}/{prefix}", std::net::Ipv6Addr::from(address))
}

/// A CIDR and, for `except`, blocks inside it (or not).
fn cidr_with_except() -> BoxedStrategy<(String, Vec<String>)> {
    let family = prop_oneof![
        6 => (any::<u32>(), 0u8..=32, prop::bool::weighted(0.08), prop::collection::vec((1u8..=8, any::<u32>(), prop::bool::weighted(0.05)), 0..3))
            .prop_map(|(address, prefix, host_bits, excepts)| {
                let cidr = ipv4(address, prefix, host_bits);
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                let except = excepts
                    .into_iter()
                    .map(|(extra, bits, host)| {
                        // Inside the block: its network bits, random bits below them.
                        let inner = (address & mask) | (bits & !mask);
                        ipv4(inner, (prefix + extra).min(32), host)
                    })
                    .collect();
                (cidr, except)
            }),
        4 => (any::<u128>(), 0u8..=128, prop::bool::weighted(0.08), prop::collection::vec((1u8..=16, prop::bool::weighted(0.05)), 0..2))
            .prop_map(|(address, prefix, host_bits, excepts)| {
                let cidr = ipv6(address, prefix, host_bits);
                let except = excepts
                    .into_iter()
                    .map(|(extra, host)| ipv6(address, (prefix + extra).min(128), host))
                    .collect();
                (cidr, except)
            }),
        1 => (one_of(&[
            "10.0.0.0/08",
            "010.0.0.0/8",
            "10.0.0/8",
            "10.0.0.0",
            "10.0.0.0/33",
            "::ffff:10.0.0.0/104",
            "::10.0.0.0/104",
            "2001:DB8::/32",
            "2001:db8:0:0:0:0:0:0/32",
            "fe80::1%eth0/64",
            "::/129",
            " 10.0.0.0/8",
            "0.0.0.0/0",
            "::/0",
            "1.2.3.4/32",
            "2001:db8::1/128",
        ]), prop::collection::vec(one_of(&["10.1.0.0/16", "10.0.0.0/8", "192.168.0.0/16", "2001:db8:1::/48", "10.1.2.3/16", "abc"]), 0..2))
            .prop_map(|(cidr, except)| (cidr, except)),
    ];
    family.boxed()
}

fn egress_peer() -> BoxedStrategy<Value> {
    prop_oneof![
        12 => cidr_with_except().prop_map(|(cidr, except)| {
            object(vec![
                ("cidr", Some(json!(cidr))),
                ("except", (!except.is_empty()).then(|| json!(except))),
            ])
        }),
        12 => peer(),
        1 => (cidr_with_except(), selector()).prop_map(|((cidr, _), selector)| {
            json!({ "cidr": cidr, "podSelector": selector })
        }),
        1 => Just(json!({ "except": ["10.0.0.0/8"] })),
    ]
    .boxed()
}

fn network_policy() -> BoxedStrategy<Value> {
    let ingress = (
        prop::collection::vec(peer(), 0..3),
        prop::collection::vec(port(), 0..3),
    )
        .prop_map(|(from, ports)| {
            object(vec![
                ("from", (!from.is_empty()).then(|| json!(from))),
                ("ports", (!ports.is_empty()).then(|| json!(ports))),
            ])
        });
    let egress = (
        prop::collection::vec(egress_peer(), 0..3),
        prop::collection::vec(port(), 0..2),
    )
        .prop_map(|(to, ports)| {
            object(vec![
                ("to", (!to.is_empty()).then(|| json!(to))),
                ("ports", (!ports.is_empty()).then(|| json!(ports))),
            ])
        });
    (
        optional(mostly(
            prop::sample::subsequence(vec!["Ingress", "Egress"], 0..=2).prop_map(|d| json!(d)),
            Just(json!(["Sideways"])),
        )),
        optional(any::<bool>().prop_map(Value::from)),
        optional(any::<bool>().prop_map(Value::from)),
        prop::collection::vec(ingress, 0..3),
        prop::collection::vec(egress, 0..3),
    )
        .prop_map(|(deny, dns, same, ingress, egress)| {
            object(vec![
                ("defaultDeny", deny),
                ("allowDns", dns),
                ("allowSameNamespace", same),
                ("ingress", (!ingress.is_empty()).then(|| json!(ingress))),
                ("egress", (!egress.is_empty()).then(|| json!(egress))),
            ])
        })
        .boxed()
}

// --- Quantities and resource names -------------------------------------------------------

/// A quantity in every notation: plain, decimal (sub-milli too), SI and binary suffixes,
/// exponents, signs; as a string mostly, sometimes a JSON number; and some that are not.
fn quantity() -> BoxedStrategy<Value> {
    let mantissa = one_of(&[
        "0", "1", "2", "3", "5", "10", "64", "100", "250", "1000", "1.5", "0.5", ".5", "5.", "0.1",
        "0.0001", "0.0015", "0.003", "1.0004", "1.0006", "007", "12345", "2.25",
    ]);
    let suffix = one_of(&[
        "", "", "", "n", "u", "m", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Mi", "Gi", "Ti",
        "Pi", "Ei",
    ]);
    let text = prop_oneof![
        12 => (mantissa.clone(), suffix).prop_map(|(m, s)| format!("{m}{s}")),
        4 => (mantissa, one_of(&["e", "E"]), -12i32..=19).prop_map(|(m, e, x)| {
            let sign = if x >= 0 && x % 2 == 0 { "+" } else { "" };
            format!("{m}{e}{sign}{x}")
        }),
        1 => one_of(&["+1", "-1", "-0", "+0.5Gi", "9223372036854775807", "9223372036854775", "9223372036854776", "1e30", "123456789012345678901234", "8Ei", "1e-10"]),
        1 => one_of(&["abc", "1.2.3", "1 Gi", "", "1e", "Gi", "1Kb", "--1", ".", "1ee3", "1mi", "0x10"]),
    ];
    prop_oneof![
        16 => text.prop_map(Value::from),
        4 => (0i64..=100).prop_map(Value::from),
        1 => prop_oneof![Just(-1i64), Just(1_000_000_000_000_000_000i64)].prop_map(Value::from),
        1 => Just(json!(1.5)),
    ]
    .boxed()
}

fn quota_resource() -> BoxedStrategy<String> {
    mostly(
        one_of(&[
            "cpu",
            "memory",
            "ephemeral-storage",
            "requests.cpu",
            "requests.memory",
            "requests.storage",
            "limits.cpu",
            "limits.memory",
            "pods",
            "services",
            "secrets",
            "configmaps",
            "persistentvolumeclaims",
            "services.loadbalancers",
            "services.nodeports",
            "resourcequotas",
            "replicationcontrollers",
            "hugepages-2Mi",
            "requests.hugepages-1Gi",
            "count/pods",
            "count/deployments.apps",
            "example.com/gpu",
            "requests.example.com/gpu",
            "requests.nvidia.com/gpu",
            "example.kubernetes.io/thing",
        ]),
        one_of(&[
            "storage",
            "gpu",
            "limits.storage",
            "Pods",
            "a b",
            "-x",
            "x/",
            "/x",
            "a/b/c",
            "",
            "count",
            "requests.",
            "Example.com/gpu",
            "example.com/-gpu",
        ]),
    )
}

fn resource_quota() -> BoxedStrategy<Value> {
    let value = prop_oneof![
        // Whole numbers, which every quota resource takes, in several notations.
        3 => (0u32..500, one_of(&["", "", "k", "e2", "000m"])).prop_map(|(n, unit)| Value::from(format!("{n}{unit}"))),
        1 => (0i64..500).prop_map(Value::from),
        2 => quantity(),
    ];
    (
        prop::collection::btree_map(quota_resource(), value, 1..5),
        prop::bool::weighted(0.03),
    )
        .prop_map(|(hard, empty)| json!({ "hard": if empty { json!({}) } else { json!(hard) } }))
        .boxed()
}

/// A resource name for a LimitRange item of `limit_type`: mostly one it can bound.
fn limit_resource(limit_type: &str) -> BoxedStrategy<String> {
    let good = if limit_type == "PersistentVolumeClaim" {
        one_of(&["storage", "storage", "storage", "example.com/iops"])
    } else {
        one_of(&[
            "cpu",
            "cpu",
            "memory",
            "memory",
            "ephemeral-storage",
            "hugepages-2Mi",
            "example.com/gpu",
            "kubernetes.io/x",
        ])
    };
    mostly(
        good,
        one_of(&[
            "storage",
            "pods",
            "requests.example.com/gpu",
            "gpu",
            "Bad Name",
            "iops",
        ]),
    )
}

/// Plausible bounds for one resource: ascending min <= defaultRequest <= default <= max in
/// one unit, each present or not, and a ratio that may or may not fit max / min.
fn bounds() -> BoxedStrategy<[Option<Value>; 5]> {
    let unit = one_of(&["", "m", "Mi", "Gi", "k", "e-3", "e3"]);
    (
        unit,
        prop::collection::vec(1u32..2000, 4),
        prop::collection::vec(any::<bool>(), 5),
        one_of(&["1", "1.5", "2", "3", "4", "10", "1.0004", "1.001", "100"]),
    )
        .prop_map(|(unit, mut values, present, ratio)| {
            values.sort_unstable();
            let text = |v: u32| Value::from(format!("{v}{unit}"));
            [
                present[0].then(|| text(values[0])),
                present[1].then(|| text(values[1])),
                present[2].then(|| text(values[2])),
                present[3].then(|| text(values[3])),
                present[4].then(|| Value::from(ratio)),
            ]
        })
        .boxed()
}

fn limit_item() -> BoxedStrategy<Value> {
    mostly(
        one_of(&["Container", "Container", "Pod", "PersistentVolumeClaim"]),
        one_of(&["Node"]),
    )
    .prop_flat_map(|type_| {
        let plausible = prop::collection::btree_map(limit_resource(&type_), bounds(), 1..3);
        let random = prop::collection::vec((limit_resource(&type_), 0usize..5, quantity()), 0..2);
        (
            Just(type_),
            plausible,
            prop_oneof![4 => Just(Vec::new()), 1 => random],
        )
    })
    .prop_map(|(type_, resources, extra)| {
        const MAPS: [&str; 5] = [
            "min",
            "defaultRequest",
            "default",
            "max",
            "maxLimitRequestRatio",
        ];
        let mut item = serde_json::Map::new();
        item.insert("type".to_owned(), json!(type_));
        let mut put = |map: usize, resource: &str, value: Value| {
            item.entry(MAPS[map])
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("a map")
                .insert(resource.to_owned(), value);
        };
        for (resource, values) in resources {
            for (map, value) in values.into_iter().enumerate() {
                if let Some(value) = value {
                    put(map, &resource, value);
                }
            }
        }
        // Now and then a value in any notation, anywhere.
        for (resource, map, value) in extra {
            put(map, &resource, value);
        }
        // Defaults only where the API allows them, mostly.
        if type_ != "Container" {
            item.remove("default");
            item.remove("defaultRequest");
        }
        // A claim item needs a storage bound, mostly.
        if type_ == "PersistentVolumeClaim"
            && !item.contains_key("max")
            && !item.contains_key("min")
        {
            item.insert("max".to_owned(), json!({ "storage": "10Gi" }));
        }
        Value::Object(item)
    })
    .boxed()
}

fn limit_range() -> BoxedStrategy<Value> {
    (
        prop::collection::vec(limit_item(), 1..4),
        prop::bool::weighted(0.05),
    )
        .prop_map(|(mut limits, duplicates)| {
            // One item per type, mostly (the API server rejects duplicates).
            let mut seen = std::collections::BTreeSet::new();
            if !duplicates {
                limits.retain(|item| seen.insert(item["type"].to_string()));
            }
            json!({ "limits": limits })
        })
        .boxed()
}

// --- Seccomp and AppArmor ----------------------------------------------------------------

fn syscall() -> BoxedStrategy<String> {
    mostly(
        one_of(&[
            "read",
            "write",
            "socket",
            "connect",
            "ptrace",
            "mount",
            "unshare",
            "clone",
            "clone3",
            "personality",
            "io_uring_setup",
            "process_vm_readv",
        ]),
        one_of(&["Read", "opneat", "", "read write", "x86_64"]),
    )
}

fn seccomp() -> BoxedStrategy<Value> {
    let action = || {
        optional(
            mostly(
                one_of(&["ERRNO", "KILL_PROCESS", "KILL_THREAD", "TRAP", "LOG"]),
                one_of(&["KILL", "ALLOW"]),
            )
            .prop_map(Value::from),
        )
    };
    let errno =
        || optional(mostly(1i64..=4095, prop_oneof![Just(0i64), Just(5000)]).prop_map(Value::from));
    let deny = (prop::collection::vec(syscall(), 1..3), action(), errno()).prop_map(
        |(names, action, errno)| {
            // An errno only with ERRNO (the default), mostly.
            let errno =
                errno.filter(|_| action.as_ref().is_none_or(|a| a == "ERRNO" || a == "TRAP"));
            object(vec![
                ("names", Some(json!(names))),
                ("action", action),
                ("errno", errno),
            ])
        },
    );
    (
        optional(
            mostly(
                one_of(&["RuntimeDefault", "Strict"]),
                one_of(&["Unconfined"]),
            )
            .prop_map(Value::from),
        ),
        action(),
        errno(),
        prop::collection::vec(syscall(), 0..3),
        prop::collection::vec(deny, 0..2),
        optional(mostly(
            prop::sample::subsequence(vec!["x86_64", "x86", "x32", "aarch64", "arm"], 1..=5)
                .prop_map(|a| json!(a)),
            Just(json!(["mips"])),
        )),
    )
        .prop_map(
            |(baseline, default_action, default_errno, allow, deny, architectures)| {
                let default_errno = default_errno.filter(|_| {
                    default_action
                        .as_ref()
                        .is_none_or(|a| a == "ERRNO" || a == "LOG")
                });
                object(vec![
                    ("baseline", baseline),
                    ("defaultAction", default_action),
                    ("defaultErrno", default_errno),
                    ("allow", (!allow.is_empty()).then(|| json!(allow))),
                    ("deny", (!deny.is_empty()).then(|| json!(deny))),
                    ("architectures", architectures),
                ])
            },
        )
        .boxed()
}

/// A path glob: mostly built from the glob grammar's pieces, well or badly formed, plus
/// characters that would break out of an AppArmor rule.
fn glob() -> BoxedStrategy<String> {
    let word = prop_oneof![
        12 => one_of(&[
            "etc", "usr", "tmp", "**", "*", "?", "a.b", "x-y", "%", "=", "~", ":", "+", "_", "..",
            ".", "-", "0",
        ]),
        // Wildcards inside a path, which make the parser's work grow exponentially.
        1 => one_of(&["*a", "**b", "*c*d", "x?y"]),
    ];
    let class_char = one_of(&[
        "a", "z", "0", ".", "*", "-", "a-z", "0-9", "^", "?", ":", "_",
    ]);
    let class =
        (any::<bool>(), prop::collection::vec(class_char, 0..5)).prop_map(|(negated, body)| {
            format!("[{}{}]", if negated { "^" } else { "" }, body.concat())
        });
    let alternative = prop_oneof![3 => word.clone(), 1 => Just(String::new()), 1 => class.clone()];
    let group = prop::collection::vec(alternative, 1..4)
        .prop_map(|items| format!("{{{}}}", items.join(",")));
    let piece = prop_oneof![
        24 => word,
        4 => class,
        4 => group,
        16 => Just("/".to_owned()),
        1 => one_of(&[" ", ",", ",,", "\"", "#", "@{HOME}", "\\", "\n", "$", "}", "{", "[", "]", "{a,{b,c}}", "é", "\t"]),
    ];
    (
        prop::bool::weighted(0.95),
        prop::collection::vec(piece, 1..7),
    )
        .prop_map(|(absolute, pieces)| {
            format!("{}{}", if absolute { "/" } else { "" }, pieces.concat())
        })
        .boxed()
}

fn apparmor() -> BoxedStrategy<Value> {
    let paths = || prop::collection::vec(glob(), 0..2);
    (
        optional(
            mostly(Just("RuntimeDefault".to_owned()), one_of(&["Unconfined"]))
                .prop_map(Value::from),
        ),
        paths(),
        paths(),
        paths(),
        optional(
            optional(any::<bool>().prop_map(Value::from))
                .prop_map(|deny_raw| object(vec![("denyRaw", deny_raw)])),
        ),
        optional(
            prop::collection::vec(
                mostly(
                    one_of(&["NET_RAW", "SYS_ADMIN", "CHOWN", "SYS_PTRACE", "BPF"]),
                    one_of(&["CAP_SYS_ADMIN", "net_raw"]),
                ),
                0..3,
            )
            .prop_map(|deny| json!({ "deny": deny })),
        ),
        // The presets of issue 22 (a name that is none, a name twice in the set now and then).
        prop::collection::vec(
            mostly(
                Just("NoShellsOrPackageManagers".to_owned()),
                one_of(&["NoShells", "noShellsOrPackageManagers"]),
            ),
            0..3,
        ),
    )
        .prop_map(
            |(baseline, deny_write, read_only, no_exec, network, capabilities, presets)| {
                let list = |paths: Vec<String>| (!paths.is_empty()).then(|| json!(paths));
                object(vec![
                    ("baseline", baseline),
                    ("denyWrite", list(deny_write)),
                    ("readOnly", list(read_only)),
                    ("noExec", list(no_exec)),
                    ("network", network),
                    ("capabilities", capabilities),
                    ("presets", list(presets)),
                ])
            },
        )
        .boxed()
}

mod helpers {
    use super::*;

    #[test]
    fn profile_paths_lead_into_the_manifest() {
        let manifest = manifest(&json!({
            "resourceQuota": { "hard": { "pods": "1", "a\"b": "2" } },
            "limitRange": { "limits": [{ "type": "Pod", "max": { "cpu": "1" } }] },
        }));
        assert!(field_is_set(
            &manifest,
            r#"spec.resourceQuota.hard["pods"]"#
        ));
        assert!(field_is_set(
            &manifest,
            r#"spec.resourceQuota.hard["a\"b"]"#
        ));
        assert!(field_is_set(
            &manifest,
            r#"spec.limitRange.limits[0].max["cpu"]"#
        ));
        assert!(field_is_set(&manifest, "spec.limitRange.limits[0]"));
        assert!(field_is_set(&manifest, "metadata.name"));
        assert!(!field_is_set(
            &manifest,
            r#"spec.limitRange.limits[0].min["cpu"]"#
        ));
        assert!(!field_is_set(&manifest, "spec.limitRange.limits[1]"));
        assert!(!field_is_set(&manifest, "spec.networkPolicy"));
        assert!(related("spec.a", r#"spec.a["b"]"#));
        assert!(related(
            "spec.resourceQuota.hard.pods",
            r#"spec.resourceQuota.hard["pods"]"#
        ));
        assert_eq!(
            plain_path(r#"spec.hard["a\"]b"][0].x[cpu]"#),
            "spec.hard.a\"]b[0].x.cpu"
        );
        assert!(related("spec.a[0].b", "spec.a[0]"));
        assert!(!related("spec.ab", "spec.a"));
        assert!(related(
            r#"spec.limitRange.limits[0].max["cpu"]"#,
            r#"spec.limitRange.limits[0].default["cpu"]"#
        ));
        assert!(!related(
            r#"spec.limitRange.limits[0].max["cpu"]"#,
            r#"spec.limitRange.limits[1].max["cpu"]"#
        ));
        assert_eq!(
            class(
                r#"Invalid value: "10.0.0.1/8": must not have bits set beyond the prefix length"#
            ),
            "must not have bits set beyond the prefix length"
        );
        assert_eq!(class("spec.limits[0].max[cpu]"), "spec.limits[].max[]");
        assert_eq!(
            class("0: spec.priority in body should be greater than or equal to -1000"),
            "spec.priority in body should be greater than or equal to -N"
        );
    }
}

// ---------------------------------------------------------------------------------------
// HardeningExceptions (issue 24): the same oracle for the exception CRD. Random exceptions,
// valid and not (rule names, scopes, selectors, containers, dates, texts, slips), each judged
// by the API server (dry-run create, `fieldValidation=Strict`) and by
// `check_exception_manifest()` (the offline check of `render --exception` and `diff
// --exception`: the CRD's structural schema, then `validate_exception()`). Whatever the API
// server rejects, the offline check rejects too, naming every field the API server names (or
// one enclosing or inside it); what the API server accepts, the operator can read. The
// offline check is stricter only where the API server does not look: label selector syntax
// (counted and printed).

/// Exceptions tried per run (a dry-run request each).
const EXCEPTION_CASES: u32 = 400;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exception_validation_agrees_with_the_api_server() {
    use hardening_operator::core::api::{HardeningException, check_exception_manifest};
    let client = cluster().client().await;
    install_crd(&client).await;
    let handle = tokio::runtime::Handle::current();
    let seed_hex =
        std::env::var("HARDENING_ORACLE_SEED").unwrap_or_else(|_| DEFAULT_SEED.to_owned());
    let seed = parse_seed(&seed_hex).expect("HARDENING_ORACLE_SEED is 64 hex digits");
    type Counts = (u32, u32, u32, BTreeMap<String, u32>, BTreeMap<String, u32>);
    let stats = std::sync::Arc::new(Mutex::new(Counts::default()));
    let started = Instant::now();
    let result = tokio::task::spawn_blocking({
        let client = client.clone();
        let stats = stats.clone();
        move || {
            let config = Config {
                cases: EXCEPTION_CASES,
                max_shrink_iters: 200,
                failure_persistence: None,
                ..Config::default()
            };
            let mut runner =
                TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
            runner.run(&exception_manifest(), |manifest| {
                handle.block_on(async {
                    let crd = dry_run_exception(&client, &manifest)
                        .await
                        .map_err(TestCaseError::fail)?;
                    let offline = check_exception_manifest(&manifest);
                    let mut s = stats.lock().unwrap();
                    s.0 += 1;
                    match (&crd, &offline) {
                        (Err(status), Ok(_)) => {
                            return Err(TestCaseError::fail(format!(
                                "the API server rejects the exception, check_exception_manifest() accepts it: {}",
                                status.message
                            )));
                        }
                        (Err(status), Err(errors)) => {
                            s.1 += 1;
                            for cause in status.details.iter().flat_map(|d| &d.causes) {
                                *s.4.entry(format!("{}: {}", plain_path(&cause.field), class(&cause.message))).or_default() += 1;
                            }
                            check_crd_rejection(status).map_err(TestCaseError::fail)?;
                            for field in rejected_fields(status) {
                                if !errors.iter().any(|e| related(&e.field, &field)) {
                                    return Err(TestCaseError::fail(format!(
                                        "the API server rejects {field} ({}), check_exception_manifest() does not name it: {errors:?}",
                                        status.message
                                    )));
                                }
                            }
                        }
                        (Ok(stored), offline) => {
                            serde_json::from_value::<HardeningException>(stored.clone()).map_err(
                                |e| {
                                    TestCaseError::fail(format!(
                                        "the operator cannot read an exception the API server accepted: {e}"
                                    ))
                                },
                            )?;
                            if let Err(errors) = offline {
                                s.2 += 1;
                                for e in errors {
                                    *s.3.entry(class(&e.message)).or_default() += 1;
                                    if !e.field.contains("elector") {
                                        return Err(TestCaseError::fail(format!(
                                            "check_exception_manifest() refuses what the API server accepts, beyond label selector syntax: {e}"
                                        )));
                                    }
                                }
                            }
                        }
                    }
                    Ok(())
                })
            })
        }
    })
    .await
    .expect("the oracle thread");
    let s = stats.lock().unwrap();
    let lines = |map: &BTreeMap<String, u32>| {
        map.iter()
            .map(|(class, n)| format!("\n    {n:4} {class}"))
            .collect::<String>()
    };
    eprintln!(
        "exception oracle: {} exceptions in {:.1} s; the API server rejected {} (by field and rule:{}\n  ), the offline check also rejected {} the API server accepts (label selector syntax):{}",
        s.0,
        started.elapsed().as_secs_f64(),
        s.1,
        lines(&s.4),
        s.2,
        lines(&s.3),
    );
    if let Err(failure) = result {
        panic!("exception oracle (seed {seed_hex}): {failure}");
    }
}

/// The API server's verdict on an exception: the stored object, or the rejection.
async fn dry_run_exception(
    client: &Client,
    manifest: &Value,
) -> Result<Result<Value, Status>, String> {
    let request = http::Request::post(
        "/apis/hardening.dev/v1alpha1/hardeningexceptions?dryRun=All&fieldValidation=Strict",
    )
    .header("Content-Type", "application/json")
    .body(serde_json::to_vec(manifest).map_err(|e| e.to_string())?)
    .map_err(|e| e.to_string())?;
    match client.request::<Value>(request).await {
        Ok(stored) => Ok(Ok(stored)),
        Err(kube::Error::Api(status)) if status.code == 422 || status.code == 400 => {
            Ok(Err(*status))
        }
        Err(e) => Err(format!("dry-run create of the exception failed: {e}")),
    }
}

fn exception_manifest() -> impl Strategy<Value = Value> {
    let name = mostly(
        one_of(&["shop", "team-a", "legacy"]),
        one_of(&["Team_A", "-x", "a.b", ""]),
    );
    // Distinct names mostly (a repeated one is a slip the schema's set refuses).
    let names = prop_oneof![
        8 => prop::collection::btree_set(name.clone(), 1..3).prop_map(|s| s.into_iter().collect::<Vec<_>>()),
        1 => prop::collection::vec(name, 2..3),
        2 => Just(Vec::new()),
    ];
    // Mostly the container rules (a pod selector and container names fit them), now and
    // then the request rules (which take neither) or a name that is no rule.
    let rules = prop::collection::vec(
        prop_oneof![
            8 => one_of(&[
                "allowedRegistries",
                "requireImageTag",
                "requireImageDigest",
                "requireReadOnlyRootFilesystem",
            ]),
            3 => one_of(&["denyExec", "denyPortForward", "denyPodProxy", "denyWideningNetworkPolicies"]),
            1 => one_of(&["requireNothing", "deny_exec", ""]),
        ],
        1..3,
    );
    let rules = prop_oneof![
        8 => rules.clone().prop_map(|r| {
            let mut seen = std::collections::BTreeSet::new();
            r.into_iter().filter(|x| seen.insert(x.clone())).collect::<Vec<_>>()
        }),
        1 => rules,
        1 => Just(Vec::new()),
    ];
    let sometimes = |value: BoxedStrategy<Value>| {
        prop_oneof![3 => Just(None), 1 => value.prop_map(Some)].boxed()
    };
    let expires = mostly(
        one_of(&[
            "2026-12-31T23:59:59Z",
            "2027-01-01T00:00:00+01:00",
            "2026-06-30T12:00:00.5Z",
            "2030-02-28T00:00:00-05:30",
            "2028-02-29T00:00:00Z",
        ]),
        one_of(&[
            "tomorrow",
            "2026-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-12-31T24:00:00Z",
            "2026-12-31T23:59:60Z",
            "2026-12-31T23:59:59",
            "2026-12-31 23:59:59Z",
            "2026-12-31t23:59:59z",
            "1999-12-31T23:59:59Z",
            "2000-01-01T00:00:00Z",
            "2027-02-29T00:00:00Z",
            "2026-12-31T23:59:59.1234567891Z",
            "",
        ]),
    );
    let text = |good: &'static [&'static str]| {
        mostly(
            one_of(good),
            prop_oneof![Just(String::new()), Just("x".repeat(1100))],
        )
    };
    (
        (
            mostly(
                one_of(&["strict", "bsi.strict", "a"]),
                one_of(&["Strict", "", "a_b", "-a"]),
            ),
            names,
            sometimes(selector()),
            sometimes(selector()),
            prop_oneof![
                3 => Just(Vec::new()),
                1 => prop::collection::vec(
                    mostly(one_of(&["app", "sidecar"]), one_of(&["App", "a b", ""])),
                    1..3,
                ),
            ],
            rules,
        ),
        (
            sometimes(mostly(
                one_of(&["privileged", "baseline", "restricted"]).prop_map(|l| json!(l)),
                one_of(&["none", "Baseline"]).prop_map(|l| json!(l)),
            )),
            text(&["legacy image, RISK-1", "vendor fix pending"]),
            text(&["team-a", "alice@example.com"]),
            expires,
            prop_oneof![12 => Just(None), 1 => (0usize..4).prop_map(Some)],
        ),
    )
        .prop_map(
            |(
                (profile, names, ns_selector, pod_selector, containers, rules),
                (level, reason, owner, expires, slip),
            )| {
                let namespaces = object(vec![
                    ("names", (!names.is_empty()).then(|| json!(names))),
                    ("selector", ns_selector),
                ]);
                let mut spec = object(vec![
                    ("profile", Some(json!(profile))),
                    ("namespaces", Some(namespaces)),
                    ("podSelector", pod_selector),
                    (
                        "containers",
                        (!containers.is_empty()).then(|| json!(containers)),
                    ),
                    ("rules", (!rules.is_empty()).then(|| json!(rules))),
                    ("podSecurityLevel", level),
                    ("reason", Some(json!(reason))),
                    ("owner", Some(json!(owner))),
                    ("expires", Some(json!(expires))),
                ]);
                match slip {
                    Some(0) => spec["rule"] = json!(["denyExec"]),
                    Some(1) => spec["expires"] = json!(20261231),
                    Some(2) => spec["owner"] = Value::Null,
                    Some(_) => spec["namespaces"]["name"] = json!(["shop"]),
                    None => {}
                }
                json!({
                    "apiVersion": "hardening.dev/v1alpha1",
                    "kind": "HardeningException",
                    "metadata": { "name": "oracle-exception" },
                    "spec": spec,
                })
            },
        )
}
