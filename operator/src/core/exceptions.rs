//! HardeningExceptions judged, without I/O: whether each is in force for its profile at a
//! given time ([`judge`], [`profile_exceptions`]), and what one in force covers (a
//! namespace, a pod, a container, a rule, the Pod Security level of a namespace).
//!
//! An exception is in force from the moment the operator accepts it until its `expires`.
//! The API server cannot tell the time (admission CEL has no clock), so it honours exactly
//! the exceptions the operator lists in the profile's `status.exceptions.active`; the
//! operator removes one at its expiry (the profile reconciler is requeued for the nearest
//! expiry, see [`next_change`]). While the operator is not running, an expired exception
//! keeps applying until it is back: the status, the `ExceptionExpired` Event and the README
//! say so.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use crate::core::api::{
    ActiveException, ExceptionState, ExceptionsStatus, HardeningException, HardeningProfile,
    MAX_ACTIVE_EXCEPTIONS, MAX_EXCEPTION_TEXT, PodSecurityLevel, expiry, selector_matches,
    truncate_text, validate_exception,
};

/// An exception expiring within this time is "expiring soon" (status, metric, alert).
pub const EXPIRING_SOON: Duration = Duration::from_secs(7 * 24 * 3600);
/// The default of `--max-exception-duration`: 90 days.
pub const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(90 * 24 * 3600);

/// Stable reasons of an exception's status.
pub mod reasons {
    pub const ACTIVE: &str = "Active";
    pub const EXPIRING_SOON: &str = "ExpiringSoon";
    pub const EXPIRED: &str = "Expired";
    pub const INVALID_SPEC: &str = "InvalidSpec";
    pub const EXPIRY_NOT_AFTER_CREATION: &str = "ExpiryNotAfterCreation";
    pub const TOO_LONG: &str = "TooLong";
    pub const LEVEL_NOT_LOWER: &str = "LevelNotLower";
    pub const PROFILE_NOT_FOUND: &str = "ProfileNotFound";
    pub const TOO_MANY: &str = "TooManyExceptions";
}

/// What the operator makes of one exception at one time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judgement {
    pub state: ExceptionState,
    /// One of [`reasons`].
    pub reason: &'static str,
    pub message: String,
}

impl Judgement {
    fn new(state: ExceptionState, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            state,
            reason,
            message: message.into(),
        }
    }
}

/// A duration in words: `90 days`, `2 days 3 hours`, `5 minutes`, `30 seconds`.
pub fn words(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (days, hours, minutes) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    let unit = |n: u64, what: &str| crate::core::plural::count(n, what).to_string();
    match (days, hours, minutes) {
        (0, 0, 0) => unit(secs, "second"),
        (0, 0, m) => unit(m, "minute"),
        (0, h, 0) => unit(h, "hour"),
        (0, h, m) => format!("{} {}", unit(h, "hour"), unit(m, "minute")),
        (d, 0, _) => unit(d, "day"),
        (d, h, _) => format!("{} {}", unit(d, "day"), unit(h, "hour")),
    }
}

/// Milliseconds from `a` to `b` (negative when `b` is earlier).
fn millis_between(a: Timestamp, b: Timestamp) -> i64 {
    b.as_millisecond() - a.as_millisecond()
}

/// When the exception was created; a manifest read from a file (no creation time yet)
/// counts as created `now`.
fn created(exception: &HardeningException, now: Timestamp) -> Timestamp {
    exception
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or(now, |t| t.0)
}

