//! Durations in policy files: `90s`, `30m`, `6h`, `7d`, `2w`, or a sum of
//! them (`1h30m`).

/// Seconds in `text`, or what is wrong with it.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let mut total: u64 = 0;
    let mut number = String::new();
    let mut parts = 0;
    for ch in text.trim().chars() {
        if ch.is_ascii_digit() {
            number.push(ch);
            continue;
        }
        let unit = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => {
                return Err(format!(
                    "unexpected {ch:?} in {text:?}; units are s, m, h, d, w"
                ))
            }
        };
        let n: u64 = number
            .parse()
            .map_err(|_| format!("{text:?}: a unit without a number before it"))?;
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(|| format!("{text:?} is too long"))?;
        number.clear();
        parts += 1;
    }
    if !number.is_empty() {
        return Err(format!(
            "{text:?}: the number {number} has no unit (s, m, h, d, w)"
        ));
    }
    if parts == 0 || total == 0 {
        return Err(format!(
            "{text:?} is not a positive duration such as \"6h\""
        ));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("6h"), Ok(21_600));
        assert_eq!(parse_duration("1h30m"), Ok(5_400));
        assert_eq!(parse_duration("2w"), Ok(1_209_600));
        for bad in ["", "6", "h", "6x", "0s", "-1h", "99999999999999999999w"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
