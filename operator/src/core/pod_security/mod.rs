//! Pod Security Admission's judgement of one pod, ported from `k8s.io/pod-security-admission`
//! v0.36.2 (`policy/`): [`evaluate`] gives exactly the violations the API server's PodSecurity
//! plugin finds for a pod at a level and policy version, worded as it words them, so a pod
//! whose spec changed is judged at the cost of that pod alone.
//!
//! - [`Level`] (the profile API's [`crate::core::api::PodSecurityLevel`]) and [`Version`]
//!   (`latest` or `v1.N`, parsed as the plugin parses the namespace labels);
//! - `registry`: every check with its versions and the baseline checks a restricted check
//!   overrides (`policy/registry.go`, `policy/check_*.go`'s `Versions`); `checks/`: one
//!   module per Go file, each function naming the Go function it mirrors;
//! - [`Violation`]: one check's forbidden reason and detail; [`forbidden_detail`] and
//!   [`forbidden_reason`] join them as the plugin does in its rejection message
//!   ([`rejection_message`]) and in its namespace warnings.
//!
//! Judge pods as the API server stores them (as a pod read from it is): the plugin sees a pod
//! after defaulting and the API server's own changes, which can change the verdict (on the
//! host's network every container port is also a host port; an AppArmor annotation is copied
//! into the container's field).
//!
//! What the plugin does beyond the checks and this module does not: exemptions (users,
//! namespaces, runtime classes, from the API server's admission configuration) and the
//! short cut for updates that change nothing it reads. Pods in user namespaces
//! (`hostUsers: false`) and Windows pods (`spec.os.name: windows`) are judged as the checks
//! of each version judge them: from v1.35 `runAsNonRoot`, `runAsUser` and baseline
//! `procMount` accept any value for a pod with `hostUsers: false` (restricted keeps refusing
//! an unmasked `/proc` through `procMount_restricted`); from v1.25 a Windows pod needs no
//! `allowPrivilegeEscalation`, capability drop or seccomp profile.

mod checks;
mod registry;
mod version;
mod visit;

use std::fmt;

use k8s_openapi::api::core::v1::{Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

pub use crate::core::api::PodSecurityLevel as Level;
pub use registry::{CheckInfo, active_checks, checks, newest_policy, overridden_by};
pub use version::{Version, VersionError};

/// One check's verdict against a pod: the check's ID (`allowPrivilegeEscalation`), and what
/// it forbids as Pod Security words it: `reason` always (`allowPrivilegeEscalation != false`),
/// `detail` when the check names what it found (`container "app" must set
/// securityContext.allowPrivilegeEscalation=false`), else empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub check: &'static str,
    pub reason: String,
    pub detail: String,
}

/// `reason (detail)`, or `reason` without a detail: one item of the API server's message.
impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.detail.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{} ({})", self.reason, self.detail)
        }
    }
}

/// The violations of `pod`'s metadata and `spec` at `level` and policy `version`, in the
/// order Pod Security lists them (baseline checks, then restricted ones, each by ID); empty
/// when the pod is allowed. `privileged` allows everything; a version newer than the newest
/// policy (and `latest`) is judged by the newest ([`newest_policy`]).
/// (`checkRegistry.EvaluatePod` with `AggregateCheckResults` in `policy/`.)
pub fn evaluate(
    level: Level,
    version: Version,
    pod: &ObjectMeta,
    spec: &PodSpec,
) -> Vec<Violation> {
    registry::active(level, version)
        .filter_map(|(check, run)| {
            run(pod, spec).map(|forbidden| Violation {
                check,
                reason: forbidden.reason,
                detail: forbidden.detail,
            })
        })
        .collect()
}

/// [`evaluate`] for a whole Pod (a pod without a spec is judged as an empty spec).
pub fn evaluate_pod(level: Level, version: Version, pod: &Pod) -> Vec<Violation> {
    let empty = PodSpec::default();
    evaluate(
        level,
        version,
        &pod.metadata,
        pod.spec.as_ref().unwrap_or(&empty),
    )
}

