//! Prices as whole cents: parsed from text, never through floating point.

/// Parses `12`, `12.5`, `12.50`, `12,50` (and a leading `-` rejected) into cents.
pub(super) fn parse_cents(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let normalized = text.replace(',', ".");
    let (whole, fraction) = match normalized.split_once('.') {
        Some((w, f)) => (w, f),
        None => (normalized.as_str(), ""),
    };
    let invalid = || format!("{text:?} is not a price (use 12.50)");
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || fraction.len() > 2
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(invalid());
    }
    let whole: i64 = whole.parse().map_err(|_| invalid())?;
    let fraction: i64 = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<i64>().map_err(|_| invalid())? * 10,
        _ => fraction.parse().map_err(|_| invalid())?,
    };
    whole
        .checked_mul(100)
        .and_then(|c| c.checked_add(fraction))
        .ok_or_else(invalid)
}

/// Cents as `12.50`.
pub fn format_cents(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}{}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_decimal_separators() {
        assert_eq!(parse_cents("12"), Ok(1200));
        assert_eq!(parse_cents("12.5"), Ok(1250));
        assert_eq!(parse_cents(" 12,05 "), Ok(1205));
        assert_eq!(parse_cents("0.99"), Ok(99));
        for bad in [
            "",
            "-1",
            "1.234",
            "abc",
            "1e3",
            "1.2.3",
            "99999999999999999999",
        ] {
            assert!(parse_cents(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(format_cents(1205), "12.05");
        assert_eq!(format_cents(-5), "-0.05");
    }
}
