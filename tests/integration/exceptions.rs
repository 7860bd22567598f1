//! HardeningExceptions (issue 24) against the real API server: a pod the profile's rules
//! reject is admitted while an exception covers it (its namespace, its labels, its
//! container; a lower Pod Security level for a named namespace), and rejected again once the
//! exception has expired; the exception's status, the profile's status, its verdicts and
//! Events say so through the whole life cycle. What the API server refuses of an exception
//! (unknown rules, scopes Pod Security cannot have) and what the operator refuses (an expiry
//! before the creation, one beyond `--max-exception-duration`) are checked too; and that an
//! expired exception keeps applying while the operator is down (admission CEL has no clock),
//! until the operator is back. Issue 22's rules too: a container rule suspended for one
//! named container only (the operator's verdict agreeing with the API server's), and
//! `highAvailability` for a workload by its pod template's labels. Short expiries (under a
//! minute) and a small maximum keep it quick.

use std::time::{Duration, Instant};

use hardening_operator::config::RunConfig;
use hardening_operator::core::api::{
    ExceptionState, HardeningException, HardeningProfileStatus, Verdict,
};
use hardening_tests::objects::{events_for, labels_of};
use hardening_tests::profiles::condition;
use hardening_tests::requests::{
    assert_admitted, assert_rejected, dry_run, send, until_admitted, until_rejected, until_warned,
};
use hardening_tests::{eventually, eventually_within};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};

use crate::operator_env::OperatorEnv;

/// `seconds` from now, as `expires` wants it (whole seconds, UTC).
fn in_seconds(seconds: i64) -> String {
    Timestamp::from_second(Timestamp::now().as_second() + seconds)
        .unwrap()
        .to_string()
}

/// A pod Pod Security `restricted` admits, with one container `container` of `image`
/// (read-only root file system), labelled `app: <app>`.
fn pod(name: &str, app: &str, container: &str, image: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": name, "labels": { "app": app } },
        "spec": {
            "securityContext": { "runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": { "type": "RuntimeDefault" } },
            "containers": [{
                "name": container, "image": image, "imagePullPolicy": "Never",
                "securityContext": {
                    "allowPrivilegeEscalation": false,
                    "capabilities": { "drop": ["ALL"] },
                    "readOnlyRootFilesystem": true,
                },
            }],
        },
    })
}

/// A pod only Pod Security `baseline` admits (it may run as root, without seccomp).
fn baseline_pod(name: &str) -> Value {
    let mut pod = pod(name, "web", "app", "hardening.invalid/web:1");
    pod["spec"]["securityContext"] = json!({});
    pod
}

fn exceptions(client: &Client) -> Api<HardeningException> {
    Api::all(client.clone())
}

async fn create_exception(client: &Client, manifest: Value) -> HardeningException {
    let exception: HardeningException = serde_json::from_value(manifest).unwrap();
    exceptions(client)
        .create(&PostParams::default(), &exception)
        .await
        .unwrap_or_else(|e| panic!("creating {}: {e}", exception.name_any()))
}

fn manifest(name: &str, profile: &str, expires: &str, spec: Value) -> Value {
    let mut manifest = json!({
        "apiVersion": "hardening.dev/v1alpha1",
        "kind": "HardeningException",
        "metadata": { "name": name },
        "spec": {
            "profile": profile,
            "reason": "legacy shop image without a version, replaced in RISK-42",
            "owner": "team-shop",
            "expires": expires,
        },
    });
    for (key, value) in spec.as_object().unwrap() {
        manifest["spec"][key] = value.clone();
    }
    manifest
}

/// Waits until the exception's status says `state` (and `reason`, when given).
async fn exception_in(
    client: &Client,
    name: &str,
    state: ExceptionState,
    reason: Option<&str>,
    within: Duration,
) -> HardeningException {
    let api = exceptions(client);
    eventually_within(within, &format!("exception {name} {state:?}"), || {
        let api = api.clone();
        async move {
            let e = api.get(name).await.map_err(|e| e.to_string())?;
            let status = e.status.clone().unwrap_or_default();
            if status.state == Some(state)
                && reason.is_none_or(|r| status.reason.as_deref() == Some(r))
            {
                Ok(e)
            } else {
                Err(format!("status {status:?}"))
            }
        }
    })
    .await
}

async fn enforce_label(client: &Client, namespace: &str) -> Option<String> {
    let ns = Api::<Namespace>::all(client.clone())
        .get(namespace)
        .await
        .unwrap();
    labels_of(&ns)
        .get("pod-security.kubernetes.io/enforce")
        .cloned()
}

async fn delete_exceptions(client: &Client, names: &[&str]) {
    for name in names {
        let _ = exceptions(client)
            .delete(name, &DeleteParams::default())
            .await;
    }
}