/// The violations as the API server's rejection lists them: `reason (detail), reason, ...`
/// (`AggregateCheckResult.ForbiddenDetail`).
pub fn forbidden_detail(violations: &[Violation]) -> String {
    join(violations.iter().map(ToString::to_string))
}

/// The reasons alone, `reason, reason, ...`: what the API server's warnings about existing
/// pods say (`AggregateCheckResult.ForbiddenReason`).
pub fn forbidden_reason(violations: &[Violation]) -> String {
    join(violations.iter().map(|v| v.reason.clone()))
}

/// What the API server answers a pod create it rejects, after `pods "<name>" is forbidden: `:
/// `violates PodSecurity "restricted:latest": <forbidden detail>` (`Admission.EvaluatePod`).
pub fn rejection_message(level: Level, version: Version, violations: &[Violation]) -> String {
    format!(
        "violates PodSecurity \"{}:{version}\": {}",
        level.as_str(),
        forbidden_detail(violations)
    )
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

/// What a check forbids (Go's `CheckResult` with `Allowed: false`); `None` allows.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Forbidden {
    reason: String,
    detail: String,
}

impl Forbidden {
    fn new(reason: impl Into<String>, detail: impl Into<String>) -> Option<Self> {
        Some(Forbidden {
            reason: reason.into(),
            detail: detail.into(),
        })
    }
}

/// A check of one policy version (Go's `CheckPodFn`).
type CheckFn = fn(&ObjectMeta, &PodSpec) -> Option<Forbidden>;

#[cfg(test)]
mod tests {
    use super::registry::CHECKS;
    use super::visit::go_quote;
    use super::*;
    use serde_json::{Value, json};

    fn pod(value: Value) -> Pod {
        serde_json::from_value(value).unwrap()
    }

    /// A pod with one container `app` whose securityContext is `container`, and `spec` merged
    /// into its spec.
    fn with(container: Value, spec: Value) -> Pod {
        let mut body = json!({
            "metadata": { "name": "p" },
            "spec": { "containers": [{ "name": "app", "image": "i", "securityContext": container }] },
        });
        for (key, value) in spec.as_object().unwrap() {
            body["spec"][key] = value.clone();
        }
        pod(body)
    }

    /// A pod that passes `restricted` at every version: what each test then breaks.
    fn restricted_pod() -> Value {
        json!({
            "allowPrivilegeEscalation": false,
            "capabilities": { "drop": ["ALL"] },
            "runAsNonRoot": true,
            "seccompProfile": { "type": "RuntimeDefault" },
        })
    }

    fn texts(violations: &[Violation]) -> Vec<String> {
        violations.iter().map(ToString::to_string).collect()
    }

    fn v(minor: u64) -> Version {
        Version::V1(minor)
    }

