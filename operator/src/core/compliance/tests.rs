//! The verdicts, case by case, written from the requirements' wording (README "Requirements
//! and verdicts" is the table these follow), and the catalogue against the Kompendium.

use std::collections::BTreeMap;

use super::*;
use crate::core::api::{HardeningProfileSpec, UnconfinedPod};
use crate::core::preview::{GuardrailFinding, PodSecurityFinding, PodSecurityPreview};

#[test]
fn the_catalogues_hold_every_requirement_of_the_2023_edition_with_its_level() {
    let ids = |catalogue: &Catalogue| -> Vec<&str> {
        REQUIREMENTS
            .iter()
            .filter(|r| std::ptr::eq(r.catalogue, catalogue))
            .map(|r| r.id)
            .collect()
    };
    let expected = |module: &str, n: usize| -> Vec<String> {
        (1..=n).map(|i| format!("{module}.A{i}")).collect()
    };
    assert_eq!(ids(&SYS_1_6), expected("SYS.1.6", 26));
    assert_eq!(ids(&APP_4_4), expected("APP.4.4", 21));
    // Levels as the Kompendium 2023 marks them: SYS.1.6 A1-A8 B, A9-A20 S, A21-A26 H;
    // APP.4.4 A1-A5 B, A6-A12 S, A13-A21 H.
    for r in &REQUIREMENTS {
        let n: u32 = r.short_id()[1..].parse().unwrap();
        let level = match (r.catalogue.module, n) {
            ("SYS.1.6", 1..=8) | ("APP.4.4", 1..=5) => Level::Basic,
            ("SYS.1.6", 9..=20) | ("APP.4.4", 6..=12) => Level::Standard,
            _ => Level::Elevated,
        };
        assert_eq!(r.level, level, "{}", r.id);
        assert!(!r.title.is_empty() && !r.title_de.is_empty(), "{}", r.id);
        assert_eq!(requirement(r.id), Some(r));
        // Every requirement the operator assesses says what it does.
        assert_eq!(r.assessed(), implementation(r).is_some(), "{}", r.id);
    }
    // The titles ComplianceAsCode gets wrong, as the BSI names them.
    assert_eq!(
        requirement("SYS.1.6.A21").unwrap().title_de,
        "Erweiterte Sicherheitsrichtlinien"
    );
    assert_eq!(
        requirement("SYS.1.6.A23").unwrap().title_de,
        "Unveränderlichkeit der Container"
    );
    // The BSI's mapping to Grundschutz++ covers 10 requirements.
    assert_eq!(
        REQUIREMENTS.iter().filter(|r| !r.gspp.is_empty()).count(),
        10
    );
    assert_eq!(
        cite(&["SYS.1.6.A6", "SYS.1.6.A10"]),
        "BSI SYS.1.6 (2023) A6, A10"
    );
    assert_eq!(
        cite(&["APP.4.4.A7", "SYS.1.6.A5"]),
        "BSI SYS.1.6 (2023) A5; BSI APP.4.4 (2023) A7"
    );
}

fn spec(yaml: &str) -> HardeningProfileSpec {
    let mut value: serde_json::Value = serde_yaml_ng::from_str(yaml).unwrap();
    if value.is_null() {
        value = serde_json::json!({});
    }
    value["namespaceSelector"] = serde_json::json!({});
    serde_json::from_value(value).unwrap()
}

/// The cluster state of one namespace in a case.
#[derive(Clone, Default)]
struct State {
    state: Option<NamespaceState>,
    drift: Vec<DriftEntry>,
    unconfined: Option<UnconfinedPods>,
    widening: Option<Vec<Widening>>,
    running: Option<NamespacePreview>,
    pods_watched: Option<bool>,
    guardrails_enforced: Option<bool>,
}

/// A namespace in sync, pods checked and none breaking anything, tenants quiet, the
/// guardrails (if any) enforced.
fn clean() -> State {
    State {
        state: Some(NamespaceState::InSync),
        unconfined: Some(UnconfinedPods::default()),
        widening: Some(Vec::new()),
        running: Some(NamespacePreview::default()),
        ..State::default()
    }
}

fn pods(reason: &str) -> NamespacePreview {
    NamespacePreview {
        accepted: Vec::new(),
        level: Some("restricted:latest".into()),
        pod_security: PodSecurityPreview {
            findings: vec![PodSecurityFinding {
                pod: "old-0".into(),
                other_pods: 1,
                reason: reason.into(),
            }],
            incomplete: None,
        },
        guardrails: Vec::new(),
    }
}

fn guardrail(rule: &'static str) -> NamespacePreview {
    NamespacePreview {
        guardrails: vec![GuardrailFinding {
            pod: "old-0".into(),
            rule,
            reason: "x".into(),
        }],
        ..NamespacePreview::default()
    }
}

fn drift(kind: &str, name: &str, field: &str) -> DriftEntry {
    DriftEntry {
        kind: kind.into(),
        name: name.into(),
        field: field.into(),
        expected: None,
        actual: None,
        manager: Some("kubectl-edit".into()),
    }
}

fn judged(spec_yaml: &str, s: &State) -> BTreeMap<&'static str, Finding> {
    let spec = spec(spec_yaml);
    let facts = ProfileFacts {
        pods_watched: s.pods_watched.unwrap_or(true),
        guardrails_enforced: s
            .guardrails_enforced
            .unwrap_or(spec.guardrails.is_some() && spec.mode == Mode::Enforce),
        images_scanned: false,
    };
    let ns = NamespaceFacts {
        exceptions: Vec::new(),
        name: "team",
        state: s.state.unwrap_or(NamespaceState::InSync),
        message: Some("NetworkPolicy hardening-default-deny was not created by the operator"),
        drift: &s.drift,
        unconfined: s.unconfined.as_ref(),
        widening: s.widening.as_deref(),
        running: s.running.as_ref(),
        vulnerable: None,
    };
    assess_namespace(&spec, &facts, &ns)
        .into_iter()
        .map(|f| (f.requirement.id, f))
        .collect()
}

