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
