//! The chart as it is published: its README's permission tables are the RBAC it renders,
//! its install notes say what it does with the CRD, its Artifact Hub annotations match the
//! chart, the CRD, the examples and the workspace, its optional API Priority and Fairness
//! objects are accepted by the API server, and `release/release.sh` writes an OCI image
//! layout, a chart package, a CycloneDX SBOM and checksums that hold together.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use hardening_tests::cluster;
use kube::Api;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

use hardening_tests::helm::{chart_dir, helm, one, render, strings};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `(group, sorted resources, names, sorted verbs)` of a rule.
type Row = (String, Vec<String>, Vec<String>, Vec<String>);

fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items
}

fn rows_of(role: &Value) -> BTreeSet<Row> {
    role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| {
            let groups = strings(&rule["apiGroups"]);
            assert_eq!(groups.len(), 1, "one API group a rule: {rule}");
            (
                groups[0].clone(),
                sorted(strings(&rule["resources"])),
                sorted(strings(&rule["resourceNames"])),
                sorted(strings(&rule["verbs"])),
            )
        })
        .collect()
}

/// The rows of the Markdown table that follows `heading` in `text`: cells without
/// backticks, `""` as the empty group, `(any)` as no names.
fn table_after(text: &str, heading: &str) -> Vec<Vec<String>> {
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading:?}"));
    text[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|line| {
            line.trim_matches('|')
                .split(" | ")
                .map(|cell| cell.trim().to_owned())
                .collect()
        })
        .collect()
}

fn list(cell: &str) -> Vec<String> {
    sorted(
        cell.split(", ")
            .map(|item| item.trim_matches('`').to_owned())
            .filter(|item| item != "(any)")
            .collect(),
    )
}

fn group(cell: &str) -> String {
    match cell.trim_matches('`') {
        "\"\"" => String::new(),
        other => other.to_owned(),
    }
}

#[test]
fn the_permission_tables_are_the_rbac_the_chart_renders() {
    let readme = std::fs::read_to_string(chart_dir().join("README.md")).unwrap();
    let docs = render("x", "hardening-system", &[]);
    let cluster_rows: BTreeSet<Row> = table_after(&readme, "ClusterRole (exactly what")
        .iter()
        .map(|cells| {
            (
                group(&cells[0]),
                list(&cells[1]),
                Vec::new(),
                list(&cells[2]),
            )
        })
        .collect();
    assert_eq!(cluster_rows, rows_of(one(&docs, "ClusterRole")));
    let role_rows: BTreeSet<Row> = table_after(&readme, "Role in the release namespace")
        .iter()
        .map(|cells| {
            (
                group(&cells[0]),
                list(&cells[1]),
                list(&cells[2]),
                list(&cells[3]),
            )
        })
        .collect();
    assert_eq!(role_rows, rows_of(one(&docs, "Role")));
    // The pods row holds only with operator.podReport, as its text says.
    let without_pods = render("x", "hardening-system", &["operator.podReport=false"]);
    let rows = rows_of(one(&without_pods, "ClusterRole"));
    assert_eq!(rows.len(), cluster_rows.len() - 1);
    assert!(!rows.iter().any(|r| r.1 == ["pods"]));
}