    #[test]
    fn versions_parse_as_pod_security_admission_parses_its_labels() {
        for (text, parsed) in [
            ("latest", Version::Latest),
            ("v1.0", v(0)),
            ("v1.35", v(35)),
            ("v1.9223372036854775807", v(i64::MAX as u64)),
        ] {
            assert_eq!(text.parse::<Version>(), Ok(parsed), "{text}");
            assert_eq!(parsed.to_string(), text);
        }
        for bad in [
            "",
            "Latest",
            "v1",
            "v1.",
            "v1.01",
            "v1.-1",
            "v1.+1",
            "v1.1a",
            "v2.0",
            "1.30",
            " v1.30",
            "v1.30 ",
            "v1.9223372036854775808",
            "v1.٣",
        ] {
            let error = bad.parse::<Version>().unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("Pod Security version {bad:?}: must be \"latest\" or \"v1.x\"")
            );
        }
    }

    #[test]
    fn latest_is_newer_than_every_minor() {
        assert!(Version::Latest > v(u64::MAX));
        assert!(v(9) < v(10));
        assert_eq!(Version::Latest.minor(), None);
        assert_eq!(v(7).minor(), Some(7));
    }

    #[test]
    fn latest_and_newer_versions_are_judged_by_the_newest_policy() {
        let newest = newest_policy();
        // The newest version any check of the registry names.
        let named = CHECKS
            .iter()
            .flat_map(|c| c.versions)
            .map(|r| r.minimum)
            .max()
            .unwrap();
        assert_eq!(newest, v(named));
        for level in [Level::Baseline, Level::Restricted] {
            let at_newest = active_checks(level, newest);
            assert_eq!(active_checks(level, Version::Latest), at_newest);
            assert_eq!(active_checks(level, v(named + 1)), at_newest);
            assert_eq!(active_checks(level, v(u64::MAX)), at_newest);
        }
        // The v1.35 relaxation for user namespaces, reached through `latest` and v1.99.
        let relaxed = with(
            json!({ "allowPrivilegeEscalation": false, "capabilities": { "drop": ["ALL"] },
                "seccompProfile": { "type": "RuntimeDefault" }, "runAsUser": 0 }),
            json!({ "hostUsers": false }),
        );
        for version in [Version::Latest, v(35), v(99)] {
            assert_eq!(
                evaluate_pod(Level::Restricted, version, &relaxed),
                [],
                "{version}"
            );
        }
        assert_eq!(
            texts(&evaluate_pod(Level::Restricted, v(34), &relaxed)),
            [
                "runAsNonRoot != true (pod or container \"app\" must set securityContext.runAsNonRoot=true)",
                "runAsUser=0 (container \"app\" must not set runAsUser=0)",
            ]
        );
    }

    #[test]
    fn privileged_allows_everything() {
        let worst = with(
            json!({ "privileged": true, "capabilities": { "add": ["SYS_ADMIN"] } }),
            json!({ "hostNetwork": true, "hostPID": true }),
        );
        assert_eq!(evaluate_pod(Level::Privileged, Version::Latest, &worst), []);
        assert_eq!(
            evaluate_pod(Level::Baseline, Version::Latest, &worst).len(),
            3
        );
    }

    /// The invariants Go's `validateChecks` enforces at start-up, and the order `populate`
    /// lists checks in: baseline IDs sorted, then restricted IDs sorted (Go sorts bytes).
    #[test]
    fn the_registry_is_valid_and_ordered_as_the_plugin_orders_it() {
        let mut ids: Vec<&str> = CHECKS.iter().map(|c| c.id).collect();
        let baseline: Vec<&str> = CHECKS
            .iter()
            .filter(|c| c.level == Level::Baseline)
            .map(|c| c.id)
            .collect();
        let restricted: Vec<&str> = CHECKS
            .iter()
            .filter(|c| c.level == Level::Restricted)
            .map(|c| c.id)
            .collect();
        assert!(baseline.is_sorted(), "{baseline:?}");
        assert!(restricted.is_sorted(), "{restricted:?}");
        assert_eq!([baseline.clone(), restricted].concat(), ids);
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), CHECKS.len(), "unique IDs");
        for check in CHECKS {
            assert!(!check.versions.is_empty(), "{}", check.id);
            assert!(
                check
                    .versions
                    .windows(2)
                    .all(|w| w[0].minimum < w[1].minimum),
                "{}: strictly increasing versions",
                check.id
            );
            for revision in check.versions {
                if !revision.overrides.is_empty() {
                    assert_eq!(check.level, Level::Restricted, "{}", check.id);
                }
                for overridden in revision.overrides {
                    assert!(
                        baseline.contains(overridden),
                        "{} overrides {overridden}",
                        check.id
                    );
                }
            }
        }
        assert_eq!(
            checks().iter().map(|c| c.id).collect::<Vec<_>>(),
            CHECKS.iter().map(|c| c.id).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_check_applies_from_its_first_version_and_restricted_overrides_baseline() {
        let restricted_at = |minor| active_checks(Level::Restricted, v(minor));
        assert!(!restricted_at(7).contains(&"allowPrivilegeEscalation"));
        assert!(restricted_at(8).contains(&"allowPrivilegeEscalation"));
        assert!(!restricted_at(33).contains(&"hostProbesAndHostLifecycle"));
        assert!(restricted_at(34).contains(&"hostProbesAndHostLifecycle"));
        // capabilities_restricted replaces capabilities_baseline from v1.22 at restricted only.
        assert!(restricted_at(21).contains(&"capabilities_baseline"));
        assert!(!restricted_at(22).contains(&"capabilities_baseline"));
        assert!(active_checks(Level::Baseline, v(22)).contains(&"capabilities_baseline"));
        assert_eq!(
            overridden_by("capabilities_baseline", v(22)),
            Some("capabilities_restricted")
        );
        assert_eq!(overridden_by("capabilities_baseline", v(21)), None);
        assert_eq!(overridden_by("procMount", v(34)), None);
        assert_eq!(
            overridden_by("procMount", Version::Latest),
            Some("procMount_restricted")
        );
        assert_eq!(
            overridden_by("hostPathVolumes", v(0)),
            Some("restrictedVolumes")
        );
        // No restricted check reaches a baseline pod.
        assert!(
            active_checks(Level::Baseline, Version::Latest)
                .iter()
                .all(|id| checks()
                    .iter()
                    .any(|c| c.id == *id && c.level == Level::Baseline))
        );
    }

    #[test]
    fn violations_read_as_the_api_server_words_them() {
        let app = with(
            json!({ "capabilities": { "drop": ["ALL"] }, "runAsNonRoot": true,
                "seccompProfile": { "type": "RuntimeDefault" } }),
            json!({ "hostNetwork": true }),
        );
        let violations = evaluate_pod(Level::Restricted, Version::Latest, &app);
        assert_eq!(
            violations,
            [
                Violation {
                    check: "hostNamespaces",
                    reason: "host namespaces".into(),
                    detail: "hostNetwork=true".into(),
                },
                Violation {
                    check: "allowPrivilegeEscalation",
                    reason: "allowPrivilegeEscalation != false".into(),
                    detail:
                        "container \"app\" must set securityContext.allowPrivilegeEscalation=false"
                            .into(),
                },
            ]
        );
        assert_eq!(
            forbidden_detail(&violations),
            "host namespaces (hostNetwork=true), allowPrivilegeEscalation != false (container \"app\" must set securityContext.allowPrivilegeEscalation=false)"
        );
        assert_eq!(
            forbidden_reason(&violations),
            "host namespaces, allowPrivilegeEscalation != false"
        );
        assert_eq!(
            rejection_message(Level::Restricted, Version::Latest, &violations),
            format!(
                "violates PodSecurity \"restricted:latest\": {}",
                forbidden_detail(&violations)
            )
        );
        // A violation without a detail is its reason alone.
        let bare = Violation {
            check: "x",
            reason: "reason".into(),
            detail: String::new(),
        };
        assert_eq!(bare.to_string(), "reason");
        assert_eq!(
            forbidden_detail(&[bare.clone(), violations[0].clone()]),
            "reason, host namespaces (hostNetwork=true)"
        );
        assert_eq!(forbidden_detail(&[]), "");
    }

    #[test]
    fn several_findings_of_one_check_are_one_violation_with_counted_nouns() {
        let two = pod(json!({
            "metadata": { "name": "p" },
            "spec": {
                "initContainers": [{ "name": "init", "image": "i", "ports": [{ "containerPort": 80, "hostPort": 8080 }] }],
                "containers": [
                    { "name": "a", "image": "i", "ports": [{ "containerPort": 1, "hostPort": 10000 }, { "containerPort": 2, "hostPort": 8080 }] },
                    { "name": "b", "image": "i" },
                ],
            },
        }));
        assert_eq!(
            texts(&evaluate_pod(Level::Baseline, Version::Latest, &two)),
            // Ports sorted as text, as Go's string set sorts them; containers in visit order.
            ["hostPort (containers \"init\", \"a\" use hostPorts 10000, 8080)"]
        );
        let one = with(json!({}), json!({}));
        let mut one = one;
        one.spec.as_mut().unwrap().containers[0].ports = Some(vec![
            serde_json::from_value(json!({ "containerPort": 1, "hostPort": 81 })).unwrap(),
        ]);
        assert_eq!(
            texts(&evaluate_pod(Level::Baseline, Version::Latest, &one)),
            ["hostPort (container \"app\" uses hostPort 81)"]
        );
    }

    #[test]
    fn windows_pods_are_exempt_from_linux_only_restricted_checks_from_v1_25() {
        let windows = pod(json!({
            "metadata": { "name": "w" },
            "spec": {
                "os": { "name": "windows" },
                "securityContext": { "runAsNonRoot": true },
                "containers": [{ "name": "app", "image": "i" }],
            },
        }));
        assert_eq!(evaluate_pod(Level::Restricted, v(25), &windows), []);
        assert_eq!(
            evaluate_pod(Level::Restricted, v(24), &windows)
                .iter()
                .map(|v| v.check)
                .collect::<Vec<_>>(),
            [
                "allowPrivilegeEscalation",
                "capabilities_restricted",
                "seccompProfile_restricted"
            ]
        );
        // hostProcess stays forbidden for Windows pods at every version.
        let host_process = pod(json!({
            "metadata": { "name": "w" },
            "spec": {
                "os": { "name": "windows" },
                "hostNetwork": true,
                "securityContext": { "windowsOptions": { "hostProcess": true } },
                "containers": [{ "name": "app", "image": "i" }],
            },
        }));
        assert_eq!(
            texts(&evaluate_pod(
                Level::Baseline,
                Version::Latest,
                &host_process
            )),
            [
                "host namespaces (hostNetwork=true)",
                "hostProcess (pod must not set securityContext.windowsOptions.hostProcess=true)"
            ]
        );
    }

    #[test]
    fn an_unmasked_proc_in_a_user_namespace_is_baseline_from_v1_35_but_never_restricted() {
        let mut context = restricted_pod();
        context["procMount"] = json!("Unmasked");
        let user_ns = with(context.clone(), json!({ "hostUsers": false }));
        let host_ns = with(context, json!({}));
        let detail =
            "procMount (container \"app\" must not set securityContext.procMount to \"Unmasked\")";
        assert_eq!(evaluate_pod(Level::Baseline, v(35), &user_ns), []);
        assert_eq!(
            texts(&evaluate_pod(Level::Baseline, v(34), &user_ns)),
            [detail]
        );
        assert_eq!(
            texts(&evaluate_pod(Level::Baseline, v(35), &host_ns)),
            [detail]
        );
        let restricted = evaluate_pod(Level::Restricted, Version::Latest, &user_ns);
        assert_eq!(texts(&restricted), [detail]);
        assert_eq!(restricted[0].check, "procMount_restricted");
        assert_eq!(
            evaluate_pod(Level::Restricted, v(34), &user_ns)[0].check,
            "procMount"
        );
    }

    #[test]
    fn annotations_are_quoted_as_go_quotes_them() {
        // The quoted forms are `strconv.Quote`'s (checked with Go 1.26).
        let annotated = pod(json!({
            "metadata": { "name": "p", "annotations": {
                "container.apparmor.security.beta.kubernetes.io/b": "unconfined",
                "container.apparmor.security.beta.kubernetes.io/a": "x\"y",
                "container.apparmor.security.beta.kubernetes.io/c": "localhost/ok",
                "seccomp.security.alpha.kubernetes.io/pod": "unconfined",
                "container.seccomp.security.alpha.kubernetes.io/app": "",
            }},
            "spec": { "containers": [{ "name": "app", "image": "i",
                "securityContext": { "appArmorProfile": { "type": "Unconfined" } } }] },
        }));
        assert_eq!(
            texts(&evaluate_pod(Level::Baseline, v(18), &annotated)),
            [
                r#"forbidden AppArmor profiles (container "app" and annotations must not set AppArmor profile type to "Unconfined", "container.apparmor.security.beta.kubernetes.io/a="x\"y"", "container.apparmor.security.beta.kubernetes.io/b="unconfined"")"#,
                "seccompProfile (forbidden annotations container.seccomp.security.alpha.kubernetes.io/app=\"\", seccomp.security.alpha.kubernetes.io/pod=\"unconfined\")",
            ]
        );
        // From v1.19 the seccomp annotations are no longer judged.
        assert_eq!(
            evaluate_pod(Level::Baseline, v(19), &annotated)
                .iter()
                .map(|v| v.check)
                .collect::<Vec<_>>(),
            ["appArmorProfile"]
        );
        for (text, quoted) in [
            ("plain", r#""plain""#),
            ("a\"b\\c", r#""a\"b\\c""#),
            ("\n\t\u{7}\u{0}\u{7f}", r#""\n\t\a\x00\x7f""#),
            ("é\u{a0}\u{200b}", r#""é\u00a0\u200b""#),
            ("\u{10ffff}😀", r#""\U0010ffff😀""#),
            (
                "\u{fdd0}\u{1fffe}\u{2028}\u{85}\u{3000}",
                r#""\ufdd0\U0001fffe\u2028\u0085\u3000""#,
            ),
        ] {
            assert_eq!(go_quote(text), quoted, "{text:?}");
        }
    }

    #[test]
    fn sysctls_grow_by_version_and_keep_the_pods_order() {
        let sysctls = pod(json!({
            "metadata": { "name": "p" },
            "spec": {
                "securityContext": { "sysctls": [
                    { "name": "net.ipv4.tcp_wmem", "value": "1" },
                    { "name": "kernel.msgmax", "value": "1" },
                    { "name": "net.ipv4.ip_local_reserved_ports", "value": "1" },
                ]},
                "containers": [{ "name": "app", "image": "i" }],
            },
        }));
        let at = |minor| texts(&evaluate_pod(Level::Baseline, v(minor), &sysctls));
        assert_eq!(
            at(26),
            [
                "forbidden sysctls (net.ipv4.tcp_wmem, kernel.msgmax, net.ipv4.ip_local_reserved_ports)"
            ]
        );
        assert_eq!(
            at(27),
            ["forbidden sysctls (net.ipv4.tcp_wmem, kernel.msgmax)"]
        );
        assert_eq!(at(32), ["forbidden sysctls (kernel.msgmax)"]);
    }

    /// Neither oracle reaches ephemeral containers (no fixture has one, and a pod cannot be
    /// created with one): they are visited last, as `visitContainers` does.
    #[test]
    fn init_regular_and_ephemeral_containers_are_judged_in_that_order() {
        let privileged = json!({ "privileged": true });
        let all = pod(json!({
            "metadata": { "name": "p" },
            "spec": {
                "containers": [{ "name": "app", "image": "i", "securityContext": privileged }],
                "initContainers": [{ "name": "init", "image": "i", "securityContext": privileged }],
                "ephemeralContainers": [{ "name": "debug", "image": "i", "securityContext": privileged }],
            },
        }));
        assert_eq!(
            texts(&evaluate_pod(Level::Baseline, Version::Latest, &all)),
            [
                r#"privileged (containers "init", "app", "debug" must not set securityContext.privileged=true)"#
            ]
        );
    }
}
