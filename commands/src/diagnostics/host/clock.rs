//! Purpose: turn the timestamps that logs carry into instants, so that "in
//! the last 24 h" and "12 min ago" are right.
//!
//! Logs mix three kinds of time: RFC 3339 with an offset (rsyslog's
//! high-precision format, RFC 5424, `journalctl -o short-iso`,
//! `dmesg --time-format iso`), local wall-clock time without an offset or a
//! year (`Jan 21 22:01:49`, apt's `Start-Date: 2019-07-10  16:38:08`), and
//! seconds since boot (`[62279.421192]`). Local times are read in the zone of
//! the host whose files we read (`root/etc/localtime`, daylight saving
//! included), not medic's own zone: a container in UTC reading a mounted
//! host in Europe/Berlin must not shift every event by an hour or two.

use std::sync::LazyLock;

use regex::Regex;
use time::OffsetDateTime;

use crate::format::{human_age, utc_clock};

/// The reading context of every log parser: when "now" is (injected, so
/// tests are fixed in time), the zone local log times are written in, and
/// when the machine booted (for `[uptime]` kernel stamps).
#[derive(Debug, Clone)]
pub struct LogClock {
    /// The instant that ages and windows are measured from.
    pub now: OffsetDateTime,
    tz: jiff::tz::TimeZone,
    /// Boot time, from `btime` in `/proc/stat`, when known.
    pub boot: Option<OffsetDateTime>,
}

impl LogClock {
    /// Local times are UTC: the zone of a host without `/etc/localtime`.
    pub fn utc(now: OffsetDateTime) -> Self {
        LogClock {
            now,
            tz: jiff::tz::TimeZone::UTC,
            boot: None,
        }
    }

    /// Local times are in the zone of this TZif data (`/etc/localtime`).
    pub fn with_tzif(now: OffsetDateTime, tzif: &[u8]) -> Result<Self, String> {
        let tz = jiff::tz::TimeZone::tzif("localtime", tzif).map_err(|e| e.to_string())?;
        Ok(LogClock {
            now,
            tz,
            boot: None,
        })
    }

