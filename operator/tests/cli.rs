//! The built `hardening-operator` binary: `render` output and exit statuses, and `diff`
//! failing cleanly without a cluster. `diff` against a real API server is tested in
//! `tests/integration/cli.rs`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hardening_operator::cli::input::read_profile;
use hardening_operator::core::{apparmor, seccomp};
use serde::Deserialize;
use serde_json::Value;

/// Runs the binary in the workspace root, so that file names in messages are as given.
fn run(args: &[&str]) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let home = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-home");
    std::fs::create_dir_all(&home).unwrap();
    Command::new(env!("CARGO_BIN_EXE_hardening-operator"))
        .args(args)
        .current_dir(root)
        // No cluster: neither a kubeconfig nor an in-cluster service account.
        .env("KUBECONFIG", home.join("no-such-kubeconfig"))
        .env("HOME", &home)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .output()
        .expect("the hardening-operator binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|document| Value::deserialize(document).expect("render prints valid YAML"))
        .filter(|document| !document.is_null())
        .collect()
}

#[test]
fn render_prints_exactly_the_objects_for_the_selected_namespaces() {
    let output = run(&[
        "render",
        "--profile",
        "examples/bsi-strict.yaml",
        "--namespace",
        "operator/tests/fixtures/namespaces.yaml",
    ]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{stderr}");

    let documents = documents(&stdout);
    let printed: BTreeSet<String> = documents
        .iter()
        .map(|d| {
            format!(
                "{} {} {}/{}",
                d["apiVersion"].as_str().unwrap(),
                d["kind"].as_str().unwrap(),
                d["metadata"]["namespace"].as_str().unwrap_or("-"),
                d["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    let expected: BTreeSet<String> = [
        "v1 Namespace -/team-a",
        "networking.k8s.io/v1 NetworkPolicy team-a/hardening-default-deny",
        "networking.k8s.io/v1 NetworkPolicy team-a/hardening-allow-dns",
        "networking.k8s.io/v1 NetworkPolicy team-a/hardening-allow-same-namespace",
        "networking.k8s.io/v1 NetworkPolicy team-a/hardening-allow-ingress",
        "networking.k8s.io/v1 NetworkPolicy team-a/hardening-allow-egress",
        "v1 ResourceQuota team-a/hardening-quota",
        "v1 LimitRange team-a/hardening-limits",
        // The example's admission rules (guardrails, protection) and the Pod Security labels
        // at namespace creation: cluster-scoped, once.
        "admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy -/hardening.dev-bsi-strict",
        "admissionregistration.k8s.io/v1 ValidatingAdmissionPolicyBinding -/hardening.dev-bsi-strict",
        // The creation gate, a policy of its own (it reads the namespace).
        "admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy -/hardening.dev-bsi-strict-gate",
        "admissionregistration.k8s.io/v1 ValidatingAdmissionPolicyBinding -/hardening.dev-bsi-strict-gate",
        // The protection of the gate's stamp, bound to every namespace.
        "admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy -/hardening.dev-bsi-strict-stamp",
        "admissionregistration.k8s.io/v1 ValidatingAdmissionPolicyBinding -/hardening.dev-bsi-strict-stamp",
        "admissionregistration.k8s.io/v1 MutatingAdmissionPolicy -/hardening.dev-bsi-strict",
        "admissionregistration.k8s.io/v1 MutatingAdmissionPolicyBinding -/hardening.dev-bsi-strict",
        // The rules that only warn (oneServicePerContainer), bound with [Warn, Audit].
        "admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy -/hardening.dev-bsi-strict-warnings",
        "admissionregistration.k8s.io/v1 ValidatingAdmissionPolicyBinding -/hardening.dev-bsi-strict-warnings",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(printed, expected);
    assert_eq!(documents.len(), expected.len(), "a document printed twice");

    // The Namespace body holds only what the operator applies to it.
    let namespace = &documents[0];
    assert_eq!(namespace["kind"], "Namespace");
    let metadata = namespace["metadata"].as_object().unwrap();
    let keys: Vec<&str> = metadata.keys().map(String::as_str).collect();
    assert_eq!(keys, vec!["annotations", "labels", "name"]);
    let annotations = namespace["metadata"]["annotations"].as_object().unwrap();
    assert_eq!(annotations["hardening.dev/profile"], "bsi-strict");
    // The fingerprint of the rendering, as the operator writes it once it is applied.
    let rendered = annotations["hardening.dev/rendered"].as_str().unwrap();
    assert!(
        rendered.len() == 16 && rendered.bytes().all(|b| b.is_ascii_hexdigit()),
        "{rendered}"
    );
    assert_eq!(annotations.len(), 2);
    let labels: Vec<&str> = metadata["labels"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert!(
        labels
            .iter()
            .all(|l| l.starts_with("pod-security.kubernetes.io/")),
        "{labels:?}"
    );
    assert_eq!(labels.len(), 6);
    // Rendered offline: no owner to refer to.
    for document in &documents {
        assert!(
            document["metadata"].get("ownerReferences").is_none(),
            "{document}"
        );
    }

    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        vec![
            "namespace team-b: not selected: its labels do not match the profile's spec.namespaceSelector",
            "namespace kube-system: not selected: a system namespace (kube-system, kube-public and kube-node-lease are never hardened)",
            "profile bsi-strict: declares spec.seccomp and spec.apparmor: --confinement-dir DIR writes its node files",
        ]
    );
}

/// A new, empty directory under the tests' temporary directory.
fn fresh_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const CONFINED: &str = "operator/tests/fixtures/confined-profile.yaml";

#[test]
fn render_with_confinement_dir_writes_the_node_agents_files() {
    let tmp = fresh_dir("confinement");
    let dir = tmp.join("out");
    let dir_arg = dir.to_str().unwrap();
    let namespaces = "operator/tests/fixtures/namespaces.yaml";
    let output = run(&[
        "render",
        "--profile",
        CONFINED,
        "--namespace",
        namespaces,
        "--confinement-dir",
        dir_arg,
    ]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    // stdout is what it is without the option.
    let plain = run(&["render", "--profile", CONFINED, "--namespace", namespaces]);
    assert_eq!(plain.status.code(), Some(0));
    assert_eq!(text(&output.stdout), text(&plain.stdout));
    assert!(!text(&output.stdout).is_empty());

    let profile = read_profile(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(CONFINED),
    )
    .unwrap();
    let seccomp_path = format!("{dir_arg}/seccomp/hardening.dev/confined.json");
    let apparmor_path = format!("{dir_arg}/apparmor/hardening.dev-confined");
    assert_eq!(
        seccomp_path,
        format!(
            "{dir_arg}/seccomp/{}",
            seccomp::localhost_profile("confined")
        )
    );
    assert_eq!(
        apparmor_path,
        format!("{dir_arg}/apparmor/{}", apparmor::profile_name("confined"))
    );
    let seccomp_text = std::fs::read_to_string(&seccomp_path).unwrap();
    assert_eq!(seccomp_text, seccomp::render(&profile).unwrap());
    let json: Value = serde_json::from_str(&seccomp_text).unwrap();
    assert_eq!(json["defaultAction"], "SCMP_ACT_KILL_PROCESS");
    assert_eq!(
        std::fs::read_to_string(&apparmor_path).unwrap(),
        apparmor::render(&profile).unwrap()
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines[lines.len() - 2..],
        [
            format!("wrote {seccomp_path}"),
            format!("wrote {apparmor_path}"),
        ]
    );
    assert!(!stderr.contains("--confinement-dir DIR writes"), "{stderr}");
    // Without the option: a hint, and no files.
    assert!(
        text(&plain.stderr).ends_with(
            "profile confined: declares spec.seccomp and spec.apparmor: --confinement-dir DIR writes its node files\n"
        ),
        "{}",
        text(&plain.stderr)
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn render_with_confinement_dir_of_a_profile_without_sections_writes_nothing() {
    let tmp = fresh_dir("no-confinement");
    let dir = tmp.join("out");
    let output = run(&[
        "render",
        "--profile",
        "examples/baseline.yaml",
        "--namespace",
        "operator/tests/fixtures/namespaces.yaml",
        "--confinement-dir",
        dir.to_str().unwrap(),
    ]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!dir.exists(), "nothing written");
    assert!(
        stderr.ends_with(
            "profile baseline: no spec.seccomp or spec.apparmor: no node files to write\n"
        ),
        "{stderr}"
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn render_exits_2_naming_a_confinement_dir_it_cannot_write() {
    let tmp = fresh_dir("unwritable");
    let file = tmp.join("a-file");
    std::fs::write(&file, "").unwrap();
    let dir = file.join("out");
    let output = run(&[
        "render",
        "--profile",
        CONFINED,
        "--namespace",
        "operator/tests/fixtures/namespaces.yaml",
        "--confinement-dir",
        dir.to_str().unwrap(),
    ]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(
        text(&output.stdout),
        "",
        "nothing to apply when files are missing"
    );
    assert!(
        stderr
            .lines()
            .last()
            .unwrap_or_default()
            .starts_with(&format!(
                "{}/seccomp/hardening.dev: cannot create directory: ",
                dir.display()
            )),
        "{stderr}"
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn render_of_an_audit_profile_prints_nothing_and_says_why() {
    let output = run(&[
        "render",
        "--profile",
        "examples/audit-only.yaml",
        "--namespace",
        "operator/tests/fixtures/namespaces.yaml",
        "--namespace",
        "operator/tests/fixtures/audited-namespace.yaml",
        "--excluded-namespaces",
        "team-b",
    ]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(text(&output.stdout), "");
    assert!(
        stderr.contains("namespace team-b: not selected: excluded by --excluded-namespaces"),
        "{stderr}"
    );
    assert!(
        stderr.contains("namespace team-audited: selected, but profile audit-only is in Audit mode, which writes nothing: nothing to render"),
        "{stderr}"
    );
    assert!(
        stderr.contains("profile audit-only: nothing to render"),
        "{stderr}"
    );
}

#[test]
fn an_invalid_profile_exits_2_naming_the_file_and_the_field() {
    for command in ["render", "diff"] {
        let mut args = vec![
            command,
            "--profile",
            "operator/tests/fixtures/invalid-profile.yaml",
        ];
        if command == "render" {
            args.extend(["--namespace", "operator/tests/fixtures/namespaces.yaml"]);
        }
        let output = run(&args);
        assert_eq!(output.status.code(), Some(2), "{command}");
        assert_eq!(text(&output.stdout), "", "{command}");
        assert_eq!(
            text(&output.stderr),
            "operator/tests/fixtures/invalid-profile.yaml:15:17: spec.networkPolicy.egress[0].to[0].except[0]: 192.168.0.0/16 is not a strict subset of cidr 10.0.0.0/8\n",
            "{command}"
        );
    }
}

#[test]
fn invalid_namespace_manifests_exit_2_naming_the_position_or_document() {
    let render = |file: &str| {
        run(&[
            "render",
            "--profile",
            "examples/bsi-strict.yaml",
            "--namespace",
            "operator/tests/fixtures/namespaces.yaml",
            "--namespace",
            file,
        ])
    };
    let output = render("operator/tests/fixtures/broken-namespaces.yaml");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(text(&output.stdout), "");
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("operator/tests/fixtures/broken-namespaces.yaml:11:14: "),
        "{stderr}"
    );

    let output = render("operator/tests/fixtures/wrong-kind-namespaces.yaml");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        "operator/tests/fixtures/wrong-kind-namespaces.yaml: document 2: kind: a ConfigMap (v1), expected a Namespace (v1)\n"
    );

    let output = render("operator/tests/fixtures/no-such-file.yaml");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr)
            .starts_with("operator/tests/fixtures/no-such-file.yaml: cannot read: "),
        "{}",
        text(&output.stderr)
    );

    // The same namespace twice is ambiguous.
    let output = render("operator/tests/fixtures/namespaces.yaml");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        "operator/tests/fixtures/namespaces.yaml: namespace team-a is given twice (also in operator/tests/fixtures/namespaces.yaml)\n"
    );
}

#[test]
fn diff_without_a_cluster_exits_2() {
    let output = run(&["diff", "--profile", "examples/bsi-strict.yaml"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(text(&output.stdout), "");
    assert!(
        text(&output.stderr).starts_with("connecting to the cluster of the current kubeconfig: "),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn usage_errors_exit_2_and_help_documents_the_commands() {
    let output = run(&["render", "--profile", "examples/bsi-strict.yaml"]);
    assert_eq!(output.status.code(), Some(2), "--namespace is required");

    let help = text(&run(&["render", "--help"]).stdout);
    for phrase in [
        "multi-document YAML stream",
        "carry no ownerReferences",
        "Audit mode writes nothing",
        "Exit status: 0 rendered (possibly nothing); 2 invalid input",
        "--confinement-dir <DIR>",
        "DIR/seccomp/hardening.dev/<profile>.json",
        "DIR/apparmor/hardening.dev-<profile>",
    ] {
        assert!(
            help.contains(phrase),
            "render --help lacks {phrase:?}:\n{help}"
        );
    }
    let help = text(&run(&["diff", "--help"]).stdout);
    for phrase in [
        "--context <NAME>",
        "--kubeconfig <FILE>",
        "-n, --namespace <NAME>",
        "--profile <FILE|DIR>",
        "guardrail turned on or off",
        "create ",
        "update ",
        "unchanged ",
        "delete ",
        "Exit status: 0 the operator would change nothing",
        "would change something; 2 invalid input or the cluster could not be read",
    ] {
        assert!(
            help.contains(phrase),
            "diff --help lacks {phrase:?}:\n{help}"
        );
    }
}

#[test]
fn the_component_definition_is_printed_offline() {
    let output = run(&["component-definition"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let document: serde_json::Value = serde_json::from_str(&text(&output.stdout)).unwrap();
    let component = &document["component-definition"]["components"][0];
    assert_eq!(component["title"], "hardening-operator");
    let ids: Vec<&str> = component["control-implementations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["implemented-requirements"].as_array().unwrap())
        .map(|r| r["control-id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"SYS.1.6.A21") && ids.contains(&"APP.4.4.A7"),
        "{ids:?}"
    );
}

#[test]
fn report_without_a_cluster_exits_2_and_its_help_says_what_it_reports() {
    let output = run(&["report", "--format", "html"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(text(&output.stdout), "");
    assert!(
        text(&output.stderr).starts_with("connecting to the cluster of the current kubeconfig: "),
        "{}",
        text(&output.stderr)
    );
    let output = run(&["report", "--format", "pdf"]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "an unknown format is a usage error"
    );

    let help = text(&run(&["report", "--help"]).stdout);
    for phrase in [
        "SYS.1.6 \"Containerisierung\" (A1-A26)",
        "APP.4.4 \"Kubernetes\" (A1-A21), edition 2023",
        "Met ",
        "Partial ",
        "NotMet ",
        "Organisational ",
        "self-contained page",
        "--format oscal writes OSCAL 1.1.2 assessment",
        "hardening-operator component-definition",
        "--format <FORMAT>",
        "--profile-selector <SELECTOR>",
        "--namespace-selector <SELECTOR>",
        "Exit status: 0 written; 2 the cluster could not be read",
    ] {
        assert!(
            help.contains(phrase),
            "report --help lacks {phrase:?}:\n{help}"
        );
    }
}

#[test]
fn a_misspelt_field_is_refused_as_kubectl_apply_refuses_it() {
    let tmp = fresh_dir("misspelt");
    let file = tmp.join("p.yaml");
    std::fs::write(
        &file,
        "apiVersion: hardening.dev/v1alpha1\nkind: HardeningProfile\nmetadata:\n  name: p\nspec:\n  namespaceSelector: {}\n  podSecurty:\n    enforce: {level: restricted}\n  guardrails:\n    allowedRegistries: [Registry.Example/]\n",
    )
    .unwrap();
    let output = run(&[
        "render",
        "--profile",
        file.to_str().unwrap(),
        "--namespace",
        "operator/tests/fixtures/namespaces.yaml",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(text(&output.stdout), "");
    let path = file.display();
    assert_eq!(
        text(&output.stderr).lines().collect::<Vec<_>>(),
        vec![
            format!(
                "{path}:10:25: spec.guardrails.allowedRegistries[0]: \"Registry.Example/\" must be a registry host in lower case, optionally with a port and a path, without a trailing '/', such as registry.example.com, registry.example.com:5000 or registry.example.com/team"
            ),
            format!(
                "{path}:7:3: spec.podSecurty: unknown field: spec has no podSecurty (did you mean podSecurity?)"
            ),
        ]
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn render_takes_directories_of_manifests_as_gitops_repositories_hold_them() {
    let tmp = fresh_dir("directories");
    let profiles = tmp.join("profiles");
    std::fs::create_dir_all(profiles.join("nested")).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for example in ["bsi-strict.yaml", "baseline.yaml"] {
        std::fs::copy(root.join("examples").join(example), profiles.join(example)).unwrap();
    }
    // A kustomization and a ConfigMap beside the profiles, a README, a subdirectory: not
    // profiles, not read or skipped.
    std::fs::write(
        profiles.join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [bsi-strict.yaml]\n",
    )
    .unwrap();
    std::fs::write(profiles.join("README.md"), "# profiles\n").unwrap();
    std::fs::copy(
        root.join("examples/audit-only.yaml"),
        profiles.join("nested/audit-only.yaml"),
    )
    .unwrap();
    let output = run(&[
        "render",
        "--profile",
        profiles.to_str().unwrap(),
        "--namespace",
        "operator/tests/fixtures/namespaces.yaml",
    ]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let documents = documents(&stdout);
    let namespaces: Vec<(&str, &str)> = documents
        .iter()
        .filter(|d| d["kind"] == "Namespace")
        .map(|d| {
            (
                d["metadata"]["name"].as_str().unwrap(),
                d["metadata"]["annotations"]["hardening.dev/profile"]
                    .as_str()
                    .unwrap(),
            )
        })
        .collect();
    // team-a is strict, team-b baseline (examples/namespaces' labels).
    assert_eq!(
        namespaces,
        vec![("team-a", "bsi-strict"), ("team-b", "baseline")]
    );
    assert!(
        stderr.contains(&format!(
            "{}: skipped 1 document that is not a HardeningProfile",
            profiles.join("kustomization.yaml").display()
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains("audit-only"),
        "subdirectories are not read: {stderr}"
    );
    // A directory without any profile is an error.
    let empty = tmp.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let output = run(&[
        "render",
        "--profile",
        empty.to_str().unwrap(),
        "--namespace",
        "operator/tests/fixtures/namespaces.yaml",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        format!("{}: holds no .yaml, .yml or .json file\n", empty.display())
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn diff_takes_kubectls_context_and_kubeconfig_flags() {
    let tmp = fresh_dir("context");
    let kubeconfig = tmp.join("config");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\ncurrent-context: \"\"\n",
    )
    .unwrap();
    let output = run(&[
        "diff",
        "--profile",
        "examples/bsi-strict.yaml",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--context",
        "staging",
        "-n",
        "team-a",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with(&format!(
            "connecting to the cluster of context staging in {}: ",
            kubeconfig.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("staging"), "{stderr}");
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// Issue 24: `render --exception` names each exception with what it does and whether the
/// operator would apply it now (in force, or refused beyond --max-exception-duration).
#[test]
fn render_names_the_exceptions_and_whether_they_would_apply() {
    let dir = fresh_dir("render-exceptions");
    let in_days = |days: i64| {
        k8s_openapi::jiff::Timestamp::from_second(
            k8s_openapi::jiff::Timestamp::now().as_second() + days * 86_400,
        )
        .unwrap()
        .to_string()
    };
    let exception = |name: &str, expires: &str| {
        format!(
            "apiVersion: hardening.dev/v1alpha1\nkind: HardeningException\nmetadata: {{name: {name}}}\nspec:\n  profile: bsi-strict\n  namespaces: {{names: [shop]}}\n  rules: [requireImageTag]\n  reason: legacy image (RISK-1)\n  owner: team-shop\n  expires: \"{expires}\"\n"
        )
    };
    let file = dir.join("exceptions.yaml");
    std::fs::write(
        &file,
        format!(
            "{}---\n{}",
            exception("soon", &in_days(2)),
            exception("too-long", &in_days(40))
        ),
    )
    .unwrap();
    let output = run(&[
        "render",
        "--profile",
        "examples/bsi-strict.yaml",
        "--namespace",
        "operator/tests/fixtures/namespaces.yaml",
        "--exception",
        file.to_str().unwrap(),
        "--max-exception-duration",
        "720h",
    ]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "profile bsi-strict: HardeningException soon (in force): guardrail requireImageTag"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("profile bsi-strict: HardeningException too-long (not applied: ")
            && stderr.contains("30 days"),
        "{stderr}"
    );
}
