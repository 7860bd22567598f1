//! Every message people read is in words: no regular expression, no Rust type name, no
//! debug dump of a value (`hardening_operator::fixtures::wording_problem`). Swept over the
//! error paths of the CLI (`render` and `diff` on bad files and directories, an unreachable
//! and a forbidding cluster), of the CRD (`kubectl apply` of the same bad profiles to the
//! real API server) and of the chart's values (helm).

use std::path::PathBuf;
use std::process::Command;

use hardening_operator::cli::cluster::ClusterArgs;
use hardening_operator::cli::diff::DiffArgs;
use hardening_operator::cli::render::RenderArgs;
use hardening_operator::fixtures::wording_problem;
use hardening_tests::cluster;

/// Profiles with one mistake each, as people make them.
const BAD_PROFILES: [(&str, &str); 14] = [
    ("misspelt", "  podSecurty: {enforce: {level: restricted}}\n"),
    ("enum", "  mode: Sometimes\n"),
    ("type", "  priority: high\n"),
    ("float quantity", "  resourceQuota: {hard: {cpu: 0.5}}\n"),
    (
        "registry",
        "  guardrails: {allowedRegistries: [Registry.Example.com/]}\n",
    ),
    (
        "version",
        "  podSecurity: {enforce: {level: restricted, version: v1.033}}\n",
    ),
    ("syscall", "  seccomp: {allow: [Read]}\n"),
    ("apparmor path", "  apparmor: {denyWrite: [\"etc/**\"]}\n"),
    ("namespace name", "  excludedNamespaces: [Team_A]\n"),
    ("range", "  priority: 5000\n"),
    (
        "set",
        "  networkPolicy: {defaultDeny: [Ingress, Ingress]}\n",
    ),
    ("cel", "  podSecurity: {}\n"),
    (
        "cidr",
        "  networkPolicy: {egress: [{to: [{cidr: 10.0.0.1/8}]}]}\n",
    ),
    ("bool", "  networkPolicy: {allowDns: \"yes\"}\n"),
];

fn profile_text(body: &str) -> String {
    format!(
        "apiVersion: hardening.dev/v1alpha1\nkind: HardeningProfile\nmetadata:\n  name: words\nspec:\n  namespaceSelector: {{}}\n{body}"
    )
}

