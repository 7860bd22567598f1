//! Durations as Kubernetes users write them: Go's `time.ParseDuration` syntax (`500ms`,
//! `1.5h`, `2h45m`), plus a bare number meaning seconds; printed back as Go prints them.

use std::time::Duration;

/// A `--resync-period`, `--check-period`, lease duration...: Go's syntax (units ns, us, µs,
/// ms, s, m, h, combinable, decimal fractions) or a bare number of seconds (`90`, `1.5`);
/// above zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let bare_seconds = !text.is_empty()
        && text.bytes().all(|c| c.is_ascii_digit() || c == b'.')
        && text.bytes().any(|c| c.is_ascii_digit());
    let go_text = if bare_seconds {
        format!("{text}s")
    } else {
        text.to_owned()
    };
    match parse_go_duration(&go_text) {
        Ok(nanos) if nanos > 0 => Ok(Duration::from_nanos(nanos as u64)),
        Ok(_) => Err(format!("invalid duration {text:?}: must be above zero")),
        Err(GoDurationError::UnknownUnit(unit)) => Err(format!(
            "invalid duration {text:?}: unknown unit '{unit}' (use h, m, s, ms, us or ns)"
        )),
        Err(GoDurationError::Invalid | GoDurationError::MissingUnit) => Err(format!(
            "invalid duration {text:?}: expected e.g. 90s, 30m, 1h or 500ms"
        )),
    }
}

/// How Go's `time.Duration.String` prints `duration`: `1h0m0s`, `1m30s`, `1.5s`, `500ms`,
/// `0s`.
pub fn format_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000_000_000 {
        let (digits, unit) = if nanos < 1_000 {
            (0, "ns")
        } else if nanos < 1_000_000 {
            (3, "µs")
        } else {
            (6, "ms")
        };
        return format!("{}{unit}", with_fraction(nanos, digits));
    }
    let seconds = nanos / 1_000_000_000;
    let (hours, minutes) = (seconds / 3600, seconds / 60 % 60);
    let seconds = with_fraction(nanos % 60_000_000_000, 9);
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, _) => format!("{minutes}m{seconds}s"),
        _ => format!("{hours}h{minutes}m{seconds}s"),
    }
}

/// `value / 10^digits` in decimal without trailing zeros (`1500, 3` → `1.5`).
fn with_fraction(value: u128, digits: u32) -> String {
    let scale = 10u128.pow(digits);
    let (whole, fraction) = (value / scale, value % scale);
    if fraction == 0 {
        return whole.to_string();
    }
    let fraction = format!("{fraction:0width$}", width = digits as usize);
    format!("{whole}.{}", fraction.trim_end_matches('0'))
}

/// Why Go's `time.ParseDuration` rejects a text (its three messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GoDurationError {
    /// `time: invalid duration`: bad syntax or out of range.
    Invalid,
    /// `time: missing unit in duration`.
    MissingUnit,
    /// `time: unknown unit "d" in duration`.
    UnknownUnit(String),
}

const MAX: u64 = 1 << 63;

