//! Hardened before the first pod, and no way around it for tenants (issue 21), tried as an
//! attacker would against the real API server: a Namespace and a privileged Pod sent in one
//! go, with the operator running and with it stopped; a tenant bound to `edit` trying every
//! way around the hardening; the break-glass; images judged as the runtime pulls them; and a
//! switch to Audit mode that says what stays enforced. Each test fails on an operator
//! without the creation gate, the protection, the extended `denyExec` or the normalisation.

use std::time::Duration;

use hardening_operator::core::api::HardeningProfileStatus;
use hardening_tests::clients::{break_glass, client_as};
use hardening_tests::objects::admission_api;
use hardening_tests::profiles::{condition, in_sync};
use hardening_tests::requests::until_refused;
use k8s_openapi::api::core::v1::{LimitRange, Namespace, Pod, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};

use crate::operator_env::{OperatorEnv, SHARD_LABEL};

/// A pod Pod Security `restricted` admits, from an allowed registry.
fn restricted_pod(name: &str, image: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": { "name": name },
        "spec": {
            "securityContext": { "runAsNonRoot": true, "seccompProfile": { "type": "RuntimeDefault" } },
            "containers": [{
                "name": "app", "image": image,
                "securityContext": { "allowPrivilegeEscalation": false, "capabilities": { "drop": ["ALL"] } }
            }]
        }
    }))
    .unwrap()
}

fn privileged_pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": { "name": name },
        "spec": { "containers": [{ "name": "app", "image": "registry.example/app:1",
                                   "securityContext": { "privileged": true } }] }
    }))
    .unwrap()
}

fn gate_spec() -> Value {
    json!({
        "podSecurity": { "enforce": { "level": "restricted" } },
        "networkPolicy": { "defaultDeny": ["Ingress", "Egress"] },
        "resourceQuota": { "hard": { "pods": "10" } },
        "limitRange": { "limits": [{ "type": "Container",
            "default": { "cpu": "200m", "memory": "128Mi" } }] },
        "guardrails": { "allowedRegistries": ["registry.example"], "denyExec": true,
                        "denyPortForward": true, "denyPodProxy": true }
    })
}

/// Creates a namespace of the shard and, at once, a pod in it (what `kubectl apply -f` of a
/// Namespace and a Pod does): the pod's answer.
async fn namespace_and_pod(env: &OperatorEnv, name: &str, pod: &Pod) -> Result<Pod, kube::Error> {
    Api::<Namespace>::all(env.client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": { "name": name, "labels": { SHARD_LABEL: env.shard } }
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    // The ServiceAccount admission plugin runs before every policy and refuses pods until
    // kube-controller-manager has created the namespace's `default` account (late on a busy
    // machine): that refusal says nothing about the gate, so the pod is sent again, as a
    // controller would.
    let pods = Api::<Pod>::namespaced(env.client.clone(), name);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match pods.create(&PostParams::default(), pod).await {
            Err(kube::Error::Api(e))
                if e.message.contains("serviceaccount \"default\" not found")
                    && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            answer => return answer,
        }
    }
}

async fn delete_namespaces(client: &Client, names: &[String]) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for name in names {
        let _ = namespaces.delete(name, &DeleteParams::background()).await;
    }
}

/// A Namespace and a privileged Pod in one go, 50 times with the operator running and 50
/// times with it stopped: no privileged pod is ever admitted (Pod Security labels are set at
/// the namespace's creation, and the gate holds pods back until the operator stamped the
/// namespace). A restricted pod sent the same way is held back with a message saying why and
/// that it is temporary, and admitted once the namespace is hardened; while the operator is
/// down, a namespace hardened before stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_pod_is_admitted_before_its_namespace_is_hardened() {
    let mut env = OperatorEnv::start("gate").await;
    let hardened = env.namespace(&[]).await;
    let name = env
        .create_profile(&env.profile("strict", gate_spec()))
        .await
        .unwrap()
        .name_any();
    env.status_where(&name, "in sync", in_sync(1)).await;
    // The admission policies are written; the API server takes them in within a moment.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut created = Vec::new();
    let mut admitted = Vec::new();
    let mut gate_messages = 0;
    for running in [true, false] {
        if !running {
            env.stop_operator().await;
        }
        for i in 0..50 {
            let ns = hardening_tests::unique_name(if running { "gate-up" } else { "gate-down" });
            created.push(ns.clone());
            match namespace_and_pod(&env, &ns, &privileged_pod(&format!("p{i}"))).await {
                Ok(_) => admitted.push(ns),
                Err(e) => {
                    let message = e.to_string();
                    assert!(
                        message.contains("privileged") || message.contains("is not hardened yet"),
                        "{message}"
                    );
                }
            }
        }
        // A restricted pod, sent the same way, is held back by the gate (temporary, and
        // saying so) unless the operator was quicker and had stamped the namespace already.
        let ns = hardening_tests::unique_name("gate-restricted");
        created.push(ns.clone());
        let pod = restricted_pod("web", "registry.example/app:1");
        match namespace_and_pod(&env, &ns, &pod).await {
            Err(e) => {
                let message = e.to_string();
                assert!(
                    message.contains(&format!(
                        "namespace {ns} is not hardened yet by HardeningProfile {name}"
                    )) && message.contains("temporary"),
                    "{message}"
                );
                gate_messages += 1;
            }
            Ok(_) => {
                assert!(running, "admitted while the operator was down");
                let stamped = Api::<Namespace>::all(env.client.clone())
                    .get(&ns)
                    .await
                    .unwrap()
                    .annotations()
                    .get("hardening.dev/profile")
                    .cloned();
                assert_eq!(
                    stamped.as_deref(),
                    Some(name.as_str()),
                    "admitted unstamped"
                );
            }
        }
        if running {
            // Once stamped, the same pod is admitted (what a controller's retry does).
            let pods: Api<Pod> = Api::namespaced(env.client.clone(), &ns);
            hardening_tests::eventually("the retried pod admitted once hardened", || async {
                match pods.create(&PostParams::default(), &pod).await {
                    Ok(_) => Ok(()),
                    Err(kube::Error::Api(s)) if s.code == 409 => Ok(()), // admitted before
                    Err(e) => Err(e.to_string()),
                }
            })
            .await;
        } else {
            // The namespace hardened before the operator stopped stays open.
            Api::<Pod>::namespaced(env.client.clone(), &hardened)
                .create(&PostParams::default(), &pod)
                .await
                .expect("a hardened namespace admits pods while the operator is down");
        }
    }
    eprintln!(
        "{} namespace+pod pairs, {} privileged pods admitted, {gate_messages} restricted pods held back by the gate",
        created.len() - 2,
        admitted.len()
    );
    assert!(
        admitted.is_empty(),
        "privileged pods admitted in {admitted:?}"
    );
    delete_namespaces(&env.client, &created).await;
    // The profile's cleanup needs an operator.
    env.start_operator(hardening_operator::config::RunConfig::default());
    env.finish().await;
}

