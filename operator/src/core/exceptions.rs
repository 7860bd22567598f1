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
mod tests;
