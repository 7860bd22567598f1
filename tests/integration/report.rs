//! `hardening-operator report` on a live cluster: an operator hardens two namespaces (one
//! with a tenant NetworkPolicy that opens what the profile denies) and audits a third; the
//! report names the cluster, takes each profile's verdicts from its `status.compliance`,
//! and its HTML page renders in headless Chromium (Debian's package, `tests/prerequisites.sh`):
//! the screenshot is not blank and the page holds every requirement row, the organisational
//! ones apart, and both charts. `--format oscal` and `component-definition` are OSCAL that
//! compliance-trestle (pinned, installed by `tests/controlplane/install-trestle.sh`) accepts.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use hardening_operator::cli::Exclusions;
use hardening_operator::cli::report::{Format, ReportArgs, read, render};
use hardening_operator::core::api::Verdict;
use hardening_operator::core::compliance::REQUIREMENTS;
use hardening_operator::core::compliance_report::{Report, token};
use hardening_tests::profiles::condition;
use hardening_tests::unique_name;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::ResourceExt;
use kube::api::{Api, PostParams};
use serde_json::json;

use crate::operator_env::{OperatorEnv, SHARD_LABEL};

fn row<'a>(
    report: &'a Report,
    id: &str,
) -> &'a hardening_operator::core::compliance_report::RequirementRow {
    report
        .requirements
        .iter()
        .find(|r| r.requirement.id == id)
        .unwrap()
}

/// Headless Chromium on `page`: its screenshot (PNG) and its DOM after loading.
fn chromium(page: &Path, dir: &Path) -> (PathBuf, String) {
    let binary = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("chromium is missing: run tests/prerequisites.sh (Debian package chromium)");
    let url = format!("file://{}", page.display());
    // As root Chromium needs --no-sandbox; its profile stays in the test's directory.
    let common = [
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--hide-scrollbars".to_owned(),
        "--no-first-run".to_owned(),
        format!("--user-data-dir={}", dir.join("chromium-profile").display()),
    ];
    let screenshot = dir.join("report.png");
    let shot = Command::new(binary)
        .args(&common)
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg("--window-size=1280,1600")
        .arg(&url)
        .output()
        .expect("chromium runs");
    assert!(
        shot.status.success() && screenshot.exists(),
        "chromium --screenshot failed: {}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let dom = Command::new(binary)
        .args(&common)
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("chromium runs");
    assert!(
        dom.status.success(),
        "chromium --dump-dom failed: {}",
        String::from_utf8_lossy(&dom.stderr)
    );
    (
        screenshot,
        String::from_utf8_lossy(&dom.stdout).into_owned(),
    )
}

/// Share of the screenshot's pixels that differ from its top-left (background) pixel, and
/// the number of distinct colours.
fn ink(png: &Path) -> (f64, usize) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png).expect("the screenshot"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buffer = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut buffer).expect("a frame");
    let channels = info.color_type.samples();
    let pixels: Vec<&[u8]> = buffer[..info.buffer_size()].chunks(channels).collect();
    let background = pixels[0];
    let differing = pixels.iter().filter(|p| **p != background).count();
    let colours: BTreeSet<&[u8]> = pixels.iter().copied().collect();
    (differing as f64 / pixels.len() as f64, colours.len())
}