    /// Reads the zone and boot time of the host under `root`. A missing or
    /// unreadable `/etc/localtime` means UTC, which is what the C library
    /// assumes too.
    pub async fn load(machine: &super::machine::Machine, now: OffsetDateTime) -> Self {
        let mut clock = match machine.read_bytes("etc/localtime").await {
            Ok(bytes) => Self::with_tzif(now, &bytes).unwrap_or_else(|_| Self::utc(now)),
            Err(_) => Self::utc(now),
        };
        if let Ok(text) = machine.read_small("proc/stat").await {
            clock.boot = text
                .lines()
                .find_map(|l| l.strip_prefix("btime "))
                .and_then(|s| s.trim().parse::<i64>().ok())
                .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok());
        }
        clock
    }

    /// A local wall-clock time as an instant; `None` for impossible dates
    /// (Feb 30). In the hour repeated when clocks go back, the earlier one.
    pub fn local(
        &self,
        (y, mo, d): (i32, u8, u8),
        (h, mi, s): (u8, u8, u8),
        nanos: u32,
    ) -> Option<OffsetDateTime> {
        let dt = jiff::civil::DateTime::new(
            i16::try_from(y).ok()?,
            mo as i8,
            d as i8,
            h as i8,
            mi as i8,
            s as i8,
            nanos as i32,
        )
        .ok()?;
        let ts = self.tz.to_ambiguous_timestamp(dt).earlier().ok()?;
        OffsetDateTime::from_unix_timestamp_nanos(ts.as_nanosecond()).ok()
    }

    /// The year it is now where the logs were written.
    fn local_year(&self) -> i32 {
        let ts = jiff::Timestamp::from_second(self.now.unix_timestamp()).unwrap_or_default();
        i32::from(self.tz.to_datetime(ts).year())
    }

    /// Splits a log line into its timestamp and the rest. Knows RFC 3339
    /// (with `,` or `.` fractions, `Z`, `+00:00` or `+0000`, optionally behind
    /// an RFC 5424 `<PRI>1 `), traditional syslog (`Feb  6 15:16:30`, year
    /// inferred: the latest such date not after tomorrow) and kernel
    /// `[uptime]` stamps (needs the boot time). Lines without a stamp come
    /// back whole with `None`.
    pub fn stamp<'a>(&self, line: &'a str) -> (Option<OffsetDateTime>, &'a str) {
        static ISO: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"^(?:<\d{1,3}>\d{1,2} )?(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?\s*").unwrap()
        });
        static TRAD: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(
                r"^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?:?\s+",
            )
            .unwrap()
        });
        static UPTIME: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(r"^\[\s*(\d+)\.(\d+)\]\s*").unwrap());

        let num = |c: &regex::Captures, i: usize| -> u32 {
            c.get(i).map_or(0, |m| m.as_str().parse().unwrap_or(0))
        };
        let nanos = |c: &regex::Captures, i: usize| -> u32 {
            c.get(i).map_or(0, |m| {
                let digits = &m.as_str()[..m.as_str().len().min(9)];
                let scale = 10u32.pow(9 - digits.len() as u32);
                digits.parse::<u32>().unwrap_or(0) * scale
            })
        };

        if let Some(c) = ISO.captures(line) {
            let rest = &line[c.get(0).map_or(0, |m| m.end())..];
            let date = (num(&c, 1) as i32, num(&c, 2) as u8, num(&c, 3) as u8);
            let clock = (num(&c, 4) as u8, num(&c, 5) as u8, num(&c, 6) as u8);
            let ns = nanos(&c, 7);
            let t = match c.get(8).map(|m| m.as_str()) {
                None => self.local(date, clock, ns),
                Some(off) => fixed_offset(date, clock, ns, off),
            };
            return (t, rest);
        }
        if let Some(c) = TRAD.captures(line) {
            let rest = &line[c.get(0).map_or(0, |m| m.end())..];
            let Some(month) = month_number(&c[1]) else {
                return (None, line);
            };
            let day = num(&c, 2) as u8;
            let clock = (num(&c, 3) as u8, num(&c, 4) as u8, num(&c, 5) as u8);
            let ns = nanos(&c, 6);
            let year = self.local_year();
            let tomorrow = self.now + time::Duration::days(1);
            let t = match self.local((year, month, day), clock, ns) {
                Some(t) if t <= tomorrow => Some(t),
                _ => self.local((year - 1, month, day), clock, ns),
            };
            return (t, rest);
        }
        if let Some(c) = UPTIME.captures(line) {
            let rest = &line[c.get(0).map_or(0, |m| m.end())..];
            let t = self
                .boot
                .map(|boot| boot + time::Duration::new(i64::from(num(&c, 1)), nanos(&c, 2) as i32));
            return (t, rest);
        }
        (None, line)
    }
}

fn fixed_offset(
    (y, mo, d): (i32, u8, u8),
    (h, mi, s): (u8, u8, u8),
    nanos: u32,
    offset: &str,
) -> Option<OffsetDateTime> {
    let offset = if offset == "Z" {
        time::UtcOffset::UTC
    } else {
        let sign: i8 = if offset.starts_with('-') { -1 } else { 1 };
        let digits: String = offset[1..].chars().filter(char::is_ascii_digit).collect();
        let hours: i8 = digits.get(..2)?.parse().ok()?;
        let minutes: i8 = digits.get(2..4)?.parse().ok()?;
        time::UtcOffset::from_hms(sign * hours, sign * minutes, 0).ok()?
    };
    let date = time::Date::from_calendar_date(y, time::Month::try_from(mo).ok()?, d).ok()?;
    let clock = time::Time::from_hms_nano(h, mi, s, nanos).ok()?;
    Some(time::PrimitiveDateTime::new(date, clock).assume_offset(offset))
}

fn month_number(name: &str) -> Option<u8> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS.iter().position(|m| *m == name).map(|i| i as u8 + 1)
}