fn dir(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("messages-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn assert_in_words(what: &str, text: &str) {
    eprintln!("{what}: {text}");
    assert!(!text.trim().is_empty(), "{what}: no message at all");
    if let Some(problem) = wording_problem(text) {
        panic!("{what}: {problem}");
    }
}

fn render_error(profiles: Vec<PathBuf>, namespaces: Vec<PathBuf>) -> String {
    let args = RenderArgs {
        profiles,
        namespaces,
        exclusions: Default::default(),
        exceptions: Default::default(),
        confinement_dir: None,
    };
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    match hardening_operator::cli::render::run(&args, &mut out, &mut notes) {
        Ok(()) => panic!("render accepted it: {}", String::from_utf8_lossy(&notes)),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_clis_error_paths_speak_in_words() {
    let tmp = dir("cli");
    let namespaces = tmp.join("ns.yaml");
    std::fs::write(
        &namespaces,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n",
    )
    .unwrap();
    for (what, body) in BAD_PROFILES {
        let file = tmp.join(format!("{}.yaml", what.replace(' ', "-")));
        std::fs::write(&file, profile_text(body)).unwrap();
        let message = render_error(vec![file.clone()], vec![namespaces.clone()]);
        assert!(
            message.starts_with(&format!("{}:", file.display())),
            "{what}: {message}"
        );
        assert_in_words(what, &message);
    }
    // Files that are not what they should be.
    let bad_files = [
        (
            "yaml syntax",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: [a\n",
        ),
        (
            "wrong kind",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
        ),
        (
            "labels list",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: [x]}\n",
        ),
        (
            "generation text",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, generation: x}\n",
        ),
        (
            "metadata list",
            "apiVersion: v1\nkind: Namespace\nmetadata: [a]\n",
        ),
        ("nothing", "# empty\n"),
    ];
    let profile = tmp.join("fine.yaml");
    std::fs::write(&profile, profile_text("")).unwrap();
    for (what, text) in bad_files {
        let file = tmp.join(format!("{}.yaml", what.replace(' ', "-")));
        std::fs::write(&file, text).unwrap();
        assert_in_words(what, &render_error(vec![profile.clone()], vec![file]));
    }
    for (what, profiles) in [
        ("missing file", vec![tmp.join("no-such-file.yaml")]),
        ("empty directory", vec![dir("cli-empty")]),
        ("profile twice", vec![profile.clone(), profile.clone()]),
    ] {
        assert_in_words(what, &render_error(profiles, vec![namespaces.clone()]));
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}

async fn diff_error(cluster: ClusterArgs) -> String {
    let tmp = dir("diff");
    let file = tmp.join("p.yaml");
    std::fs::write(&file, profile_text("")).unwrap();
    let args = DiffArgs {
        profiles: vec![file],
        namespaces: vec![],
        profile_selector: None,
        exclusions: Default::default(),
        exceptions: Default::default(),
        cluster,
    };
    let result = match args.cluster.client().await {
        Ok(client) => {
            let (mut out, mut notes) = (Vec::new(), Vec::new());
            hardening_operator::cli::diff::run(&client, &args, &mut out, &mut notes)
                .await
                .map(|_| ())
        }
        Err(e) => Err(e),
    };
    result.expect_err("diff must fail").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_against_a_cluster_it_cannot_read_speaks_in_words() {
    let tmp = dir("diff-clusters");
    // A kubeconfig whose context does not exist.
    let kubeconfig = tmp.join("config");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\ncurrent-context: \"\"\n",
    )
    .unwrap();
    let message = diff_error(ClusterArgs {
        kubeconfig: Some(kubeconfig.clone()),
        context: Some("staging".into()),
    })
    .await;
    assert_in_words("no such context", &message);
    // A server nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: \"http://127.0.0.1:{port}\"}}}}]\ncontexts: [{{name: x, context: {{cluster: c, user: u}}}}]\nusers: [{{name: u, user: {{token: t}}}}]\ncurrent-context: x\n"
        ),
    )
    .unwrap();
    let message = diff_error(ClusterArgs {
        kubeconfig: Some(kubeconfig.clone()),
        context: None,
    })
    .await;
    assert!(
        message.starts_with("listing HardeningProfiles: "),
        "{message}"
    );
    assert_in_words("unreachable", &message);
    // The real API server, as a user who may read nothing: 403 in words.
    let admin = std::fs::read_to_string(cluster().kubeconfig()).unwrap();
    let mut config: serde_yaml_ng::Value = serde_yaml_ng::from_str(&admin).unwrap();
    for user in config["users"].as_sequence_mut().unwrap() {
        user["user"]["as"] = "system:serviceaccount:default:nobody".into();
    }
    std::fs::write(&kubeconfig, serde_yaml_ng::to_string(&config).unwrap()).unwrap();
    let message = diff_error(ClusterArgs {
        kubeconfig: Some(kubeconfig.clone()),
        context: None,
    })
    .await;
    assert!(
        message.contains("is forbidden") && message.ends_with("(Forbidden, HTTP 403)"),
        "{message}"
    );
    assert_in_words("forbidden", &message);
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crds_error_paths_speak_in_words() {
    let client = cluster().client().await;
    crate::operator_env::install_crd(&client).await;
    let Some(bin) = std::env::var_os("HARDENING_K8S_BIN_DIR") else {
        panic!("HARDENING_K8S_BIN_DIR (tests/controlplane/build.sh) names kubectl's directory");
    };
    let kubectl = PathBuf::from(bin).join("kubectl");
    let tmp = dir("crd");
    for (what, body) in BAD_PROFILES {
        let file = tmp.join("p.yaml");
        std::fs::write(&file, profile_text(body)).unwrap();
        let output = Command::new(&kubectl)
            .arg("--kubeconfig")
            .arg(cluster().kubeconfig())
            .args(["apply", "--dry-run=server", "-f"])
            .arg(&file)
            .output()
            .expect("kubectl runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "{what}: kubectl apply accepted it"
        );
        // The API server's own words around ours; quoted values are the user's.
        assert_in_words(what, &stderr);
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn the_charts_value_errors_speak_in_words() {
    let chart = hardening_tests::helm::chart_dir().display().to_string();
    for set in [
        "operator.resyncPeriod=1d",
        "nodeAgent.checkPeriod=5x",
        "image.digest=abc",
        "operator.excludedNamespaces={Bad_NS}",
        "apiServer.host=a/b",
        "serviceMonitor.interval=1d",
        "serviceMonitor.scrapeTimeout=soon",
        "grafanaDashboard.namespace=Bad_NS",
        "resources.limits.cpu=lots",
        "nodeAgent.resources.requests.memory=much",
        "podDisruptionBudget.maxUnavailable=half",
        "nodeAgent.kubeletRoot=var",
        "operator.logFormat=xml",
        "operator.concurrency=0",
    ] {
        let err = hardening_tests::helm::helm(&["template", "x", &chart, "--set", set])
            .expect_err(&format!("--set {set} must be rejected"));
        // Helm's own note about the chart's symbolic link is not a message about values.
        let err: String = err
            .lines()
            .filter(|l| !l.contains("found symbolic link"))
            .collect::<Vec<_>>()
            .join("\n");
        let key = set.split('=').next().unwrap();
        assert!(
            err.contains(key) || err.contains(&key.replace('.', "/")),
            "--set {set}: the message does not name the value: {err}"
        );
        assert_in_words(set, &err);
    }
}

#[test]
fn the_wording_check_catches_what_the_issue_showed() {
    for text in [
        r#"spec.guardrails.allowedRegistries[0]: Invalid value: "x": spec.guardrails.allowedRegistries[0] in body should match '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?$'"#,
        r#"p.yaml:6:13: spec.priority: invalid type: string "high", expected i32"#,
        r#"listing namespaces: ApiError: forbidden (Status { status: Some(Failure), code: 403 })"#,
        r#"- at '/operator/resyncPeriod': '1d' does not match pattern '^([0-9]*\.?[0-9]+|[0-9]+\.)$'"#,
        "p.yaml:6:9: spec.mode: unknown variant `Sometimes`, expected `Enforce` or `Audit`",
        "ns.yaml:3:11: metadata: invalid type: a list, expected ObjectMeta",
    ] {
        assert!(wording_problem(text).is_some(), "not caught: {text}");
    }
    assert_eq!(
        wording_problem(
            "spec.podSecurty: unknown field: spec has no podSecurty (did you mean podSecurity?)"
        ),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_explain_says_the_defaults_in_whole_sentences() {
    let client = cluster().client().await;
    crate::operator_env::install_crd(&client).await;
    let kubectl =
        PathBuf::from(std::env::var_os("HARDENING_K8S_BIN_DIR").expect("kubectl's directory"))
            .join("kubectl");
    let explain = |field: &str| -> Result<String, String> {
        let output = Command::new(&kubectl)
            .arg("--kubeconfig")
            .arg(cluster().kubeconfig())
            .args(["explain", field])
            .output()
            .map_err(|e| e.to_string())?;
        if !output.status.success() {
            // The CRD's OpenAPI is published a moment after it is established.
            return Err(String::from_utf8_lossy(&output.stderr).into_owned());
        }
        // kubectl wraps at 76 columns itself: the description, joined again.
        let text = String::from_utf8(output.stdout).map_err(|e| e.to_string())?;
        Ok(text
            .split("DESCRIPTION:")
            .nth(1)
            .ok_or("no description")?
            .lines()
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" "))
    };
    let mode = hardening_tests::eventually("kubectl explain", || async {
        explain("hardeningprofile.spec.mode")
    })
    .await;
    assert!(mode.contains("Default: `Enforce`."), "{mode}");
    let dns = explain("hardeningprofile.spec.networkPolicy.allowDns").unwrap();
    assert!(dns.contains("Default: `true`."), "{dns}");
    // One sentence across kubectl's own line breaks, not broken where the doc comment was.
    assert!(
        dns.contains("Allow DNS (UDP and TCP port 53) to the cluster DNS pods"),
        "{dns}"
    );
}
