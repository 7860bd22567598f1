//! What one measured run found, and the table over the repetitions.

use std::collections::BTreeMap;
use std::fmt::Write;

/// The two kinds of client measured (`--only`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Measured {
    Floor,
    Operator,
}

/// One measured client: the floor at a concurrency, or the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Client {
    Floor { concurrency: usize },
    Operator,
}

impl Client {
    pub fn kind(self) -> Measured {
        match self {
            Self::Floor { .. } => Measured::Floor,
            Self::Operator => Measured::Operator,
        }
    }

    /// `floor@16`, `operator`: a column of the table, a directory of `--keep-logs`.
    pub fn name(self) -> String {
        match self {
            Self::Floor { concurrency } => format!("floor@{concurrency}"),
            Self::Operator => "operator".to_owned(),
        }
    }
}

/// The figures of one run, in the order they are printed.
pub struct RunResult {
    pub client: Client,
    /// The repetition (from 1) the run belongs to: the ratio row pairs runs by it.
    pub repetition: usize,
    pub metrics: Vec<(String, f64)>,
    /// Lines said about the run besides the figures (verification, drifts by kind).
    pub notes: Vec<String>,
}

impl RunResult {
    pub fn new(client: Client, repetition: usize) -> Self {
        Self {
            client,
            repetition,
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
/// The ratio row's name.
const RATIO: &str = "operator / best floor";

/// A Markdown table, one column per client (the floors by concurrency, then the
/// operator): per metric the median over the repetitions, with min-max when there were
/// several. After the converge row, the operator's converge time over the fastest floor's
/// of the same repetition.
pub fn table(results: &[RunResult]) -> String {
    let mut clients: Vec<Client> = results.iter().map(|r| r.client).collect();
    clients.sort();
    clients.dedup();
    let mut rows: Vec<String> = Vec::new();
    // The operator has every row the floor has and more: its order first.
    for result in results
        .iter()
        .filter(|r| r.client == Client::Operator)
        .chain(results.iter().filter(|r| r.client != Client::Operator))
    {
        for (name, _) in &result.metrics {
            if !rows.contains(name) {
                rows.push(name.clone());
            }
        }
    }
    let mut values: BTreeMap<(Client, &str), Vec<f64>> = BTreeMap::new();
    for result in results {
        for (name, value) in &result.metrics {
            values
                .entry((result.client, name.as_str()))
                .or_default()
                .push(*value);
        }
    }
    let mut text = String::from("|");
    for client in &clients {
        let _ = write!(text, " | {}", client.name());
    }
    text.push_str(" |\n|---|");
    text.push_str(&"--:|".repeat(clients.len()));
    text.push('\n');
    let row = |text: &mut String, name: &str, cell: &dyn Fn(Client) -> String| {
        let _ = write!(text, "| {name} |");
        for client in &clients {
            let _ = write!(text, " {} |", cell(*client));
        }
        text.push('\n');
    };
    for name in &rows {
        row(&mut text, name, &|client| {
            cell(values.get(&(client, name.as_str())))
        });
        if name == CONVERGE {
            let ratios = ratios(results);
            row(&mut text, RATIO, &|client| match client {
                Client::Operator => cell(Some(&ratios)),
                Client::Floor { .. } => String::new(),
            });
        }
    }
    text
}

/// Per repetition with both: the operator's converge time over the fastest floor's.
fn ratios(results: &[RunResult]) -> Vec<f64> {
    let mut repetitions: Vec<usize> = results.iter().map(|r| r.repetition).collect();
    repetitions.dedup();
    repetitions
        .into_iter()
        .filter_map(|repetition| {
            let of = results.iter().filter(|r| r.repetition == repetition);
            let operator = of
                .clone()
                .find(|r| r.client == Client::Operator)?
                .get(CONVERGE)?;
            let floor = of
                .filter(|r| r.client != Client::Operator)
                .filter_map(|r| r.get(CONVERGE))
                .filter(|t| *t > 0.0)
                .min_by(f64::total_cmp)?;
            Some(operator / floor)
        })
        .collect()
}

/// The median, with min-max when there are several values; `-` when there are none.
fn cell(values: Option<&Vec<f64>>) -> String {
    match values {
        Some(values) if !values.is_empty() => {
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let median = number(median(&sorted));
            if sorted.len() == 1 {
                median
            } else {
                format!(
                    "{median} ({}-{})",
                    number(sorted[0]),
                    number(sorted[sorted.len() - 1])
                )
            }
        }
        _ => "-".to_owned(),
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
    fn the_table_has_a_column_per_client_and_pairs_repetitions_for_the_ratio() {
        let run = |client, repetition, converge: f64, extra: Option<f64>| {
            let mut result = RunResult::new(client, repetition);
            result.add(CONVERGE, converge);
            if let Some(value) = extra {
                result.add("idle writes", value);
            }
            result
        };
        let (f8, f64_) = (
            Client::Floor { concurrency: 8 },
            Client::Floor { concurrency: 64 },
        );
        let results = [
            run(f64_, 1, 8.0, None),
            run(f8, 1, 12.0, None),
            run(Client::Operator, 1, 200.0, Some(0.0)),
            run(f64_, 2, 10.0, None),
            run(f8, 2, 9.0, None),
            run(Client::Operator, 2, 220.0, Some(2.0)),
        ];
        let table = table(&results);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "| | floor@8 | floor@64 | operator |");
        assert_eq!(lines[1], "|---|--:|--:|--:|");
        assert_eq!(
            lines[2],
            "| converge (s) | 10.5 (9-12) | 9 (8-10) | 210 (200-220) |"
        );
        // 200 / 8 and 220 / 9: the fastest floor of each repetition.
        assert_eq!(lines[3], "| operator / best floor |  |  | 24.7 (24.4-25) |");
        assert_eq!(lines[4], "| idle writes | - | - | 1 (0-2) |");
    }
}
