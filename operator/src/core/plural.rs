//! Counted nouns in the messages people read (conditions, events, CLI output, reports,
//! logs): `1 namespace`, `2 namespaces`, never `1 namespaces`.

use std::fmt;

/// A number with the noun that agrees with it; [`count`] makes one.
#[derive(Clone, Copy, Debug)]
pub struct Count<'a, N> {
    n: N,
    one: &'a str,
    many: Option<&'a str>,
}

/// `n` and `noun`, with an `s` added to the noun unless `n` is 1 (`0 pods`, `1 pod`);
/// [`Count::plural`] gives an irregular plural.
pub fn count<N: PartialEq + From<u8>>(n: N, noun: &str) -> Count<'_, N> {
    Count {
        n,
        one: noun,
        many: None,
    }
}

/// `one` if `n` is 1, else `many`: the verb agreeing with a count (`is`/`are`).
pub fn agree<'a, N: PartialEq + From<u8>>(n: N, one: &'a str, many: &'a str) -> &'a str {
    if n == N::from(1) { one } else { many }
}

impl<'a, N> Count<'a, N> {
    /// The plural when it is not the noun with an `s` (`NetworkPolicies`).
    pub fn plural(self, many: &'a str) -> Self {
        Count {
            many: Some(many),
            ..self
        }
    }
}

impl<N: PartialEq + From<u8> + fmt::Display> fmt::Display for Count<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.n == N::from(1), self.many) {
            (true, _) => write!(f, "{} {}", self.n, self.one),
            (false, Some(many)) => write!(f, "{} {many}", self.n),
            (false, None) => write!(f, "{} {}s", self.n, self.one),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_zero_and_more_are_plural() {
        assert_eq!(count(0u32, "namespace").to_string(), "0 namespaces");
        assert_eq!(count(1u32, "namespace").to_string(), "1 namespace");
        assert_eq!(count(2u32, "namespace").to_string(), "2 namespaces");
        assert_eq!(count(1usize, "existing pod").to_string(), "1 existing pod");
        assert_eq!(count(2i64, "existing pod").to_string(), "2 existing pods");
    }

    #[test]
    fn irregular_plurals_are_given() {
        let policies = |n: usize| count(n, "NetworkPolicy").plural("NetworkPolicies");
        assert_eq!(policies(0).to_string(), "0 NetworkPolicies");
        assert_eq!(policies(1).to_string(), "1 NetworkPolicy");
        assert_eq!(policies(2).to_string(), "2 NetworkPolicies");
    }

    #[test]
    fn verbs_agree() {
        assert_eq!(agree(0u32, "is", "are"), "are");
        assert_eq!(agree(1u32, "is", "are"), "is");
        assert_eq!(agree(2u32, "is", "are"), "are");
    }
}
