//! The Argo CD health check (`config/argocd/resource_customizations/hardening.dev/
//! HardeningProfile/`, in Argo CD's own layout): run by a Lua 5.1 interpreter (Debian's
//! `lua5.1`, which `tests/prerequisites.sh` installs; Argo CD runs gopher-lua, a Lua 5.1)
//! over its test cases exactly as Argo CD's test does (each case's expected status and
//! message, compared whole), and over the statuses a real operator writes on the API
//! server. The script runs with only the libraries Argo CD opens for it (base, table,
//! string, math): `io`, `os` and the module loader are taken away first.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use hardening_operator::core::api::HardeningProfile;
use hardening_tests::profiles::{condition, strict_spec};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::ResourceExt;
use kube::api::PostParams;
use kube::{Api, Client};
use serde_json::{Value, json};

use crate::operator_env::OperatorEnv;

fn check_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../config/argocd/resource_customizations/hardening.dev/HardeningProfile")
}

fn health_lua() -> String {
    std::fs::read_to_string(check_dir().join("health.lua")).expect("health.lua")
}

/// A Lua 5.1 string literal of `text`: every byte that is not printable ASCII (and `"`,
/// `\`) as a decimal escape, which Lua 5.1 reads back byte for byte.
fn lua_string(text: &str) -> String {
    let mut out = String::from("\"");
    for byte in text.bytes() {
        match byte {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(byte as char);
            }
            0x20..=0x7e => out.push(byte as char),
            _ => out.push_str(&format!("\\{byte:03}")),
        }
    }
    out.push('"');
    out
}

/// `value` as a Lua table constructor, as Argo CD hands a resource to the script: objects
/// are tables keyed by field name, arrays tables indexed from 1, `null` is absent (nil).
fn lua_value(value: &Value) -> String {
    match value {
        Value::Null => "nil".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => lua_string(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(lua_value).collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Object(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("[{}] = {}", lua_string(k), lua_value(v)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
    }
}

/// Runs `health.lua` on `object`: Argo CD's (status, message).
fn health(object: &Value) -> (String, String) {
    let script = format!(
        "local write = io.write\nio = nil; os = nil; require = nil; dofile = nil; loadfile = nil; package = nil; debug = nil\nobj = {}\nlocal function check()\n{}\nend\nlocal hs = check()\nwrite(tostring(hs.status), \"\\n\", tostring(hs.message))\n",
        lua_value(object),
        health_lua()
    );
    let mut child = Command::new("lua5.1")
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("running lua5.1: {e}; install it with tests/prerequisites.sh (Debian package lua5.1)")
        });
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(script.as_bytes())
        .expect("writing the script to lua5.1");
    let output = child.wait_with_output().expect("lua5.1 runs");
    assert!(
        output.status.success(),
        "health.lua failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("UTF-8 from lua5.1");
    let (status, message) = text.split_once('\n').expect("status and message");
    (status.to_owned(), message.to_owned())
}

fn yaml_file(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn argocd_health_check_passes_its_test_cases() {
    let tests = yaml_file(&check_dir().join("health_test.yaml"));
    let cases = tests["tests"].as_array().expect("tests: a list");
    let mut seen = std::collections::BTreeSet::new();
    for case in cases {
        let input = case["inputPath"].as_str().expect("inputPath");
        let expected = (
            case["healthStatus"]["status"].as_str().unwrap().to_owned(),
            case["healthStatus"]["message"].as_str().unwrap().to_owned(),
        );
        let object = yaml_file(&check_dir().join(input));
        assert_eq!(health(&object), expected, "{input}");
        seen.insert(input.to_owned());
    }
    // Every fixture is a test case, and every status the check gives has one.
    let mut fixtures = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(check_dir().join("testdata")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        fixtures.insert(format!("testdata/{name}"));
    }
    assert_eq!(
        seen, fixtures,
        "fixtures without a test case, or the reverse"
    );
    let statuses: std::collections::BTreeSet<&str> = cases
        .iter()
        .filter_map(|c| c["healthStatus"]["status"].as_str())
        .collect();
    assert_eq!(
        statuses,
        ["Degraded", "Healthy", "Progressing"].into(),
        "a profile is never Suspended (it cannot be paused)"
    );
}

#[test]
fn the_readme_shows_the_health_check_as_it_is() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README.md");
    let key = "resource.customizations.health.hardening.dev_HardeningProfile: |\n";
    let start = readme
        .find(key)
        .expect("the README shows the argocd-cm snippet")
        + key.len();
    let block: String = readme[start..]
        .lines()
        .take_while(|line| !line.starts_with("```"))
        .map(|line| format!("{}\n", line.strip_prefix("    ").unwrap_or(line)))
        .collect();
    assert_eq!(block.trim_end(), health_lua().trim_end());
}

async fn live(client: &Client, name: &str) -> Value {
    let profile = Api::<HardeningProfile>::all(client.clone())
        .get(name)
        .await
        .unwrap();
    serde_json::to_value(profile).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argocd_health_check_reads_the_operators_statuses() {
    let mut env = OperatorEnv::start("argocd").await;
    let ns = env.namespace(&[]).await;
    let profile = env
        .create_profile(&env.profile("strict", strict_spec()))
        .await
        .unwrap();
    let name = profile.name_any();
    env.status_where(&name, "Ready", |s| match condition(s, "Ready") {
        Some((ready, _)) if ready == "True" => Ok(()),
        other => Err(format!("{other:?}")),
    })
    .await;
    let (status, message) = health(&live(&env.client, &name).await);
    assert_eq!(status, "Healthy", "{message}");
    assert_eq!(message, "1 namespace in sync");

    // A new generation the operator has not seen yet.
    env.stop_operator().await;
    env.patch_spec(&name, json!({ "priority": 5 })).await;
    let (status, message) = health(&live(&env.client, &name).await);
    assert_eq!(status, "Progressing", "{message}");
    let generation = live(&env.client, &name).await["metadata"]["generation"]
        .as_i64()
        .unwrap();
    assert_eq!(
        message,
        format!("Waiting for the operator to observe generation {generation}")
    );

    // An object someone else owns under a generated name: the profile is stalled.
    let other = env.namespace(&[]).await;
    let theirs: NetworkPolicy = serde_json::from_value(json!({
        "metadata": { "name": "hardening-default-deny" },
        "spec": { "podSelector": {}, "policyTypes": ["Ingress"] }
    }))
    .unwrap();
    Api::<NetworkPolicy>::namespaced(env.client.clone(), &other)
        .create(&PostParams::default(), &theirs)
        .await
        .unwrap();
    env.start_operator(Default::default());
    env.status_where(
        &name,
        "stalled by the foreign object",
        |s| match condition(s, "Stalled") {
            Some((stalled, reason)) if stalled == "True" && reason == "ForeignObject" => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .await;
    let (status, message) = health(&live(&env.client, &name).await);
    assert_eq!(status, "Degraded", "{message}");
    assert!(
        message.starts_with(&format!(
            "ForeignObject: 1 namespace cannot be brought to the profile; first: {other}: "
        )),
        "{message}"
    );
    let _ = ns;
    env.finish().await;
}