const RESTRICTED: &str = "podSecurity: {enforce: {level: restricted}}\n";
const BASELINE: &str = "podSecurity: {enforce: {level: baseline}}\n";
const DENY_BOTH: &str = "networkPolicy: {defaultDeny: [Ingress, Egress]}\n";
const DENY_IN: &str = "networkPolicy: {defaultDeny: [Ingress]}\n";
const CONFINED: &str = "seccomp: {baseline: Strict}\napparmor: {denyWrite: [/etc/**]}\n";
const REGISTRIES: &str =
    "guardrails: {allowedRegistries: [registry.example], requireImageTag: true}\n";
const LIMITS: &str = "limitRange: {limits: [{type: Container, default: {cpu: 500m, memory: 256Mi}}, {type: PersistentVolumeClaim, max: {storage: 10Gi}}]}\n";

fn s(parts: &[&str]) -> String {
    parts.concat()
}

/// One case: a profile, a cluster state, and the verdicts (with a word of the reason) the
/// requirement's wording gives.
struct Case {
    what: &'static str,
    spec: String,
    state: State,
    expect: Vec<(&'static str, Verdict, &'static str)>,
}

fn case(
    what: &'static str,
    spec: String,
    state: State,
    expect: &[(&'static str, Verdict, &'static str)],
) -> Case {
    Case {
        what,
        spec,
        state,
        expect: expect.to_vec(),
    }
}

use Verdict::{Met, NotMet, Organisational, Partial};

