//! Seeds of the generated tests: a property test's seed is given as 64 hex digits (in an
//! environment variable, to try another), so that a run can be repeated exactly.

/// The 32 bytes of a seed written as 64 hex digits; `None` for anything else.
pub fn parse_seed(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut seed = [0u8; 32];
    for (i, byte) in seed.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(seed)
}

#[cfg(test)]
mod tests {
    use super::parse_seed;

    #[test]
    fn a_seed_is_64_hex_digits() {
        let seed = parse_seed(&"0f".repeat(32)).unwrap();
        assert_eq!(seed, [0x0f; 32]);
        assert_eq!(parse_seed(&"0F".repeat(32)), Some([0x0f; 32]));
        assert_eq!(parse_seed(&"0f".repeat(31)), None);
        assert_eq!(parse_seed(&"0f".repeat(33)), None);
        assert_eq!(parse_seed(&format!("{}zz", "0f".repeat(31))), None);
        assert_eq!(parse_seed(&format!("{}é", "0".repeat(62))), None);
    }
}
