//! Ordering resource versions. Kubernetes 1.35 made resource versions of one resource
//! comparable (KEP-5504, stable): a resource version is a positive decimal integer without
//! leading zeros, of any length, and a larger one is newer. The operator relies on that only
//! to tell its own write from what a watch delivered later (`controller::index`); a version
//! that is not such an integer (another storage) compares as unknown, and the caller then
//! assumes nothing.

use std::cmp::Ordering;

/// A resource version in the comparable form: digits only, no leading zero, not `0`.
fn comparable(version: &str) -> Option<&str> {
    let well_formed = !version.is_empty()
        && !version.starts_with('0')
        && version.bytes().all(|b| b.is_ascii_digit());
    well_formed.then_some(version)
}

/// How `a` orders against `b` (client-go's `CompareResourceVersion`): by length, then digit
/// by digit. `None` when either is not comparable.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    let (a, b) = (comparable(a)?, comparable(b)?);
    Some(a.len().cmp(&b.len()).then_with(|| a.cmp(b)))
}

/// Whether `a` is known to be newer than `b`.
pub fn newer(a: &str, b: &str) -> bool {
    compare(a, b) == Some(Ordering::Greater)
}

/// The newer of two versions, where comparable; otherwise `a`.
pub fn max<'a>(a: &'a str, b: &'a str) -> &'a str {
    if newer(b, a) { b } else { a }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn versions_order_by_value_whatever_their_length() {
        assert_eq!(compare("9", "10"), Some(Ordering::Less));
        assert_eq!(compare("100", "99"), Some(Ordering::Greater));
        assert_eq!(compare("12345", "12345"), Some(Ordering::Equal));
        assert!(newer("20", "3"));
        assert!(!newer("3", "3"));
        // Longer than any integer type: still compared.
        assert!(newer(
            "100000000000000000000000000000000000000",
            "99999999999999999999999999999999999999"
        ));
    }

    #[test]
    fn malformed_versions_compare_as_unknown() {
        for bad in ["", "0", "012", "12a", "-1", " 1"] {
            assert_eq!(compare(bad, "5"), None, "{bad:?}");
            assert_eq!(compare("5", bad), None, "{bad:?}");
            assert!(!newer(bad, "5") && !newer("5", bad));
        }
        assert_eq!(max("7", "x"), "7");
        assert_eq!(max("x", "7"), "x");
    }

    proptest! {
        /// The order is the order of the numbers (the oracle: u128 arithmetic).
        #[test]
        fn the_order_is_the_numbers_order(a in 1u128.., b in 1u128..) {
            let (text_a, text_b) = (a.to_string(), b.to_string());
            prop_assert_eq!(compare(&text_a, &text_b), Some(a.cmp(&b)));
            prop_assert_eq!(max(&text_a, &text_b), a.max(b).to_string());
        }
    }
}
