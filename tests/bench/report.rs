//! What one measured run found, and the table over the repetitions.

use std::collections::BTreeMap;
use std::fmt::Write;

/// The two clients measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Measured {
    Floor,
    Operator,
}

impl Measured {
    pub fn name(self) -> &'static str {
        match self {
            Self::Floor => "floor",
            Self::Operator => "operator",
        }
    }
}

/// The figures of one run, in the order they are printed.
pub struct RunResult {
    pub measured: Measured,
    pub metrics: Vec<(String, f64)>,
    /// Lines said about the run besides the figures (verification, drifts by kind).
    pub notes: Vec<String>,
}

impl RunResult {
    pub fn new(measured: Measured) -> Self {
        Self {
            measured,
            metrics: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn add(&mut self, name: impl Into<String>, value: f64) {
        self.metrics.push((name.into(), value));
    }

    pub fn get(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }

    /// The figures and notes, one per line.
    pub fn text(&self) -> String {
        let mut text = String::new();
        for (name, value) in &self.metrics {
            let _ = writeln!(text, "  {name}: {}", number(*value));
        }
        for note in &self.notes {
            let _ = writeln!(text, "  {note}");
        }
        text
    }
}

/// The name of the converge time metric, which the ratio row divides.
pub const CONVERGE: &str = "converge (s)";

/// A Markdown table: per metric, min / median / max over the runs of each client; the
/// operator's converge time over the floor's of the same repetition in its own row.
pub fn table(results: &[RunResult]) -> String {
    let clients = [Measured::Floor, Measured::Operator];
    let mut rows: Vec<String> = Vec::new();
    // The operator has every row the floor has and more: its order first.
    for result in results
        .iter()
        .filter(|r| r.measured == Measured::Operator)
        .chain(results.iter().filter(|r| r.measured == Measured::Floor))
    {
        for (name, _) in &result.metrics {
            if !rows.contains(name) {
                rows.push(name.clone());
            }
        }
    }
    let mut values: BTreeMap<(Measured, &str), Vec<f64>> = BTreeMap::new();
    for result in results {
        for (name, value) in &result.metrics {
            values
                .entry((result.measured, name.as_str()))
                .or_default()
                .push(*value);
        }
    }
    let mut text = String::from(
        "| | floor min | median | max | operator min | median | max |\n|---|--:|--:|--:|--:|--:|--:|\n",
    );
    for row in &rows {
        let _ = write!(text, "| {row} |");
        for client in clients {
            text.push_str(&cells(values.get(&(client, row.as_str()))));
        }
        text.push('\n');
        if row == CONVERGE {
            let _ = write!(text, "| operator / floor |  |  |  |");
            text.push_str(&cells(Some(&ratios(results))));
            text.push('\n');
        }
    }
    text
}

/// Operator converge time over the floor's, per repetition (runs paired in order).
fn ratios(results: &[RunResult]) -> Vec<f64> {
    let times = |client| {
        results
            .iter()
            .filter(move |r| r.measured == client)
            .filter_map(|r| r.get(CONVERGE))
    };
    times(Measured::Operator)
        .zip(times(Measured::Floor))
        .filter(|(_, floor)| *floor > 0.0)
        .map(|(operator, floor)| operator / floor)
        .collect()
}

fn cells(values: Option<&Vec<f64>>) -> String {
    match values {
        Some(values) if !values.is_empty() => {
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            format!(
                " {} | {} | {} |",
                number(sorted[0]),
                number(median(&sorted)),
                number(sorted[sorted.len() - 1])
            )
        }
        _ => " - | - | - |".to_owned(),
    }
}

/// The median of sorted values.
pub fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Nearest-rank percentile `p` (0-100) of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Integers and values of 100 or more without decimals, else three significant digits.
pub fn number(value: f64) -> String {
    if value.fract() == 0.0 || value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_medians_by_rank() {
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 50.0), 50.0);
        assert_eq!(percentile(&sorted, 99.0), 99.0);
        assert_eq!(percentile(&sorted, 100.0), 100.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert_eq!(median(&[1.0, 2.0, 10.0]), 2.0);
        assert_eq!(median(&[1.0, 2.0, 4.0, 10.0]), 3.0);
    }

    #[test]
    fn the_table_pairs_repetitions_for_the_ratio() {
        let run = |measured, converge: f64, extra: Option<f64>| {
            let mut result = RunResult::new(measured);
            result.add(CONVERGE, converge);
            if let Some(value) = extra {
                result.add("idle writes", value);
            }
            result
        };
        let results = [
            run(Measured::Floor, 8.0, None),
            run(Measured::Operator, 200.0, Some(0.0)),
            run(Measured::Floor, 10.0, None),
            run(Measured::Operator, 220.0, Some(2.0)),
        ];
        let table = table(&results);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[2], "| converge (s) | 8 | 9 | 10 | 200 | 210 | 220 |");
        assert_eq!(lines[3], "| operator / floor |  |  |  | 22 | 23.5 | 25 |");
        assert_eq!(lines[4], "| idle writes | - | - | - | 0 | 1 | 2 |");
    }
}