/// Judges `exception` for `profile` (the profile it names, `None` when it does not exist)
/// at `now`, with `max` the longest an exception may last from its creation.
///
/// In this order: a spec the CRD's rules refuse (`Invalid`, `InvalidSpec`), an expiry not
/// after the creation (`ExpiryNotAfterCreation`) or more than `max` after it (`TooLong`);
/// an expiry passed (`Expired`); no such profile (`Pending`, `ProfileNotFound`); a Pod
/// Security level not lower than the profile's enforce level (`Invalid`, `LevelNotLower`);
/// else in force (`Active`, or `ExpiringSoon` within a week of its expiry).
pub fn judge(
    exception: &HardeningException,
    profile: Option<&HardeningProfile>,
    now: Timestamp,
    max: Duration,
) -> Judgement {
    use ExceptionState::{Active, Expired, Invalid, Pending};
    if let Err(problems) = validate_exception(exception) {
        let text = problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        return Judgement::new(Invalid, reasons::INVALID_SPEC, text);
    }
    let spec = &exception.spec;
    let expires = match expiry(&spec.expires) {
        Ok(at) => at,
        Err(problem) => {
            return Judgement::new(Invalid, reasons::INVALID_SPEC, problem);
        }
    };
    let created = created(exception, now);
    let lasts = millis_between(created, expires);
    if lasts <= 0 {
        return Judgement::new(
            Invalid,
            reasons::EXPIRY_NOT_AFTER_CREATION,
            format!(
                "expires {} is not after the exception's creation ({created}): it never applies",
                spec.expires
            ),
        );
    }
    let max_ms = i64::try_from(max.as_millis()).unwrap_or(i64::MAX);
    if lasts > max_ms {
        return Judgement::new(
            Invalid,
            reasons::TOO_LONG,
            format!(
                "expires {} is {} after the exception's creation ({created}), longer than the operator allows ({}, --max-exception-duration): it never applies; ask for a shorter one, and for a new exception when it ends",
                spec.expires,
                words(Duration::from_millis(lasts as u64)),
                words(max)
            ),
        );
    }
    if millis_between(now, expires) <= 0 {
        return Judgement::new(
            Expired,
            reasons::EXPIRED,
            format!(
                "expired at {}: the rules of profile {} apply again",
                spec.expires, spec.profile
            ),
        );
    }
    let Some(profile) = profile else {
        return Judgement::new(
            Pending,
            reasons::PROFILE_NOT_FOUND,
            format!(
                "there is no HardeningProfile {}: nothing is suspended",
                spec.profile
            ),
        );
    };
    if let Some(level) = spec.pod_security_level {
        let enforced = profile
            .spec
            .pod_security
            .as_ref()
            .and_then(|ps| ps.enforce.as_ref())
            .map(|e| e.level);
        match enforced {
            Some(enforced) if level < enforced => {}
            Some(enforced) => {
                return Judgement::new(
                    Invalid,
                    reasons::LEVEL_NOT_LOWER,
                    format!(
                        "podSecurityLevel {} is not lower than the Pod Security enforce level of profile {} ({}): nothing to lower",
                        level.as_str(),
                        spec.profile,
                        enforced.as_str()
                    ),
                );
            }
            None => {
                return Judgement::new(
                    Invalid,
                    reasons::LEVEL_NOT_LOWER,
                    format!(
                        "profile {} sets no Pod Security enforce level: podSecurityLevel {} has nothing to lower",
                        spec.profile,
                        level.as_str()
                    ),
                );
            }
        }
    }
    let left = Duration::from_millis(millis_between(now, expires) as u64);
    let reason = if left <= EXPIRING_SOON {
        reasons::EXPIRING_SOON
    } else {
        reasons::ACTIVE
    };
    Judgement::new(
        Active,
        reason,
        format!(
            "in force until {} ({} from now): {}",
            spec.expires,
            words(left),
            suspends(spec.rules.as_slice(), spec.pod_security_level)
        ),
    )
}

/// What an exception suspends, in words: `guardrails requireReadOnlyRootFilesystem and
/// allowedRegistries suspended; Pod Security enforce lowered to baseline`.
pub fn suspends(rules: &[String], level: Option<PodSecurityLevel>) -> String {
    let mut parts = Vec::new();
    match rules {
        [] => {}
        [one] => parts.push(format!("guardrail {one} suspended")),
        many => parts.push(format!("guardrails {} suspended", many.join(", "))),
    }
    if let Some(level) = level {
        parts.push(format!(
            "Pod Security enforce lowered to {}",
            level.as_str()
        ));
    }
    parts.join("; ")
}