fn profile_spec() -> Value {
    json!({
        "podSecurity": { "enforce": { "level": "restricted" } },
        "guardrails": { "requireImageTag": true, "requireReadOnlyRootFilesystem": true, "denyExec": true },
    })
}

fn requirement<'a>(
    status: &'a HardeningProfileStatus,
    id: &str,
) -> &'a hardening_operator::core::api::RequirementStatus {
    status.compliance.iter().find(|c| c.id == id).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exception_admits_what_it_suspends_until_it_expires() {
    let config = RunConfig {
        max_exception_duration: Duration::from_secs(600),
        ..RunConfig::default()
    };
    let mut env = OperatorEnv::start_with("exceptions", config).await;
    let shop = env.namespace(&[]).await;
    let other = env.namespace(&[]).await;
    let profile = env.profile("strict", profile_spec());
    let name = profile.name_any();
    env.create_profile(&profile).await.unwrap();
    env.status_where(&name, "guardrails enforced, in sync", |s| {
        match (condition(s, "GuardrailsEnforced"), condition(s, "Ready")) {
            (Some(g), Some(r)) if g.0 == "True" && r.0 == "True" && s.in_sync_namespaces == 2 => {
                Ok(())
            }
            _ => Err("want GuardrailsEnforced and Ready True, 2 in sync".into()),
        }
    })
    .await;
    let client = env.client.clone();
    let untagged = pod("legacy", "legacy", "app", "hardening.invalid/legacy");

    // Without an exception: the untagged image and the pod below restricted are rejected.
    until_rejected(&client, &shop, &untagged, "the binding to take effect").await;
    assert_rejected(
        &dry_run(&client, &shop, &untagged).await,
        &name,
        "requireImageTag",
        "an untagged image without an exception",
    );
    let lax = dry_run(&client, &shop, &baseline_pod("lax")).await;
    assert!(
        lax.code == 403
            && lax.body.contains("violates PodSecurity")
            && lax.body.contains("restricted:latest"),
        "{}: {}",
        lax.code,
        lax.body
    );

    // Two exceptions: the image rule for the legacy app's container in `shop`, and Pod
    // Security baseline for `shop`.
    let tag = format!("{}-tag", env.shard);
    let level = format!("{}-level", env.shard);
    let expires = in_seconds(45);
    create_exception(
        &client,
        manifest(
            &tag,
            &name,
            &expires,
            json!({
                "namespaces": { "names": [shop] },
                "podSelector": { "matchLabels": { "app": "legacy" } },
                "containers": ["app"],
                "rules": ["requireImageTag"],
            }),
        ),
    )
    .await;
    create_exception(
        &client,
        manifest(
            &level,
            &name,
            &expires,
            json!({ "namespaces": { "names": [shop] }, "podSecurityLevel": "baseline" }),
        ),
    )
    .await;
    let expiry: Timestamp = expires.parse().unwrap();

    let e = exception_in(
        &client,
        &tag,
        ExceptionState::Active,
        Some("ExpiringSoon"),
        Duration::from_secs(30),
    )
    .await;
    let status = e.status.unwrap();
    assert!(
        status
            .weakens
            .as_deref()
            .is_some_and(|w| w.contains("BSI SYS.1.6 (2023) A6, A10")),
        "{status:?}"
    );
    assert!(
        status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True"),
        "{status:?}"
    );
    exception_in(
        &client,
        &level,
        ExceptionState::Active,
        None,
        Duration::from_secs(30),
    )
    .await;
    let status = env
        .status_where(
            &name,
            "two exceptions in force, the namespaces judged with them",
            |s| {
                let e = s.exceptions.as_ref().ok_or("no status.exceptions")?;
                let a6 = requirement(s, "SYS.1.6.A6");
                if e.active.len() == 2
                    && e.expiring_soon == 2
                    && condition(s, "ExceptionsInForce").is_some_and(|c| c.1 == "ExpiringSoon")
                    && a6.accepted_deviations.iter().any(|d| d.exception == tag)
                    && s.in_sync_namespaces == 2
                {
                    Ok(())
                } else {
                    Err("want 2 in force, expiring soon, A6 with the deviation".into())
                }
            },
        )
        .await;
    // The verdicts: accepted deviations with owner, reason and expiry; never plain Met.
    let a6 = requirement(&status, "SYS.1.6.A6");
    let deviation = a6
        .accepted_deviations
        .iter()
        .find(|d| d.exception == tag)
        .unwrap();
    assert_eq!(
        (
            deviation.owner.as_str(),
            deviation.expires.as_str(),
            deviation.namespaces
        ),
        ("team-shop", expires.as_str(), 1)
    );
    assert!(deviation.reason.contains("RISK-42"), "{deviation:?}");
    for id in ["SYS.1.6.A10", "SYS.1.6.A17", "SYS.1.6.A23"] {
        let r = requirement(&status, id);
        assert_ne!(r.verdict, Verdict::Met, "{id}: {}", r.reason);
    }
    let a17 = requirement(&status, "SYS.1.6.A17");
    assert!(
        a17.accepted_deviations
            .iter()
            .any(|d| d.exception == level && d.suspends == "Pod Security enforce baseline")
            && a17.reason.contains("accepted deviations"),
        "{a17:?}"
    );
    // The lower level is the namespace's label; the other namespace keeps the profile's.
    assert_eq!(
        enforce_label(&client, &shop).await.as_deref(),
        Some("baseline")
    );
    assert_eq!(
        enforce_label(&client, &other).await.as_deref(),
        Some("restricted")
    );

    // The API server honours them once its parameter cache has the status.
    until_admitted(&client, &shop, &untagged, "the exception to take effect").await;
    assert_admitted(
        &dry_run(&client, &shop, &baseline_pod("lax")).await,
        "a pod below restricted where the level is lowered",
    );
    // Only what the exception covers: another app, another container, another namespace,
    // another rule.
    for (namespace, pod, what) in [
        (
            &shop,
            pod("web", "web", "app", "hardening.invalid/web"),
            "another app",
        ),
        (
            &shop,
            pod("side", "legacy", "sidecar", "hardening.invalid/side"),
            "another container",
        ),
        (&other, untagged.clone(), "another namespace"),
    ] {
        assert_rejected(
            &dry_run(&client, namespace, &pod).await,
            &name,
            "requireImageTag",
            what,
        );
    }
    let mut writable = pod("writable", "legacy", "app", "hardening.invalid/legacy");
    writable["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = json!(false);
    assert_rejected(
        &dry_run(&client, &shop, &writable).await,
        &name,
        "requireReadOnlyRootFilesystem",
        "a rule the exception does not suspend",
    );
    let lax_elsewhere = dry_run(&client, &other, &baseline_pod("lax")).await;
    assert_eq!(lax_elsewhere.code, 403, "{}", lax_elsewhere.body);
    // exec is not suspended either (and a pod-scoped exception never covers it). The pod
    // created has a name of its own: the dry runs of `untagged` must meet admission, not
    // "already exists".
    let mut running = untagged.clone();
    running["metadata"]["name"] = json!("legacy-running");
    let created = send(
        &client,
        "POST",
        &format!("/api/v1/namespaces/{shop}/pods"),
        Some(&running),
    )
    .await;
    assert_admitted(&created, "the legacy pod, under its exception");
    let exec = send(
        &client,
        "POST",
        &format!("/api/v1/namespaces/{shop}/pods/legacy-running/exec?command=true&stdout=true"),
        None,
    )
    .await;
    assert_rejected(&exec, &name, "denyExec", "exec");

    let events = events_for(&client, &name).await;
    for exception in [&tag, &level] {
        assert!(
            events
                .iter()
                .any(|e| e.reason.as_deref() == Some("ExceptionActive")
                    && e.note
                        .as_deref()
                        .is_some_and(|n| n.contains(exception.as_str()))),
            "an ExceptionActive event for {exception}"
        );
    }
    // The running legacy pod is an accepted deviation, not a pod enforcing would reject.
    let status = env
        .status_where(&name, "the running pod judged", |s| {
            (s.would_reject_pods == Some(0))
                .then_some(())
                .ok_or("want no pod enforcing would reject".into())
        })
        .await;
    assert_eq!(status.would_reject_pods, Some(0));

    // Expiry: the operator removes them, the API server rejects again.
    let left = expiry.as_second() - Timestamp::now().as_second();
    assert!(
        left > 0,
        "the exceptions expired before the test could look: raise the expiry"
    );
    exception_in(
        &client,
        &tag,
        ExceptionState::Expired,
        None,
        Duration::from_secs(left as u64 + 30),
    )
    .await;
    exception_in(
        &client,
        &level,
        ExceptionState::Expired,
        None,
        Duration::from_secs(30),
    )
    .await;
    let rejected_again = Instant::now();
    until_rejected(
        &client,
        &shop,
        &untagged,
        "the expired exception to stop applying",
    )
    .await;
    let after_expiry = Timestamp::now().as_millisecond() - expiry.as_millisecond();
    eprintln!(
        "exceptions: rejected again {:.1} s after the expiry ({:.1} s after the exception's status said Expired)",
        after_expiry as f64 / 1000.0,
        rejected_again.elapsed().as_secs_f64()
    );
    assert_rejected(
        &dry_run(&client, &shop, &untagged).await,
        &name,
        "requireImageTag",
        "the untagged image after the expiry",
    );
    let status = env
        .status_where(&name, "the exceptions expired", |s| {
            let e = s.exceptions.as_ref().ok_or("no status.exceptions")?;
            let a6 = requirement(s, "SYS.1.6.A6");
            if e.active.is_empty()
                && e.expired == 2
                && condition(s, "ExceptionsInForce").is_some_and(|c| c.0 == "False")
                && a6.accepted_deviations.is_empty()
                && s.in_sync_namespaces == 2
            {
                Ok(())
            } else {
                Err("want none in force, 2 expired, no deviations".into())
            }
        })
        .await;
    // The legacy pod admitted under the exception is now a pod the rules reject.
    assert!(
        status.would_reject_pods.is_some_and(|n| n >= 1),
        "{:?}",
        status.would_reject_pods
    );
    assert_eq!(
        enforce_label(&client, &shop).await.as_deref(),
        Some("restricted")
    );
    eventually("a pod below restricted rejected again", || {
        let (client, shop) = (client.clone(), shop.clone());
        async move {
            let answer = dry_run(&client, &shop, &baseline_pod("lax")).await;
            (answer.code == 403)
                .then_some(())
                .ok_or(format!("{}: {}", answer.code, answer.body))
        }
    })
    .await;
    let events = events_for(&client, &name).await;
    assert!(
        events
            .iter()
            .any(|e| e.reason.as_deref() == Some("ExceptionExpired")
                && e.note
                    .as_deref()
                    .is_some_and(|n| n.contains(tag.as_str()) && n.contains("apply again"))),
        "an ExceptionExpired event"
    );
    delete_exceptions(&client, &[&tag, &level]).await;
    env.status_where(&name, "the exceptions gone", |s| {
        s.exceptions
            .is_none()
            .then_some(())
            .ok_or("status.exceptions still set".into())
    })
    .await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exceptions_are_refused_by_the_api_server_and_the_operator() {
    let config = RunConfig {
        max_exception_duration: Duration::from_secs(600),
        ..RunConfig::default()
    };
    let mut env = OperatorEnv::start_with("exception-checks", config).await;
    let shop = env.namespace(&[]).await;
    let profile = env.profile("strict", profile_spec());
    let name = profile.name_any();
    let client = env.client.clone();
    let api = exceptions(&client);
    let shard = env.shard.clone();
    let base = |suffix: &str, expires: &str, spec: Value| {
        let mut m = manifest(
            &format!("{shard}-{suffix}"),
            &name,
            expires,
            json!({ "namespaces": { "names": [shop] } }),
        );
        for (key, value) in spec.as_object().unwrap() {
            m["spec"][key] = value.clone();
        }
        m
    };
    // What the CRD refuses: kubectl apply fails, naming the field.
    for (manifest, field, words) in [
        (
            base(
                "unknown",
                &in_seconds(60),
                json!({ "rules": ["requireNothing"] }),
            ),
            "spec.rules[0]",
            "Unsupported value",
        ),
        (
            base("empty", &in_seconds(60), json!({})),
            "spec",
            "suspends guardrail rules",
        ),
        (
            base(
                "selector-level",
                &in_seconds(60),
                json!({ "podSecurityLevel": "baseline", "namespaces": { "selector": { "matchLabels": { "a": "b" } } } }),
            ),
            "spec",
            "only allowed for namespaces given by name",
        ),
        (
            base(
                "exec-pods",
                &in_seconds(60),
                json!({ "rules": ["denyExec"], "podSelector": { "matchLabels": { "app": "x" } } }),
            ),
            "spec",
            "podSelector only narrows rules that judge pods",
        ),
        // CEL's timestamp() refuses the date; the message is the API server's own.
        (
            base(
                "date",
                "2026-02-30T00:00:00Z",
                json!({ "rules": ["denyExec"] }),
            ),
            "spec.expires",
            "",
        ),
        (
            base("format", "tomorrow", json!({ "rules": ["denyExec"] })),
            "spec.expires",
            "RFC 3339",
        ),
    ] {
        let exception: HardeningException = serde_json::from_value(manifest.clone()).unwrap();
        let refused = api.create(&PostParams::default(), &exception).await;
        let message = match refused {
            Err(kube::Error::Api(status)) => status.message,
            other => panic!("{manifest}: want a refusal, got {other:?}"),
        };
        assert!(
            message.contains(field) && message.contains(words),
            "{manifest}: {message}"
        );
        // The offline check refuses it too, at the same field.
        let offline = hardening_operator::core::api::check_exception_manifest(&manifest)
            .expect_err("check_exception_manifest refuses it");
        assert!(
            offline
                .iter()
                .any(|e| e.field.starts_with(field) || field.starts_with(&e.field)),
            "{manifest}: {offline:?}"
        );
    }
    // What the operator refuses: an expiry before the creation, one beyond the maximum, a
    // level not lower than the profile's. Created before their profile exists, they are
    // judged once it does (the profile's reconcile asks for it).
    let past = base(
        "past",
        "2020-01-01T00:00:00Z",
        json!({ "rules": ["denyExec"] }),
    );
    let long = base("long", &in_seconds(3600), json!({ "rules": ["denyExec"] }));
    let same = base(
        "same",
        &in_seconds(60),
        json!({ "podSecurityLevel": "restricted" }),
    );
    let names: Vec<String> = [&past, &long, &same]
        .iter()
        .map(|m| m["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    for m in [&past, &long, &same] {
        create_exception(&client, m.clone()).await;
    }
    env.create_profile(&profile).await.unwrap();
    for (exception, reason) in
        names
            .iter()
            .zip(["ExpiryNotAfterCreation", "TooLong", "LevelNotLower"])
    {
        let e = exception_in(
            &client,
            exception,
            ExceptionState::Invalid,
            Some(reason),
            Duration::from_secs(30),
        )
        .await;
        let message = e.status.unwrap().message.unwrap_or_default();
        assert!(
            message.contains("never applies") || message.contains("nothing to lower"),
            "{message}"
        );
    }
    let status = env
        .status_where(&name, "three exceptions not applied", |s| {
            let e = s.exceptions.as_ref().ok_or("no status.exceptions")?;
            (e.active.is_empty() && e.not_applied == 3)
                .then_some(())
                .ok_or("want 3 not applied, none in force".into())
        })
        .await;
    let inactive = status.exceptions.unwrap().inactive;
    assert!(
        inactive
            .iter()
            .any(|l| l.contains("--max-exception-duration") && l.contains("10 minutes")),
        "{inactive:?}"
    );
    let events = events_for(&client, &name).await;
    assert!(
        events
            .iter()
            .filter(|e| e.reason.as_deref() == Some("ExceptionRejected"))
            .count()
            >= 3,
        "three ExceptionRejected events"
    );
    // An exception naming no profile waits for it.
    let orphan = format!("{}-orphan", env.shard);
    let mut m = manifest(
        &orphan,
        "no-such-profile",
        &in_seconds(60),
        json!({ "namespaces": { "names": [shop] }, "rules": ["denyExec"] }),
    );
    m["metadata"]["name"] = json!(orphan);
    create_exception(&client, m).await;
    // This operator only handles its shard's profiles: it leaves the orphan alone.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(api.get(&orphan).await.unwrap().status.is_none());
    let mut all: Vec<&str> = names.iter().map(String::as_str).collect();
    all.push(&orphan);
    delete_exceptions(&client, &all).await;
    env.finish().await;
}

/// Admission CEL has no clock: while the operator is down, an expired exception keeps
/// applying; once the operator is back it removes it, and the Event says how late.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_exception_applies_until_the_operator_is_back() {
    let config = RunConfig {
        max_exception_duration: Duration::from_secs(600),
        ..RunConfig::default()
    };
    let mut env = OperatorEnv::start_with("exception-down", config.clone()).await;
    let shop = env.namespace(&[]).await;
    let profile = env.profile("strict", profile_spec());
    let name = profile.name_any();
    env.create_profile(&profile).await.unwrap();
    env.status_where(&name, "guardrails enforced", |s| {
        condition(s, "GuardrailsEnforced")
            .is_some_and(|g| g.0 == "True")
            .then_some(())
            .ok_or("want GuardrailsEnforced".into())
    })
    .await;
    let client = env.client.clone();
    let untagged = pod("legacy", "legacy", "app", "hardening.invalid/legacy");
    // The API server applies the policy a moment after it is written: until it rejects the
    // untagged image, an admission proves nothing of the exception.
    until_rejected(&client, &shop, &untagged, "the binding to take effect").await;
    assert_rejected(
        &dry_run(&client, &shop, &untagged).await,
        &name,
        "requireImageTag",
        "an untagged image without an exception",
    );
    let exception = format!("{}-tag", env.shard);
    let expires = in_seconds(25);
    create_exception(
        &client,
        manifest(
            &exception,
            &name,
            &expires,
            json!({ "namespaces": { "names": [shop] }, "rules": ["requireImageTag"] }),
        ),
    )
    .await;
    until_admitted(&client, &shop, &untagged, "the exception to take effect").await;
    env.status_where(&name, "the exception in force", |s| {
        s.exceptions
            .as_ref()
            .is_some_and(|e| e.active.iter().any(|a| a.name == exception))
            .then_some(())
            .ok_or("want the exception in status.exceptions.active".into())
    })
    .await;
    let stopping = Instant::now();
    env.stop_operator().await;
    let expiry: Timestamp = expires.parse().unwrap();
    eprintln!(
        "exceptions: operator stopped in {:.1} s, {} s before the expiry",
        stopping.elapsed().as_secs_f64(),
        expiry.as_second() - Timestamp::now().as_second()
    );
    let wait = expiry.as_millisecond() - Timestamp::now().as_millisecond() + 5_000;
    tokio::time::sleep(Duration::from_millis(wait.max(0) as u64)).await;
    // Expired, and still honoured: nobody removed it from the profile's status.
    assert_admitted(
        &dry_run(&client, &shop, &untagged).await,
        "the untagged image, 5 s after the expiry, with the operator down",
    );
    env.start_operator(config);
    let e = exception_in(
        &client,
        &exception,
        ExceptionState::Expired,
        None,
        Duration::from_secs(30),
    )
    .await;
    assert!(
        e.status
            .unwrap()
            .message
            .unwrap_or_default()
            .contains("expired at")
    );
    until_rejected(
        &client,
        &shop,
        &untagged,
        "rejected again once the operator is back",
    )
    .await;
    let events = events_for(&client, &name).await;
    let expired = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("ExceptionExpired"))
        .expect("an ExceptionExpired event");
    let note = expired.note.clone().unwrap_or_default();
    assert!(
        note.contains("after its expiry") && note.contains("kept applying until now"),
        "{note}"
    );
    delete_exceptions(&client, &[&exception]).await;
    env.finish().await;
}

/// A pod of two containers, `legacy` and `app`, labelled `app: <app>`: each with a
/// livenessProbe and a readinessProbe or without (`requireProbes`), and one port or two
/// (`oneServicePerContainer`, which only warns).
fn two_containers(name: &str, app: &str, legacy: (bool, u8), other: (bool, u8)) -> Value {
    let container = |name: &str, (probed, ports): (bool, u8)| {
        let mut c = json!({
            "name": name, "image": "hardening.invalid/shop:1", "imagePullPolicy": "Never",
            "ports": (0..ports).map(|i| json!({ "containerPort": 8080 + i as i32 })).collect::<Vec<_>>(),
        });
        if probed {
            let probe = json!({ "tcpSocket": { "port": 8080 } });
            c["livenessProbe"] = probe.clone();
            c["readinessProbe"] = probe;
        }
        c
    };
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": name, "labels": { "app": app } },
        "spec": { "containers": [container("legacy", legacy), container("app", other)] },
    })
}

