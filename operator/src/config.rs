//! Operator configuration: command-line flags, each also settable through an environment
//! variable (`HARDENING_*`).

use std::collections::BTreeSet;
use std::time::Duration;

/// Namespaces no profile may touch, whatever it selects.
pub const SYSTEM_NAMESPACES: [&str; 3] = ["kube-system", "kube-public", "kube-node-lease"];

#[derive(clap::Args, Clone, Debug)]
pub struct RunConfig {
    /// Namespaces never hardened, in addition to kube-system, kube-public,
    /// kube-node-lease and the operator's own namespace (comma-separated).
    #[arg(long, env = "HARDENING_EXCLUDED_NAMESPACES", value_delimiter = ',')]
    pub excluded_namespaces: Vec<String>,

    /// The operator's own namespace, excluded like the system namespaces
    /// (in a Pod: set from the downward API).
    #[arg(long, env = "POD_NAMESPACE")]
    pub operator_namespace: Option<String>,

    /// Only handle HardeningProfiles matching this label selector (e.g. `shard=a`), to
    /// split profiles between several operator deployments. Default: all profiles.
    #[arg(long, env = "HARDENING_PROFILE_SELECTOR")]
    pub profile_selector: Option<String>,

    /// Namespaces reconciled in parallel at most.
    #[arg(long, env = "HARDENING_CONCURRENCY", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,

    /// Safety-net resync: every namespace is re-checked this often even without a watch
    /// event (watches do the real work). Examples: `30m`, `1h`, `90s`.
    #[arg(long, env = "HARDENING_RESYNC_PERIOD", default_value = "1h", value_parser = parse_duration)]
    pub resync_period: Duration,
}

impl RunConfig {
    /// Every namespace the operator must leave alone.
    pub fn excluded(&self) -> BTreeSet<String> {
        SYSTEM_NAMESPACES
            .iter()
            .map(|s| s.to_string())
            .chain(self.operator_namespace.iter().cloned())
            .chain(
                self.excluded_namespaces
                    .iter()
                    .filter(|s| !s.is_empty())
                    .cloned(),
            )
            .collect()
    }
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            excluded_namespaces: Vec::new(),
            operator_namespace: None,
            profile_selector: None,
            concurrency: 16,
            resync_period: Duration::from_secs(3600),
        }
    }
}

/// `90s`, `30m`, `1h`, `2h30m`; a bare number means seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => {
                return Err(format!(
                    "invalid duration {text:?}: unknown unit {c:?} (use s, m or h)"
                ));
            }
        };
        let n: u64 = number
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: a number must precede {c:?}"))?;
        total += n * unit;
        number.clear();
    }
    if !number.is_empty() || total == 0 {
        return Err(format!(
            "invalid duration {text:?}: expected e.g. 90s, 30m or 1h"
        ));
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h30m"), Ok(Duration::from_secs(9000)));
        assert!(
            parse_duration("1d")
                .unwrap_err()
                .contains("unknown unit 'd'")
        );
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn system_and_own_namespaces_are_always_excluded() {
        let config = RunConfig {
            operator_namespace: Some("hardening-system".into()),
            excluded_namespaces: vec!["legacy".into(), "".into()],
            ..Default::default()
        };
        let excluded: Vec<_> = config.excluded().into_iter().collect();
        assert_eq!(
            excluded,
            vec![
                "hardening-system",
                "kube-node-lease",
                "kube-public",
                "kube-system",
                "legacy"
            ]
        );
    }
}