/// Go's `time.ParseDuration`, step for step (the same overflow checks and the same float
/// arithmetic for fractions, so results agree to the nanosecond): nanoseconds, negative
/// for a leading `-`.
pub fn parse_go_duration(text: &str) -> Result<i64, GoDurationError> {
    use GoDurationError::*;
    let mut s = text.as_bytes();
    let mut negative = false;
    if let [sign @ (b'-' | b'+'), rest @ ..] = s {
        negative = *sign == b'-';
        s = rest;
    }
    if s == b"0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(Invalid);
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(Invalid);
        }
        let (mut value, rest) = leading_int(s).ok_or(Invalid)?;
        let before_point = rest.len() != s.len();
        s = rest;
        let (mut fraction, mut scale, mut after_point) = (0u64, 1f64, false);
        if let [b'.', rest @ ..] = s {
            let (f, sc, rest2) = leading_fraction(rest);
            after_point = rest2.len() != rest.len();
            (fraction, scale, s) = (f, sc, rest2);
        }
        if !before_point && !after_point {
            return Err(Invalid);
        }
        let unit_len = s
            .iter()
            .position(|&c| c == b'.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(MissingUnit);
        }
        // The unit ends at an ASCII byte or the end, so it is whole UTF-8.
        let unit_text = std::str::from_utf8(&s[..unit_len]).unwrap_or_default();
        s = &s[unit_len..];
        let unit: u64 = match unit_text {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            other => return Err(UnknownUnit(other.to_owned())),
        };
        if value > MAX / unit {
            return Err(Invalid);
        }
        value *= unit;
        if fraction > 0 {
            value += (fraction as f64 * (unit as f64 / scale)) as u64;
            if value > MAX {
                return Err(Invalid);
            }
        }
        total += value;
        if total > MAX {
            return Err(Invalid);
        }
    }
    if negative {
        return Ok((total as i64).wrapping_neg());
    }
    if total > MAX - 1 {
        return Err(Invalid);
    }
    Ok(total as i64)
}

/// Go's `leadingInt`: the leading digits, `None` past 2^63.
fn leading_int(s: &[u8]) -> Option<(u64, &[u8])> {
    let mut x: u64 = 0;
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        if x > MAX / 10 {
            return None;
        }
        x = x * 10 + u64::from(s[i] - b'0');
        if x > MAX {
            return None;
        }
        i += 1;
    }
    Some((x, &s[i..]))
}

