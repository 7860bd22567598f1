//! The report as Markdown (GitHub tables).

use std::fmt::Write;

use super::{Report, evidence_line, label};
use crate::core::api::Verdict;
use crate::core::compliance::{CATALOGUES, implementation};
use crate::core::plural::count;

/// A table cell: no line breaks, `|` escaped.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The verdict as it stands out in a table: Partial and NotMet in bold.
fn shown(verdict: Verdict) -> String {
    match verdict {
        Verdict::Partial | Verdict::NotMet => format!("**{}**", label(verdict)),
        other => label(other).to_owned(),
    }
}

pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let [met, partial, not_met, organisational, _] = report.totals();
    let _ = writeln!(
        out,
        "# Compliance report: BSI IT-Grundschutz SYS.1.6 and APP.4.4 (edition 2023)\n"
    );
    let c = &report.cluster;
    let _ = writeln!(out, "- Cluster: {}", c.server);
    if let Some(context) = &c.context {
        let _ = writeln!(out, "- Context: {context}");
    }
    let _ = writeln!(
        out,
        "- Cluster identity (uid of namespace kube-system): {}",
        c.uid.as_deref().unwrap_or("unknown")
    );
    let _ = writeln!(
        out,
        "- Kubernetes: {}",
        c.version.as_deref().unwrap_or("unknown")
    );
    let _ = writeln!(
        out,
        "- Generated: {} by hardening-operator {}",
        report.generated_at,
        env!("CARGO_PKG_VERSION")
    );
    for catalogue in CATALOGUES {
        let _ = writeln!(
            out,
            "- Catalogue: {} ({}), edition {} (IT-Grundschutz-Kompendium {})",
            catalogue.name(),
            catalogue.title,
            catalogue.edition,
            catalogue.edition
        );
    }
    let _ = writeln!(
        out,
        "- Scope: {}, {}{}\n",
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
    );
    let _ = writeln!(
        out,
        "Verdicts: {met} met, {partial} partial, {not_met} not met, {organisational} organisational or not checked by the operator.\n"
    );

    let _ = writeln!(out, "## Summary per level\n");
    let _ = writeln!(
        out,
        "| catalogue | level | met | partial | not met | organisational / not checked | not applicable |"
    );
    let _ = writeln!(out, "|---|---|--:|--:|--:|--:|--:|");
    for s in report.summary() {
        let [a, b, c, d, e] = s.counts;
        let _ = writeln!(
            out,
            "| {} | {} ({}) | {a} | {b} | {c} | {d} | {e} |",
            s.catalogue.short(),
            s.level.letter(),
            s.level.name()
        );
    }

    let _ = writeln!(out, "\n## Requirements the operator assesses\n");
    let _ = writeln!(
        out,
        "| ID | title | level | verdict | reason | evidence | old ID |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
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
                    .map(move |ev| format!("{profile}: {}", evidence_line(ev)))
            })
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.id,
            cell(r.title),
            r.level.letter(),
            shown(row.verdict),
            cell(&row.reason),
            cell(&evidence.join("; ")),
            r.old,
        );
    }

    let deviations = report.deviations();
    if !deviations.is_empty() {
        let _ = writeln!(
            out,
            "\n## Accepted deviations\n\nHardeningExceptions in force: each suspends rules of a profile for some namespaces or workloads until it expires, documented with its owner and reason. A requirement they weaken is never reported as met (\"met except accepted deviations\").\n"
        );
        let _ = writeln!(
            out,
            "| requirement | profile | exception | suspends | namespaces | owner | until | reason |"
        );
        let _ = writeln!(out, "|---|---|---|---|--:|---|---|---|");
        for d in deviations {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                d.requirement.cited(),
                d.profile,
                cell(&d.deviation.exception),
                cell(&d.deviation.suspends),
                d.deviation.namespaces,
                cell(&d.deviation.owner),
                cell(&d.deviation.expires),
                cell(&d.deviation.reason)
            );
        }
    }

    let _ = writeln!(
        out,
        "\n## Organisational, or not checked by the operator\n\nThe operator neither generates nor checks anything for these: they are to be assessed by other means, and are never counted as met.\n"
    );
    let _ = writeln!(out, "| ID | title | level | what is not covered | old ID |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    for row in report
        .requirements
        .iter()
        .filter(|r| !r.requirement.assessed())
    {
        let r = row.requirement;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            r.id,
            cell(r.title),
            r.level.letter(),
            cell(&row.reason),
            r.old
        );
    }

    let _ = writeln!(out, "\n## Profiles\n");
    let _ = writeln!(
        out,
        "| profile | mode | Ready | status current | namespaces governed | in sync | drifted | failed | conflicting | pending | repairs | met | partial | not met |"
    );
    let _ = writeln!(
        out,
        "|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
    );
    for p in &report.profiles {
        let ready = p
            .ready
            .as_ref()
            .map_or("no status yet".to_owned(), |(s, r)| format!("{s} ({r})"));
        let n = |v: Verdict| p.compliance.iter().filter(|e| e.verdict == v).count();
        let _ = writeln!(
            out,
            "| {} | {:?} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            p.name,
            p.mode,
            cell(&ready),
            if p.current { "yes" } else { "no" },
            p.namespaces,
            p.in_sync,
            p.drifted,
            p.failed,
            p.conflicting,
            p.pending,
            p.repairs_total,
            n(Verdict::Met),
            n(Verdict::Partial),
            n(Verdict::NotMet),
        );
    }
    for p in &report.profiles {
        let _ = writeln!(out, "\n### Profile {}\n", p.name);
        let _ = writeln!(
            out,
            "| ID | verdict | reason | namespaces met / partial / not met | evidence |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|");
        for e in p
            .compliance
            .iter()
            .filter(|e| e.verdict != Verdict::Organisational)
        {
            let counts = e.namespaces.map_or("-".to_owned(), |c| {
                format!("{} / {} / {}", c.met, c.partial, c.not_met)
            });
            let evidence: Vec<String> = e.evidence.iter().map(evidence_line).collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                e.id,
                shown(e.verdict),
                cell(&e.reason),
                counts,
                cell(&evidence.join("; "))
            );
        }
    }

    if report.profiles.iter().any(|p| p.node_baseline.is_some()) {
        let _ = writeln!(out, "\n## Node baseline\n");
        let _ = writeln!(out, "| profile | nodes (what falls short) |");
        let _ = writeln!(out, "|---|---|");
        for p in &report.profiles {
            if let Some(text) = p.nodes_text() {
                let _ = writeln!(out, "| {} | {} |", p.name, cell(&text));
            }
        }
    }

    let _ = writeln!(out, "\n## Namespaces\n");
    let _ = writeln!(out, "| namespace | profile | state |");
    let _ = writeln!(out, "|---|---|---|");
    for n in &report.namespaces {
        let state = match &n.detail {
            Some(detail) => format!("{} ({detail})", n.state),
            None => n.state.clone(),
        };
        let _ = writeln!(out, "| {} | {} | {} |", n.name, n.profile, cell(&state));
    }

    let _ = writeln!(
        out,
        "\n## What the operator implements, and Grundschutz++\n\nThe best verdict the operator can reach for each requirement it assesses, and the Grundschutz++ controls the BSI's mapping (draft) gives; it maps 10 of these 47 requirements.\n"
    );
    let _ = writeln!(
        out,
        "| ID | at best | what the operator does | Grundschutz++ |"
    );
    let _ = writeln!(out, "|---|---|---|---|");
    for r in crate::core::compliance::REQUIREMENTS.iter() {
        let gspp: Vec<String> = r
            .gspp
            .iter()
            .map(|m| format!("{} {} ({})", m.control, m.relationship, m.source))
            .collect();
        let (what, best) = match implementation(r) {
            Some((what, best)) => (what, label(best)),
            None if gspp.is_empty() => continue,
            None => ("nothing (organisational or not checked)", "-"),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            r.id,
            best,
            cell(what),
            cell(&gspp.join("; "))
        );
    }
    out
}