/// What a test tenant tries, and that it was refused naming the profile.
fn refused(what: &str, answer: Result<impl std::fmt::Debug, kube::Error>, naming: &[&str]) {
    let message = match answer {
        Ok(ok) => panic!("{what}: admitted: {ok:?}"),
        Err(e) => e.to_string(),
    };
    for word in naming {
        assert!(
            message.contains(word),
            "{what}: {message:?} does not say {word:?}"
        );
    }
}

/// A tenant with the `edit` role in the namespace tries every way around the hardening:
/// delete or narrow the generated NetworkPolicies, delete the quota, loosen the LimitRange,
/// debug a running container with an ephemeral container (an allowed image), exec,
/// port-forward, the pods/proxy subresource, and a short image name that the runtime pulls
/// from docker.io. Everything is refused, naming the profile. An administrator who is not the
/// operator is refused too; the break-glass group is not. The allow-list entry `harbor` (a
/// docker.io namespace in disguise) is refused when the profile is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_with_the_edit_role_cannot_get_around_the_hardening() {
    let mut env = OperatorEnv::start("tenant").await;
    let ns = env.namespace(&[]).await;
    let name = env
        .create_profile(&env.profile("strict", gate_spec()))
        .await
        .unwrap()
        .name_any();
    env.status_where(&name, "in sync", in_sync(1)).await;
    let admin = env.client.clone();
    // A running-ish pod to attack (no node: admission decides before the kubelet is asked).
    let pods: Api<Pod> = Api::namespaced(admin.clone(), &ns);
    hardening_tests::eventually("a pod in the hardened namespace", || async {
        pods.create(
            &PostParams::default(),
            &restricted_pod("web", "registry.example/app:1"),
        )
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
    })
    .await;
    let bindings: Api<RoleBinding> = Api::namespaced(admin.clone(), &ns);
    bindings
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": { "name": "tenant-edit" },
                "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit" },
                "subjects": [{ "kind": "ServiceAccount", "name": "tenant", "namespace": ns }]
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    // Debugging rights, which teams grant besides `edit`: adding ephemeral containers.
    Api::<k8s_openapi::api::rbac::v1::Role>::namespaced(admin.clone(), &ns)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": { "name": "debugger" },
                "rules": [{ "apiGroups": [""], "resources": ["pods/ephemeralcontainers"],
                            "verbs": ["patch", "update"] }]
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    bindings
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": { "name": "tenant-debugger" },
                "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "debugger" },
                "subjects": [{ "kind": "ServiceAccount", "name": "tenant", "namespace": ns }]
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let (tenant, _) = client_as(&admin, &ns, "tenant").await;
    let profile_named = format!("HardeningProfile {name}");
    let policies: Api<NetworkPolicy> = Api::namespaced(tenant.clone(), &ns);
    // RBAC lets the tenant through; admission refuses (retried: the RoleBinding takes a
    // moment to count).
    let tenant_pods: Api<Pod> = Api::namespaced(tenant.clone(), &ns);
    hardening_tests::eventually("the tenant's rights in place", || async {
        tenant_pods
            .list(&Default::default())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await;

    let generated = [
        &profile_named[..],
        "only hardening-operator may change or delete it",
    ];
    // The API server takes a new admission policy in within seconds of its creation (the
    // operator's Ready says the objects are in place; a busy API server loads them later).
    let tagged = Patch::Merge(json!({ "metadata": { "labels": { "tenant": "was-here" } } }));
    let params = PatchParams::default();
    until_refused(
        "the admission policy in effect",
        "only hardening-operator may change",
        || policies.patch("hardening-default-deny", &params, &tagged),
    )
    .await;
    refused(
        "deleting the default deny",
        policies
            .delete("hardening-default-deny", &DeleteParams::default())
            .await,
        &generated,
    );
    refused(
        "narrowing the default deny to no pod",
        policies
            .patch(
                "hardening-default-deny",
                &PatchParams::default(),
                &Patch::Merge(
                    json!({ "spec": { "podSelector": { "matchLabels": { "nobody": "x" } } } }),
                ),
            )
            .await,
        &generated,
    );
    refused(
        "cutting its policy types",
        policies
            .patch(
                "hardening-default-deny",
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": { "policyTypes": ["Ingress"] } })),
            )
            .await,
        &generated,
    );
    // `edit` may not write quotas and LimitRanges at all (RBAC); an administrator other
    // than the operator may, but admission refuses.
    refused(
        "the tenant deleting the quota",
        Api::<ResourceQuota>::namespaced(tenant.clone(), &ns)
            .delete("hardening-quota", &DeleteParams::default())
            .await,
        &["forbidden"],
    );
    let other = admin_other().await;
    refused(
        "an administrator deleting the quota",
        Api::<ResourceQuota>::namespaced(other.clone(), &ns)
            .delete("hardening-quota", &DeleteParams::default())
            .await,
        &generated,
    );
    refused(
        "an administrator loosening the LimitRange",
        Api::<LimitRange>::namespaced(other.clone(), &ns)
            .patch(
                "hardening-limits",
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": { "limits": [{ "type": "Container" }] } })),
            )
            .await,
        &generated,
    );
    // kubectl debug: an ephemeral container with an allowed image and a restricted context.
    refused(
        "an ephemeral container (kubectl debug)",
        tenant_pods
            .patch_ephemeral_containers(
                "web",
                &PatchParams::default(),
                &Patch::Strategic(json!({ "spec": { "ephemeralContainers": [{
                    "name": "debug", "image": "registry.example/debug:1", "targetContainerName": "app",
                    "securityContext": { "allowPrivilegeEscalation": false, "runAsNonRoot": true,
                        "capabilities": { "drop": ["ALL"] }, "seccompProfile": { "type": "RuntimeDefault" } }
                }] } })),
            )
            .await,
        &[&profile_named[..], "denyExec", "ephemeral container debug"],
    );
    for (sub, rule) in [
        ("exec", "denyExec"),
        ("portforward", "denyPortForward"),
        ("proxy", "denyPodProxy"),
    ] {
        let request = http::Request::builder()
            .method(if sub == "proxy" { "GET" } else { "POST" })
            .uri(format!(
                "/api/v1/namespaces/{ns}/pods/web/{sub}?command=sh&stdout=true&ports=80"
            ))
            .body(Vec::new())
            .unwrap();
        let answer: Result<Value, kube::Error> = tenant.request(request).await;
        refused(&format!("pods/{sub}"), answer, &[&profile_named[..], rule]);
    }
    refused(
        "a short image name pulled from docker.io",
        tenant_pods
            .create(
                &PostParams::default(),
                &restricted_pod("short", "registry/app:1"),
            )
            .await,
        &["allowedRegistries", "pulled as docker.io/registry/app:1"],
    );
    // Namespaces are cluster-scoped: `edit` may not touch them at all; an administrator
    // other than the operator may, but not their hardening.
    refused(
        "an administrator lowering the Pod Security label",
        Api::<Namespace>::all(other.clone())
            .patch(
                &ns,
                &PatchParams::default(),
                &Patch::Merge(
                    json!({ "metadata": { "annotations": { "hardening.dev/profile": null } } }),
                ),
            )
            .await,
        &[
            &profile_named[..],
            "only hardening-operator may change them",
        ],
    );
    // The status subresource changes a namespace's metadata as well.
    refused(
        "an administrator lowering the Pod Security label through namespaces/status",
        Api::<Namespace>::all(other.clone())
            .patch_status(
                &ns,
                &PatchParams::default(),
                &Patch::Merge(
                    json!({ "metadata": { "labels": { "pod-security.kubernetes.io/enforce": "privileged" } } }),
                ),
            )
            .await,
        &[
            &profile_named[..],
            "only hardening-operator may change them",
        ],
    );
    refused(
        "an administrator deleting the default deny",
        Api::<NetworkPolicy>::namespaced(other.clone(), &ns)
            .delete("hardening-default-deny", &DeleteParams::default())
            .await,
        &generated,
    );
    // The break-glass group may; the operator puts it back.
    let before = Api::<NetworkPolicy>::namespaced(admin.clone(), &ns)
        .get("hardening-default-deny")
        .await
        .unwrap()
        .uid();
    Api::<NetworkPolicy>::namespaced(break_glass().await, &ns)
        .delete("hardening-default-deny", &DeleteParams::default())
        .await
        .expect("the break-glass group may delete it");
    hardening_tests::eventually("the default deny back", || async {
        match Api::<NetworkPolicy>::namespaced(admin.clone(), &ns)
            .get_opt("hardening-default-deny")
            .await
        {
            Ok(Some(p)) if p.uid() != before => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    // A break-glass change of a Pod Security label stands as made (the mutating policy
    // does not put it back unseen), and the operator repairs it.
    let changed = Api::<Namespace>::all(break_glass().await)
        .patch(
            &ns,
            &PatchParams::default(),
            &Patch::Merge(
                json!({ "metadata": { "labels": { "pod-security.kubernetes.io/enforce": null } } }),
            ),
        )
        .await
        .expect("the break-glass group may change the labels");
    assert_eq!(
        changed.labels().get("pod-security.kubernetes.io/enforce"),
        None,
        "the mutating policy left the break-glass change alone"
    );
    hardening_tests::eventually("the enforce label back", || async {
        let labels = Api::<Namespace>::all(admin.clone())
            .get(&ns)
            .await
            .map_err(|e| e.to_string())?
            .labels()
            .clone();
        labels
            .get("pod-security.kubernetes.io/enforce")
            .map(|_| ())
            .ok_or_else(|| format!("{labels:?}"))
    })
    .await;
    // An allow-list entry naming no registry host is refused at once.
    let mut spec = gate_spec();
    spec["guardrails"]["allowedRegistries"] = json!(["harbor"]);
    refused(
        "the allow-list entry harbor",
        env.create_profile(&env.profile("shortname", spec)).await,
        &["docker.io/harbor"],
    );
    env.finish().await;
}

/// The gate's stamp is written by the operator only. Someone who may create and update
/// Namespace objects (an administrator who is neither the operator nor in the break-glass
/// group, as a self-service namespace tool would be) cannot create a namespace of the profile
/// with a stamp copied from a hardened one, nor one outside it (to relabel it in later), nor
/// add the stamp or `hardening.dev/rendered` to a namespace (also through `namespaces/status`),
/// nor bring a namespace carrying an old stamp back into the profile while the operator is
/// down. What leaves the stamp alone passes: a GitOps tool's server-side apply of the
/// namespace's manifest without the annotations, `kubectl label`, removing a stale stamp. The
/// operator still stamps and releases namespaces; the break-glass group may stamp; in Audit
/// mode nothing of it is enforced. Fails without the stamp's policy: the first forged
/// namespace is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_operator_stamps_a_namespace() {
    let mut env = OperatorEnv::start("stamp").await;
    let hardened = env.namespace(&[]).await;
    let name = env
        .create_profile(&env.profile("strict", gate_spec()))
        .await
        .unwrap()
        .name_any();
    env.status_where(&name, "in sync", in_sync(1)).await;
    let admin: Api<Namespace> = Api::all(env.client.clone());
    let stamp_of = |ns: &Namespace| {
        let a = ns.annotations();
        (
            a.get("hardening.dev/profile").cloned(),
            a.get("hardening.dev/rendered").cloned(),
        )
    };
    // The operator's own stamp, the one to forge (`render` computes it as well).
    let (_, rendered) = stamp_of(&admin.get(&hardened).await.unwrap());
    let rendered = rendered.expect("stamped by the operator");
    let stamp = json!({ "hardening.dev/profile": name, "hardening.dev/rendered": rendered });
    let namespace = |ns: &str, labels: Value, annotations: Value| -> Namespace {
        serde_json::from_value(json!({
            "metadata": { "name": ns, "labels": labels, "annotations": annotations }
        }))
        .unwrap()
    };
    let in_shard = json!({ SHARD_LABEL: env.shard });
    let attacker: Api<Namespace> = Api::all(admin_other().await);
    let create = PostParams::default();
    let dry_run = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let profile_named = format!("HardeningProfile {name}");
    let forged_profile = [
        &profile_named[..],
        "annotation hardening.dev/profile=",
        "only hardening-operator may write",
    ];
    let mut created = Vec::new();

    // A namespace of the profile created with the stamp copied from a hardened one (the
    // policy is taken in within seconds of its creation).
    let inside = hardening_tests::unique_name("stamp-forged");
    let forged = namespace(&inside, in_shard.clone(), stamp.clone());
    until_refused(
        "the stamp's policy in effect",
        "only hardening-operator may write",
        || attacker.create(&dry_run, &forged),
    )
    .await;
    refused(
        "a namespace of the profile created with a forged stamp",
        attacker
            .create(
                &create,
                &namespace(&inside, in_shard.clone(), stamp.clone()),
            )
            .await,
        &forged_profile,
    );
    // Outside the profile's namespaces, to be relabelled in later: the stamp, or only its
    // fingerprint.
    let outside = hardening_tests::unique_name("stamp-outside");
    refused(
        "a namespace outside the profile created with the stamp",
        attacker
            .create(&create, &namespace(&outside, json!({}), stamp.clone()))
            .await,
        &forged_profile,
    );
    refused(
        "a namespace created with hardening.dev/rendered alone",
        attacker
            .create(
                &create,
                &namespace(
                    &outside,
                    json!({}),
                    json!({ "hardening.dev/rendered": rendered }),
                ),
            )
            .await,
        // Naming no profile, it is refused by every profile in Enforce mode (those of the
        // tests running beside this one too): the message names one of them.
        &[
            "annotation hardening.dev/rendered on namespace",
            "is part of the stamp of HardeningProfile",
        ],
    );
    // Added to a namespace outside, by a patch or through the status subresource.
    attacker
        .create(&create, &namespace(&outside, json!({}), json!({})))
        .await
        .expect("a namespace without the stamp");
    created.push(outside.clone());
    let add_stamp = Patch::Merge(json!({ "metadata": { "annotations": stamp } }));
    refused(
        "the stamp added to a namespace outside the profile",
        attacker
            .patch(&outside, &PatchParams::default(), &add_stamp)
            .await,
        &forged_profile,
    );
    refused(
        "the stamp added through namespaces/status",
        attacker
            .patch_status(&outside, &PatchParams::default(), &add_stamp)
            .await,
        &forged_profile,
    );
    // Relabelled in without a stamp: the operator hardens and stamps it.
    attacker
        .patch(
            &outside,
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "labels": in_shard } })),
        )
        .await
        .expect("relabelling a namespace without the stamp");
    hardening_tests::eventually(
        "the relabelled namespace stamped by the operator",
        || async {
            let ns = admin.get(&outside).await.map_err(|e| e.to_string())?;
            match stamp_of(&ns) {
                (Some(p), Some(_)) if p == name => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;

    // What leaves the stamp alone passes: a GitOps tool applying the namespace's manifest
    // (without the annotations) server-side, `kubectl label`.
    let manifest = json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": { "name": hardened, "labels": { SHARD_LABEL: env.shard, "team": "shop" } }
    });
    attacker
        .patch(
            &hardened,
            &PatchParams::apply("argocd-controller").force(),
            &Patch::Apply(&manifest),
        )
        .await
        .expect("a GitOps re-apply without the stamp passes");
    attacker
        .patch(
            &hardened,
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "labels": { "owner": "shop-team" } } })),
        )
        .await
        .expect("kubectl label passes");
    assert_eq!(
        stamp_of(&admin.get(&hardened).await.unwrap()),
        (Some(name.clone()), Some(rendered.clone())),
        "the stamp left as it was"
    );
    // The break-glass group may stamp.
    Api::<Namespace>::all(break_glass().await)
        .create(
            &dry_run,
            &namespace(&inside, in_shard.clone(), stamp.clone()),
        )
        .await
        .expect("the break-glass group may stamp a namespace");

    // A namespace that leaves the profile while the operator is down keeps its stamp, which
    // no longer says that what the profile generated there is in place (outside, it was
    // not protected): it comes back only without it.
    env.stop_operator().await;
    let leave = Patch::Merge(json!({ "metadata": { "labels": { SHARD_LABEL: null } } }));
    let come_back = Patch::Merge(json!({ "metadata": { "labels": in_shard } }));
    attacker
        .patch(&hardened, &PatchParams::default(), &leave)
        .await
        .expect("leaving the profile");
    refused(
        "coming back with the old stamp",
        attacker
            .patch(&hardened, &PatchParams::default(), &come_back)
            .await,
        &[
            &profile_named[..],
            "from before it left the profile's namespaces",
            "Remove the annotations hardening.dev/profile and hardening.dev/rendered first",
        ],
    );
    attacker
        .patch(
            &hardened,
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "annotations": {
                "hardening.dev/profile": null, "hardening.dev/rendered": null } } })),
        )
        .await
        .expect("removing the stamp outside the profile");
    attacker
        .patch(&hardened, &PatchParams::default(), &come_back)
        .await
        .expect("coming back without the stamp");
    // The operator stamps it again, and releases a namespace that leaves the profile.
    env.start_operator(hardening_operator::config::RunConfig::default());
    hardening_tests::eventually("stamped again by the operator", || async {
        let ns = admin.get(&hardened).await.map_err(|e| e.to_string())?;
        match stamp_of(&ns) {
            (Some(p), Some(_)) if p == name => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    admin
        .patch(&outside, &PatchParams::default(), &leave)
        .await
        .unwrap();
    hardening_tests::eventually("the stamp removed by the operator", || async {
        let ns = admin.get(&outside).await.map_err(|e| e.to_string())?;
        match stamp_of(&ns) {
            (None, None) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    // Audit mode enforces nothing: the stamp's policy goes.
    env.patch_spec(&name, json!({ "mode": "Audit" })).await;
    let policies = admission_api(&env.client, "ValidatingAdmissionPolicyBinding");
    let stamp_binding = hardening_operator::core::guardrails::stamp_name(&name);
    hardening_tests::eventually("the stamp's binding gone in Audit mode", || async {
        match policies.get_opt(&stamp_binding).await {
            Ok(None) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    hardening_tests::eventually("a stamp written by anyone in Audit mode", || async {
        attacker
            .create(
                &dry_run,
                &namespace(&inside, in_shard.clone(), stamp.clone()),
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await;
    delete_namespaces(&env.client, &created).await;
    env.finish().await;
}

/// Generated namespace requests (creations, and updates of namespaces in every state: stamped
/// for the profile, for another one, with a fingerprint alone, in and out of the profile's
/// selector and exclusions), sent (dry run) by someone who may write namespaces but is
/// neither the operator nor in the break-glass group, where a profile enforces: the API server
/// refuses exactly those a model of the stamp's policy and the protection refuses, built on
/// the operator's own selection (`core::api::selects`, against the policy's CEL reading of the
/// selector: matchLabels, In, NotIn, Exists, DoesNotExist and the excluded names), and names
/// the rule that refused. Each rule is seen refusing at least once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_namespace_requests_are_refused_exactly_as_the_stamp_rules_say() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

    let mut env = OperatorEnv::start("stamp-generated").await;
    let excluded = hardening_tests::unique_name("stamp-excluded");
    let never = hardening_tests::unique_name("stamp-never");
    // No Pod Security labels: no mutating policy changes the requests.
    let profile = env.profile(
        "strict",
        json!({
            "namespaceSelector": {
                "matchLabels": { SHARD_LABEL: env.shard },
                "matchExpressions": [
                    { "key": "tier", "operator": "In", "values": ["a", "b"] },
                    { "key": "team", "operator": "NotIn", "values": ["x"] },
                    { "key": "zone", "operator": "Exists" },
                    { "key": "legacy", "operator": "DoesNotExist" },
                ],
            },
            "excludedNamespaces": [excluded, never],
            "networkPolicy": { "defaultDeny": ["Ingress"] },
        }),
    );
    let name = env.create_profile(&profile).await.unwrap().name_any();
    env.status_where(&name, "in sync", |s| {
        s.guardrails
            .as_ref()
            .is_some_and(|g| g.state == hardening_operator::core::api::NamespaceState::InSync)
            .then_some(())
            .ok_or_else(|| "admission objects not in place".to_owned())
    })
    .await;
    // The operator would stamp and release the namespaces below: its admission objects stay.
    env.stop_operator().await;

    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[28; 32]),
    );
    let mut pick = move |n: u32| (0..n).new_tree(&mut runner).unwrap().current();
    let other = format!("{name}-other");
    let shard = env.shard.clone();
    let labels = |pick: &mut dyn FnMut(u32) -> u32| -> std::collections::BTreeMap<String, String> {
        let mut l = std::collections::BTreeMap::new();
        if pick(10) > 0 {
            l.insert(SHARD_LABEL.to_owned(), shard.clone());
        }
        for (key, values) in [
            ("tier", &["a", "b", "c", ""][..]),
            ("team", &["x", "y", ""][..]),
            ("zone", &["z", "z", "z", ""][..]),
            ("legacy", &["", "", "", "true"][..]),
        ] {
            let value = values[pick(values.len() as u32) as usize];
            if !value.is_empty() {
                l.insert(key.to_owned(), value.to_owned());
            }
        }
        l
    };
    let stamps = |pick: &mut dyn FnMut(u32) -> u32| -> (String, String) {
        let profile = [&name[..], &name[..], &other[..], ""][pick(4) as usize].to_owned();
        let rendered = ["0123456789abcdef", "fedcba9876543210", ""][pick(3) as usize].to_owned();
        (profile, rendered)
    };
    let namespace = |ns: &str,
                     labels: &std::collections::BTreeMap<String, String>,
                     (profile, rendered): &(String, String)|
     -> Namespace {
        let mut annotations = serde_json::Map::new();
        if !profile.is_empty() {
            annotations.insert("hardening.dev/profile".into(), json!(profile));
        }
        if !rendered.is_empty() {
            annotations.insert("hardening.dev/rendered".into(), json!(rendered));
        }
        serde_json::from_value(json!({
            "metadata": { "name": ns, "labels": labels, "annotations": annotations }
        }))
        .unwrap()
    };
    // The namespaces to update, in every state, written by the operator's identity.
    let admin: Api<Namespace> = Api::all(env.client.clone());
    let mut pool: Vec<Namespace> = Vec::new();
    for i in 0..16 {
        let ns = if i == 0 {
            excluded.clone()
        } else {
            hardening_tests::unique_name("stamp-pool")
        };
        let mut l = labels(&mut pick);
        if i % 2 == 0 {
            // Half of them selected (but the excluded one).
            l.insert(SHARD_LABEL.into(), shard.clone());
            l.insert("tier".into(), "a".into());
            l.insert("zone".into(), "z".into());
            l.remove("team");
            l.remove("legacy");
        }
        let stamp = stamps(&mut pick);
        pool.push(
            admin
                .create(&PostParams::default(), &namespace(&ns, &l, &stamp))
                .await
                .unwrap(),
        );
    }
    let pool_names: Vec<String> = pool.iter().map(|n| n.name_any()).collect();

    let attacker: Api<Namespace> = Api::all(admin_other().await);
    let dry_run = PostParams {
        dry_run: true,
        ..Default::default()
    };
    // Both policies taken in by the API server (within seconds of their creation): a stamp
    // refused on a new namespace, and on a governed one.
    let governed: std::collections::BTreeMap<String, String> =
        [(SHARD_LABEL, &shard[..]), ("tier", "a"), ("zone", "z")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
    let probe = hardening_tests::unique_name("stamp-probe");
    let stamped = (name.clone(), "0123456789abcdef".to_owned());
    let probed = admin
        .create(
            &PostParams::default(),
            &namespace(&probe, &governed, &stamped),
        )
        .await
        .unwrap();
    hardening_tests::eventually("the stamp's policy and the protection in effect", || {
        let (attacker, dry_run) = (attacker.clone(), dry_run.clone());
        let created = namespace(
            &hardening_tests::unique_name("stamp-probe"),
            &governed,
            &stamped,
        );
        let mut updated = namespace(&probe, &governed, &(name.clone(), String::new()));
        updated.metadata.resource_version = probed.resource_version();
        let probe = probe.clone();
        async move {
            let create = attacker.create(&dry_run, &created).await;
            let update = attacker.replace(&probe, &dry_run, &updated).await;
            match (&create, &update) {
                (Err(c), Err(u))
                    if c.to_string().contains("annotation hardening.dev/profile=")
                        && u.to_string()
                            .contains("only hardening-operator may change them") =>
                {
                    Ok(())
                }
                _ => Err(format!("{create:?} {update:?}")),
            }
        }
    })
    .await;
    let selects = |ns: &str, l: &std::collections::BTreeMap<String, String>| {
        hardening_operator::core::api::selects(&profile.spec, ns, l)
    };
    let mut seen: std::collections::BTreeMap<&str, usize> = Default::default();
    let (mut admitted, mut refused_count) = (0, 0);
    for case in 0..240 {
        let (old, ns) = if pick(3) == 0 {
            let ns = if pick(8) == 0 {
                never.clone()
            } else {
                hardening_tests::unique_name("stamp-new")
            };
            (None, ns)
        } else {
            let old = &pool[pick(pool.len() as u32) as usize];
            (Some(old), old.name_any())
        };
        let old_labels = old.map(|o| o.labels().clone()).unwrap_or_default();
        let old_stamp = old
            .map(|o| {
                let a = o.annotations();
                (
                    a.get("hardening.dev/profile").cloned().unwrap_or_default(),
                    a.get("hardening.dev/rendered").cloned().unwrap_or_default(),
                )
            })
            .unwrap_or_default();
        // An update changes each part with even odds (so that most keep the stamp as it is).
        let mut new_labels = if old.is_none() || pick(2) == 0 {
            labels(&mut pick)
        } else {
            old_labels.clone()
        };
        new_labels.remove("kubernetes.io/metadata.name");
        let new_stamp = if old.is_none() || pick(2) == 0 {
            stamps(&mut pick)
        } else {
            old_stamp.clone()
        };
        let mut body = namespace(&ns, &new_labels, &new_stamp);
        let answer = match old {
            None => attacker.create(&dry_run, &body).await,
            Some(old) => {
                body.metadata.resource_version = old.resource_version();
                attacker.replace(&ns, &dry_run, &body).await
            }
        };
        // The model: the stamp's rules, and the protection of a governed namespace's stamp.
        let mut name_label = new_labels.clone();
        name_label.insert("kubernetes.io/metadata.name".into(), ns.to_string());
        let (np, nr) = (&new_stamp.0, &new_stamp.1);
        let (op, or) = (&old_stamp.0, &old_stamp.1);
        let selected_now = selects(&ns, &name_label);
        let rules = [
            (
                "forged profile",
                *np == name && op != np,
                "annotation hardening.dev/profile=",
            ),
            (
                "forged rendered",
                !nr.is_empty() && nr != or && (*np == name || np.is_empty()),
                "annotation hardening.dev/rendered on namespace",
            ),
            (
                "stale stamp",
                old.is_some()
                    && *op == name
                    && *np == name
                    && selected_now
                    && !selects(&ns, &old_labels),
                "from before it left the profile's namespaces",
            ),
            (
                "protection",
                old.is_some() && *op == name && selected_now && (op != np || or != nr),
                "only hardening-operator may change them",
            ),
        ];
        let broken: Vec<&(&str, bool, &str)> = rules.iter().filter(|r| r.1).collect();
        let context = format!(
            "case {case}: {} {ns} {old_labels:?} {old_stamp:?} -> {new_labels:?} {new_stamp:?}: {answer:?}",
            if old.is_some() { "update" } else { "create" }
        );
        match &answer {
            Ok(_) => {
                admitted += 1;
                assert!(
                    broken.is_empty(),
                    "admitted, but the model refuses: {context}"
                );
            }
            Err(e) => {
                refused_count += 1;
                let message = e.to_string();
                let by = broken
                    .iter()
                    .find(|r| message.contains(r.2))
                    .unwrap_or_else(|| panic!("refused by no rule of the model: {context}"));
                *seen.entry(by.0).or_default() += 1;
            }
        }
    }
    eprintln!(
        "240 generated namespace requests: {admitted} admitted, {refused_count} refused ({seen:?})"
    );
    for rule in [
        "forged profile",
        "forged rendered",
        "stale stamp",
        "protection",
    ] {
        assert!(seen.contains_key(rule), "{rule} never refused: {seen:?}");
    }
    delete_namespaces(&env.client, &pool_names).await;
    delete_namespaces(&env.client, &[probe]).await;
    env.start_operator(hardening_operator::config::RunConfig::default());
    env.finish().await;
}

/// An administrator who is neither the operator (the tests' operators run as `admin`) nor in
/// the break-glass group: a user of the test control plane, impersonated.
async fn admin_other() -> Client {
    hardening_tests::clients::impersonating("another-admin", &["system:masters"]).await
}

/// A switch to Audit mode is honest: the admission rules only warn and audit (no gate, no
/// protection, no labels at creation), what Enforce mode wrote stays in place (removing it
/// would open the namespaces at the switch), is neither repaired nor removed, and the status
/// says per namespace what still acts there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_to_audit_mode_says_what_stays_enforced() {
    let mut env = OperatorEnv::start("switch").await;
    let ns = env.namespace(&[]).await;
    let name = env
        .create_profile(&env.profile("strict", gate_spec()))
        .await
        .unwrap()
        .name_any();
    env.status_where(&name, "in sync", in_sync(1)).await;
    env.patch_spec(&name, json!({ "mode": "Audit" })).await;
    let still = |s: &HardeningProfileStatus| -> Result<(), String> {
        match condition(s, "StillEnforced") {
            Some((status, reason)) if status == "True" && reason == "LeftByEnforceMode" => {}
            other => return Err(format!("StillEnforced {other:?}")),
        }
        let entry = s
            .namespaces
            .iter()
            .find(|n| n.name == ns)
            .ok_or("the namespace not listed")?;
        let listed = entry.enforced.join(", ");
        for wanted in [
            "Pod Security enforce restricted:latest",
            "NetworkPolicy hardening-default-deny",
            "ResourceQuota hardening-quota",
            "LimitRange hardening-limits",
        ] {
            if !listed.contains(wanted) {
                return Err(format!("{wanted:?} not in {listed:?}"));
            }
        }
        Ok(())
    };
    env.status_where(&name, "what stays enforced listed", still)
        .await;
    // The binding only warns; the mutating policy is gone; new namespaces get no labels and
    // their pods are not held back.
    let bindings = admission_api(&env.client, "ValidatingAdmissionPolicyBinding");
    let object = hardening_operator::core::guardrails::object_name(&name);
    hardening_tests::eventually("the binding warns and audits", || async {
        let binding = bindings.get(&object).await.map_err(|e| e.to_string())?;
        (binding.data["spec"]["validationActions"] == json!(["Warn", "Audit"]))
            .then_some(())
            .ok_or_else(|| format!("{}", binding.data["spec"]["validationActions"]))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let fresh = hardening_tests::unique_name("switch-new");
    let answer = namespace_and_pod(&env, &fresh, &privileged_pod("p")).await;
    assert!(answer.is_ok(), "Audit mode holds nothing back: {answer:?}");
    // What Enforce mode left is not repaired: an edit stays (as the operator's identity here).
    Api::<ResourceQuota>::namespaced(env.client.clone(), &ns)
        .patch(
            "hardening-quota",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "hard": { "pods": "99" } } })),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let quota = Api::<ResourceQuota>::namespaced(env.client.clone(), &ns)
        .get("hardening-quota")
        .await
        .unwrap();
    assert_eq!(quota.spec.unwrap().hard.unwrap()["pods"].0, "99");
    delete_namespaces(&env.client, &[fresh]).await;
    env.finish().await;
}

/// The operator deletes a NetworkPolicy its profile no longer asks for although the
/// profile's admission policy judges NetworkPolicy deletions (for the protection) and its
/// widening rule is on: a deletion has no object to judge. (Before: the rule failed on the
/// missing object and the API server refused the operator's own deletion, for good.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_deletes_what_its_profile_no_longer_asks_for_under_its_own_policy() {
    let mut env = OperatorEnv::start("unwanted").await;
    let ns = env.namespace(&[]).await;
    let mut spec = gate_spec();
    spec["networkPolicy"]["allowSameNamespace"] = json!(true);
    spec["guardrails"]["denyWideningNetworkPolicies"] = json!(true);
    let name = env
        .create_profile(&env.profile("strict", spec))
        .await
        .unwrap()
        .name_any();
    env.status_where(&name, "in sync", in_sync(1)).await;
    // The policy in effect (the tenant-style edit refused).
    let policies: Api<NetworkPolicy> = Api::namespaced(admin_other().await, &ns);
    let labelled = Patch::Merge(json!({ "metadata": { "labels": { "x": "y" } } }));
    let params = PatchParams::default();
    until_refused(
        "the admission policy in effect",
        "only hardening-operator may change",
        || policies.patch("hardening-allow-same-namespace", &params, &labelled),
    )
    .await;
    env.patch_spec(
        &name,
        json!({ "networkPolicy": { "allowSameNamespace": false } }),
    )
    .await;
    let own: Api<NetworkPolicy> = Api::namespaced(env.client.clone(), &ns);
    hardening_tests::eventually("the unwanted policy deleted, in sync", || async {
        let gone = own
            .get_opt("hardening-allow-same-namespace")
            .await
            .map_err(|e| e.to_string())?
            .is_none();
        let status = env
            .profiles_api()
            .get(&name)
            .await
            .map_err(|e| e.to_string())?
            .status
            .ok_or("no status")?;
        if gone && status.in_sync_namespaces == 1 && status.observed_generation == Some(2) {
            Ok(())
        } else {
            Err(format!("gone {gone}, {:?}", status.namespaces))
        }
    })
    .await;
    env.finish().await;
}

/// `denyExec` holds only for what admission sees: whoever may use the kubelet's API through
/// `nodes/proxy` runs commands in any container. The profile's status names them (a
/// ClusterRole granting `get` on `nodes/proxy`, bound to a tenant's service account), and
/// forgets them when the binding goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subjects_that_reach_containers_past_admission_are_named_in_the_status() {
    let mut env = OperatorEnv::start("nodeproxy").await;
    let ns = env.namespace(&[]).await;
    let name = env
        .create_profile(&env.profile("strict", gate_spec()))
        .await
        .unwrap()
        .name_any();
    env.status_where(&name, "in sync, nobody past admission", |s| {
        in_sync(1)(s)?;
        match &s.node_proxy {
            Some(p) if !p.listed.iter().any(|l| l.contains(&ns)) => Ok(()),
            other => Err(format!("nodeProxy {other:?}")),
        }
    })
    .await;
    let role = hardening_tests::unique_name("kubelet-api");
    let roles: Api<k8s_openapi::api::rbac::v1::ClusterRole> = Api::all(env.client.clone());
    let bindings: Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> =
        Api::all(env.client.clone());
    roles
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": { "name": role },
                "rules": [{ "apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"] }]
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    bindings
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": { "name": role },
                "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role },
                "subjects": [{ "kind": "ServiceAccount", "name": "tenant", "namespace": ns }]
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let tenant = format!("ServiceAccount {ns}/tenant");
    env.status_where(&name, "the tenant named", |s| match &s.node_proxy {
        Some(p) if p.listed.contains(&tenant) && p.count >= 1 => Ok(()),
        other => Err(format!("nodeProxy {other:?}")),
    })
    .await;
    bindings
        .delete(&role, &DeleteParams::default())
        .await
        .unwrap();
    roles.delete(&role, &DeleteParams::default()).await.unwrap();
    env.status_where(&name, "the tenant no longer named", |s| {
        match &s.node_proxy {
            Some(p) if !p.listed.contains(&tenant) => Ok(()),
            other => Err(format!("nodeProxy {other:?}")),
        }
    })
    .await;
    env.finish().await;
}
