//! Regular expressions of a profile (`guardrails.secretEnvNamePattern`), compiled once per
//! pattern: the pod rules match the pattern against every pod of every namespace the profile
//! governs, and compiling it costs far more than matching it. The result is the one
//! `Regex::new` gives, the error included.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use regex::Regex;

/// Distinct patterns kept at most; more (profiles edited over and over) start the set
/// afresh, so it never grows with the edits.
const KEPT: usize = 64;

/// `Regex::new(pattern)`, from the patterns compiled before.
pub fn compiled(pattern: &str) -> Result<Regex, regex::Error> {
    static COMPILED: OnceLock<Mutex<HashMap<String, Result<Regex, regex::Error>>>> =
        OnceLock::new();
    let compiled = COMPILED.get_or_init(Default::default);
    if let Some(found) = compiled.lock().expect("pattern cache lock").get(pattern) {
        return found.clone();
    }
    // Compiled outside the lock: a slow pattern holds up no other.
    let result = Regex::new(pattern);
    let mut compiled = compiled.lock().expect("pattern cache lock");
    if compiled.len() >= KEPT {
        compiled.clear();
    }
    compiled.insert(pattern.to_owned(), result.clone());
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_pattern_compiles_as_regex_new_compiles_it_every_time() {
        let unclosed = String::from("(unclosed");
        let refused = Regex::new(&unclosed).unwrap_err().to_string();
        for _ in 0..2 {
            let pattern = compiled("(?i)(password|token)$").unwrap();
            assert!(pattern.is_match("DB_PASSWORD"));
            assert!(!pattern.is_match("PASSWORD_FILE"));
            assert_eq!(compiled(&unclosed).unwrap_err().to_string(), refused);
        }
    }

    proptest! {
        /// Over more patterns than are kept, each asked twice: the same answers as
        /// `Regex::new`, compiled or refused.
        #[test]
        fn compiled_patterns_match_as_regex_new(
            patterns in prop::collection::vec("[a-c()|*?]{0,6}", 1..(2 * KEPT)),
            names in prop::collection::vec("[a-c]{0,6}", 1..8),
        ) {
            for pattern in patterns.iter().chain(&patterns) {
                match (compiled(pattern), Regex::new(pattern)) {
                    (Ok(cached), Ok(fresh)) => {
                        prop_assert_eq!(cached.as_str(), fresh.as_str());
                        for name in &names {
                            prop_assert_eq!(cached.is_match(name), fresh.is_match(name));
                        }
                    }
                    (Err(cached), Err(fresh)) => {
                        prop_assert_eq!(cached.to_string(), fresh.to_string());
                    }
                    (cached, fresh) => prop_assert!(false, "{cached:?} vs {fresh:?}"),
                }
            }
        }
    }
}
