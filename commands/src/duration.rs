//! Durations as people write them in config: `500ms`, `2s`, `15m`, `1h`.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Parses `500ms`, `2s`, `15m`, `1h` or `1d`; a bare number means seconds.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 500ms, 2s, 15m or 1h"))?;
    let d = match unit.trim() {
        "ms" => Some(Duration::from_millis(n)),
        "" | "s" => Some(Duration::from_secs(n)),
        "m" | "min" => n.checked_mul(60).map(Duration::from_secs),
        "h" => n.checked_mul(3600).map(Duration::from_secs),
        "d" => n.checked_mul(86_400).map(Duration::from_secs),
        _ => {
            return Err(format!(
                "`{text}` is not a duration like 500ms, 2s, 15m or 1h"
            ));
        }
    };
    // Found by fuzzing (FUZZING.md): `n * 86_400` overflowed, a panic in a
    // debug build and a wrapped (short) duration in a release one.
    d.ok_or_else(|| format!("`{text}` is longer than any duration medic can wait"))
}

/// Serde helper: `#[serde(deserialize_with = "medic_commands::duration::deserialize")]`.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Seconds(u64),
    }
    match Raw::deserialize(d)? {
        Raw::Text(t) => parse(&t).map_err(serde::de::Error::custom),
        Raw::Seconds(s) => Ok(Duration::from_secs(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_people_write() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("3"), Ok(Duration::from_secs(3)));
    }

    #[test]
    fn rejects_nonsense_with_an_example() {
        assert!(parse("soon").unwrap_err().contains("like 500ms"));
        assert!(parse("5 fortnights").is_err());
    }

    #[test]
    fn a_number_too_big_for_its_unit_is_refused_not_wrapped() {
        assert!(
            parse("18446744073709551615d")
                .unwrap_err()
                .contains("longer than any duration")
        );
        assert!(parse("307445734561825861m").is_err());
        assert_eq!(
            parse("18446744073709551615s"),
            Ok(Duration::from_secs(u64::MAX))
        );
    }
}