/// An exception suspends issue 22's container rules (`requireProbes`, and
/// `oneServicePerContainer` of the warnings policy) for one named container of the pods it
/// selects: without it the API server rejects (and warns), with it admits (and stays
/// silent) for that container only, while the pod's other container is still judged; the
/// operator's own verdict (`core::preview::judge` with the exceptions in force, and the
/// preview of the running pod in the status) agrees with the API server case by case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exception_suspends_a_pod_rule_for_one_container_only() {
    let mut env = OperatorEnv::start("exceptions-containers").await;
    let shop = env.namespace(&[]).await;
    let profile = env.profile(
        "probes",
        json!({ "guardrails": { "requireProbes": true, "oneServicePerContainer": true } }),
    );
    let name = profile.name_any();
    env.create_profile(&profile).await.unwrap();
    env.status_where(&name, "guardrails enforced, in sync", |s| {
        match condition(s, "GuardrailsEnforced") {
            Some(g) if g.0 == "True" && s.in_sync_namespaces == 1 => Ok(()),
            _ => Err("want GuardrailsEnforced True, 1 in sync".into()),
        }
    })
    .await;
    let client = env.client.clone();
    let profiles = Api::<hardening_operator::core::api::HardeningProfile>::all(client.clone());
    let shop_labels = labels_of(
        &Api::<Namespace>::all(client.clone())
            .get(&shop)
            .await
            .unwrap(),
    );

    // The API server's answer on `pod` and the operator's verdict with the exceptions in
    // force it lists in the profile's status: the same rejection (the rule and the
    // container it names), the same warning of oneServicePerContainer.
    let judged = |pod: Value, what: &'static str| {
        let (client, shop, profiles, name) =
            (client.clone(), shop.clone(), profiles.clone(), name.clone());
        let shop_labels = shop_labels.clone();
        async move {
            let answer = dry_run(&client, &shop, &pod).await;
            let live = profiles.get(&name).await.unwrap();
            let covering = hardening_operator::core::exceptions::covering(
                hardening_operator::core::exceptions::active_of(&live),
                &shop,
                &shop_labels,
            );
            let typed: k8s_openapi::api::core::v1::Pod =
                serde_json::from_value(pod.clone()).unwrap();
            let verdict = hardening_operator::core::preview::judge(&live, &typed, &covering);
            let rejecting: Vec<&str> = verdict
                .guardrails
                .iter()
                .filter(|f| hardening_operator::core::guardrails::rejects(f.rule))
                .map(|f| f.reason.as_str())
                .collect();
            let server_warned = answer
                .warnings
                .iter()
                .any(|w| w.contains("guardrail oneServicePerContainer ("));
            let preview_warned = verdict
                .guardrails
                .iter()
                .any(|f| f.rule == "oneServicePerContainer");
            assert_eq!(
                answer.code >= 400,
                !rejecting.is_empty(),
                "{what}: the API server answered {} {}, the preview found {:?}",
                answer.code,
                answer.body,
                verdict
            );
            if answer.code < 300 {
                assert_eq!(
                    server_warned, preview_warned,
                    "{what}: warnings {:?}, the preview found {:?}",
                    answer.warnings, verdict
                );
            }
            (answer, verdict)
        }
    };
    let unprobed_legacy = two_containers("legacy", "legacy", (false, 1), (true, 1));
    until_rejected(
        &client,
        &shop,
        &unprobed_legacy,
        "the binding to take effect",
    )
    .await;
    // The warnings have a policy and binding of their own, which the API server can load
    // after the deny binding.
    until_warned(
        &client,
        &shop,
        &two_containers("legacy", "legacy", (true, 2), (true, 1)),
        "guardrail oneServicePerContainer (",
        "the warnings' binding to take effect",
    )
    .await;

    // Without an exception: container legacy without probes is rejected, its two ports
    // warned about.
    let (answer, _) = judged(unprobed_legacy.clone(), "legacy unprobed, no exception").await;
    assert_rejected(&answer, &name, "requireProbes", "legacy without probes");
    assert!(answer.body.contains("container legacy"), "{}", answer.body);
    let (answer, _) = judged(
        two_containers("legacy", "legacy", (true, 2), (true, 1)),
        "legacy with two ports, no exception",
    )
    .await;
    assert!(
        answer.code < 300
            && answer
                .warnings
                .iter()
                .any(|w| w.contains("guardrail oneServicePerContainer (")
                    && w.contains("container legacy")),
        "{} {} {:?}",
        answer.code,
        answer.body,
        answer.warnings
    );

    // The exception: both rules, container legacy of the legacy app's pods.
    let exception = format!("{}-legacy", env.shard);
    create_exception(
        &client,
        manifest(
            &exception,
            &name,
            &in_seconds(3600),
            json!({
                "namespaces": { "names": [shop] },
                "podSelector": { "matchLabels": { "app": "legacy" } },
                "containers": ["legacy"],
                "rules": ["requireProbes", "oneServicePerContainer"],
            }),
        ),
    )
    .await;
    exception_in(
        &client,
        &exception,
        ExceptionState::Active,
        None,
        Duration::from_secs(30),
    )
    .await;
    until_admitted(
        &client,
        &shop,
        &unprobed_legacy,
        "the exception to take effect",
    )
    .await;

    // With it: container legacy without probes and with two ports admitted, silently; the
    // operator accepts it under the exception.
    let covered = two_containers("legacy", "legacy", (false, 2), (true, 1));
    let (answer, verdict) = judged(covered.clone(), "legacy covered").await;
    assert_admitted(&answer, "container legacy, under its exception");
    assert!(
        !answer
            .warnings
            .iter()
            .any(|w| w.contains("oneServicePerContainer")),
        "{:?}",
        answer.warnings
    );
    for rule in [
        "guardrail requireProbes",
        "guardrail oneServicePerContainer",
    ] {
        assert!(
            verdict
                .accepted
                .iter()
                .any(|a| a.rule == rule && a.exception == exception),
            "{rule} accepted: {verdict:?}"
        );
    }
    // ... but the other container is still judged: without probes rejected, naming it; with
    // two ports warned about, naming it.
    let (answer, _) = judged(
        two_containers("app-unprobed", "legacy", (false, 1), (false, 1)),
        "container app without probes",
    )
    .await;
    assert_rejected(
        &answer,
        &name,
        "requireProbes",
        "container app without probes",
    );
    assert!(
        answer.body.contains("container app ") && !answer.body.contains("container legacy"),
        "{}",
        answer.body
    );
    let (answer, _) = judged(
        two_containers("app-ports", "legacy", (false, 1), (true, 2)),
        "container app with two ports",
    )
    .await;
    assert!(
        answer.code < 300
            && answer
                .warnings
                .iter()
                .any(|w| w.contains("guardrail oneServicePerContainer (")
                    && w.contains("container app ")),
        "{} {} {:?}",
        answer.code,
        answer.body,
        answer.warnings
    );
    // ... and pods the selector does not select are judged as before.
    let (answer, _) = judged(
        two_containers("web", "web", (false, 1), (true, 1)),
        "another app",
    )
    .await;
    assert_rejected(&answer, &name, "requireProbes", "another app");

    // The running pod: the operator's preview counts no pod enforcing would reject, and the
    // requirement requireProbes serves shows the accepted deviation.
    let mut running = covered.clone();
    running["metadata"]["name"] = json!("legacy-running");
    let created = send(
        &client,
        "POST",
        &format!("/api/v1/namespaces/{shop}/pods"),
        Some(&running),
    )
    .await;
    assert_admitted(&created, "the legacy pod, under its exception");
    let status = env
        .status_where(&name, "the running pod judged under the exception", |s| {
            let a11 = requirement(s, "APP.4.4.A11");
            if s.would_reject_pods == Some(0)
                && a11
                    .accepted_deviations
                    .iter()
                    .any(|d| d.exception == exception)
            {
                Ok(())
            } else {
                Err(format!(
                    "want wouldRejectPods 0 and APP.4.4.A11 with the deviation, have {:?}",
                    s.would_reject_pods
                ))
            }
        })
        .await;
    assert_ne!(requirement(&status, "APP.4.4.A11").verdict, Verdict::Met);

    // Deleted, the exception stops applying: the operator counts the running pod as one
    // enforcing would reject, as the API server rejects its like again.
    delete_exceptions(&client, &[&exception]).await;
    until_rejected(&client, &shop, &covered, "the exception to stop applying").await;
    let (answer, _) = judged(covered.clone(), "legacy, the exception deleted").await;
    assert_rejected(&answer, &name, "requireProbes", "legacy after the deletion");
    env.status_where(&name, "the running pod judged without the exception", |s| {
        (s.would_reject_pods == Some(1))
            .then_some(())
            .ok_or(format!(
                "want wouldRejectPods 1, have {:?}",
                s.would_reject_pods
            ))
    })
    .await;
    env.finish().await;
}