/// The entry of an exception in force in its profile's status.
pub fn active_entry(exception: &HardeningException) -> ActiveException {
    let spec = &exception.spec;
    ActiveException {
        name: exception.name_any(),
        rules: spec.rules.clone(),
        pod_security_level: spec.pod_security_level,
        namespaces: spec.namespaces.names.clone(),
        namespace_selector: spec.namespaces.selector.clone(),
        pod_selector: spec.pod_selector.clone(),
        containers: spec.containers.clone(),
        expires: spec.expires.clone(),
        owner: cut(&spec.owner),
        reason: cut(&spec.reason),
    }
}

fn cut(text: &str) -> String {
    if text.chars().count() <= MAX_EXCEPTION_TEXT {
        text.to_owned()
    } else {
        truncate_text(text)
    }
}

/// Every exception of a profile judged, and what the profile's status says of them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProfileExceptions {
    /// Each exception naming the profile, by name, with its judgement.
    pub judged: Vec<(String, Judgement)>,
    /// `status.exceptions`; `None` when no exception names the profile.
    pub status: Option<ExceptionsStatus>,
}

/// Judges every exception of `exceptions` that names `profile` (at `now`, with `max`):
/// those in force (at most [`MAX_ACTIVE_EXCEPTIONS`], by name; the others `Pending`
/// `TooManyExceptions`) become `status.exceptions.active`, the admission policy's list.
pub fn profile_exceptions<'a>(
    profile: &HardeningProfile,
    exceptions: impl IntoIterator<Item = &'a HardeningException>,
    now: Timestamp,
    max: Duration,
) -> ProfileExceptions {
    let name = profile.name_any();
    let mut mine: Vec<&HardeningException> = exceptions
        .into_iter()
        .filter(|e| e.spec.profile == name && e.metadata.deletion_timestamp.is_none())
        .collect();
    if mine.is_empty() {
        return ProfileExceptions::default();
    }
    mine.sort_by_key(|e| e.name_any());
    let mut status = ExceptionsStatus::default();
    let mut judged = Vec::with_capacity(mine.len());
    let mut inactive = Vec::new();
    for exception in mine {
        let mut judgement = judge(exception, Some(profile), now, max);
        if judgement.state == ExceptionState::Active {
            if status.active.len() < MAX_ACTIVE_EXCEPTIONS {
                status.active.push(active_entry(exception));
                if judgement.reason == reasons::EXPIRING_SOON {
                    status.expiring_soon += 1;
                }
            } else {
                judgement = Judgement::new(
                    ExceptionState::Pending,
                    reasons::TOO_MANY,
                    format!(
                        "profile {name} already has {MAX_ACTIVE_EXCEPTIONS} exceptions in force (the most its admission policy reads): this one is not applied"
                    ),
                );
            }
        }
        match judgement.state {
            ExceptionState::Expired => status.expired += 1,
            ExceptionState::Invalid | ExceptionState::Pending => status.not_applied += 1,
            ExceptionState::Active => {}
        }
        if judgement.state != ExceptionState::Active {
            inactive.push(format!("{}: {}", exception.name_any(), judgement.message));
        }
        judged.push((exception.name_any(), judgement));
    }
    status.inactive = inactive
        .into_iter()
        .take(10)
        .map(|line| {
            if line.chars().count() > 512 {
                line.chars().take(511).collect::<String>() + "…"
            } else {
                line
            }
        })
        .collect();
    ProfileExceptions {
        judged,
        status: Some(status),
    }
}

/// When the judgement of `exceptions` (of one profile) changes next after `now`: the
/// nearest expiry of one in force, or the moment one starts expiring within a week;
/// `None` when nothing changes with time.
pub fn next_change<'a>(
    exceptions: impl IntoIterator<Item = &'a HardeningException>,
    now: Timestamp,
) -> Option<Duration> {
    let soon = i64::try_from(EXPIRING_SOON.as_millis()).unwrap_or(i64::MAX);
    exceptions
        .into_iter()
        .filter_map(|e| expiry(&e.spec.expires).ok())
        .flat_map(|at| {
            let to_expiry = millis_between(now, at);
            [to_expiry, to_expiry - soon]
        })
        .filter(|ms| *ms > 0)
        .min()
        .map(|ms| Duration::from_millis(ms as u64))
}