/// When something happened, for chat: "06:32:07 UTC (12 min ago)" today,
/// "2026-01-30 06:32 UTC (2 days ago)" before.
// NOTE: shown in chat.
pub fn when(t: OffsetDateTime, now: OffsetDateTime) -> String {
    let ago = (now - t).whole_seconds().max(0) as u64;
    let t = t.to_offset(time::UtcOffset::UTC);
    if ago < 86_400 {
        format!("{} ({} ago)", utc_clock(t), human_age(ago))
    } else {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC ({} ago)",
            t.year(),
            t.month() as u8,
            t.day(),
            t.hour(),
            t.minute(),
            human_age(ago)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    #[test]
    fn reads_every_stamp_format_of_the_fixtures() {
        // 2021-03-07 00:00:00 UTC
        let clock = LogClock::utc(at(1_615_075_200));
        let (t, rest) = clock
            .stamp("<30>1 2021-03-06T04:07:38.265164+00:00 hostname systemd 1 - -  Stopped x.");
        assert_eq!(t.unwrap().unix_timestamp(), 1_615_003_658);
        assert_eq!(rest, "hostname systemd 1 - -  Stopped x.");
        let (t, rest) = clock.stamp("Mar  6 04:07:28 hostname systemd[1]: Stopped x.");
        assert_eq!(t.unwrap().unix_timestamp(), 1_615_003_648);
        assert_eq!(rest, "hostname systemd[1]: Stopped x.");
        let (t, _) = clock.stamp("2021-03-06T05:07:38,421192+01:00 Killed process 1");
        assert_eq!(t.unwrap().unix_timestamp(), 1_615_003_658);
        let (t, _) = clock.stamp("2021-03-06T04:07:38+0000 host kernel: x");
        assert_eq!(t.unwrap().unix_timestamp(), 1_615_003_658);
        let (t, rest) = clock.stamp("Mar 23 23:01:18.123 host x[19]: fractional");
        assert_eq!(
            t.unwrap().year(),
            2020,
            "a date after tomorrow is last year's"
        );
        assert_eq!(rest, "host x[19]: fractional");
        assert_eq!(clock.stamp("MMM 22 07:54:32 host x").0, None);
        assert_eq!(clock.stamp("\tmany syslog parsers.").0, None);
    }

    #[test]
    fn uptime_stamps_need_the_boot_time() {
        let mut clock = LogClock::utc(at(1_000_000));
        assert_eq!(clock.stamp("[  997.390602] sda2: rw=0").0, None);
        clock.boot = Some(at(900_000));
        let (t, rest) = clock.stamp("[  997.390602] sda2: rw=0");
        assert_eq!(t.unwrap().unix_timestamp(), 900_997);
        assert_eq!(rest, "sda2: rw=0");
    }

    #[test]
    fn local_times_follow_the_hosts_zone() {
        // A fixed +02:00 zone as a minimal TZif v1 file: no transitions, one type.
        let mut tzif = b"TZif\0".to_vec();
        tzif.extend([0u8; 15]);
        // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
        for n in [0u32, 0, 0, 0, 1, 4] {
            tzif.extend(n.to_be_bytes());
        }
        tzif.extend(7200i32.to_be_bytes());
        tzif.extend([0u8, 0]);
        tzif.extend(b"X02\0");
        let clock = LogClock::with_tzif(at(1_615_075_200), &tzif).unwrap();
        let (t, _) = clock.stamp("Mar  6 04:07:28 hostname x");
        assert_eq!(t.unwrap().unix_timestamp(), 1_615_003_648 - 7200);
    }

    #[test]
    fn when_reads_like_the_rest_of_medic() {
        let now = at(1_769_841_127); // 2026-01-31 06:32:07 UTC
        assert_eq!(
            when(at(1_769_841_127 - 720), now),
            "06:20:07 UTC (12 min ago)"
        );
        assert_eq!(
            when(at(1_769_841_127 - 2 * 86_400), now),
            "2026-01-29 06:32 UTC (2 days ago)"
        );
    }
}
