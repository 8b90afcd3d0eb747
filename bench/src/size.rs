//! Sizes such as `4KiB`, `1MiB`, `64MiB` or plain byte counts.

/// Parses a byte count with an optional binary (KiB, MiB, GiB) or decimal
/// (KB, MB, GB) suffix; a bare K/M/G is binary.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    if digits.is_empty() {
        return Err(format!("{s:?}: expected a number of bytes, e.g. 4KiB"));
    }
    let n: u64 = digits.parse().map_err(|e| format!("{s:?}: {e}"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => {
            return Err(format!(
                "{s:?}: unknown unit {other:?} (use B, KiB, MiB, GiB, KB, MB or GB)"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?}: too large"))
}

/// A short label for keys and tables, e.g. `4KiB`.
pub fn label(bytes: u64) -> String {
    for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        let m = 1u64 << shift;
        if bytes >= m && bytes.is_multiple_of(m) {
            return format!("{}{unit}", bytes / m);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_binary_and_decimal_units() {
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1MB"), Ok(1_000_000));
        assert_eq!(parse_size("12345"), Ok(12345));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("4XB").is_err());
        assert!(parse_size("99999999999999999999GiB").is_err());
    }

    #[test]
    fn labels_round_sizes() {
        assert_eq!(label(4096), "4KiB");
        assert_eq!(label(64 << 20), "64MiB");
        assert_eq!(label(1000), "1000B");
    }
}