/// The notes `helm install` prints for these values. helm renders NOTES.txt only when it
/// installs (and a dry run still asks the cluster about existing objects), so a copy of the
/// chart renders the same text into a ConfigMap with `helm template`.
fn notes(sets: &[&str]) -> String {
    let copy = Path::new(env!("CARGO_TARGET_TMPDIR")).join("notes-chart");
    let _ = std::fs::remove_dir_all(&copy);
    let status = Command::new("cp")
        .arg("-rL")
        .arg(chart_dir())
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(chart_dir().join("templates/NOTES.txt")).unwrap();
    std::fs::write(
        copy.join("templates/_notes_test.tpl"),
        format!("{{{{- define \"notes-test\" -}}}}\n{text}\n{{{{- end }}}}\n"),
    )
    .unwrap();
    std::fs::write(
        copy.join("templates/notes-test.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata:\n  notes: |\n{{ include \"notes-test\" . | indent 4 }}\n",
    )
    .unwrap();
    let chart = copy.display().to_string();
    let mut args = vec![
        "template",
        "notes",
        &chart,
        "--show-only",
        "templates/notes-test.yaml",
    ];
    for set in sets {
        args.extend(["--set", set]);
    }
    let out = helm(&args).unwrap_or_else(|e| panic!("helm template: {e}"));
    let map: Value = serde_yaml_ng::from_str(&out).unwrap();
    map["data"]["notes"].as_str().unwrap().to_owned()
}

#[test]
fn the_install_notes_say_what_the_chart_does_with_the_crd() {
    // What the chart does (tests/integration/chart_crds.rs runs it): the CRD is a template,
    // upgraded by `helm upgrade`, kept by `helm uninstall` unless crds.keep=false.
    let default = notes(&[]);
    assert!(
        default.contains("`helm upgrade` upgrades it") && default.contains("keeps it (crds.keep)"),
        "{default}"
    );
    let docs = render("x", "hardening-system", &[]);
    for crd in docs
        .iter()
        .filter(|d| d["kind"] == "CustomResourceDefinition")
    {
        assert_eq!(
            crd["metadata"]["annotations"]["helm.sh/resource-policy"],
            "keep"
        );
    }
    let not_kept = notes(&["crds.keep=false"]);
    assert!(
        not_kept.contains("deletes it (crds.keep=false)"),
        "{not_kept}"
    );
    let not_installed = notes(&["crds.install=false"]);
    assert!(
        not_installed.contains("did not install the CRD")
            && not_installed.contains("kubectl apply --server-side -f crds/"),
        "{not_installed}"
    );
    assert!(
        render("x", "hardening-system", &["crds.install=false"])
            .iter()
            .all(|d| d["kind"] != "CustomResourceDefinition")
    );
    // The contradiction of before: "helm installs it once and never upgrades".
    for text in [&default, &not_kept, &not_installed] {
        assert!(!text.contains("never upgrades"), "{text}");
    }
}

fn chart_yaml() -> Value {
    serde_yaml_ng::from_str(&std::fs::read_to_string(chart_dir().join("Chart.yaml")).unwrap())
        .unwrap()
}

fn annotation(chart: &Value, key: &str) -> Value {
    let text = chart["annotations"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no annotation {key}"));
    serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("{key}: {e}"))
}

#[test]
fn artifact_hub_annotations_match_the_chart_crd_examples_and_workspace() {
    let chart = chart_yaml();
    let cargo = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let field = |name: &str| {
        cargo
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} = \"")))
            .and_then(|rest| rest.strip_suffix('"'))
            .unwrap_or_else(|| panic!("no {name} in Cargo.toml"))
            .to_owned()
    };
    assert_eq!(
        chart["annotations"]["artifacthub.io/license"],
        field("license").as_str()
    );
    assert_eq!(chart["home"], field("repository").as_str());
    assert_eq!(chart["sources"][0], field("repository").as_str());
    assert_eq!(chart["annotations"]["artifacthub.io/operator"], "true");
    // Every CRD the chart installs, as the CRD names it.
    let crd: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(root().join(hardening_operator::core::crd::CRD_PATH)).unwrap(),
    )
    .unwrap();
    let crds = annotation(&chart, "artifacthub.io/crds");
    assert_eq!(crds.as_array().unwrap().len(), 1);
    assert_eq!(
        crds[0]["kind"],
        crd["spec"]["names"]["kind"].as_str().unwrap()
    );
    assert_eq!(crds[0]["name"], crd["metadata"]["name"].as_str().unwrap());
    assert_eq!(
        crds[0]["version"],
        crd["spec"]["versions"][0]["name"].as_str().unwrap()
    );
    // The example is examples/baseline.yaml, which the examples test applies.
    let examples = annotation(&chart, "artifacthub.io/crdsExamples");
    let baseline: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(root().join("examples/baseline.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(examples[0], baseline);
    // The image is the one the chart deploys by default.
    let images = annotation(&chart, "artifacthub.io/images");
    let values: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(chart_dir().join("values.yaml")).unwrap())
            .unwrap();
    assert_eq!(
        images[0]["image"].as_str().unwrap(),
        format!(
            "{}:{}",
            values["image"]["repository"].as_str().unwrap(),
            chart["appVersion"].as_str().unwrap()
        )
    );
    for link in annotation(&chart, "artifacthub.io/links")
        .as_array()
        .unwrap()
    {
        assert!(
            link["url"]
                .as_str()
                .unwrap()
                .starts_with(&field("repository")),
            "{link:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_priority_and_fairness_objects_are_optional_and_accepted() {
    let kinds = |docs: &[Value]| -> BTreeSet<String> {
        docs.iter()
            .filter(|d| {
                d["apiVersion"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("flowcontrol"))
            })
            .map(|d| d["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(
        kinds(&render("x", "hardening-system", &[])).is_empty(),
        "off by default"
    );
    let docs = render(
        "x",
        "hardening-system",
        &["apiPriorityAndFairness.enabled=true"],
    );
    assert_eq!(
        kinds(&docs),
        [
            "FlowSchema".to_owned(),
            "PriorityLevelConfiguration".to_owned()
        ]
        .into()
    );
    let flow = one(&docs, "FlowSchema");
    let level = one(&docs, "PriorityLevelConfiguration");
    assert_eq!(
        flow["spec"]["priorityLevelConfiguration"]["name"],
        level["metadata"]["name"]
    );
    // It matches exactly the operator's ServiceAccount.
    let account = one(&docs, "ServiceAccount");
    let subject = &flow["spec"]["rules"][0]["subjects"][0]["serviceAccount"];
    assert_eq!(subject["name"], account["metadata"]["name"]);
    assert_eq!(subject["namespace"], "hardening-system");
    let existing = render(
        "x",
        "hardening-system",
        &["apiPriorityAndFairness.enabled=true,apiPriorityAndFairness.priorityLevel=workload-high"],
    );
    assert_eq!(kinds(&existing), ["FlowSchema".to_owned()].into());
    assert_eq!(
        one(&existing, "FlowSchema")["spec"]["priorityLevelConfiguration"]["name"],
        "workload-high"
    );
    // The API server accepts both as rendered (server-side dry run).
    let client = cluster().client().await;
    for doc in [level, flow] {
        let (group, version) = doc["apiVersion"].as_str().unwrap().split_once('/').unwrap();
        let kind = doc["kind"].as_str().unwrap();
        let plural = format!("{}s", kind.to_lowercase());
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(group, version, kind),
            &plural,
        );
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        let object: DynamicObject = serde_json::from_value(doc.clone()).unwrap();
        api.patch(
            doc["metadata"]["name"].as_str().unwrap(),
            &PatchParams::apply("chart-test").dry_run(),
            &Patch::Apply(&object),
        )
        .await
        .unwrap_or_else(|e| panic!("{kind} rejected: {e}"));
    }
}

/// Runs `release/release.sh` into a fresh directory; its last line is the directory.
fn release(out: &Path) -> PathBuf {
    let output = Command::new(root().join("release/release.sh"))
        .args(["--out"])
        .arg(out)
        .args(["--registry", "registry.example/acme"])
        .current_dir(root())
        .output()
        .expect("release.sh runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "release.sh failed:\n{stderr}");
    PathBuf::from(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .last()
            .unwrap(),
    )
}

#[test]
fn the_release_recipe_writes_an_image_layout_a_chart_an_sbom_and_checksums() {
    assert!(
        std::env::var_os("HARDENING_STATIC_BINARY").is_some(),
        "HARDENING_STATIC_BINARY names the static binary (tests/run.sh builds it)"
    );
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("release");
    let _ = std::fs::remove_dir_all(&out);
    let dist = release(&out);
    let version = env!("CARGO_PKG_VERSION");
    let chart = chart_yaml();
    let chart_version = chart["version"].as_str().unwrap();

    // The image: an OCI image layout naming registry/hardening-operator:<version>, whose one
    // layer holds the static binary, run as 65532.
    let layout = dist.join(format!("hardening-operator-{version}.oci"));
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(layout.join("index.json")).unwrap()).unwrap();
    let manifest = &index["manifests"][0];
    assert_eq!(
        manifest["annotations"]["io.containerd.image.name"],
        format!("registry.example/acme/hardening-operator:{version}")
    );
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.ref.name"],
        version
    );
    let blob = |digest: &Value| -> Vec<u8> {
        let digest = digest.as_str().unwrap().trim_start_matches("sha256:");
        let data = std::fs::read(layout.join("blobs/sha256").join(digest)).unwrap();
        // Content-addressed: every blob is what its name says.
        assert_eq!(
            hardening_tests::oci::sha256(&data),
            format!("sha256:{digest}")
        );
        data
    };
    let manifest: Value = serde_json::from_slice(&blob(&manifest["digest"])).unwrap();
    let config: Value = serde_json::from_slice(&blob(&manifest["config"]["digest"])).unwrap();
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(config["config"]["Entrypoint"][0], "/hardening-operator");
    let layer = blob(&manifest["layers"][0]["digest"]);
    let binary = std::fs::read(std::env::var_os("HARDENING_STATIC_BINARY").unwrap()).unwrap();
    assert!(
        layer.windows(64).any(|w| w == &binary[..64]) && layer.len() > binary.len(),
        "the layer holds the static binary"
    );

    // The chart package: lints, renders the released image, carries the CRD's content.
    let package = dist.join(format!("hardening-operator-{chart_version}.tgz"));
    let docs = helm(&["template", "x", package.to_str().unwrap(), "--include-crds"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        docs.contains(&format!(
            "image: \"registry.example/acme/hardening-operator:{version}\""
        )),
        "the packaged chart's default image"
    );
    assert!(docs.contains("name: hardeningprofiles.hardening.dev"));
    let shown = helm(&["show", "chart", package.to_str().unwrap()]).unwrap();
    assert!(
        shown.contains(&format!(
            "image: registry.example/acme/hardening-operator:{version}"
        )),
        "{shown}"
    );

    // The SBOM: CycloneDX JSON describing the operator and its crates with versions.
    let sbom: Value = serde_json::from_str(
        &std::fs::read_to_string(dist.join(format!("hardening-operator-{version}.cdx.json")))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(sbom["bomFormat"], "CycloneDX");
    assert_eq!(sbom["metadata"]["component"]["name"], "hardening-operator");
    let components: Vec<String> = sbom["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{}@{}",
                c["name"].as_str().unwrap(),
                c["version"].as_str().unwrap()
            )
        })
        .collect();
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).unwrap();
    for name in ["kube-client", "k8s-openapi", "tokio", "rustls"] {
        let pinned = lock
            .split("[[package]]")
            .find(|p| p.contains(&format!("name = \"{name}\"\n")))
            .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
            .map(|v| v.trim_end_matches('"').to_owned())
            .unwrap_or_else(|| panic!("{name} in Cargo.lock"));
        assert!(
            components.contains(&format!("{name}@{pinned}")),
            "{name}@{pinned} not in the SBOM"
        );
    }

    // The checksums: sha256sum -c passes, and every file is covered.
    let check = Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(&dist)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    assert_eq!(sums.lines().count(), 3, "{sums}");
    let _ = std::fs::remove_dir_all(&out);
}
