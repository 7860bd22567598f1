//! helm and the chart for the chart tests: helm built once per machine from the Go module
//! proxy by `tests/controlplane/build-helm.sh` and cached next to the Kubernetes binaries,
//! run with its own state inside the target directory; the chart rendered by `helm template`
//! and the rendered documents picked by kind and name.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

/// Runs `tests/controlplane/build-helm.sh` (a no-op once helm is cached) once per process
/// and returns the path it prints. `HARDENING_HELM` names a helm binary and skips the
/// script.
pub fn helm_binary() -> Result<PathBuf, String> {
    static HELM: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    HELM.get_or_init(|| {
        crate::cached_by_script(
            "controlplane/build-helm.sh",
            "HARDENING_HELM",
            "building helm",
        )
    })
    .clone()
}

/// The chart, `charts/hardening-operator`.
pub fn chart_dir() -> PathBuf {
    crate::repo_root().join("charts/hardening-operator")
}

/// The helm binary ([`helm_binary`]); panics naming the fix when it cannot be built.
pub fn helm_path() -> PathBuf {
    helm_binary().unwrap_or_else(|e| panic!("{e}"))
}

/// helm's own state (repositories, cache) stays inside the target directory.
pub fn with_helm_home(cmd: &mut Command) -> &mut Command {
    let home = crate::target_tmpdir().join("helm-home");
    cmd.env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
}

/// Runs helm; `Ok(stdout)` or `Err(stderr)`.
pub fn helm(args: &[&str]) -> Result<String, String> {
    let output = with_helm_home(&mut Command::new(helm_path()))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running helm {args:?}: {e}"));
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// `helm template` with the CRDs, as a list of objects.
pub fn render(release: &str, namespace: &str, sets: &[&str]) -> Vec<Value> {
    let chart = chart_dir().display().to_string();
    let mut args = vec![
        "template",
        release,
        &chart,
        "--namespace",
        namespace,
        "--include-crds",
    ];
    for set in sets {
        args.extend(["--set", set]);
    }
    let yaml = helm(&args).unwrap_or_else(|e| panic!("helm {args:?} failed:\n{e}"));
    documents(&yaml)
}

/// The YAML documents of `yaml` (a multi-document stream), as JSON, without empty ones.
pub fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).expect("helm renders valid YAML"))
        .filter(|doc| !doc.is_null())
        .collect()
}

/// A CRD the chart rendered, without what the chart adds to the generated file (the
/// release's labels, the `helm.sh/resource-policy` annotation): the file's own object.
pub fn without_chart_metadata(crd: &Value) -> Value {
    let mut crd = crd.clone();
    let metadata = crd["metadata"].as_object_mut().expect("a CRD has metadata");
    metadata.remove("labels");
    metadata.remove("annotations");
    crd
}

/// The documents of `kind`.
pub fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// The document of `kind` named `name`.
pub fn named<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    match of_kind(docs, kind)
        .into_iter()
        .filter(|d| d["metadata"]["name"] == name)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [doc] => doc,
        other => panic!("expected one {kind} {name}, rendered {}", other.len()),
    }
}

/// The generated CRD files (`crds/`): the profile's and the exception's, by CRD name.
pub fn crd_files() -> Vec<(&'static str, PathBuf)> {
    vec![
        (
            "hardeningprofiles.hardening.dev",
            crate::repo_root().join(hardening_operator::core::crd::CRD_PATH),
        ),
        (
            "hardeningexceptions.hardening.dev",
            crate::repo_root().join(hardening_operator::core::crd::EXCEPTION_CRD_PATH),
        ),
    ]
}

/// The one document of `kind`.
pub fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    match of_kind(docs, kind).as_slice() {
        [doc] => doc,
        other => panic!("expected one {kind}, rendered {}", other.len()),
    }
}

/// A JSON array's strings (an empty list for anything else).
pub fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}
