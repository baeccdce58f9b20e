//! Purpose: `ls releases/ | tail` — a deploy shortly before the first error
//! is the first suspect (`seeds/production-debugging-guide.md`, step 5).
//! Capistrano-style tools (Hatchbox, Capistrano, Deployer) name each release
//! directory by its UTC start time, `YYYYMMDDHHMMSS`.

use std::path::Path;

use time::{OffsetDateTime, PrimitiveDateTime};

use super::Ctx;
use super::clock::when;
use super::io;
use crate::model::report::Finding;

/// A deploy this recent is said first: the later triage correlates it with
/// the first error.
pub const RECENT: time::Duration = time::Duration::hours(1);

/// One release directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// Its name (`20260131063000`).
    pub name: String,
    /// The time the name spells, read as UTC.
    pub time: OffsetDateTime,
}

/// Reads release names, newest first; names that are not timestamps
/// (`current`, `shared`) are left out.
pub fn parse_releases<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<Release> {
    let mut out: Vec<Release> = names
        .into_iter()
        .filter(|n| n.len() == 14 && n.bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|n| {
            let num = |r: std::ops::Range<usize>| n[r].parse::<u32>().ok();
            let date = time::Date::from_calendar_date(
                num(0..4)? as i32,
                time::Month::try_from(num(4..6)? as u8).ok()?,
                num(6..8)? as u8,
            )
            .ok()?;
            let clock =
                time::Time::from_hms(num(8..10)? as u8, num(10..12)? as u8, num(12..14)? as u8)
                    .ok()?;
            let t = PrimitiveDateTime::new(date, clock).assume_utc();
            Some(Release {
                name: n.to_string(),
                time: t,
            })
        })
        .collect();
    out.sort_by_key(|r| std::cmp::Reverse(r.time));
    out
}

/// The deploy finding: always ok (a deploy is news, not a fault), the
/// latest one first and said plainly when it is within the hour.
pub fn findings(releases: &[Release], now: OffsetDateTime, dir: &str) -> Finding {
    let Some(latest) = releases.first() else {
        return Finding::ok("host.deploys", format!("No releases in {dir}"));
    };
    let summary = if now - latest.time <= RECENT {
        format!("Deployed {} at {}", latest.name, when(latest.time, now))
    } else {
        format!("Last deploy {} at {}", latest.name, when(latest.time, now))
    };
    let mut f = Finding::ok("host.deploys", summary);
    if now - latest.time <= RECENT {
        f = f.with_detail("A deploy within the hour is the first suspect for new errors.");
    }
    for r in releases.iter().skip(1).take(2) {
        f = f.with_detail(format!("Before: {} at {}", r.name, when(r.time, now)));
    }
    f.with_detail(format!("{} releases in {dir}", releases.len()))
}

/// Lists `releases_dir` under root; nothing to say when none is configured.
pub async fn check(ctx: &Ctx, dir: Option<&Path>) -> Vec<Finding> {
    let Some(dir) = dir else {
        return Vec::new();
    };
    let shown = dir.display().to_string();
    let names = match ctx.machine.list_dir(dir).await {
        Ok(names) => names,
        Err(e) => {
            return vec![Finding::unknown(
                "host.deploys",
                format!("Cannot list the releases directory {shown}: {}", io::io_words(&e)),
            )
            .with_detail("releases_dir names the directory holding YYYYMMDDHHMMSS release folders (e.g. /home/deploy/app/releases), readable by medic's user.")];
        }
    };
    let releases = parse_releases(names.iter().map(String::as_str));
    vec![findings(&releases, ctx.clock.now, &shown)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_release_first_and_a_recent_one_said_plainly() {
        let now = OffsetDateTime::from_unix_timestamp(1_769_841_127).unwrap(); // 06:32:07
        let rs = parse_releases([
            "20260130120000",
            "current",
            "20260131062000",
            "shared",
            "2026013106200x",
        ]);
        assert_eq!(rs.len(), 2);
        let f = findings(&rs, now, "/home/deploy/app/releases");
        assert_eq!(
            f.summary,
            "Deployed 20260131062000 at 06:20:00 UTC (12 min ago)"
        );
        assert_eq!(
            f.detail[1],
            "Before: 20260130120000 at 12:00:00 UTC (18 h ago)"
        );
        let old = findings(&rs[1..], now, "r");
        assert_eq!(
            old.summary,
            "Last deploy 20260130120000 at 12:00:00 UTC (18 h ago)"
        );
        assert_eq!(findings(&[], now, "r").summary, "No releases in r");
    }
}
