//! The pod rules of issue 22 (profiles, user namespaces, credentials, one service per
//! container, controllers and probes, volume mounts) judged in Rust exactly as the generated
//! admission policy's CEL judges a new pod (`crate::core::guardrails`, `variables` and
//! `validations`): a running pod counts as created, all its containers as added. A rule
//! judging containers gives every container breaking it (by name, with the reason, in the
//! admission policy's order), so that the caller can leave out those an exception covers; a
//! rule judging the pod as a whole gives the pod's reason, or `None`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, PodSpec, SecurityContext, VolumeMount};
use kube::ResourceExt;

use crate::core::api::{
    Guardrails, HardeningProfile, SERVICE_ACCOUNT_TOKEN_ANNOTATION, workload_security_context,
};
use crate::core::guardrails::SUPERVISORS;

/// The AppArmor annotation of Kubernetes before 1.30, per container.
const APPARMOR_ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

/// One container as the rules see it, of any kind.
struct Container<'a> {
    name: &'a str,
    security_context: Option<&'a SecurityContext>,
    env: Vec<(&'a str, bool)>,
    mounts: &'a [VolumeMount],
    /// Regular containers only (init and ephemeral containers need no probes).
    regular: bool,
    /// An ephemeral container (`kubectl debug`): no ports, not one of the pod's services.
    ephemeral: bool,
    liveness: bool,
    readiness: bool,
    /// Container ports (ephemeral containers have none).
    ports: Vec<i32>,
    command: Option<&'a str>,
}

pub(super) struct PodRules<'a> {
    profile: &'a HardeningProfile,
    guardrails: &'a Guardrails,
    pod: &'a Pod,
    spec: &'a PodSpec,
    annotations: &'a BTreeMap<String, String>,
    containers: Vec<Container<'a>>,
}

