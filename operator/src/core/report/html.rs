//! The report as one self-contained HTML page: inline CSS and SVG charts, no script, no
//! external asset (fonts, images, styles), so it can be mailed or archived as one file.

use std::fmt::Write;

use super::{Coverage, Report, Scope};
use crate::core::plural::count;

/// Text for HTML content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn colour(coverage: Coverage) -> &'static str {
    match coverage {
        Coverage::Covered => "#2e7d32",
        Coverage::Partly => "#f9a825",
        Coverage::NotCovered => "#c62828",
        Coverage::OutOfScope => "#9e9e9e",
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#212121;background:#fff}\
table{border-collapse:collapse;margin:1em 0;width:100%}\
th,td{border:1px solid #bdbdbd;padding:4px 6px;text-align:left;vertical-align:top;font-size:13px}\
th{background:#eeeeee}td.n{text-align:right}\
.badge{display:inline-block;padding:1px 6px;border-radius:3px;color:#fff;font-size:12px}\
.covered{background:#2e7d32}.partly{background:#f9a825;color:#212121}\
.not-covered{background:#c62828}.out-of-scope{background:#9e9e9e}\
svg text{font-family:sans-serif;font-size:12px}";

/// Bars of requirement coverage: the share of governed namespaces meeting each.
fn coverage_chart(report: &Report) -> String {
    let rows = report.requirements.len();
    let (label_w, bar_w, row_h) = (48, 520, 18);
    let height = rows * row_h + 30;
    let total = report.namespaces.len();
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg id="coverage-chart" role="img" aria-label="Requirement coverage" xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}">"#,
        label_w + bar_w + 200
    );
    for (i, row) in report.requirements.iter().enumerate() {
        let y = i * row_h + 4;
        let share = if row.coverage == Coverage::OutOfScope || total == 0 {
            0.0
        } else {
            row.meeting as f64 / total as f64
        };
        let width = (share * bar_w as f64).round() as usize;
        let _ = write!(
            svg,
            r##"<text x="0" y="{}">{}</text><rect x="{label_w}" y="{y}" width="{bar_w}" height="{}" fill="#f5f5f5" stroke="#e0e0e0"/>"##,
            y + 12,
            row.requirement.id,
            row_h - 4
        );
        if row.coverage == Coverage::OutOfScope {
            let _ = write!(
                svg,
                r#"<rect x="{label_w}" y="{y}" width="{bar_w}" height="{}" fill="{}" opacity="0.35"/>"#,
                row_h - 4,
                colour(row.coverage)
            );
        } else {
            let _ = write!(
                svg,
                r#"<rect x="{label_w}" y="{y}" width="{width}" height="{}" fill="{}"/>"#,
                row_h - 4,
                colour(row.coverage)
            );
        }
        let note = match row.coverage {
            Coverage::OutOfScope => "organisational / host-level".to_owned(),
            _ => format!("{} of {}", row.meeting, count(total, "namespace")),
        };
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}">{}</text>"#,
            label_w + bar_w + 8,
            y + 12,
            esc(&note)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{label_w}" y="{}">share of governed namespaces meeting the requirement</text></svg>"#,
        rows * row_h + 22
    );
    svg
}

/// Per profile, its selected namespaces by state (the drift picture), and its repairs.
fn drift_chart(report: &Report) -> String {
    let (label_w, bar_w, row_h) = (180, 420, 22);
    let rows = report.profiles.len().max(1);
    let height = rows * row_h + 40;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg id="drift-chart" role="img" aria-label="Namespaces by state" xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}">"#,
        label_w + bar_w + 200
    );
    if report.profiles.is_empty() {
        let _ = write!(svg, r#"<text x="0" y="16">no HardeningProfile</text>"#);
    }
    let states = |p: &super::ProfileRow| {
        [
            (p.in_sync, "#2e7d32", "in sync"),
            (p.drifted, "#f9a825", "drifted"),
            (p.failed, "#c62828", "failed"),
            (p.conflicting, "#1565c0", "conflicting"),
            (p.pending, "#9e9e9e", "pending"),
        ]
    };
    for (i, p) in report.profiles.iter().enumerate() {
        let y = i * row_h + 4;
        let total: u32 = states(p).iter().map(|(n, _, _)| n).sum();
        let _ = write!(
            svg,
            r##"<text x="0" y="{}">{}</text><rect x="{label_w}" y="{y}" width="{bar_w}" height="{}" fill="#f5f5f5" stroke="#e0e0e0"/>"##,
            y + 14,
            esc(&p.name),
            row_h - 6
        );
        let mut x = label_w as f64;
        for (n, fill, what) in states(p) {
            if n == 0 || total == 0 {
                continue;
            }
            let w = n as f64 / total as f64 * bar_w as f64;
            let _ = write!(
                svg,
                r#"<rect x="{x:.1}" y="{y}" width="{w:.1}" height="{}" fill="{fill}"><title>{n} {what}</title></rect>"#,
                row_h - 6
            );
            x += w;
        }
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}">{} selected, {} drifted, {}</text>"#,
            label_w + bar_w + 8,
            y + 14,
            p.selected,
            p.drifted,
            count(p.repairs_total, "repair")
        );
    }
    let legend_y = rows * row_h + 24;
    let mut x = label_w;
    for (fill, what) in [
        ("#2e7d32", "in sync"),
        ("#f9a825", "drifted"),
        ("#c62828", "failed"),
        ("#1565c0", "conflicting"),
        ("#9e9e9e", "pending"),
    ] {
        let _ = write!(
            svg,
            r#"<rect x="{x}" y="{}" width="10" height="10" fill="{fill}"/><text x="{}" y="{legend_y}">{what}</text>"#,
            legend_y - 9,
            x + 14
        );
        x += 90;
    }
    svg.push_str("</svg>");
    svg
}