/// Go's `leadingFraction`: the digits after the point as `x / scale`, ignoring those
/// beyond 2^63.
fn leading_fraction(s: &[u8]) -> (u64, f64, &[u8]) {
    let (mut x, mut scale, mut overflow) = (0u64, 1f64, false);
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        let digit = u64::from(s[i] - b'0');
        i += 1;
        if overflow {
            continue;
        }
        if x > (MAX - 1) / 10 {
            overflow = true;
            continue;
        }
        let y = x * 10 + digit;
        if y > MAX {
            overflow = true;
            continue;
        }
        x = y;
        scale *= 10.0;
    }
    (x, scale, &s[i..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Go's own answers (`go run operator/testdata/go-durations/generate.go`): one line per
    /// case, `parse<TAB>input<TAB>nanoseconds or error kind` and
    /// `format<TAB>nanoseconds<TAB>String()`.
    const GO_TABLE: &str = include_str!("../../testdata/go-durations/cases.tsv");

    fn kind(error: &GoDurationError) -> &'static str {
        match error {
            GoDurationError::Invalid => "invalid",
            GoDurationError::MissingUnit => "missing-unit",
            GoDurationError::UnknownUnit(_) => "unknown-unit",
        }
    }

    #[test]
    fn agrees_with_go_on_every_case_of_the_table() {
        let (mut parsed, mut formatted) = (0, 0);
        for line in GO_TABLE.lines() {
            let fields: Vec<&str> = line.split('\t').collect();
            let [what, input, expected] = fields[..] else {
                panic!("malformed line {line:?}");
            };
            // Inputs are JSON string contents (the generator escapes tabs and such).
            match what {
                "parse" => {
                    let input = unquote(input);
                    let ours = match parse_go_duration(&input) {
                        Ok(nanos) => nanos.to_string(),
                        Err(e) => kind(&e).to_owned(),
                    };
                    assert_eq!(ours, expected, "ParseDuration({input:?})");
                    parsed += 1;
                }
                "format" => {
                    let nanos: u64 = input.parse().unwrap();
                    assert_eq!(
                        format_duration(Duration::from_nanos(nanos)),
                        expected,
                        "Duration({nanos}).String()"
                    );
                    formatted += 1;
                }
                other => panic!("unknown case kind {other:?}"),
            }
        }
        // The table is not empty or truncated.
        assert!(parsed >= 2000 && formatted >= 500, "{parsed} {formatted}");
    }

    /// Undoes the generator's escaping: `\t`, `\n`, `\\` and `\u{..}`.
    fn unquote(text: &str) -> String {
        serde_json::from_str(&format!("\"{text}\"")).expect("JSON-escaped input")
    }

    #[test]
    fn operator_forms() {
        let secs = Duration::from_secs;
        assert_eq!(parse_duration("90"), Ok(secs(90)));
        assert_eq!(parse_duration(" 1.5 "), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5h"), Ok(secs(5400)));
        assert_eq!(parse_duration("2h45m"), Ok(secs(9900)));
        assert_eq!(parse_duration("1m30s"), Ok(secs(90)));
        assert_eq!(parse_duration("1µs"), Ok(Duration::from_micros(1)));
        for zero in ["0", "0s", "0.0h", "-0"] {
            assert_eq!(
                parse_duration(zero),
                Err(format!("invalid duration {zero:?}: must be above zero"))
            );
        }
        assert_eq!(
            parse_duration("-5s"),
            Err("invalid duration \"-5s\": must be above zero".to_owned())
        );
        assert_eq!(
            parse_duration("1d"),
            Err("invalid duration \"1d\": unknown unit 'd' (use h, m, s, ms, us or ns)".to_owned())
        );
        // As in Go, a unit runs to the next digit or point.
        assert!(
            parse_duration("1h 2m")
                .unwrap_err()
                .contains("unknown unit 'h '")
        );
        for bad in ["", "s", ".", "5m3", "1..5s", "99999999999h"] {
            assert!(
                parse_duration(bad)
                    .unwrap_err()
                    .contains("expected e.g. 90s, 30m, 1h or 500ms"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn formats_like_go() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(1), "1ns"),
            (Duration::from_micros(1500), "1.5ms"),
            (Duration::from_secs(5), "5s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_millis(5_400_250), "1h30m0.25s"),
        ];
        for (duration, text) in cases {
            assert_eq!(format_duration(duration), text);
        }
    }

    proptest! {
        /// What we print, we read back to the nanosecond (over Go's whole range).
        #[test]
        fn printing_then_parsing_is_the_identity(nanos in 1u64..=i64::MAX as u64) {
            let duration = Duration::from_nanos(nanos);
            prop_assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
        }

        /// Components written in any order and any unit add up, as in Go.
        #[test]
        fn components_add_up(
            parts in proptest::collection::vec((0u64..100_000, 0usize..7), 1..6)
        ) {
            const UNITS: [(&str, u64); 7] = [
                ("ns", 1), ("us", 1_000), ("µs", 1_000), ("ms", 1_000_000),
                ("s", 1_000_000_000), ("m", 60_000_000_000), ("h", 3_600_000_000_000),
            ];
            let text: String = parts.iter().map(|&(n, u)| format!("{n}{}", UNITS[u].0)).collect();
            let sum: u64 = parts.iter().map(|&(n, u)| n * UNITS[u].1).sum();
            prop_assert_eq!(parse_go_duration(&text), Ok(sum as i64));
        }

        /// Any text at all: an answer, never a panic; and the operator's parser accepts
        /// exactly Go's positive durations (and bare numbers).
        #[test]
        fn any_text_gets_an_answer(text in "[-+]?[0-9.]{0,4}(ns|us|µs|ms|s|m|h|d|x)?[0-9.hms]{0,6}") {
            let go = parse_go_duration(&text);
            let ours = parse_duration(&text);
            let bare = !text.is_empty() && text.bytes().all(|c| c.is_ascii_digit() || c == b'.');
            if !bare {
                prop_assert_eq!(
                    ours.ok(),
                    go.ok().filter(|&n| n > 0).map(|n| Duration::from_nanos(n as u64))
                );
            }
        }
    }
}
