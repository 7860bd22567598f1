//! Exact Kubernetes quantities (`500m`, `1Gi`, `1e3`), so that `1000m` and `1` compare equal
//! the way the API server sees them. Decimal digits, never floating point: the API server
//! canonicalises what it stores (`1024Mi` comes back as `1Gi`), and a rounding error here
//! would be reported as drift for ever.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A parsed quantity: `0.d₁d₂d₃… × 10^exponent`, normalised (no leading or trailing zero
/// digits; zero has no digits and is never negative) so that equal values are equal structs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ParsedQuantity {
    negative: bool,
    digits: Vec<u8>,
    exponent: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseQuantityError {
    #[error("quantity is empty")]
    Empty,
    #[error("quantity {0:?} does not start with a number")]
    InvalidNumber(String),
    #[error(
        "quantity {0:?} has an unknown suffix (use n, u, m, k, M, G, T, P, E, Ki … Ei or an exponent like e3)"
    )]
    InvalidSuffix(String),
}

/// Fractional digits the API server keeps; it rounds finer values up (`0.1n` becomes `1n`).
const MAX_FRACTION_DIGITS: i64 = 9;

impl ParsedQuantity {
    pub fn zero() -> Self {
        Self {
            negative: false,
            digits: Vec::new(),
            exponent: 0,
        }
    }

    /// The value as a float: for ratios in messages and sanity checks, never for equality.
    pub fn to_f64(&self) -> f64 {
        let mantissa = self
            .digits
            .iter()
            .rev()
            .fold(0.0, |acc, d| (acc + f64::from(*d)) / 10.0);
        let value = mantissa * 10f64.powi(self.exponent.clamp(-400, 400) as i32);
        if self.negative { -value } else { value }
    }

    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// `ceil(value × 1000)`, what the API server's `MilliValue()` returns for it; `None`
    /// outside the `i64` range (where the API server's own arithmetic overflows).
    pub fn ceil_milli_value(&self) -> Option<i64> {
        self.ceil_scaled(3)
    }

    /// `ceil(value)`, what the API server's `Value()` returns for it; `None` outside the
    /// `i64` range.
    pub fn ceil_value(&self) -> Option<i64> {
        self.ceil_scaled(0)
    }

    /// Whether the value is a whole number.
    pub fn is_integer(&self) -> bool {
        self.digits.len() as i64 <= self.exponent.max(0)
    }

    /// `ceil(value × 10^power)` as an `i64`, if it fits.
    fn ceil_scaled(&self, power: i64) -> Option<i64> {
        if self.is_zero() {
            return Some(0);
        }
        let integer_digits = self.exponent.checked_add(power)?;
        // 19 digits are the most an i64 holds; more (or an exponent far out) overflow.
        if integer_digits > 19 {
            return None;
        }
        let mut magnitude: i128 = 0;
        for position in 0..integer_digits.max(0) {
            let digit = self.digits.get(position as usize).copied().unwrap_or(0);
            magnitude = magnitude * 10 + i128::from(digit);
        }
        let has_fraction = self.digits.len() as i64 > integer_digits.max(0);
        let value = match (self.negative, has_fraction) {
            (false, true) => magnitude + 1,
            (false, false) => magnitude,
            // ceil of a negative value drops its fraction.
            (true, _) => -magnitude,
        };
        i64::try_from(value).ok()
    }

    fn normalised(mut self) -> Self {
        let leading = self.digits.iter().take_while(|&&d| d == 0).count();
        self.digits.drain(..leading);
        self.exponent -= leading as i64;
        while self.digits.last() == Some(&0) {
            self.digits.pop();
        }
        if self.digits.is_empty() {
            return Self::zero();
        }
        self
    }

    /// Multiplies the magnitude by a small factor (used for the binary suffixes).
    fn times(mut self, factor: u32) -> Self {
        let before = self.digits.len() as i64;
        let mut carry: u64 = 0;
        for digit in self.digits.iter_mut().rev() {
            let product = u64::from(*digit) * u64::from(factor) + carry;
            *digit = (product % 10) as u8;
            carry = product / 10;
        }
        while carry > 0 {
            self.digits.insert(0, (carry % 10) as u8);
            carry /= 10;
        }
        self.exponent += self.digits.len() as i64 - before;
        self.normalised()
    }