/// The exceptions in force of `profile`, as its status lists them.
pub fn active_of(profile: &HardeningProfile) -> &[ActiveException] {
    profile
        .status
        .as_ref()
        .and_then(|s| s.exceptions.as_ref())
        .map_or(&[], |e| e.active.as_slice())
}

/// A digest of a profile's exceptions in force: what the namespace reconciler judged
/// with, compared with what the status holds now. 0 for none (an outcome's default).
pub fn digest(active: &[ActiveException]) -> u64 {
    if active.is_empty() {
        return 0;
    }
    let mut hasher = std::hash::DefaultHasher::new();
    serde_json::to_string(active)
        .unwrap_or_default()
        .hash(&mut hasher);
    hasher.finish()
}

/// Whether `exception` covers the namespace `name` with `labels`.
pub fn covers_namespace(
    exception: &ActiveException,
    name: &str,
    labels: &BTreeMap<String, String>,
) -> bool {
    exception.namespaces.iter().any(|n| n == name)
        || exception
            .namespace_selector
            .as_ref()
            .is_some_and(|s| selector_matches(s, labels))
}

/// The exceptions of `active` that cover the namespace `name` with `labels`.
pub fn covering(
    active: &[ActiveException],
    name: &str,
    labels: &BTreeMap<String, String>,
) -> Vec<ActiveException> {
    active
        .iter()
        .filter(|e| covers_namespace(e, name, labels))
        .cloned()
        .collect()
}

/// Whether `exception` (covering the pod's namespace) suspends `rule` for a pod with
/// `labels`, and, for a container rule, for `container` (`None`: the pod as a whole, which
/// an exception naming containers does not cover). The admission policy decides the same
/// (`core::guardrails`).
pub fn suspends_rule(
    exception: &ActiveException,
    rule: &str,
    labels: &BTreeMap<String, String>,
    container: Option<&str>,
) -> bool {
    exception.rules.iter().any(|r| r == rule)
        && exception
            .pod_selector
            .as_ref()
            .is_none_or(|s| selector_matches(s, labels))
        && match container {
            _ if exception.containers.is_empty() => true,
            Some(c) => exception.containers.iter().any(|n| n == c),
            None => false,
        }
}