impl<'a> PodRules<'a> {
    pub(super) fn new(
        profile: &'a HardeningProfile,
        guardrails: &'a Guardrails,
        pod: &'a Pod,
        spec: &'a PodSpec,
    ) -> Self {
        let env = |env: &'a Option<Vec<k8s_openapi::api::core::v1::EnvVar>>| {
            env.iter()
                .flatten()
                .map(|e| {
                    (
                        e.name.as_str(),
                        e.value.as_deref().is_some_and(|v| !v.is_empty()),
                    )
                })
                .collect::<Vec<_>>()
        };
        let mut containers: Vec<Container<'a>> = Vec::new();
        for (c, regular) in spec
            .containers
            .iter()
            .map(|c| (c, true))
            .chain(spec.init_containers.iter().flatten().map(|c| (c, false)))
        {
            containers.push(Container {
                name: &c.name,
                security_context: c.security_context.as_ref(),
                env: env(&c.env),
                mounts: c.volume_mounts.as_deref().unwrap_or_default(),
                regular,
                ephemeral: false,
                liveness: c.liveness_probe.is_some(),
                readiness: c.readiness_probe.is_some(),
                ports: c.ports.iter().flatten().map(|p| p.container_port).collect(),
                command: c
                    .command
                    .as_ref()
                    .and_then(|c| c.first())
                    .map(String::as_str),
            });
        }
        for c in spec.ephemeral_containers.iter().flatten() {
            containers.push(Container {
                name: &c.name,
                security_context: c.security_context.as_ref(),
                env: env(&c.env),
                mounts: c.volume_mounts.as_deref().unwrap_or_default(),
                regular: false,
                ephemeral: true,
                liveness: false,
                readiness: false,
                ports: Vec::new(),
                command: c
                    .command
                    .as_ref()
                    .and_then(|c| c.first())
                    .map(String::as_str),
            });
        }
        Self {
            profile,
            guardrails,
            pod,
            spec,
            annotations: pod.annotations(),
            containers,
        }
    }

    /// `requireProfiles`: the containers not under the profile's seccomp and AppArmor
    /// profiles (container field, else for AppArmor the pre-1.30 annotation, else the pod's).
    pub(super) fn unconfined(&self) -> Vec<(String, String)> {
        if !self.guardrails.require_profiles {
            return Vec::new();
        }
        let Some(wanted) = workload_security_context(self.profile) else {
            return Vec::new();
        };
        let pod_context = self.spec.security_context.as_ref();
        self.breaking(|c| {
            let mut problems = Vec::new();
            if let Some(want) = &wanted.seccomp_profile {
                let profile = c
                    .security_context
                    .and_then(|s| s.seccomp_profile.as_ref())
                    .or_else(|| pod_context.and_then(|s| s.seccomp_profile.as_ref()));
                let ok = profile.is_some_and(|p| {
                    p.type_ == "Localhost"
                        && p.localhost_profile.as_deref() == Some(&want.localhost_profile)
                });
                if !ok {
                    problems.push(format!(
                        "seccompProfile {}, wants Localhost {}",
                        profile.map_or("not set".to_owned(), |p| describe(
                            &p.type_,
                            p.localhost_profile.as_deref()
                        )),
                        want.localhost_profile
                    ));
                }
            }
            if let Some(want) = &wanted.app_armor_profile {
                let own = c
                    .security_context
                    .and_then(|s| s.app_armor_profile.as_ref());
                let annotation = self
                    .annotations
                    .get(&format!("{APPARMOR_ANNOTATION_PREFIX}{}", c.name));
                let pod = pod_context.and_then(|s| s.app_armor_profile.as_ref());
                let (ok, applied) = match (own, annotation, pod) {
                    (Some(p), _, _) | (None, None, Some(p)) => (
                        p.type_ == "Localhost"
                            && p.localhost_profile.as_deref() == Some(&want.localhost_profile),
                        describe(&p.type_, p.localhost_profile.as_deref()),
                    ),
                    (None, Some(value), _) => (
                        *value == format!("localhost/{}", want.localhost_profile),
                        format!("{value} (annotation)"),
                    ),
                    (None, None, None) => (false, "not set".to_owned()),
                };
                if !ok {
                    problems.push(format!(
                        "appArmorProfile {applied}, wants Localhost {}",
                        want.localhost_profile
                    ));
                }
            }
            (!problems.is_empty()).then(|| format!("container {}: {}", c.name, problems.join("; ")))
        })
    }

    /// The containers for which `reason` gives one, by name, with it.
    fn breaking(&self, reason: impl Fn(&Container<'a>) -> Option<String>) -> Vec<(String, String)> {
        self.containers
            .iter()
            .filter_map(|c| reason(c).map(|r| (c.name.to_owned(), r)))
            .collect()
    }

    /// `requireUserNamespaces`: the pod shares the host's user namespace.
    pub(super) fn host_users(&self) -> Option<String> {
        (self.guardrails.require_user_namespaces && self.spec.host_users != Some(false)).then(
            || {
                format!(
                    "the pod does not set hostUsers: false (no user namespace: its root is the host's; the nodes need {}, see node.userNamespaces in the profile's status.nodeBaseline)",
                    crate::core::nodes::USER_NAMESPACES_NODE_NEEDS
                )
            },
        )
    }

    /// `denySecretEnvLiterals`: containers with a literal value under a secret-like name.
    pub(super) fn secret_literals(&self) -> Vec<(String, String)> {
        if !self.guardrails.deny_secret_env_literals {
            return Vec::new();
        }
        // An invalid pattern fails the CEL evaluation, which denies (failurePolicy Fail);
        // `validate()` refuses such a profile before it gets that far.
        let Ok(pattern) = crate::core::pattern::compiled(self.guardrails.secret_env_name_pattern())
        else {
            let reason = format!(
                "the profile's secretEnvNamePattern {:?} is not a regular expression",
                self.guardrails.secret_env_name_pattern()
            );
            return self.breaking(|_| Some(reason.clone()));
        };
        self.breaking(|c| {
            c.env
                .iter()
                .find(|(name, literal)| *literal && pattern.is_match(name))
                .map(|(name, _)| {
                    format!(
                        "container {} sets {name} as a literal value (a secret-like name: take it from a Secret)",
                        c.name
                    )
                })
        })
    }

    /// `denyServiceAccountToken`: a token without the opt-in annotation.
    pub(super) fn service_account_token(&self) -> Option<String> {
        if !self.guardrails.deny_service_account_token
            || self
                .annotations
                .get(SERVICE_ACCOUNT_TOKEN_ANNOTATION)
                .is_some_and(|v| v == "true")
        {
            return None;
        }
        let projected = self.spec.volumes.iter().flatten().any(|v| {
            v.projected
                .as_ref()
                .and_then(|p| p.sources.as_ref())
                .is_some_and(|s| s.iter().any(|s| s.service_account_token.is_some()))
        });
        if self.spec.automount_service_account_token != Some(false) {
            Some("the pod does not set automountServiceAccountToken: false (it gets a token for the Kubernetes API)".to_owned())
        } else if projected {
            Some("the pod projects a service account token into a volume".to_owned())
        } else {
            None
        }
    }

    /// `denyDefaultServiceAccount`: the service account is `default` (or unset).
    pub(super) fn default_service_account(&self) -> Option<String> {
        if !self.guardrails.deny_default_service_account {
            return None;
        }
        // The API server copies the deprecated `serviceAccount` into `serviceAccountName`,
        // and the ServiceAccount admission plugin sets `default` where both are empty.
        let account = [&self.spec.service_account_name, &self.spec.service_account]
            .into_iter()
            .flatten()
            .find(|a| !a.is_empty())
            .map_or("default", String::as_str);
        (account == "default").then(|| "the pod runs under the default service account".to_owned())
    }

    /// `oneServicePerContainer` (warns only): more than one port, or a process supervisor.
    pub(super) fn multi_service(&self) -> Vec<(String, String)> {
        if !self.guardrails.one_service_per_container {
            return Vec::new();
        }
        self.breaking(|c| {
            if c.ephemeral {
                return None;
            }
            if let Some(command) = c.command {
                let executable = command.rsplit('/').next().unwrap_or(command);
                if SUPERVISORS.contains(&executable) {
                    return Some(format!(
                        "container {} runs the process supervisor {command} (warning only)",
                        c.name
                    ));
                }
            }
            let first = c.ports.first()?;
            c.ports.iter().any(|p| p != first).then(|| {
                format!(
                    "container {} exposes the ports {} (warning only)",
                    c.name,
                    c.ports
                        .iter()
                        .map(i32::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        })
    }

    /// `requireController`: no owner reference with `controller: true`.
    pub(super) fn bare(&self) -> Option<String> {
        (self.guardrails.require_controller && self.controller().is_none())
            .then(|| "the pod has no controller (nothing recreates it elsewhere)".to_owned())
    }

    fn controller(
        &self,
    ) -> Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference> {
        self.pod
            .owner_references()
            .iter()
            .find(|o| o.controller == Some(true))
    }

    /// `requireProbes`: regular containers without both probes, unless a Job owns the pod.
    pub(super) fn unprobed(&self) -> Vec<(String, String)> {
        if !self.guardrails.require_probes
            || self
                .controller()
                .is_some_and(|o| o.kind == "Job" && o.api_version.starts_with("batch/"))
        {
            return Vec::new();
        }
        self.breaking(|c| match (c.liveness, c.readiness) {
            _ if !c.regular => None,
            (true, true) => None,
            (true, false) => Some(format!("container {} has no readinessProbe", c.name)),
            (false, true) => Some(format!("container {} has no livenessProbe", c.name)),
            (false, false) => Some(format!(
                "container {} has neither livenessProbe nor readinessProbe",
                c.name
            )),
        })
    }

    /// `requireReadOnlyMounts`: containers with a mount without `readOnly: true`, but of a
    /// declared scratch volume (`emptyDir` or `ephemeral`).
    pub(super) fn writable_mounts(&self) -> Vec<(String, String)> {
        if !self.guardrails.require_read_only_mounts {
            return Vec::new();
        }
        let scratch = |name: &str| {
            self.guardrails.scratch_volumes.iter().any(|s| s == name)
                && self
                    .spec
                    .volumes
                    .iter()
                    .flatten()
                    .any(|v| v.name == name && (v.empty_dir.is_some() || v.ephemeral.is_some()))
        };
        self.breaking(|c| {
            c.mounts
                .iter()
                .find(|m| m.read_only != Some(true) && !scratch(&m.name))
                .map(|m| {
                    format!(
                        "container {} mounts volume {} at {} writable",
                        c.name, m.name, m.mount_path
                    )
                })
        })
    }

    /// `denyMountPropagation`: containers with a mount propagation other than `None`.
    pub(super) fn propagating_mounts(&self) -> Vec<(String, String)> {
        if !self.guardrails.deny_mount_propagation {
            return Vec::new();
        }
        self.breaking(|c| {
            c.mounts
                .iter()
                .find(|m| m.mount_propagation.as_deref().is_some_and(|p| p != "None"))
                .map(|m| {
                    format!(
                        "container {} mounts volume {} with mountPropagation {}",
                        c.name,
                        m.name,
                        m.mount_propagation.as_deref().unwrap_or_default()
                    )
                })
        })
    }
}

fn describe(type_: &str, localhost: Option<&str>) -> String {
    match localhost {
        Some(name) if type_ == "Localhost" => format!("Localhost {name}"),
        _ => type_.to_owned(),
    }
}