    /// Rounds the magnitude up to nano precision, as the API server does when it parses.
    fn rounded_to_nano(self) -> Self {
        self.rounded_up_to(MAX_FRACTION_DIGITS)
    }

    /// Rounds the magnitude up to milli precision (`0.1m` becomes `1m`, `1.0001` becomes
    /// `1.001`), as the API server does with every quantity of a resource list
    /// (`SetDefaults_ResourceList`): ResourceQuota `hard`, the LimitRange maps, container
    /// resources. What it stores is this value, so comparisons must use it too.
    pub fn round_up_to_milli(self) -> Self {
        self.rounded_up_to(3)
    }

    /// Rounds the magnitude up (away from zero) to `fraction_digits` decimal places.
    fn rounded_up_to(mut self, fraction_digits: i64) -> Self {
        let keep = self.exponent + fraction_digits;
        if self.is_zero() || (self.digits.len() as i64) <= keep {
            return self;
        }
        if keep <= 0 {
            // Smaller than the precision: the smallest representable non-zero value.
            self.digits = vec![1];
            self.exponent = -(fraction_digits - 1);
            return self;
        }
        self.digits.truncate(keep as usize);
        let mut index = self.digits.len();
        loop {
            if index == 0 {
                self.digits.insert(0, 1);
                self.exponent += 1;
                break;
            }
            index -= 1;
            if self.digits[index] == 9 {
                self.digits[index] = 0;
            } else {
                self.digits[index] += 1;
                break;
            }
        }
        self.normalised()
    }

    fn cmp_magnitude(&self, other: &Self) -> Ordering {
        match (self.is_zero(), other.is_zero()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            // Normalised: the first digit is non-zero, so a larger exponent is a larger value,
            // and with equal exponents the digit sequences compare lexicographically.
            (false, false) => self
                .exponent
                .cmp(&other.exponent)
                .then_with(|| self.digits.cmp(&other.digits)),
        }
    }
}

impl Ord for ParsedQuantity {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.negative, other.negative) {
            (false, false) => self.cmp_magnitude(other),
            (true, true) => other.cmp_magnitude(self),
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
        }
    }
}

impl PartialOrd for ParsedQuantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Plain decimal notation, e.g. `0.5`, `1073741824`, `-3`: for messages, not for the API.
impl fmt::Display for ParsedQuantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0");
        }
        if self.negative {
            f.write_str("-")?;
        }
        let digits: String = self.digits.iter().map(|d| char::from(b'0' + d)).collect();
        let len = digits.len() as i64;
        if self.exponent <= 0 {
            write!(
                f,
                "0.{}{digits}",
                "0".repeat(self.exponent.unsigned_abs() as usize)
            )
        } else if self.exponent >= len {
            write!(f, "{digits}{}", "0".repeat((self.exponent - len) as usize))
        } else {
            let (int, frac) = digits.split_at(self.exponent as usize);
            write!(f, "{int}.{frac}")
        }
    }
}

impl FromStr for ParsedQuantity {
    type Err = ParseQuantityError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        if input.is_empty() {
            return Err(ParseQuantityError::Empty);
        }
        let (negative, unsigned) = match input.as_bytes()[0] {
            b'-' => (true, &input[1..]),
            b'+' => (false, &input[1..]),
            _ => (false, input),
        };
        let number_len = unsigned
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(unsigned.len());
        let (number, suffix) = unsigned.split_at(number_len);
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        if frac_part.contains('.') || (int_part.is_empty() && frac_part.is_empty()) {
            return Err(ParseQuantityError::InvalidNumber(input.to_owned()));
        }

        let digits = int_part.bytes().chain(frac_part.bytes()).map(|b| b - b'0');
        let mut quantity = ParsedQuantity {
            negative,
            digits: digits.collect(),
            exponent: int_part.len() as i64,
        }
        .normalised();

        match suffix {
            "" => {}
            "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
                let steps = "KMGTPE".find(&suffix[..1]).expect("listed suffix") + 1;
                for _ in 0..steps {
                    quantity = quantity.times(1024);
                }
            }
            _ => {
                let exponent = decimal_exponent(suffix)
                    .ok_or_else(|| ParseQuantityError::InvalidSuffix(input.to_owned()))?;
                if !quantity.is_zero() {
                    quantity.exponent += exponent;
                }
            }
        }
        if quantity.is_zero() {
            return Ok(Self::zero());
        }
        Ok(quantity.rounded_to_nano())
    }
}