pub fn html(report: &Report) -> String {
    let [covered, partly, not_covered, out_of_scope] = report.totals();
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>BSI SYS.1.6 compliance report</title><style>{STYLE}</style></head><body>\n"
    );
    let _ = write!(
        out,
        "<h1>BSI SYS.1.6 compliance report</h1>\n<p>Generated by hardening-operator {} at {} \
         from the live cluster: {}, {}{}.</p>\n\
         <p id=\"totals\">Requirements: {covered} covered, {partly} partly covered, \
         {not_covered} not covered, {out_of_scope} organisational or host-level.</p>\n",
        env!("CARGO_PKG_VERSION"),
        esc(&report.generated_at),
        count(report.profiles.len(), "profile"),
        count(report.namespaces.len(), "governed namespace"),
        if report.ungoverned.is_empty() {
            String::new()
        } else {
            esc(&format!(
                " ({} more governed by no profile, not counted: {})",
                report.ungoverned.len(),
                report.ungoverned.join(", ")
            ))
        }
    );
    let _ = write!(
        out,
        "<h2>Requirement coverage</h2>\n{}\n<h2>Drift: namespaces by state</h2>\n{}\n",
        coverage_chart(report),
        drift_chart(report)
    );

    out.push_str(
        "<h2>Requirements</h2>\n<table id=\"requirements\"><thead><tr><th>ID</th><th>level</th>\
         <th>requirement</th><th>coverage</th><th>namespaces meeting it</th><th>profiles</th>\
         <th>what is missing</th></tr></thead><tbody>\n",
    );
    for row in &report.requirements {
        let r = row.requirement;
        let requirement = match r.scope {
            Scope::Operator(answer) => format!(
                "{}<br><small>operator: {}</small>",
                esc(r.text),
                esc(answer)
            ),
            Scope::Organisational => esc(r.text),
        };
        let meeting = if row.coverage == Coverage::OutOfScope {
            "-".to_owned()
        } else {
            format!("{} of {}", row.meeting, report.namespaces.len())
        };
        let missing: Vec<String> = row.missing.iter().map(|m| esc(m)).collect();
        let _ = writeln!(
            out,
            "<tr id=\"req-{id}\" data-coverage=\"{token}\"><td>{id}</td><td>{level}</td><td>{requirement}</td>\
             <td><span class=\"badge {token}\">{label}</span></td><td class=\"n\">{meeting}</td><td>{profiles}</td><td>{missing}</td></tr>",
            id = r.id,
            token = row.coverage.token(),
            level = r.level,
            label = row.coverage.label(),
            profiles = esc(&row.profiles.join(", ")),
            missing = missing.join("<br>"),
        );
    }
    out.push_str("</tbody></table>\n");

    out.push_str(
        "<h2>Profiles</h2>\n<table id=\"profiles\"><thead><tr><th>profile</th><th>mode</th>\
         <th>Ready</th><th>namespaces governed</th><th>in sync</th><th>drifted</th><th>failed</th>\
         <th>conflicting</th><th>pending</th><th>repairs</th><th>covers</th><th>withdrawn</th>\
         </tr></thead><tbody>\n",
    );
    for p in &report.profiles {
        let ready = p
            .ready
            .as_ref()
            .map_or("no status yet".to_owned(), |(s, r)| format!("{s} ({r})"));
        let covers: Vec<&str> = p.covers.iter().map(|(id, _)| *id).collect();
        let withdrawn: Vec<String> = p
            .covers
            .iter()
            .filter_map(|(id, why)| why.as_ref().map(|w| esc(&format!("{id}: {w}"))))
            .collect();
        let _ = writeln!(
            out,
            "<tr id=\"profile-{name}\"><td>{name}</td><td>{mode:?}</td><td>{ready}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
            p.namespaces,
            p.in_sync,
            p.drifted,
            p.failed,
            p.conflicting,
            p.pending,
            p.repairs_total,
            covers.join(", "),
            withdrawn.join("<br>"),
            name = esc(&p.name),
            mode = p.mode,
            ready = esc(&ready),
        );
    }
    out.push_str("</tbody></table>\n");

    if report.profiles.iter().any(|p| p.node_baseline.is_some()) {
        out.push_str(
            "<h2>Node baseline</h2>\n<table id=\"nodes\"><thead><tr><th>profile</th>\
             <th>nodes (what falls short)</th></tr></thead><tbody>\n",
        );
        for p in &report.profiles {
            if let Some(text) = p.nodes_text() {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td>{}</td></tr>",
                    esc(&p.name),
                    esc(&text)
                );
            }
        }
        out.push_str("</tbody></table>\n");
    }

    out.push_str(
        "<h2>Namespaces</h2>\n<table id=\"namespaces\"><thead><tr><th>namespace</th><th>profile</th>\
         <th>state</th><th>requirements met</th><th>not met (why)</th></tr></thead><tbody>\n",
    );
    for n in &report.namespaces {
        let state = match &n.detail {
            Some(detail) => format!("{} ({detail})", n.state),
            None => n.state.clone(),
        };
        let not_met: Vec<String> = n
            .withdrawn
            .iter()
            .map(|(id, why)| esc(&format!("{id}: {why}")))
            .collect();
        let _ = writeln!(
            out,
            "<tr id=\"ns-{name}\"><td>{name}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&n.profile),
            esc(&state),
            n.meeting.join(", "),
            not_met.join("<br>"),
            name = esc(&n.name),
        );
    }
    out.push_str("</tbody></table>\n</body></html>\n");
    out
}
