//! Numbers, sizes and times the way an on-call engineer reads them at 3 a.m.:
//! with units, with their limit, absolute times in UTC with the relative in
//! brackets (UX.md).

use std::time::Duration;

use time::{OffsetDateTime, macros::format_description};

/// "1.4 s", "320 ms", "2 min 5 s": durations the way people say them.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        let secs = d.as_secs();
        format!("{} min {} s", secs / 60, secs % 60)
    }
}

/// A round-number age: "45 s", "3 min", "5 h", "41 days".
pub fn human_age(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..172_800 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    }
}

/// The time from `from` to `to`, the way people say how long something
/// lasted: "45 s", "5 min 38 s", "1 h 5 min".
pub fn human_span(from: time::OffsetDateTime, to: time::OffsetDateTime) -> String {
    let secs = (to - from).whole_seconds().max(0) as u64;
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, (secs % 3600) / 60),
    }
}

/// Sub-millisecond precision where it matters (PING on a LAN), whole
/// milliseconds above that: "0.31 ms", "12 ms".
pub fn human_latency(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Binary sizes: "912.3 KiB", "1.9 GiB".
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A ratio as a whole percentage: "97 %". Zero limits give "0 %".
pub fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0 %".into();
    }
    format!("{:.0} %", part as f64 * 100.0 / whole as f64)
}

/// Big counts grouped by thousands, the way they are read aloud:
/// "60 200 000".
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A clock time in UTC: "06:32:07 UTC".
pub fn utc_clock(t: OffsetDateTime) -> String {
    let fmt = format_description!("[hour]:[minute]:[second] UTC");
    t.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_else(|_| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1 000");
        assert_eq!(thousands(60_200_000), "60 200 000");
        assert_eq!(thousands(-1234), "-1 234");
    }

    #[test]
    fn durations_read_like_people_say_them() {
        assert_eq!(human_duration(Duration::from_millis(320)), "320 ms");
        assert_eq!(human_duration(Duration::from_millis(1420)), "1.4 s");
        assert_eq!(human_duration(Duration::from_secs(125)), "2 min 5 s");
    }

    #[test]
    fn ages_round_to_the_unit_people_use() {
        assert_eq!(human_age(45), "45 s");
        assert_eq!(human_age(190), "3 min");
        assert_eq!(human_age(5 * 3600 + 10), "5 h");
        assert_eq!(human_age(41 * 86_400 + 7), "41 days");
    }

    #[test]
    fn sizes_and_percentages() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(916_952), "895.5 KiB");
        assert_eq!(human_bytes(2 * 1024 * 1024 * 1024), "2.0 GiB");
        assert_eq!(percent(97, 100), "97 %");
        assert_eq!(percent(1, 0), "0 %");
    }

    #[test]
    fn latency_keeps_precision_where_it_matters() {
        assert_eq!(human_latency(Duration::from_micros(310)), "0.31 ms");
        assert_eq!(human_latency(Duration::from_millis(120)), "120 ms");
    }

    #[test]
    fn clock_is_utc() {
        let t = OffsetDateTime::from_unix_timestamp(1_769_841_127).unwrap();
        assert_eq!(utc_clock(t), "06:32:07 UTC");
    }
}