fn cases() -> Vec<Case> {
    let full = s(&[
        RESTRICTED,
        DENY_BOTH,
        CONFINED,
        LIMITS,
        "guardrails: {allowedRegistries: [registry.example], requireImageTag: true, requireProfiles: true}\n",
    ]);
    vec![
        // SYS.1.6.A5: admin and access networks separated; only needed communication.
        case("A5 deny both ways, baseline", s(&[BASELINE, DENY_BOTH]), clean(), &[("SYS.1.6.A5", Partial, "administration network")]),
        case("A5 one direction only", s(&[BASELINE, DENY_IN]), clean(), &[("SYS.1.6.A5", Partial, "egress is not denied")]),
        case("A5 no isolation at all", BASELINE.into(), clean(), &[("SYS.1.6.A5", NotMet, "no NetworkPolicy isolates")]),
        case("A5 without a Pod Security level: hostNetwork bypasses", DENY_BOTH.into(), clean(), &[("SYS.1.6.A5", Partial, "hostNetwork pod bypasses")]),
        case("A5 a tenant policy opens ingress", s(&[BASELINE, DENY_BOTH]), State { widening: Some(vec![Widening { policy: "allow-all".into(), direction: PolicyType::Ingress, opens: "from anywhere on all ports, to all pods".into() }]), ..clean() }, &[("SYS.1.6.A5", NotMet, "allow-all"), ("APP.4.4.A7", NotMet, "allow-all"), ("SYS.1.6.A21", NotMet, "allow-all")]),
        case("A5 a running pod on the host network", s(&[BASELINE, DENY_BOTH]), State { running: Some(pods("host namespaces")), ..clean() }, &[("SYS.1.6.A5", NotMet, "2 pods running break it"), ("APP.4.4.A4", NotMet, "host namespaces")]),
        case("A5 the default deny drifted", s(&[BASELINE, DENY_BOTH]), State { state: Some(NamespaceState::Drifted), drift: vec![drift("NetworkPolicy", "hardening-default-deny", "spec.policyTypes")], ..clean() }, &[("SYS.1.6.A5", NotMet, "hardening-default-deny differs"), ("SYS.1.6.A16", Partial, "")]),
        // SYS.1.6.A6: images only from trusted sources, versioned.
        case("A6 registries and tags enforced", REGISTRIES.into(), clean(), &[("SYS.1.6.A6", Partial, "vulnerability status")]),
        case("A6 no registry list", RESTRICTED.into(), clean(), &[("SYS.1.6.A6", NotMet, "any source")]),
        case("A6 registries but not enforced", REGISTRIES.into(), State { guardrails_enforced: Some(false), ..clean() }, &[("SYS.1.6.A6", NotMet, "not enforced")]),
        case("A6 registries without a version rule", "guardrails: {allowedRegistries: [registry.example]}\n".into(), clean(), &[("SYS.1.6.A6", Partial, "need not carry a version")]),
        case("A6 a running pod from elsewhere", REGISTRIES.into(), State { running: Some(guardrail("allowedRegistries")), ..clean() }, &[("SYS.1.6.A6", NotMet, "allowedRegistries"), ("SYS.1.6.A10", NotMet, "allowedRegistries")]),
        // SYS.1.6.A10: a policy for images and container operation, applied.
        case("A10 Pod Security, registries, versions, enforced", s(&[RESTRICTED, REGISTRIES]), clean(), &[("SYS.1.6.A10", Met, "the profile is the policy")]),
        case("A10 running pods not judged (Enforce, preview missing)", s(&[RESTRICTED, REGISTRIES]), State { running: None, ..clean() }, &[("SYS.1.6.A10", Partial, "running pods not checked"), ("SYS.1.6.A17", Partial, "running pods not checked")]),
        case("A10 a running pod breaking Pod Security in Enforce mode", s(&[RESTRICTED, REGISTRIES]), State { running: Some(pods("runAsNonRoot != true")), ..clean() }, &[("SYS.1.6.A10", NotMet, "runAsNonRoot"), ("SYS.1.6.A17", NotMet, "runAsNonRoot"), ("SYS.1.6.A18", NotMet, "runAsNonRoot")]),
        case("A10 no permitted images", RESTRICTED.into(), clean(), &[("SYS.1.6.A10", Partial, "no permitted images")]),
        case("A10 no policy at all", DENY_BOTH.into(), clean(), &[("SYS.1.6.A10", NotMet, "neither")]),
        case("A10 Audit mode", s(&["mode: Audit\n", RESTRICTED, REGISTRIES]), clean(), &[("SYS.1.6.A10", Partial, "Audit mode"), ("SYS.1.6.A6", NotMet, "not enforced")]),
        case("A10 Audit mode, a running pod breaking the level (previewed)", s(&["mode: Audit\n", RESTRICTED, REGISTRIES]), State { running: Some(pods("privileged")), ..clean() }, &[("SYS.1.6.A10", NotMet, "privileged"), ("SYS.1.6.A16", NotMet, "privileged")]),
        case("A10 a pending namespace", s(&[RESTRICTED, REGISTRIES]), State { state: Some(NamespaceState::Pending), ..clean() }, &[("SYS.1.6.A10", NotMet, "not reconciled"), ("SYS.1.6.A5", NotMet, "not reconciled")]),
        case("A10 a failed namespace", s(&[RESTRICTED, REGISTRIES]), State { state: Some(NamespaceState::Failed), ..clean() }, &[("SYS.1.6.A10", NotMet, "cannot be brought"), ("SYS.1.6.A21", NotMet, "cannot be brought")]),
        // SYS.1.6.A15: CPU, memory, storage, bandwidth per container; reaction documented.
        case("A15 cpu, memory and claims bounded", LIMITS.into(), clean(), &[("SYS.1.6.A15", Partial, "bandwidth")]),
        case("A15 a quota and a LimitRange without memory", "resourceQuota: {hard: {pods: \"10\"}}\nlimitRange: {limits: [{type: Container, default: {cpu: 500m}}]}\n".into(), clean(), &[("SYS.1.6.A15", NotMet, "memory not limited")]),
        case("A15 a quota alone", "resourceQuota: {hard: {requests.memory: 1Gi}}\n".into(), clean(), &[("SYS.1.6.A15", NotMet, "cpu and memory not limited")]),
        case("A15 memory bounded by max only", "limitRange: {limits: [{type: Container, max: {cpu: \"1\", memory: 1Gi}}]}\n".into(), clean(), &[("SYS.1.6.A15", Partial, "per claim is not bounded")]),
        case("A15 the LimitRange drifted", LIMITS.into(), State { state: Some(NamespaceState::Drifted), drift: vec![drift("LimitRange", "hardening-limits", "spec.limits[0].default.memory")], ..clean() }, &[("SYS.1.6.A15", NotMet, "hardening-limits differs")]),
        // SYS.1.6.A16: no administrative access container -> host; no remote maintenance points.
        case("A16 baseline", BASELINE.into(), clean(), &[("SYS.1.6.A16", Partial, "SSH")]),
        case("A16 no level", DENY_BOTH.into(), clean(), &[("SYS.1.6.A16", NotMet, "privileged")]),
        case("A16 a privileged pod running", BASELINE.into(), State { running: Some(pods("privileged")), ..clean() }, &[("SYS.1.6.A16", NotMet, "privileged"), ("SYS.1.6.A17", NotMet, "")]),
        case("A16 the Pod Security label removed", BASELINE.into(), State { state: Some(NamespaceState::Drifted), drift: vec![drift("Namespace", "team", "metadata.labels[pod-security.kubernetes.io/enforce]")], ..clean() }, &[("SYS.1.6.A16", NotMet, "differs"), ("SYS.1.6.A15", NotMet, "")]),
        // SYS.1.6.A17: unprivileged account, cannot gain rights; runtime encapsulated.
        case("A17 restricted latest", RESTRICTED.into(), clean(), &[("SYS.1.6.A17", Partial, "runtime's own account")]),
        case("A17 restricted pinned to v1.21", "podSecurity: {enforce: {level: restricted, version: v1.21}}\n".into(), clean(), &[("SYS.1.6.A17", Partial, "does not check dropped capabilities (from v1.22), runAsUser=0")]),
        case("A17 baseline only", BASELINE.into(), clean(), &[("SYS.1.6.A17", NotMet, "as root")]),
        case("A17 running pods escalate", RESTRICTED.into(), State { running: Some(pods("allowPrivilegeEscalation != false, unrestricted capabilities")), ..clean() }, &[("SYS.1.6.A17", NotMet, "allowPrivilegeEscalation != false, unrestricted capabilities"), ("SYS.1.6.A19", Partial, "")]),
        // SYS.1.6.A18: accounts in containers without rights on the host.
        case("A18 restricted", RESTRICTED.into(), clean(), &[("SYS.1.6.A18", Partial, "guardrails.requireUserNamespaces")]),
        case("A18 baseline", BASELINE.into(), clean(), &[("SYS.1.6.A18", NotMet, "as root")]),
        // SYS.1.6.A19: only the storage needed.
        case("A19 restricted", RESTRICTED.into(), clean(), &[("SYS.1.6.A19", Partial, "network storage")]),
        case("A19 baseline", BASELINE.into(), clean(), &[("SYS.1.6.A19", Partial, "volume types are not restricted")]),
        case("A19 a running pod with a host path", RESTRICTED.into(), State { running: Some(pods("hostPath volumes, restricted volume types")), ..clean() }, &[("SYS.1.6.A19", NotMet, "hostPath"), ("SYS.1.6.A16", NotMet, "hostPath"), ("APP.4.4.A4", NotMet, "hostPath")]),
        // SYS.1.6.A21: extended policies for network, file system, system calls, used.
        case("A21 everything, every pod confined", full.clone(), clean(), &[("SYS.1.6.A21", Met, "tighter than the runtime defaults")]),
        case("A21 runtime-default seccomp and AppArmor are not extended", s(&[DENY_BOTH, "seccomp: {}\napparmor: {}\n"]), clean(), &[("SYS.1.6.A21", Partial, "runtime default")]),
        case("A21 unconfined pods", full.clone(), State { unconfined: Some(UnconfinedPods { count: 2, listed: vec![UnconfinedPod { name: "debug".into(), reason: "container debug: seccompProfile not set".into() }] }), ..clean() }, &[("SYS.1.6.A21", NotMet, "2 pods do not use")]),
        case("A21 pods not watched", full.clone(), State { pods_watched: Some(false), unconfined: None, ..clean() }, &[("SYS.1.6.A21", Partial, "--pod-report=false")]),
        case("A21 nothing declared", BASELINE.into(), clean(), &[("SYS.1.6.A21", NotMet, "no seccomp profile")]),
        case("A21 the profiles only reported, not required", s(&[RESTRICTED, DENY_BOTH, CONFINED]), clean(), &[("SYS.1.6.A21", Partial, "guardrails.requireProfiles")]),
        case("A21 the profiles required but not enforced", full.clone(), State { guardrails_enforced: Some(false), ..clean() }, &[("SYS.1.6.A21", Partial, "not enforced")]),
        case("A21 with the no-shells preset only", s(&[DENY_BOTH, "seccomp: {baseline: Strict}\napparmor: {presets: [NoShellsOrPackageManagers]}\nguardrails: {requireProfiles: true}\n"]), clean(), &[("SYS.1.6.A21", Met, "tighter")]),
        // SYS.1.6.A23: immutable containers.
        case("A23 read-only root enforced", "guardrails: {requireReadOnlyRootFilesystem: true}\n".into(), clean(), &[("SYS.1.6.A23", Partial, "writable")]),
        case("A23 no rule", RESTRICTED.into(), clean(), &[("SYS.1.6.A23", NotMet, "root file system")]),
        case("A23 a running writable pod", "guardrails: {requireReadOnlyRootFilesystem: true}\n".into(), State { running: Some(guardrail("requireReadOnlyRootFilesystem")), ..clean() }, &[("SYS.1.6.A23", NotMet, "requireReadOnlyRootFilesystem")]),
        case("A23 read-only root and mounts", "guardrails: {requireReadOnlyRootFilesystem: true, requireReadOnlyMounts: true}\n".into(), clean(), &[("SYS.1.6.A23", Met, "every volume is mounted read-only")]),
        case("A23 declared scratch volumes stay writable", "guardrails: {requireReadOnlyRootFilesystem: true, requireReadOnlyMounts: true, scratchVolumes: [tmp]}\n".into(), clean(), &[("SYS.1.6.A23", Partial, "scratch volumes (tmp)")]),
        case("A23 a running pod with a writable mount", "guardrails: {requireReadOnlyRootFilesystem: true, requireReadOnlyMounts: true}\n".into(), State { running: Some(guardrail("requireReadOnlyMounts")), ..clean() }, &[("SYS.1.6.A23", NotMet, "requireReadOnlyMounts"), ("SYS.1.6.A19", NotMet, "requireReadOnlyMounts")]),
        // SYS.1.6.A19: read-only mounts and no propagation are named when missing.
        case("A19 mounts not checked", RESTRICTED.into(), clean(), &[("SYS.1.6.A19", Partial, "guardrails.denyMountPropagation")]),
        case("A19 a running pod propagating mounts", s(&[RESTRICTED, "guardrails: {denyMountPropagation: true}\n"]), State { running: Some(guardrail("denyMountPropagation")), ..clean() }, &[("SYS.1.6.A19", NotMet, "denyMountPropagation")]),
        // SYS.1.6.A8: credentials not in literal environment values.
        case("A8 no rule", RESTRICTED.into(), clean(), &[("SYS.1.6.A8", NotMet, "literal environment values")]),
        case("A8 literals denied", "guardrails: {denySecretEnvLiterals: true}\n".into(), clean(), &[("SYS.1.6.A8", Partial, "images")]),
        case("A8 literals denied, Audit mode", "mode: Audit\nguardrails: {denySecretEnvLiterals: true}\n".into(), State { guardrails_enforced: Some(false), ..clean() }, &[("SYS.1.6.A8", NotMet, "not enforced")]),
        case("A8 a running pod with a literal password", "guardrails: {denySecretEnvLiterals: true}\n".into(), State { running: Some(guardrail("denySecretEnvLiterals")), ..clean() }, &[("SYS.1.6.A8", NotMet, "denySecretEnvLiterals"), ("SYS.1.6.A10", NotMet, "denySecretEnvLiterals"), ("APP.4.4.A13", NotMet, "denySecretEnvLiterals")]),
        // SYS.1.6.A11: one service per container, a heuristic.
        case("A11 not checked", RESTRICTED.into(), clean(), &[("SYS.1.6.A11", NotMet, "not checked")]),
        case("A11 warned about", "guardrails: {oneServicePerContainer: true}\n".into(), clean(), &[("SYS.1.6.A11", Partial, "heuristic")]),
        case("A11 a running pod with two services", s(&[RESTRICTED, "guardrails: {allowedRegistries: [registry.example], requireImageTag: true, oneServicePerContainer: true}\n"]), State { running: Some(guardrail("oneServicePerContainer")), ..clean() }, &[("SYS.1.6.A11", NotMet, "oneServicePerContainer"), ("SYS.1.6.A10", Met, "")]),
        // SYS.1.6.A25, APP.4.4.A19: availability.
        case("A25 nothing checked", RESTRICTED.into(), clean(), &[("SYS.1.6.A25", NotMet, "nothing about availability"), ("APP.4.4.A19", NotMet, "nothing about availability")]),
        case("A25 controllers only", "guardrails: {requireController: true}\n".into(), clean(), &[("SYS.1.6.A25", Partial, "guardrails.highAvailability"), ("APP.4.4.A19", Partial, "fire zones")]),
        case("A25 controllers and availability", "guardrails: {requireController: true, highAvailability: true}\n".into(), clean(), &[("SYS.1.6.A25", Partial, "different hosts")]),
        case("A25 a highly available workload short of replicas", s(&[RESTRICTED, "guardrails: {allowedRegistries: [registry.example], requireImageTag: true, requireController: true, highAvailability: true}\n"]), State { running: Some(guardrail("highAvailability")), ..clean() }, &[("SYS.1.6.A25", NotMet, "highAvailability"), ("APP.4.4.A19", NotMet, "highAvailability"), ("SYS.1.6.A10", Met, "")]),
        // APP.4.4.A9: service accounts.
        case("APP A9 nothing checked", RESTRICTED.into(), clean(), &[("APP.4.4.A9", NotMet, "default service account")]),
        case("APP A9 tokens only", "guardrails: {denyServiceAccountToken: true}\n".into(), clean(), &[("APP.4.4.A9", Partial, "guardrails.denyDefaultServiceAccount")]),
        case("APP A9 both", "guardrails: {denyServiceAccountToken: true, denyDefaultServiceAccount: true}\n".into(), clean(), &[("APP.4.4.A9", Partial, "rights granted")]),
        case("APP A9 a running pod on default", "guardrails: {denyServiceAccountToken: true, denyDefaultServiceAccount: true}\n".into(), State { running: Some(guardrail("denyDefaultServiceAccount")), ..clean() }, &[("APP.4.4.A9", NotMet, "denyDefaultServiceAccount")]),
        // APP.4.4.A11: probes.
        case("APP A11 probes required", "guardrails: {requireProbes: true}\n".into(), clean(), &[("APP.4.4.A11", Met, "liveness and a readiness probe")]),
        case("APP A11 no rule", RESTRICTED.into(), clean(), &[("APP.4.4.A11", NotMet, "no liveness or readiness")]),
        case("APP A11 running pods not judged", "guardrails: {requireProbes: true}\n".into(), State { running: None, ..clean() }, &[("APP.4.4.A11", Partial, "running pods not checked")]),
        case("APP A11 a running pod without probes", "guardrails: {requireProbes: true}\n".into(), State { running: Some(guardrail("requireProbes")), ..clean() }, &[("APP.4.4.A11", NotMet, "requireProbes")]),
        // SYS.1.6.A18, APP.4.4.A4: user namespaces.
        case("A18 restricted with user namespaces", s(&[RESTRICTED, "guardrails: {requireUserNamespaces: true}\n"]), clean(), &[("SYS.1.6.A18", Met, "user namespace"), ("APP.4.4.A4", Met, "users")]),
        case("A18 user namespaces not enforced", s(&[RESTRICTED, "guardrails: {requireUserNamespaces: true}\n"]), State { guardrails_enforced: Some(false), ..clean() }, &[("SYS.1.6.A18", Partial, "not enforced"), ("APP.4.4.A4", Partial, "not enforced")]),
        case("A18 a running pod sharing the host's users", s(&[RESTRICTED, "guardrails: {requireUserNamespaces: true}\n"]), State { running: Some(guardrail("requireUserNamespaces")), ..clean() }, &[("SYS.1.6.A18", NotMet, "requireUserNamespaces"), ("APP.4.4.A4", NotMet, "requireUserNamespaces")]),
        case("A18 baseline with user namespaces", s(&[BASELINE, "guardrails: {requireUserNamespaces: true}\n"]), clean(), &[("SYS.1.6.A18", NotMet, "as root"), ("APP.4.4.A4", Met, "")]),
        // SYS.1.6.A24 and organisational ones: never met by the operator.
        case("A24 drift reporting is not behaviour monitoring", full.clone(), clean(), &[("SYS.1.6.A24", Organisational, "not behaviour"), ("SYS.1.6.A1", Organisational, "planning"), ("SYS.1.6.A22", Organisational, ""), ("APP.4.4.A21", Organisational, "")]),
        // APP.4.4.A4: separation of pods.
        case("APP A4 baseline", BASELINE.into(), clean(), &[("APP.4.4.A4", Partial, "user IDs are not separated")]),
        case("APP A4 no level", DENY_BOTH.into(), clean(), &[("APP.4.4.A4", NotMet, "host's process")]),
        // APP.4.4.A7: between namespaces deny first; network rules changed by selected admins.
        case("APP A7 deny both, widening denied", s(&[BASELINE, DENY_BOTH, "guardrails: {denyWideningNetworkPolicies: true}\n"]), clean(), &[("APP.4.4.A7", Partial, "control plane")]),
        case("APP A7 tenants may open", s(&[BASELINE, DENY_BOTH]), clean(), &[("APP.4.4.A7", Partial, "denyWideningNetworkPolicies")]),
        // APP.4.4.A13: automated auditing and enforcement.
        case("APP A13 enforced level, pods judged", RESTRICTED.into(), clean(), &[("APP.4.4.A13", Partial, "nodes")]),
        case("APP A13 nothing about pods", DENY_BOTH.into(), clean(), &[("APP.4.4.A13", NotMet, "neither audited nor enforced")]),
        // APP.4.4.A18: micro-segmentation inside a namespace.
        case("APP A18 same namespace allowed", s(&[DENY_BOTH]), clean(), &[("APP.4.4.A18", NotMet, "allowSameNamespace")]),
        case("APP A18 same namespace denied", "networkPolicy: {defaultDeny: [Ingress, Egress], allowSameNamespace: false}\n".into(), clean(), &[("APP.4.4.A18", Partial, "not per pod")]),
        // Running pods only partly checked by Pod Security (its own limit).
        case("running pods partly checked", RESTRICTED.into(), State { running: Some(NamespacePreview { pod_security: PodSecurityPreview { findings: vec![], incomplete: Some("new PodSecurity enforce level only checked against the first 3000 of 3100 existing pods".into()) }, ..NamespacePreview::default() }), ..clean() }, &[("SYS.1.6.A17", Partial, "only partly checked")]),
    ]
}