/// The power of ten of a decimal SI suffix (`k`, `m`, …) or an exponent (`e3`, `E-2`).
fn decimal_exponent(suffix: &str) -> Option<i64> {
    let power = match suffix {
        "n" => -9,
        "u" => -6,
        "m" => -3,
        "k" => 3,
        "M" => 6,
        "G" => 9,
        "T" => 12,
        "P" => 15,
        "E" => 18,
        _ => {
            let exponent = suffix.strip_prefix(['e', 'E'])?;
            let unsigned = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            // Far beyond anything the API server accepts; the bound keeps arithmetic exact.
            let power: i64 = exponent.parse().ok()?;
            if power.abs() > 1_000_000 {
                return None;
            }
            power
        }
    };
    Some(power)
}

/// Whether two strings are the same quantity (`"1000m"` and `"1"`); `None` unless both parse.
pub fn same_quantity(a: &str, b: &str) -> Option<bool> {
    let a: ParsedQuantity = a.parse().ok()?;
    let b: ParsedQuantity = b.parse().ok()?;
    Some(a == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> ParsedQuantity {
        s.parse()
            .unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    #[test]
    fn decimal_suffixes_and_plain_numbers() {
        assert_eq!(q("1000m"), q("1"));
        assert_eq!(q("1k"), q("1000"));
        assert_eq!(q("1.5"), q("1500m"));
        assert_eq!(q("2M"), q("2000k"));
        assert_eq!(q("1G"), q("1000000000"));
        assert_eq!(q("1T"), q("1000G"));
        assert_eq!(q("1P"), q("1000T"));
        assert_eq!(q("1E"), q("1000P"));
        assert_eq!(q("0.5"), q(".5"));
        assert_eq!(q("5."), q("5"));
        assert_eq!(q("+7"), q("7"));
        assert_eq!(q("007.100"), q("7.1"));
    }

    #[test]
    fn binary_suffixes() {
        assert_eq!(q("1Ki"), q("1024"));
        assert_eq!(q("1Gi"), q("1073741824"));
        assert_eq!(q("1Gi"), q("1024Mi"));
        assert_eq!(q("1.5Gi"), q("1536Mi"));
        assert_eq!(q("1Ti"), q("1099511627776"));
        assert_eq!(q("1Pi"), q("1024Ti"));
        assert_eq!(q("1Ei"), q("1152921504606846976"));
        assert_eq!(q("0.5Ki"), q("512"));
        assert_ne!(q("1Gi"), q("1G"));
    }

    #[test]
    fn exponents() {
        assert_eq!(q("1e3"), q("1k"));
        assert_eq!(q("1E3"), q("1000"));
        assert_eq!(q("1e+3"), q("1000"));
        assert_eq!(q("12e-3"), q("12m"));
        assert_eq!(q("1.5e2"), q("150"));
        assert_eq!(q("0e9"), q("0"));
    }

    #[test]
    fn zero_has_one_representation() {
        assert_eq!(q("0"), ParsedQuantity::zero());
        assert_eq!(q("-0"), q("0"));
        assert_eq!(q("0.000"), q("0Gi"));
        assert!(q("0m").is_zero());
        assert!(!q("-0").is_negative());
    }

    #[test]
    fn precision_below_nano_rounds_up_like_the_api_server() {
        assert_eq!(q("0.1n"), q("1e-9"));
        assert_eq!(q("1e-12"), q("0.000000001"));
        assert_eq!(q("1.0000000001"), q("1.000000001"));
        assert_eq!(q("0.9999999999"), q("1"));
        assert_eq!(q("-0.0000000001"), q("-1e-9"));
        assert_eq!(q("0.5m"), q("500000n"));
        assert_eq!(q("1500u"), q("1.5m"));
    }

    #[test]
    fn resource_lists_round_up_to_milli_like_the_api_server() {
        let milli = |s: &str| q(s).round_up_to_milli();
        assert_eq!(milli("0.1m"), q("1m"));
        assert_eq!(milli("100u"), q("1m"));
        assert_eq!(milli("1n"), q("1m"));
        assert_eq!(milli("1.0001"), q("1.001"));
        assert_eq!(milli("1001m"), q("1001m"));
        assert_eq!(milli("999.9999m"), q("1"));
        assert_eq!(milli("1Gi"), q("1Gi"));
        assert_eq!(milli("0"), q("0"));
        assert_eq!(milli("1e-7"), q("1m"));
        assert_eq!(milli("-0.5m"), q("-1m"));
    }

    #[test]
    fn ordering_is_numeric() {
        assert!(q("500m") < q("1"));
        assert!(q("1Gi") > q("1G"));
        assert!(q("999Mi") < q("1Gi"));
        assert!(q("-2") < q("-1"));
        assert!(q("-1") < q("0"));
        assert!(q("0") < q("1n"));
        assert!(q("10") > q("9.99"));
        assert!(q("0.01") < q("0.1"));
        assert_eq!(q("1e3").cmp(&q("1k")), Ordering::Equal);
    }

    #[test]
    fn displays_plain_decimals() {
        assert_eq!(q("1Gi").to_string(), "1073741824");
        assert_eq!(q("250m").to_string(), "0.25");
        assert_eq!(q("1.5k").to_string(), "1500");
        assert_eq!(q("12.5").to_string(), "12.5");
        assert_eq!(q("-2m").to_string(), "-0.002");
        assert_eq!(q("0").to_string(), "0");
    }

    #[test]
    fn rejects_malformed_quantities() {
        for bad in [
            "",
            ".",
            "-",
            "abc",
            "1.2.3",
            "1Kb",
            "1ki",
            "1 Gi",
            "1e",
            "1e+",
            "1mi",
            "Gi",
            "1e3.5",
            "1E1E1",
            "--1",
            "1e9999999",
        ] {
            assert!(
                bad.parse::<ParsedQuantity>().is_err(),
                "{bad:?} should not parse"
            );
        }
        assert_eq!("".parse::<ParsedQuantity>(), Err(ParseQuantityError::Empty));
        assert_eq!(
            "1Kb".parse::<ParsedQuantity>(),
            Err(ParseQuantityError::InvalidSuffix("1Kb".into()))
        );
        assert_eq!(
            "x1".parse::<ParsedQuantity>(),
            Err(ParseQuantityError::InvalidNumber("x1".into()))
        );
    }

    #[test]
    fn ceilings_match_the_api_servers_value_and_milli_value() {
        assert_eq!(q("1").ceil_milli_value(), Some(1000));
        assert_eq!(q("1.5").ceil_milli_value(), Some(1500));
        assert_eq!(q("0.1m").ceil_milli_value(), Some(1));
        assert_eq!(q("1.0001").ceil_milli_value(), Some(1001));
        assert_eq!(q("-1.5m").ceil_milli_value(), Some(-1));
        assert_eq!(q("0").ceil_milli_value(), Some(0));
        assert_eq!(q("1Ki").ceil_milli_value(), Some(1_024_000));
        assert_eq!(q("9223372036854775807m").ceil_milli_value(), Some(i64::MAX));
        assert_eq!(q("9223372036854775808m").ceil_milli_value(), None);
        assert_eq!(q("1e30").ceil_milli_value(), None);
        assert_eq!(q("1.5").ceil_value(), Some(2));
        assert_eq!(q("1e-9").ceil_value(), Some(1));
        assert_eq!(q("8Ei").ceil_value(), None);
        assert_eq!(q("7Ei").ceil_value(), Some(8_070_450_532_247_928_832));
    }

    #[test]
    fn integers() {
        assert!(q("1").is_integer());
        assert!(q("1000m").is_integer());
        assert!(q("1e3").is_integer());
        assert!(q("0").is_integer());
        assert!(q("1Ki").is_integer());
        assert!(!q("1.5").is_integer());
        assert!(!q("1m").is_integer());
        assert!(q("0.5Ki").is_integer());
        assert!(!q("1n").is_integer());
    }

    #[test]
    fn same_quantity_needs_two_quantities() {
        assert_eq!(same_quantity("1Gi", "1073741824"), Some(true));
        assert_eq!(same_quantity("1", "2"), Some(false));
        assert_eq!(same_quantity("1", "one"), None);
    }
}