/// A Deployment of `replicas` whose pods are labelled highly available and `app: <app>`.
fn available_deployment(name: &str, app: &str, replicas: u8) -> Value {
    let labels = json!({
        hardening_operator::core::api::HIGH_AVAILABILITY_LABEL: "true",
        "app": app,
    });
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": name },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": { "app": app } },
            "template": {
                "metadata": { "labels": labels },
                "spec": { "containers": [{ "name": "app", "image": "hardening.invalid/app:1" }] },
            },
        },
    })
}

/// `highAvailability` judges workloads at admission: an exception selecting pods by label
/// covers a Deployment by its pod template's labels, and only that one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exception_covers_a_workload_by_its_pods_labels() {
    let mut env = OperatorEnv::start("exceptions-workloads").await;
    let shop = env.namespace(&[]).await;
    let profile = env.profile(
        "available",
        json!({ "guardrails": { "highAvailability": true } }),
    );
    let name = profile.name_any();
    env.create_profile(&profile).await.unwrap();
    env.status_where(&name, "guardrails enforced, in sync", |s| {
        match condition(s, "GuardrailsEnforced") {
            Some(g) if g.0 == "True" && s.in_sync_namespaces == 1 => Ok(()),
            _ => Err("want GuardrailsEnforced True, 1 in sync".into()),
        }
    })
    .await;
    let client = env.client.clone();
    let dry_run_deployment = |deployment: Value| {
        let (client, shop) = (client.clone(), shop.clone());
        async move {
            send(
                &client,
                "POST",
                &format!("/apis/apps/v1/namespaces/{shop}/deployments?dryRun=All"),
                Some(&deployment),
            )
            .await
        }
    };
    let legacy = available_deployment("legacy", "legacy", 1);
    eventually("the binding to take effect", || {
        let answer = dry_run_deployment(legacy.clone());
        async move {
            let answer = answer.await;
            (answer.code >= 400)
                .then_some(())
                .ok_or(format!("still admitted: {}", answer.body))
        }
    })
    .await;
    assert_rejected(
        &dry_run_deployment(legacy.clone()).await,
        &name,
        "highAvailability",
        "one replica, no exception",
    );
    let exception = format!("{}-single", env.shard);
    create_exception(
        &client,
        manifest(
            &exception,
            &name,
            &in_seconds(3600),
            json!({
                "namespaces": { "names": [shop] },
                "podSelector": { "matchLabels": { "app": "legacy" } },
                "rules": ["highAvailability"],
            }),
        ),
    )
    .await;
    exception_in(
        &client,
        &exception,
        ExceptionState::Active,
        None,
        Duration::from_secs(30),
    )
    .await;
    eventually("the exception to take effect", || {
        let answer = dry_run_deployment(legacy.clone());
        async move {
            let answer = answer.await;
            (answer.code < 300)
                .then_some(())
                .ok_or(format!("still rejected: {}", answer.body))
        }
    })
    .await;
    assert_rejected(
        &dry_run_deployment(available_deployment("web", "web", 1)).await,
        &name,
        "highAvailability",
        "a Deployment whose pods the exception does not select",
    );
    delete_exceptions(&client, &[&exception]).await;
    env.finish().await;
}