#[test]
fn verdicts_follow_the_requirement_text_case_by_case() {
    let cases = cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let found = judged(&c.spec, &c.state);
        for (id, verdict, word) in &c.expect {
            let f = &found[id];
            if f.verdict != *verdict || !f.reason.contains(word) {
                failures.push(format!(
                    "{}: {id} is {:?} ({}), expected {verdict:?} with {word:?}",
                    c.what, f.verdict, f.reason
                ));
            }
        }
        // Never Met unless every condition holds: no Met beside a NotMet cause for the same
        // namespace state, and organisational ones are never met.
        for f in found.values() {
            if !f.requirement.assessed() {
                assert_eq!(f.verdict, Verdict::Organisational, "{}", f.requirement.id);
            }
            assert!(f.reason.chars().count() <= MAX_REASON_CHARS + 1);
            assert!(f.evidence.len() <= crate::core::api::MAX_LISTED_EVIDENCE);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn what_can_be_met_is_met_only_when_everything_holds() {
    let full = s(&[
        RESTRICTED,
        CONFINED,
        LIMITS,
        "networkPolicy: {defaultDeny: [Ingress, Egress], allowSameNamespace: false}\n",
        "guardrails: {allowedRegistries: [registry.example], requireImageTag: true, \
         requireReadOnlyRootFilesystem: true, denyWideningNetworkPolicies: true, \
         requireProfiles: true, requireUserNamespaces: true, denySecretEnvLiterals: true, \
         denyServiceAccountToken: true, denyDefaultServiceAccount: true, \
         oneServicePerContainer: true, requireController: true, requireProbes: true, \
         highAvailability: true, requireReadOnlyMounts: true, denyMountPropagation: true}\n",
    ]);
    let found = judged(&full, &clean());
    let met: Vec<&str> = found
        .values()
        .filter(|f| f.verdict == Verdict::Met)
        .map(|f| f.requirement.id)
        .collect();
    assert_eq!(
        met,
        [
            "APP.4.4.A11",
            "APP.4.4.A4",
            "SYS.1.6.A10",
            "SYS.1.6.A18",
            "SYS.1.6.A21",
            "SYS.1.6.A23"
        ]
    );
    for f in found.values().filter(|f| f.requirement.assessed()) {
        let (_, best) = implementation(f.requirement).unwrap();
        assert_eq!(f.verdict, best, "{}: {}", f.requirement.id, f.reason);
    }
    // A pending namespace or Audit mode takes every Met away; running pods not judged take
    // A10's (A21 rests on the pod check of its own, the unconfined pods).
    let pending = State {
        state: Some(NamespaceState::Pending),
        ..clean()
    };
    assert!(
        judged(&full, &pending)
            .values()
            .all(|f| f.verdict != Verdict::Met)
    );
    let unjudged = judged(
        &full,
        &State {
            running: None,
            ..clean()
        },
    );
    assert_eq!(unjudged["SYS.1.6.A10"].verdict, Verdict::Partial);
    assert_eq!(unjudged["SYS.1.6.A18"].verdict, Verdict::Partial);
    assert_eq!(unjudged["APP.4.4.A11"].verdict, Verdict::Partial);
    assert_eq!(unjudged["SYS.1.6.A21"].verdict, Verdict::Met);
    let audit = format!("mode: Audit\n{full}");
    assert!(
        judged(&audit, &clean())
            .values()
            .all(|f| f.verdict != Verdict::Met)
    );
}

#[test]
fn a_profile_is_as_good_as_its_worst_namespace_and_claims_nothing_without_one() {
    let spec = spec(&s(&[RESTRICTED, REGISTRIES]));
    let facts = ProfileFacts {
        pods_watched: true,
        guardrails_enforced: true,
        images_scanned: false,
    };
    let good = clean();
    let breaking = State {
        running: Some(pods("runAsNonRoot != true")),
        ..clean()
    };
    let as_facts = |name: &'static str, s: &'static State| NamespaceFacts {
        exceptions: Vec::new(),
        name,
        state: s.state.unwrap(),
        message: None,
        drift: &s.drift,
        unconfined: s.unconfined.as_ref(),
        widening: s.widening.as_deref(),
        running: s.running.as_ref(),
        vulnerable: None,
    };
    let good: &'static State = Box::leak(Box::new(good));
    let breaking: &'static State = Box::leak(Box::new(breaking));
    let entries = assess_profile(
        &spec,
        &facts,
        [
            as_facts("a", good),
            as_facts("b", breaking),
            as_facts("c", good),
        ],
    );
    let a10 = entries.iter().find(|e| e.id == "SYS.1.6.A10").unwrap();
    assert_eq!(a10.verdict, Verdict::NotMet);
    assert!(
        a10.reason.starts_with("b: 2 pods running break it"),
        "{}",
        a10.reason
    );
    assert!(
        a10.reason.ends_with("(1 of 3 namespaces)"),
        "{}",
        a10.reason
    );
    assert_eq!(
        a10.namespaces,
        Some(VerdictCounts {
            met: 2,
            partial: 0,
            not_met: 1
        })
    );
    assert_eq!(a10.evidence[0].namespace.as_deref(), Some("b"));
    assert_eq!(
        a10.catalogue,
        "BSI IT-Grundschutz SYS.1.6 Containerisierung"
    );
    assert_eq!(a10.edition, "2023");
    assert_eq!(a10.level, "S");
    // All namespaces alike: the reason as it is.
    let entries = assess_profile(&spec, &facts, [as_facts("a", good), as_facts("c", good)]);
    let a17 = entries.iter().find(|e| e.id == "SYS.1.6.A17").unwrap();
    assert_eq!(a17.verdict, Verdict::Partial);
    assert!(
        a17.reason.starts_with("containers run as non-root"),
        "{}",
        a17.reason
    );
    // No namespace: nothing to claim.
    let empty = assess_profile(&spec, &facts, []);
    assert_eq!(empty.len(), 47);
    assert!(
        empty
            .iter()
            .all(|e| matches!(e.verdict, Verdict::NotApplicable | Verdict::Organisational))
    );
}

#[test]
fn the_examples_claim_what_their_comments_say() {
    use crate::fixtures::example;
    let verdicts = |file: &str| {
        let p = example(file);
        judged(
            &serde_yaml_ng::to_string(&p.spec).unwrap(),
            &State {
                guardrails_enforced: Some(
                    p.spec.guardrails.is_some() && p.spec.mode == Mode::Enforce,
                ),
                ..clean()
            },
        )
        .into_iter()
        .filter(|(_, f)| f.requirement.assessed())
        .map(|(id, f)| (id, f.verdict))
        .collect::<BTreeMap<_, _>>()
    };
    let strict = verdicts("bsi-strict.yaml");
    let met: Vec<&str> = strict
        .iter()
        .filter(|(_, v)| **v == Met)
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(met, ["APP.4.4.A11", "SYS.1.6.A10", "SYS.1.6.A21"]);
    let not_met: Vec<&str> = strict
        .iter()
        .filter(|(_, v)| **v == NotMet)
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(not_met, ["APP.4.4.A18"], "allowSameNamespace: true");
    let baseline = verdicts("baseline.yaml");
    assert!(baseline.values().all(|v| *v != Met), "{baseline:?}");
    assert_eq!(baseline["SYS.1.6.A5"], Partial);
    assert_eq!(baseline["SYS.1.6.A17"], NotMet);
    let audit = verdicts("audit-only.yaml");
    assert!(audit.values().all(|v| *v != Met), "{audit:?}");
}

#[test]
fn judging_quiet_namespaces_once_gives_what_judging_each_gives() {
    let spec = spec(&s(&[RESTRICTED, DENY_BOTH, REGISTRIES]));
    let facts = ProfileFacts {
        pods_watched: true,
        guardrails_enforced: true,
        images_scanned: false,
    };
    let quiet = clean();
    let breaking = State {
        running: Some(pods("privileged")),
        ..clean()
    };
    let unjudged = State {
        running: None,
        ..clean()
    };
    let states = [&quiet, &unjudged, &quiet, &breaking, &quiet, &unjudged];
    let names = ["a", "b", "c", "d", "e", "f"];
    let facts_of = |i: usize| NamespaceFacts {
        exceptions: Vec::new(),
        name: names[i],
        state: states[i].state.unwrap(),
        message: None,
        drift: &states[i].drift,
        unconfined: states[i].unconfined.as_ref(),
        widening: states[i].widening.as_deref(),
        running: states[i].running.as_ref(),
        vulnerable: None,
    };
    let mut one_by_one = ProfileAssessment::new();
    for (i, name) in names.iter().enumerate() {
        one_by_one.add(name, assess_namespace(&spec, &facts, &facts_of(i)));
    }
    let memo = assess_profile(&spec, &facts, (0..states.len()).map(facts_of));
    assert_eq!(memo, one_by_one.finish());
    let a10 = memo.iter().find(|e| e.id == "SYS.1.6.A10").unwrap();
    assert_eq!(
        a10.namespaces,
        Some(VerdictCounts {
            met: 3,
            partial: 2,
            not_met: 1
        })
    );
}

/// An exception in force, as the profile's status lists it.
fn exception_in_force(
    name: &str,
    rules: &[&str],
    level: Option<PodSecurityLevel>,
) -> ActiveException {
    ActiveException {
        name: name.into(),
        rules: rules.iter().map(|r| r.to_string()).collect(),
        pod_security_level: level,
        namespaces: vec!["team".into()],
        expires: "2026-12-31T00:00:00Z".into(),
        owner: "team-a".into(),
        reason: "legacy vendor image (RISK-9)".into(),
        ..ActiveException::default()
    }
}

/// Issue 24: an exception in force weakens the requirements its rules or its Pod Security
/// level serve; one otherwise met is "met except accepted deviations" (Partial, never Met),
/// the others say the deviations after their reason; the rest are untouched.
#[test]
fn accepted_deviations_keep_a_requirement_from_being_met() {
    let strict = "podSecurity: {enforce: {level: restricted}}\nguardrails: {allowedRegistries: [registry.example], requireImageTag: true, requireReadOnlyRootFilesystem: true}\n";
    let spec = spec(strict);
    let facts = ProfileFacts {
        pods_watched: true,
        guardrails_enforced: true,
        images_scanned: false,
    };
    let s = clean();
    let judge_with = |exceptions: &[ActiveException]| -> BTreeMap<&'static str, Finding> {
        let ns = NamespaceFacts {
            exceptions: exceptions.iter().collect(),
            name: "team",
            state: NamespaceState::InSync,
            message: None,
            drift: &[],
            unconfined: s.unconfined.as_ref(),
            widening: s.widening.as_deref(),
            running: s.running.as_ref(),
            vulnerable: None,
        };
        assess_namespace(&spec, &facts, &ns)
            .into_iter()
            .map(|f| (f.requirement.id, f))
            .collect()
    };
    let without = judge_with(&[]);
    assert_eq!(without["SYS.1.6.A10"].verdict, Verdict::Met);
    let tag = exception_in_force("tag", &["requireImageTag"], None);
    let with = judge_with(std::slice::from_ref(&tag));
    let a10 = &with["SYS.1.6.A10"];
    assert_eq!(a10.verdict, Verdict::Partial);
    assert!(
        a10.reason.starts_with("met except accepted deviations: HardeningException tag (guardrail requireImageTag; owner team-a, until 2026-12-31T00:00:00Z): legacy vendor image (RISK-9)"),
        "{}",
        a10.reason
    );
    assert_eq!(a10.accepted.len(), 1);
    assert_eq!(a10.accepted[0].suspends, "guardrail requireImageTag");
    // A6 was Partial already: the deviation follows its reason.
    let a6 = &with["SYS.1.6.A6"];
    assert_eq!(a6.verdict, without["SYS.1.6.A6"].verdict);
    assert!(
        a6.reason
            .contains("; accepted deviations: HardeningException tag"),
        "{}",
        a6.reason
    );
    // Untouched: a requirement the rule does not serve.
    assert_eq!(with["SYS.1.6.A23"], without["SYS.1.6.A23"]);
    assert!(with["SYS.1.6.A17"].accepted.is_empty());
    // Organisational rows never carry deviations.
    assert!(with["SYS.1.6.A1"].accepted.is_empty());

    // A lower Pod Security level weakens what rests on the level.
    let level = exception_in_force("level", &[], Some(PodSecurityLevel::Baseline));
    let with = judge_with(std::slice::from_ref(&level));
    for id in ["SYS.1.6.A17", "SYS.1.6.A18", "SYS.1.6.A10", "APP.4.4.A4"] {
        assert_eq!(
            with[id].accepted.first().map(|d| d.suspends.as_str()),
            Some("Pod Security enforce baseline"),
            "{id}"
        );
        assert_ne!(with[id].verdict, Verdict::Met, "{id}");
    }
    assert!(with["SYS.1.6.A23"].accepted.is_empty());
    assert_eq!(
        exception_weakens(&["requireImageTag".into()], None),
        ["SYS.1.6.A6", "SYS.1.6.A10", "APP.4.4.A13"]
    );
    assert_eq!(
        exception_weakens(&["denyExec".into()], None),
        ["APP.4.4.A13"]
    );
}

/// The profile's verdict lists each accepted deviation once, with how many of its
/// namespaces it covers; a namespace with an exception is never folded as a quiet one.
#[test]
fn the_profile_lists_each_deviation_once_with_its_namespaces() {
    let spec = spec(
        "podSecurity: {enforce: {level: restricted}}\nguardrails: {allowedRegistries: [registry.example], requireImageTag: true}\n",
    );
    let facts = ProfileFacts {
        pods_watched: true,
        guardrails_enforced: true,
        images_scanned: false,
    };
    let s = clean();
    let tag = [exception_in_force("tag", &["requireImageTag"], None)];
    let mut assessment = ProfileAssessment::new();
    for (name, exceptions) in [("a", &tag[..]), ("b", &tag[..]), ("c", &[][..])] {
        assessment.judge(
            &spec,
            &facts,
            &NamespaceFacts {
                exceptions: exceptions.iter().collect(),
                name,
                state: NamespaceState::InSync,
                message: None,
                drift: &[],
                unconfined: s.unconfined.as_ref(),
                widening: s.widening.as_deref(),
                running: s.running.as_ref(),
                vulnerable: None,
            },
        );
    }
    let rows = assessment.finish();
    let a10 = rows.iter().find(|r| r.id == "SYS.1.6.A10").unwrap();
    assert_eq!(a10.verdict, Verdict::Partial, "{}", a10.reason);
    assert_eq!(a10.accepted_deviations.len(), 1);
    assert_eq!(a10.accepted_deviations[0].namespaces, 2);
    let counts = a10.namespaces.unwrap();
    assert_eq!((counts.met, counts.partial), (1, 2));

    // Among namespaces of the same verdict, the one the reason names is one with accepted
    // deviations, whatever the order: A6 is Partial everywhere, the reason says the
    // deviation.
    for order in [["c", "a"], ["a", "c"]] {
        let mut assessment = ProfileAssessment::new();
        for name in order {
            let exceptions = if name == "a" { &tag[..] } else { &[][..] };
            assessment.judge(
                &spec,
                &facts,
                &NamespaceFacts {
                    exceptions: exceptions.iter().collect(),
                    name,
                    state: NamespaceState::InSync,
                    message: None,
                    drift: &[],
                    unconfined: s.unconfined.as_ref(),
                    widening: s.widening.as_deref(),
                    running: s.running.as_ref(),
                    vulnerable: None,
                },
            );
        }
        let rows = assessment.finish();
        let a6 = rows.iter().find(|r| r.id == "SYS.1.6.A6").unwrap();
        assert_eq!(a6.verdict, Verdict::Partial, "{order:?}: {}", a6.reason);
        assert!(
            a6.reason.starts_with("a: ")
                && a6
                    .reason
                    .contains("; accepted deviations: HardeningException tag"),
            "{order:?}: {}",
            a6.reason
        );
    }
}