/// The OSCAL validator `install-trestle.sh` prints (installing once per machine);
/// `HARDENING_TRESTLE` names it and skips the script.
fn trestle() -> PathBuf {
    hardening_tests::cached_by_script(
        "controlplane/install-trestle.sh",
        "HARDENING_TRESTLE",
        "installing compliance-trestle",
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// compliance-trestle's verdict on `file`: its output when it is valid OSCAL.
fn validate_oscal(file: &Path) -> String {
    let output = Command::new(trestle())
        .arg(file)
        .output()
        .expect("the validator runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "compliance-trestle rejects {}:\n{text}{}",
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_of_a_live_cluster_names_it_follows_the_status_renders_and_is_valid_oscal() {
    let mut env = OperatorEnv::start("report").await;
    let strict_a = env.namespace(&[("tier", "strict")]).await;
    let strict_b = env.namespace(&[("tier", "strict")]).await;
    let audited = env.namespace(&[("tier", "audit")]).await;
    let strict = env
        .create_profile(&env.profile(
            "strict",
            json!({
                "namespaceSelector": { "matchLabels": { SHARD_LABEL: env.shard, "tier": "strict" } },
                "podSecurity": { "enforce": { "level": "restricted" } },
                "networkPolicy": { "defaultDeny": ["Ingress", "Egress"] },
                "resourceQuota": { "hard": { "pods": "10" } },
                "limitRange": { "limits": [{ "type": "Container",
                    "default": { "cpu": "500m", "memory": "256Mi" },
                    "defaultRequest": { "cpu": "100m", "memory": "128Mi" } }] }
            }),
        ))
        .await
        .unwrap()
        .name_any();
    let audit = env
        .create_profile(&env.profile(
            "audit",
            json!({
                "namespaceSelector": { "matchLabels": { SHARD_LABEL: env.shard, "tier": "audit" } },
                "mode": "Audit",
                "podSecurity": { "enforce": { "level": "restricted" } }
            }),
        ))
        .await
        .unwrap()
        .name_any();
    // A tenant opens all ingress in one strict namespace: SYS.1.6.A5 is not met there.
    let open: NetworkPolicy = serde_json::from_value(json!({
        "metadata": { "name": "allow-all-ingress" },
        "spec": { "podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}] }
    }))
    .unwrap();
    Api::<NetworkPolicy>::namespaced(env.client.clone(), &strict_b)
        .create(&PostParams::default(), &open)
        .await
        .unwrap();
    let strict_status = env
        .status_where(
            &strict,
            "Ready with the widening policy reported",
            |s| match (condition(s, "Ready"), s.widening_policies) {
                (Some((ready, _)), Some(1)) if ready == "True" && s.in_sync_namespaces == 2 => {
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            },
        )
        .await;
    let audit_status = env
        .status_where(&audit, "the audited namespace drifted", |s| {
            if s.drifted_namespaces == 1 {
                Ok(())
            } else {
                Err("not drifted yet".into())
            }
        })
        .await;

    let args = ReportArgs {
        format: Format::Html,
        output: None,
        profile_selector: Some(env.selector()),
        namespace_selector: Some(format!("{SHARD_LABEL}={}", env.shard)),
        exclusions: Exclusions::default(),
        cluster: Default::default(),
    };
    let cluster = hardening_operator::cli::report::identify(
        &env.client,
        "https://test.invalid:6443".into(),
        Some("test".into()),
    )
    .await;
    assert!(cluster.uid.is_some(), "the uid of kube-system is read");
    assert!(
        cluster
            .version
            .as_deref()
            .is_some_and(|v| v.starts_with("v1."))
    );
    let report: Report = read(&env.client, &args, cluster.clone())
        .await
        .expect("the report");
    assert_eq!(report.cluster, cluster);

    // Per profile: its status's verdicts, entry for entry.
    for (name, status) in [(&strict, &strict_status), (&audit, &audit_status)] {
        let profile = report.profiles.iter().find(|p| &p.name == name).unwrap();
        assert_eq!(profile.compliance, status.compliance, "{name}");
    }
    let names: Vec<&str> = report.namespaces.iter().map(|n| n.name.as_str()).collect();
    let mut expected = vec![strict_a.as_str(), strict_b.as_str(), audited.as_str()];
    expected.sort();
    assert_eq!(names, expected);
    let a5 = row(&report, "SYS.1.6.A5");
    assert_eq!(a5.verdict, Verdict::NotMet, "{a5:?}");
    assert!(a5.reason.contains("allow-all-ingress"), "{}", a5.reason);
    assert!(
        a5.profiles
            .iter()
            .flat_map(|(_, e)| &e.evidence)
            .any(|e| e.namespace.as_deref() == Some(strict_b.as_str())
                && e.name.as_deref() == Some("allow-all-ingress")),
        "{a5:?}"
    );
    assert_eq!(row(&report, "SYS.1.6.A1").verdict, Verdict::Organisational);
    let audited_row = report
        .namespaces
        .iter()
        .find(|n| n.name == audited)
        .unwrap();
    assert_eq!(audited_row.state, "Drifted");

    // The HTML page, rendered by a real browser.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(unique_name("report"));
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("report.html");
    std::fs::write(&page, render(&report, Format::Html)).unwrap();
    let (screenshot, dom) = tokio::task::spawn_blocking({
        let (page, dir) = (page.clone(), dir.clone());
        move || chromium(&page, &dir)
    })
    .await
    .unwrap();
    for requirement in &REQUIREMENTS {
        let id = requirement.id;
        let verdict = token(row(&report, id).verdict);
        assert!(
            dom.contains(&format!("<tr id=\"req-{id}\""))
                && dom.contains(&format!("data-verdict=\"{verdict}\"><td>{id}</td>")),
            "the rendered page has no row for {id} ({verdict})"
        );
    }
    for id in ["verdict-chart", "drift-chart"] {
        assert!(dom.contains(&format!("<svg id=\"{id}\"")), "{id} missing");
    }
    assert!(dom.contains("https://test.invalid:6443") && dom.contains("edition 2023"));
    let (share, colours) = ink(&screenshot);
    eprintln!(
        "report screenshot: {:.1} % of pixels not background, {colours} colours",
        share * 100.0
    );
    // Text, tables and coloured bars: far from blank, and more than black on white.
    assert!(share > 0.02, "the screenshot is (nearly) blank: {share}");
    assert!(colours > 16, "only {colours} colours: no chart rendered?");

    // Markdown: a table row per requirement.
    let markdown = render(&report, Format::Markdown);
    for requirement in &REQUIREMENTS {
        assert!(
            markdown
                .lines()
                .any(|l| l.starts_with(&format!("| {} |", requirement.id))),
            "{}",
            requirement.id
        );
    }

    // OSCAL: assessment results of this cluster and the component definition, both accepted
    // by compliance-trestle's models of the NIST OSCAL schemas.
    let results = dir.join("assessment-results.json");
    std::fs::write(&results, render(&report, Format::Oscal)).unwrap();
    let component = dir.join("component-definition.json");
    std::fs::write(
        &component,
        hardening_operator::core::compliance_report::oscal::component_definition(
            "2026-12-01T12:00:00Z",
        )
        .to_string(),
    )
    .unwrap();
    let verdict = tokio::task::spawn_blocking({
        let (results, component) = (results.clone(), component.clone());
        move || (validate_oscal(&results), validate_oscal(&component))
    })
    .await
    .unwrap();
    eprintln!("{}{}", verdict.0, verdict.1);
    let oscal: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&results).unwrap()).unwrap();
    let findings = oscal["assessment-results"]["results"][0]["findings"]
        .as_array()
        .unwrap();
    let a5 = findings
        .iter()
        .find(|f| f["target"]["target-id"] == "SYS.1.6.A5")
        .unwrap();
    assert_eq!(a5["target"]["status"]["state"], "not-satisfied");
    // A broken document is refused: the validator really validates.
    let mut broken = oscal.clone();
    broken["assessment-results"]["results"][0]["findings"][0]["target"]["status"]["state"] =
        json!("mostly");
    let bad = dir.join("broken.json");
    std::fs::write(&bad, broken.to_string()).unwrap();
    let refused = Command::new(trestle()).arg(&bad).output().unwrap();
    assert!(
        !refused.status.success(),
        "a wrong status state was accepted"
    );
    let _ = std::fs::remove_dir_all(&dir);
    env.finish().await;
}