/// The lowest Pod Security enforce level the exceptions of `active` give the namespace
/// `name` (named in them), with the first exception giving it.
pub fn lowered_level<'a>(
    active: &'a [ActiveException],
    name: &str,
) -> Option<(PodSecurityLevel, &'a ActiveException)> {
    active
        .iter()
        .filter(|e| e.namespaces.iter().any(|n| n == name))
        .filter_map(|e| e.pod_security_level.map(|level| (level, e)))
        .min_by_key(|(level, _)| *level)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use k8s_openapi::jiff::Timestamp;
    use serde_json::json;

    use super::*;
    use crate::fixtures::{exception, profile};

    const CREATED: &str = "2026-01-01T00:00:00Z";
    const DAY: Duration = Duration::from_secs(86_400);

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn strict() -> HardeningProfile {
        profile("strict")
            .spec_yaml(
                "podSecurity: {enforce: {level: restricted}}\nguardrails: {requireImageTag: true}",
            )
            .build()
    }

    /// An exception for `strict` in namespace `shop`, created at [`CREATED`], expiring at
    /// `expires`, suspending `requireImageTag`.
    fn tagged(name: &str, expires: &str) -> HardeningException {
        exception(name, "strict", "shop", expires)
            .created(CREATED)
            .spec(json!({ "rules": ["requireImageTag"] }))
            .build()
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn an_exception_is_in_force_until_it_expires_and_says_when_it_expires_soon() {
        let e = tagged("legacy", "2026-03-01T00:00:00Z");
        let p = strict();
        let max = DEFAULT_MAX_DURATION;
        let active = judge(&e, Some(&p), at("2026-01-02T00:00:00Z"), max);
        assert_eq!(
            (active.state, active.reason),
            (ExceptionState::Active, reasons::ACTIVE)
        );
        assert!(
            active.message.contains("until 2026-03-01T00:00:00Z")
                && active
                    .message
                    .contains("guardrail requireImageTag suspended"),
            "{}",
            active.message
        );
        let soon = judge(&e, Some(&p), at("2026-02-25T00:00:00Z"), max);
        assert_eq!(
            (soon.state, soon.reason),
            (ExceptionState::Active, reasons::EXPIRING_SOON)
        );
        assert!(soon.message.contains("4 days from now"), "{}", soon.message);
        // At the very moment of its expiry it no longer applies.
        let expired = judge(&e, Some(&p), at("2026-03-01T00:00:00Z"), max);
        assert_eq!(
            (expired.state, expired.reason),
            (ExceptionState::Expired, reasons::EXPIRED)
        );
        assert!(
            expired
                .message
                .contains("rules of profile strict apply again"),
            "{}",
            expired.message
        );
    }

    #[test]
    fn expiries_not_after_creation_or_beyond_the_maximum_never_apply() {
        let p = strict();
        let now = at("2026-01-02T00:00:00Z");
        let past = judge(
            &tagged("past", "2025-12-31T00:00:00Z"),
            Some(&p),
            now,
            DEFAULT_MAX_DURATION,
        );
        assert_eq!(
            (past.state, past.reason),
            (ExceptionState::Invalid, reasons::EXPIRY_NOT_AFTER_CREATION)
        );
        let at_creation = judge(&tagged("now", CREATED), Some(&p), now, DEFAULT_MAX_DURATION);
        assert_eq!(at_creation.reason, reasons::EXPIRY_NOT_AFTER_CREATION);
        // 91 days after creation with a maximum of 90 days; exactly 90 is fine.
        let long = judge(
            &tagged("long", "2026-04-02T00:00:00Z"),
            Some(&p),
            now,
            90 * DAY,
        );
        assert_eq!(
            (long.state, long.reason),
            (ExceptionState::Invalid, reasons::TOO_LONG)
        );
        assert!(
            long.message.contains("91 days after") && long.message.contains("(90 days"),
            "{}",
            long.message
        );
        let exact = judge(
            &tagged("exact", "2026-04-01T00:00:00Z"),
            Some(&p),
            now,
            90 * DAY,
        );
        assert_eq!(exact.state, ExceptionState::Active);
        // A small maximum, as the integration tests use.
        let minutes = judge(
            &tagged("short", "2026-01-01T00:03:00Z"),
            Some(&p),
            at("2026-01-01T00:01:00Z"),
            Duration::from_secs(120),
        );
        assert_eq!(minutes.reason, reasons::TOO_LONG);
        assert!(
            minutes.message.contains("3 minutes after"),
            "{}",
            minutes.message
        );
    }

    #[test]
    fn a_file_not_applied_yet_counts_as_created_now() {
        let e = exception("new", "strict", "shop", "2026-01-10T00:00:00Z")
            .spec(json!({ "rules": ["requireImageTag"] }))
            .build();
        let j = judge(&e, Some(&strict()), at("2026-01-05T00:00:00Z"), 7 * DAY);
        assert_eq!(j.state, ExceptionState::Active);
        let j = judge(&e, Some(&strict()), at("2026-01-01T00:00:00Z"), 7 * DAY);
        assert_eq!(j.reason, reasons::TOO_LONG);
    }

    #[test]
    fn a_missing_profile_and_a_level_not_lower_apply_nothing() {
        let now = at("2026-01-02T00:00:00Z");
        let e = tagged("legacy", "2026-02-01T00:00:00Z");
        let missing = judge(&e, None, now, DEFAULT_MAX_DURATION);
        assert_eq!(
            (missing.state, missing.reason),
            (ExceptionState::Pending, reasons::PROFILE_NOT_FOUND)
        );
        let level = |level: &str| {
            exception("level", "strict", "shop", "2026-02-01T00:00:00Z")
                .created(CREATED)
                .spec(json!({ "podSecurityLevel": level }))
                .build()
        };
        let same = judge(
            &level("restricted"),
            Some(&strict()),
            now,
            DEFAULT_MAX_DURATION,
        );
        assert_eq!(
            (same.state, same.reason),
            (ExceptionState::Invalid, reasons::LEVEL_NOT_LOWER)
        );
        let lower = judge(
            &level("baseline"),
            Some(&strict()),
            now,
            DEFAULT_MAX_DURATION,
        );
        assert_eq!(lower.state, ExceptionState::Active);
        assert!(
            lower
                .message
                .contains("Pod Security enforce lowered to baseline"),
            "{}",
            lower.message
        );
        let no_level = profile("strict")
            .spec_yaml("guardrails: {denyExec: true}")
            .build();
        let none = judge(
            &level("baseline"),
            Some(&no_level),
            now,
            DEFAULT_MAX_DURATION,
        );
        assert_eq!(none.reason, reasons::LEVEL_NOT_LOWER);
    }

    #[test]
    fn specs_the_crd_refuses_are_invalid() {
        let now = at("2026-01-02T00:00:00Z");
        for (spec, words) in [
            (
                json!({ "rules": ["requireSomething"] }),
                "is no guardrail rule",
            ),
            (json!({ "rules": [] }), "suspends guardrail rules (rules)"),
            (
                json!({ "rules": ["denyExec"], "podSelector": { "matchLabels": { "app": "x" } } }),
                "podSelector only narrows rules that judge pods",
            ),
            (
                json!({ "rules": ["denyPortForward"], "containers": ["app"] }),
                "containers only narrows rules that judge containers",
            ),
            (
                json!({ "podSecurityLevel": "baseline", "namespaces": { "selector": { "matchLabels": { "a": "b" } } } }),
                "only allowed for namespaces given by name",
            ),
            (
                json!({ "rules": ["requireImageTag"], "expires": "2026-02-30T00:00:00Z" }),
                "no valid date and time",
            ),
            (
                json!({ "rules": ["requireImageTag"], "podSelector": { "matchLabels": { "bad key!": "x" } } }),
                "spec.podSelector.matchLabels",
            ),
        ] {
            let e = exception("bad", "strict", "shop", "2026-02-01T00:00:00Z")
                .created(CREATED)
                .spec(spec.clone())
                .build();
            let j = judge(&e, Some(&strict()), now, DEFAULT_MAX_DURATION);
            assert_eq!(
                (j.state, j.reason),
                (ExceptionState::Invalid, reasons::INVALID_SPEC),
                "{spec}"
            );
            assert!(j.message.contains(words), "{spec}: {}", j.message);
        }
    }

    #[test]
    fn a_profile_lists_its_exceptions_in_force_by_name_at_most_32() {
        let now = at("2026-01-02T00:00:00Z");
        let mut all: Vec<HardeningException> = (0..35)
            .map(|i| tagged(&format!("e{i:02}"), "2026-01-05T00:00:00Z"))
            .collect();
        all.push(tagged("gone", "2026-01-01T12:00:00Z"));
        all.push(
            exception("other", "elsewhere", "shop", "2026-01-05T00:00:00Z")
                .created(CREATED)
                .spec(json!({ "rules": ["requireImageTag"] }))
                .build(),
        );
        let judged = profile_exceptions(&strict(), &all, now, DEFAULT_MAX_DURATION);
        let status = judged.status.unwrap();
        assert_eq!(status.active.len(), MAX_ACTIVE_EXCEPTIONS);
        assert_eq!(status.active[0].name, "e00");
        assert_eq!(status.active[31].name, "e31");
        // All expire within a week.
        assert_eq!(status.expiring_soon, 32);
        assert_eq!((status.expired, status.not_applied), (1, 3));
        assert_eq!(judged.judged.len(), 36, "not the other profile's");
        let e33 = &judged.judged.iter().find(|(n, _)| n == "e33").unwrap().1;
        assert_eq!(
            (e33.state, e33.reason),
            (ExceptionState::Pending, reasons::TOO_MANY)
        );
        assert!(status.inactive.len() <= 10);
        assert!(
            status.inactive.iter().any(|l| l.starts_with("e32: ")),
            "{:?}",
            status.inactive
        );
        assert_eq!(
            profile_exceptions(&profile("none").build(), &all, now, DEFAULT_MAX_DURATION),
            ProfileExceptions::default()
        );
    }

    #[test]
    fn the_next_change_is_the_nearest_expiry_or_a_week_before_it() {
        let now = at("2026-01-02T00:00:00Z");
        let near = tagged("near", "2026-01-02T00:10:00Z");
        let far = tagged("far", "2026-02-01T00:00:00Z");
        assert_eq!(
            next_change([&near, &far], now),
            Some(Duration::from_secs(600))
        );
        // A week before the far one's expiry: 23 days from now.
        assert_eq!(next_change([&far], now), Some(23 * DAY));
        let past = tagged("past", "2026-01-01T12:00:00Z");
        assert_eq!(next_change([&past], now), None);
    }

    #[test]
    fn what_an_exception_in_force_covers() {
        let e = active_entry(
        &exception("legacy", "strict", "shop", "2026-02-01T00:00:00Z")
            .spec(json!({
                "namespaces": { "names": ["shop"], "selector": { "matchExpressions": [{ "key": "team", "operator": "In", "values": ["a", "b"] }] } },
                "podSelector": { "matchLabels": { "app": "legacy" } },
                "containers": ["app"],
                "rules": ["requireImageTag", "allowedRegistries"],
            }))
            .build(),
    );
        assert!(covers_namespace(&e, "shop", &labels(&[])));
        assert!(covers_namespace(&e, "other", &labels(&[("team", "b")])));
        assert!(!covers_namespace(&e, "other", &labels(&[("team", "c")])));
        let legacy = labels(&[("app", "legacy")]);
        assert!(suspends_rule(&e, "requireImageTag", &legacy, Some("app")));
        assert!(!suspends_rule(
            &e,
            "requireImageTag",
            &legacy,
            Some("sidecar")
        ));
        assert!(
            !suspends_rule(&e, "requireImageTag", &legacy, None),
            "a container exception covers no pod as a whole"
        );
        assert!(!suspends_rule(
            &e,
            "requireImageTag",
            &labels(&[("app", "web")]),
            Some("app")
        ));
        assert!(!suspends_rule(
            &e,
            "requireReadOnlyRootFilesystem",
            &legacy,
            Some("app")
        ));
        let active = vec![e.clone()];
        assert_eq!(covering(&active, "shop", &labels(&[])).len(), 1);
        assert!(covering(&active, "other", &labels(&[])).is_empty());
    }

    #[test]
    fn the_lowest_level_of_the_exceptions_naming_a_namespace_wins() {
        let level = |name: &str, ns: &str, level: &str| {
            active_entry(
                &exception(name, "strict", ns, "2026-02-01T00:00:00Z")
                    .spec(json!({ "podSecurityLevel": level }))
                    .build(),
            )
        };
        let active = vec![
            level("a", "shop", "baseline"),
            level("b", "shop", "privileged"),
            level("c", "web", "baseline"),
        ];
        let (lowest, by) = lowered_level(&active, "shop").unwrap();
        assert_eq!(
            (lowest, by.name.as_str()),
            (PodSecurityLevel::Privileged, "b")
        );
        assert_eq!(
            lowered_level(&active, "web").map(|(l, _)| l),
            Some(PodSecurityLevel::Baseline)
        );
        assert!(lowered_level(&active, "other").is_none());
    }

    #[test]
    fn durations_in_words() {
        assert_eq!(words(Duration::from_secs(90 * 86_400)), "90 days");
        assert_eq!(
            words(Duration::from_secs(86_400 + 3 * 3600)),
            "1 day 3 hours"
        );
        assert_eq!(words(Duration::from_secs(300)), "5 minutes");
        assert_eq!(words(Duration::from_secs(3660)), "1 hour 1 minute");
        assert_eq!(words(Duration::from_secs(30)), "30 seconds");
    }

    #[test]
    fn the_digest_follows_the_list() {
        let a = active_entry(&tagged("a", "2026-02-01T00:00:00Z"));
        let b = active_entry(&tagged("b", "2026-02-01T00:00:00Z"));
        assert_eq!(digest(&[]), digest(&[]));
        assert_ne!(digest(std::slice::from_ref(&a)), digest(&[]));
        assert_ne!(digest(std::slice::from_ref(&a)), digest(&[a, b]));
    }
}
