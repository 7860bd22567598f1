//! The report as one self-contained HTML page: inline CSS and SVG charts, no script, no
//! external asset (fonts, images, styles), so it can be mailed or archived as one file.

use std::fmt::Write;

use super::{Report, evidence_line, label, token};
use crate::core::api::Verdict;
use crate::core::compliance::CATALOGUES;
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

const MET: &str = "#2e7d32";
const PARTIAL: &str = "#f9a825";
const NOT_MET: &str = "#c62828";

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#212121;background:#fff}\
table{border-collapse:collapse;margin:1em 0;width:100%}\
th,td{border:1px solid #bdbdbd;padding:4px 6px;text-align:left;vertical-align:top;font-size:13px}\
th{background:#eeeeee}td.n{text-align:right}dl{font-size:14px}dt{font-weight:bold;float:left;width:16em}\
.badge{display:inline-block;padding:1px 6px;border-radius:3px;color:#fff;font-size:12px;font-weight:bold}\
.met{background:#2e7d32}.partial{background:#f9a825;color:#212121}\
.not-met{background:#c62828}.organisational{background:#757575}.not-applicable{background:#9e9e9e}\
tr.not-met td{background:#ffebee}tr.partial td{background:#fff8e1}\
section.organisational{color:#424242}\
svg text{font-family:sans-serif;font-size:12px}";

fn badge(verdict: Verdict) -> String {
    format!(
        "<span class=\"badge {}\">{}</span>",
        token(verdict),
        label(verdict)
    )
}

/// Per assessed requirement, the governed namespaces by verdict, summed over the profiles.
fn verdict_chart(report: &Report) -> String {
    let rows: Vec<_> = report
        .requirements
        .iter()
        .filter(|r| r.requirement.assessed())
        .collect();
    let (label_w, bar_w, row_h) = (96, 480, 18);
    let height = rows.len() * row_h + 40;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg id="verdict-chart" role="img" aria-label="Governed namespaces by verdict" xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}">"#,
        label_w + bar_w + 220
    );
    for (i, row) in rows.iter().enumerate() {
        let y = i * row_h + 4;
        let (mut met, mut partial, mut not_met) = (0, 0, 0);
        for (_, e) in &row.profiles {
            if let Some(c) = e.namespaces {
                met += c.met;
                partial += c.partial;
                not_met += c.not_met;
            }
        }
        let total = met + partial + not_met;
        let _ = write!(
            svg,
            r##"<text x="0" y="{}">{}</text><rect x="{label_w}" y="{y}" width="{bar_w}" height="{}" fill="#f5f5f5" stroke="#e0e0e0"/>"##,
            y + 12,
            row.requirement.id,
            row_h - 4
        );
        let mut x = label_w as f64;
        for (n, fill, what) in [
            (met, MET, "met"),
            (partial, PARTIAL, "partial"),
            (not_met, NOT_MET, "not met"),
        ] {
            if n == 0 || total == 0 {
                continue;
            }
            let w = f64::from(n) / f64::from(total) * bar_w as f64;
            let _ = write!(
                svg,
                r#"<rect x="{x:.1}" y="{y}" width="{w:.1}" height="{}" fill="{fill}"><title>{n} {what}</title></rect>"#,
                row_h - 4
            );
            x += w;
        }
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}">{}: {met} met, {partial} partial, {not_met} not met</text>"#,
            label_w + bar_w + 8,
            y + 12,
            label(row.verdict)
        );
    }
    let legend_y = rows.len() * row_h + 24;
    let mut x = label_w;
    for (fill, what) in [(MET, "met"), (PARTIAL, "partial"), (NOT_MET, "not met")] {
        let _ = write!(
            svg,
            r#"<rect x="{x}" y="{}" width="10" height="10" fill="{fill}"/><text x="{}" y="{legend_y}">{what}</text>"#,
            legend_y - 9,
            x + 14
        );
        x += 90;
    }
    let _ = write!(
        svg,
        r#"<text x="{x}" y="{legend_y}">governed namespaces by verdict (organisational requirements are not drawn)</text></svg>"#
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
            (p.in_sync, MET, "in sync"),
            (p.drifted, PARTIAL, "drifted"),
            (p.failed, NOT_MET, "failed"),
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
            let w = f64::from(n) / f64::from(total) * bar_w as f64;
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
        (MET, "in sync"),
        (PARTIAL, "drifted"),
        (NOT_MET, "failed"),
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
    let [met, partial, not_met, organisational, _] = report.totals();
    let mut out = String::new();
    let title = "Compliance report: BSI IT-Grundschutz SYS.1.6 and APP.4.4 (edition 2023)";
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title}</title><style>{STYLE}</style></head><body>\n<h1>{title}</h1>\n<dl id=\"identity\">"
    );
    let c = &report.cluster;
    let mut item = |term: &str, value: &str| {
        let _ = write!(out, "<dt>{term}</dt><dd>{}</dd>", esc(value));
    };
    item("Cluster", &c.server);
    if let Some(context) = &c.context {
        item("Context", context);
    }
    item(
        "Cluster identity (uid of kube-system)",
        c.uid.as_deref().unwrap_or("unknown"),
    );
    item("Kubernetes", c.version.as_deref().unwrap_or("unknown"));
    item(
        "Generated",
        &format!(
            "{} by hardening-operator {}",
            report.generated_at,
            env!("CARGO_PKG_VERSION")
        ),
    );
    for catalogue in CATALOGUES {
        item(
            "Catalogue",
            &format!(
                "{} ({}), edition {} (IT-Grundschutz-Kompendium {})",
                catalogue.name(),
                catalogue.title,
                catalogue.edition,
                catalogue.edition
            ),
        );
    }
    item(
        "Scope",
        &format!(
            "{}, {}{}",
            count(report.profiles.len(), "profile"),
            count(report.namespaces.len(), "governed namespace"),
            if report.ungoverned.is_empty() {
                String::new()
            } else {
                format!(
                    " ({} more governed by no profile, not counted: {})",
                    report.ungoverned.len(),
                    report.ungoverned.join(", ")
                )
            }
        ),
    );
    let _ = write!(
        out,
        "</dl>\n<p id=\"totals\">Verdicts: {met} met, {partial} partial, {not_met} not met, \
         {organisational} organisational or not checked by the operator.</p>\n"
    );

    out.push_str(
        "<h2>Summary per level</h2>\n<table id=\"summary\"><thead><tr><th>catalogue</th><th>level</th>\
         <th>met</th><th>partial</th><th>not met</th><th>organisational / not checked</th>\
         <th>not applicable</th></tr></thead><tbody>\n",
    );
    for s in report.summary() {
        let [a, b, c, d, e] = s.counts;
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{} ({})</td><td class=\"n\">{a}</td><td class=\"n\">{b}</td>\
             <td class=\"n\">{c}</td><td class=\"n\">{d}</td><td class=\"n\">{e}</td></tr>",
            esc(&s.catalogue.short()),
            s.level.letter(),
            s.level.name()
        );
    }
    out.push_str("</tbody></table>\n");

    let _ = write!(
        out,
        "<h2>Verdicts per requirement</h2>\n{}\n",
        verdict_chart(report)
    );
    out.push_str(
        "<h2>Requirements the operator assesses</h2>\n<table id=\"requirements\"><thead><tr>\
         <th>ID</th><th>title</th><th>level</th><th>verdict</th><th>reason</th><th>evidence</th>\
         <th>old ID</th></tr></thead><tbody>\n",
    );
    for row in report
        .requirements
        .iter()
        .filter(|r| r.requirement.assessed())
    {
        let r = row.requirement;
        let evidence: Vec<String> = row
            .profiles
            .iter()
            .flat_map(|(profile, e)| {
                e.evidence
                    .iter()
                    .map(move |ev| esc(&format!("{profile}: {}", evidence_line(ev))))
            })
            .collect();
        let _ = writeln!(
            out,
            "<tr id=\"req-{id}\" class=\"{token}\" data-verdict=\"{token}\"><td>{id}</td><td>{title}</td>\
             <td>{level}</td><td>{badge}</td><td>{reason}</td><td>{evidence}</td><td>{old}</td></tr>",
            id = r.id,
            token = token(row.verdict),
            title = esc(r.title),
            level = r.level.letter(),
            badge = badge(row.verdict),
            reason = esc(&row.reason),
            evidence = evidence.join("<br>"),
            old = r.old,
        );
    }
    out.push_str("</tbody></table>\n");

    let deviations = report.deviations();
    if !deviations.is_empty() {
        out.push_str(
            "<h2>Accepted deviations</h2>\n<p>HardeningExceptions in force: each suspends rules of a \
             profile for some namespaces or workloads until it expires, documented with its owner \
             and reason. A requirement they weaken is never reported as met (&ldquo;met except \
             accepted deviations&rdquo;).</p>\n<table id=\"deviations\"><thead><tr><th>requirement</th>\
             <th>profile</th><th>exception</th><th>suspends</th><th>namespaces</th><th>owner</th>\
             <th>until</th><th>reason</th></tr></thead><tbody>\n",
        );
        for d in deviations {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&d.requirement.cited()),
                esc(d.profile),
                esc(&d.deviation.exception),
                esc(&d.deviation.suspends),
                d.deviation.namespaces,
                esc(&d.deviation.owner),
                esc(&d.deviation.expires),
                esc(&d.deviation.reason)
            );
        }
        out.push_str("</tbody></table>\n");
    }

    out.push_str(
        "<section class=\"organisational\"><h2>Organisational, or not checked by the operator</h2>\n\
         <p>The operator neither generates nor checks anything for these: they are to be assessed \
         by other means, and are never counted as met.</p>\n<table id=\"organisational\"><thead><tr>\
         <th>ID</th><th>title</th><th>level</th><th>what is not covered</th><th>old ID</th></tr>\
         </thead><tbody>\n",
    );
    for row in report
        .requirements
        .iter()
        .filter(|r| !r.requirement.assessed())
    {
        let r = row.requirement;
        let _ = writeln!(
            out,
            "<tr id=\"req-{id}\" data-verdict=\"{token}\"><td>{id}</td><td>{title}</td><td>{level}</td>\
             <td>{reason}</td><td>{old}</td></tr>",
            id = r.id,
            token = token(row.verdict),
            title = esc(r.title),
            level = r.level.letter(),
            reason = esc(&row.reason),
            old = r.old,
        );
    }
    out.push_str("</tbody></table></section>\n");

    let _ = write!(
        out,
        "<h2>Drift: namespaces by state</h2>\n{}\n",
        drift_chart(report)
    );
    out.push_str(
        "<h2>Profiles</h2>\n<table id=\"profiles\"><thead><tr><th>profile</th><th>mode</th>\
         <th>Ready</th><th>status current</th><th>namespaces governed</th><th>in sync</th>\
         <th>drifted</th><th>failed</th><th>conflicting</th><th>pending</th><th>repairs</th>\
         </tr></thead><tbody>\n",
    );
    for p in &report.profiles {
        let ready = p
            .ready
            .as_ref()
            .map_or("no status yet".to_owned(), |(s, r)| format!("{s} ({r})"));
        let _ = writeln!(
            out,
            "<tr id=\"profile-{name}\"><td>{name}</td><td>{mode:?}</td><td>{ready}</td><td>{current}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            p.namespaces,
            p.in_sync,
            p.drifted,
            p.failed,
            p.conflicting,
            p.pending,
            p.repairs_total,
            name = esc(&p.name),
            mode = p.mode,
            ready = esc(&ready),
            current = if p.current { "yes" } else { "no" },
        );
    }
    out.push_str("</tbody></table>\n");
    for p in &report.profiles {
        let _ = write!(
            out,
            "<h3>Profile {name}</h3>\n<table class=\"profile-verdicts\" id=\"verdicts-{name}\"><thead><tr>\
             <th>ID</th><th>verdict</th><th>reason</th><th>namespaces met / partial / not met</th>\
             <th>evidence</th></tr></thead><tbody>\n",
            name = esc(&p.name)
        );
        for e in p
            .compliance
            .iter()
            .filter(|e| e.verdict != Verdict::Organisational)
        {
            let counts = e.namespaces.map_or("-".to_owned(), |c| {
                format!("{} / {} / {}", c.met, c.partial, c.not_met)
            });
            let evidence: Vec<String> = e
                .evidence
                .iter()
                .map(|ev| esc(&evidence_line(ev)))
                .collect();
            let _ = writeln!(
                out,
                "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{counts}</td><td>{}</td></tr>",
                token(e.verdict),
                esc(&e.id),
                badge(e.verdict),
                esc(&e.reason),
                evidence.join("<br>")
            );
        }
        out.push_str("</tbody></table>\n");
    }

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
         <th>state</th></tr></thead><tbody>\n",
    );
    for n in &report.namespaces {
        let state = match &n.detail {
            Some(detail) => format!("{} ({detail})", n.state),
            None => n.state.clone(),
        };
        let _ = writeln!(
            out,
            "<tr id=\"ns-{name}\"><td>{name}</td><td>{}</td><td>{}</td></tr>",
            esc(&n.profile),
            esc(&state),
            name = esc(&n.name),
        );
    }
    out.push_str("</tbody></table>\n</body></html>\n");
    out
}
