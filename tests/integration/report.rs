//! `hardening-operator report` on a live cluster: an operator hardens two namespaces (one
//! with a tenant NetworkPolicy that opens what the profile denies) and audits a third; the
//! report says per requirement what holds where, agrees with the profiles' own
//! `status.compliance`, and its HTML page renders in headless Chromium (Debian's package,
//! `tests/prerequisites.sh`): the screenshot is not blank and the page holds every
//! requirement row and both charts.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use hardening_operator::cli::Exclusions;
use hardening_operator::cli::report::{Format, ReportArgs, read, render};
use hardening_operator::core::report::{Coverage, REQUIREMENTS, Report};
use hardening_tests::unique_name;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::ResourceExt;
use kube::api::{Api, PostParams};
use serde_json::json;

use crate::operator_env::{OperatorEnv, SHARD_LABEL, condition};

fn row<'a>(report: &'a Report, id: &str) -> &'a hardening_operator::core::report::RequirementRow {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_of_a_live_cluster_agrees_with_the_status_and_renders_in_chromium() {
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
    // A tenant opens all ingress in one strict namespace: A9 no longer holds there.
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
    let report = read(&env.client, &args).await.expect("the report");

    // Per profile: what holds is exactly the status's `compliance` (the same code).
    for (name, status) in [(&strict, &strict_status), (&audit, &audit_status)] {
        let profile = report.profiles.iter().find(|p| &p.name == name).unwrap();
        let holding: Vec<&str> = profile
            .covers
            .iter()
            .filter(|(_, withdrawn)| withdrawn.is_none())
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(holding, status.compliance, "{name}");
    }
    let names: Vec<&str> = report.namespaces.iter().map(|n| n.name.as_str()).collect();
    let mut expected = vec![strict_a.as_str(), strict_b.as_str(), audited.as_str()];
    expected.sort();
    assert_eq!(names, expected);

    // Per requirement, over the three namespaces.
    let a9 = row(&report, "A9");
    assert_eq!((a9.coverage, a9.meeting), (Coverage::Partly, 1), "{a9:?}");
    assert!(
        a9.missing.iter().any(|m| m
            .contains("1 tenant NetworkPolicy rule opening what the profile denies")
            && m.contains(&strict_b)),
        "{:?}",
        a9.missing
    );
    // A16 comes from Pod Security restricted alone.
    let a10 = row(&report, "A16");
    assert_eq!(
        (a10.coverage, a10.meeting),
        (Coverage::Partly, 2),
        "{a10:?}"
    );
    assert!(
        a10.missing.iter().any(
            |m| m.contains(&format!("profile {audit} does not cover it")) && m.contains(&audited)
        ),
        "{:?}",
        a10.missing
    );
    assert_eq!(row(&report, "A21").coverage, Coverage::Covered);
    assert_eq!(row(&report, "A7").coverage, Coverage::NotCovered);
    assert_eq!(row(&report, "A1").coverage, Coverage::OutOfScope);
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
        let coverage = row(&report, id).coverage.token();
        assert!(
            dom.contains(&format!(
                "<tr id=\"req-{id}\" data-coverage=\"{coverage}\">"
            )),
            "the rendered page has no row for {id}"
        );
    }
    for id in ["coverage-chart", "drift-chart"] {
        assert!(dom.contains(&format!("<svg id=\"{id}\"")), "{id} missing");
    }
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
    let _ = std::fs::remove_dir_all(&dir);
    env.finish().await;
}
