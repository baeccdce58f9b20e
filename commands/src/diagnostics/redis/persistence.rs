//! Purpose: `redis-cli info persistence` read for the failure that looks
//! like an application bug from outside. When a background save fails
//! (disk full, the `dir` gone or read-only, fork refused for memory), Redis
//! with `stop-writes-on-bgsave-error yes` (the default) refuses every write
//! (when `save` rules exist: a failed manual BGSAVE on a server saved with
//! `save ""` refuses nothing) with
//!
//! ```text
//! MISCONF Redis is configured to save RDB snapshots, but it's currently
//! unable to persist to disk. Commands that may modify the data set are
//! disabled, because this instance is configured to report errors during
//! writes if RDB snapshotting fails (stop-writes-on-bgsave-error option).
//! ```
//!
//! (The runbooks in `seeds/` have no row for MISCONF; the text is Redis's
//! own, and the real-server test makes Redis say it.) Also read: a failing
//! AOF write (writes refused too), a failed AOF rewrite, and changes left
//! unsaved past the time a `save` rule should have written them.

use time::OffsetDateTime;

use super::connect::{Session, config_get};
use super::info::Info;
use crate::format::human_age;
use crate::model::report::Finding;

/// Slack given to a `save` rule before unsaved changes are a warning: a
/// save of a big dataset takes a while to start and finish.
pub const SAVE_SLACK_SECS: u64 = 300;

/// The persistence settings read with CONFIG GET; `None` when CONFIG is
/// forbidden (then Redis's defaults are assumed, and said to be).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// `save`: "3600 1 300 100 60 10000", or "" for no RDB snapshots.
    pub save: Option<String>,
    /// `stop-writes-on-bgsave-error`.
    pub stop_writes_on_error: Option<bool>,
}

/// Reads the settings over the session, then judges INFO.
pub async fn check(session: Session, now: OffsetDateTime) -> Vec<Finding> {
    let Some(info) = session.info else {
        return Vec::new();
    };
    let mut conn = session.conn;
    let settings = Settings {
        save: config_get(&mut conn, "save").await,
        stop_writes_on_error: config_get(&mut conn, "stop-writes-on-bgsave-error")
            .await
            .map(|v| v == "yes"),
    };
    findings(&info, &settings, now)
}

/// `save` rules as (seconds, changes) pairs.
fn save_rules(save: &str) -> Vec<(u64, u64)> {
    let nums: Vec<u64> = save
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    nums.chunks_exact(2).map(|p| (p[0], p[1])).collect()
}

/// Judges persistence from INFO and the settings.
pub fn findings(info: &Info, settings: &Settings, now: OffsetDateTime) -> Vec<Finding> {
    let mut out = Vec::new();
    let changes = info.num("rdb_changes_since_last_save").unwrap_or(0);
    let last_save_age = info
        .num("rdb_last_save_time")
        .map(|t| now.unix_timestamp().saturating_sub(t as i64).max(0) as u64);
    let unsaved = match last_save_age {
        Some(age) if changes > 0 => format!(
            "{changes} changes since the last successful save {} ago are not on disk.",
            human_age(age)
        ),
        _ => format!("{changes} changes are not on disk."),
    };

    if let Some(status) = info.get("rdb_last_bgsave_status").filter(|s| *s != "ok") {
        // Redis refuses writes only with stop-writes-on-bgsave-error *and*
        // save rules; a failed manual BGSAVE on a server without rules
        // refuses nothing.
        let no_rules = settings
            .save
            .as_deref()
            .is_some_and(|s| save_rules(s).is_empty());
        let f = match settings.stop_writes_on_error {
            _ if no_rules => Finding::warn(
                "redis.persistence",
                format!("Last RDB save failed ({status}); writes still accepted (no save rules)"),
            )
            .with_detail("A BGSAVE (manual, or for a replica's sync) failed; with save \"\" Redis does not refuse writes, but nothing is on disk."),
            Some(false) => Finding::warn(
                "redis.persistence",
                format!("Last RDB save failed ({status}); writes still accepted but not saved"),
            )
            .with_detail("stop-writes-on-bgsave-error is off, so a restart now loses what was written since the last good save."),
            stop => Finding::critical(
                "redis.persistence",
                format!("Last RDB save failed ({status}): Redis refuses writes with MISCONF"),
            )
            .with_detail(format!(
                "With stop-writes-on-bgsave-error {}, every write fails with \"MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk\" until a save succeeds; applications report it as their own error.",
                if stop.is_some() { "yes" } else { "yes (the default)" }
            )),
        };
        out.push(
            f.with_detail(unsaved.clone())
                .with_detail("Why: the Redis log (\"Failed opening the temp RDB file\", \"Can't save in background: fork\"), then df -h and the permissions of CONFIG GET dir, and free memory for the fork.")
                .with_detail("Once fixed, BGSAVE; writes resume when it succeeds."),
        );
    }
    if info.num("aof_enabled") == Some(1) {
        if let Some(status) = info.get("aof_last_write_status").filter(|s| *s != "ok") {
            out.push(
                Finding::critical("redis.persistence", format!("AOF writes failing ({status}): Redis refuses writes"))
                    .with_detail("While the append-only file cannot be written, writes fail with \"MISCONF Errors writing to the AOF file\". Check disk space and the Redis log."),
            );
        }
        if let Some(status) = info.get("aof_last_bgrewrite_status").filter(|s| *s != "ok") {
            out.push(
                Finding::warn(
                    "redis.persistence",
                    format!("Last AOF rewrite failed ({status})"),
                )
                .with_detail("The AOF keeps growing until a rewrite succeeds; check disk space and the Redis log."),
            );
        }
    }
    if !out.is_empty() {
        return out;
    }

    // Saves work; are they happening as the rules say?
    let aof = info.num("aof_enabled") == Some(1);
    let save = settings.save.as_deref();
    if let (Some(save), Some(age)) = (save, last_save_age)
        && changes > 0
        && info.num("rdb_bgsave_in_progress") != Some(1)
        && let Some(due) = save_rules(save)
            .into_iter()
            .filter(|&(_, min_changes)| changes >= min_changes)
            .map(|(secs, _)| secs)
            .min()
        && age > due + SAVE_SLACK_SECS
    {
        out.push(
            Finding::warn(
                "redis.persistence",
                format!(
                    "{changes} changes unsaved for {}; the save rule should have written them after {}",
                    human_age(age),
                    human_age(due)
                ),
            )
            .with_detail("Background saves are not running: look at the Redis log and at rdb_bgsave_in_progress.")
            .with_detail("A crash now loses them."),
        );
        return out;
    }
    let last = last_save_age
        .map(|ago| format!("last RDB save {} ago", human_age(ago)))
        .unwrap_or_else(|| "no RDB save yet".into());
    let mut f = Finding::ok(
        "redis.persistence",
        format!(
            "Persistence ok: {last}, {changes} changes since, AOF {}",
            if aof { "on" } else { "off" }
        ),
    );
    if save == Some("") && !aof {
        f = f.with_detail("No persistence configured (save \"\" and AOF off): a restart starts empty. Fine for a cache only.");
    }
    if info.num("rdb_bgsave_in_progress") == Some(1) {
        f = f.with_detail("A background save is running now.");
    }
    vec![f]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    const MASTER: &str = include_str!("testdata/redis_info_7.0_master.txt");

    /// The capture's own time (rdb_last_save_time + 1 s).
    fn at(after_save: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_795_454_583 + after_save).unwrap()
    }

    fn with(overrides: &[(&str, &str)]) -> Info {
        let mut info = Info::parse(MASTER);
        for (k, v) in overrides {
            info.insert(k, v);
        }
        info
    }

    fn defaults() -> Settings {
        Settings {
            save: Some("3600 1 300 100 60 10000".into()),
            stop_writes_on_error: Some(true),
        }
    }

    #[test]
    fn a_failed_save_is_critical_and_explains_misconf() {
        let info = with(&[
            ("rdb_last_bgsave_status", "err"),
            ("rdb_changes_since_last_save", "42"),
        ]);
        let fs = findings(&info, &defaults(), at(600));
        assert_eq!(fs.len(), 1);
        assert_eq!(fs[0].status, Status::Critical);
        assert_eq!(
            fs[0].summary,
            "Last RDB save failed (err): Redis refuses writes with MISCONF"
        );
        assert!(fs[0].detail[0].contains("MISCONF Redis is configured to save RDB snapshots"));
        assert_eq!(
            fs[0].detail[1],
            "42 changes since the last successful save 10 min ago are not on disk."
        );
        // Unknown settings: the default is assumed, and said to be.
        let fs = findings(&info, &Settings::default(), at(600));
        assert!(fs[0].detail[0].contains("yes (the default)"));
        // stop-writes off: data at risk, but writes go through.
        let off = Settings {
            stop_writes_on_error: Some(false),
            ..defaults()
        };
        assert_eq!(findings(&info, &off, at(600))[0].status, Status::Warn);
        // No save rules: Redis refuses nothing.
        let no_rules = Settings {
            save: Some(String::new()),
            ..defaults()
        };
        let f = &findings(&info, &no_rules, at(600))[0];
        assert_eq!(f.status, Status::Warn);
        assert!(f.summary.ends_with("writes still accepted (no save rules)"));
    }

    #[test]
    fn a_failing_aof_is_critical_only_when_aof_is_on() {
        let info = with(&[("aof_last_write_status", "err")]);
        assert_eq!(findings(&info, &defaults(), at(1))[0].status, Status::Ok);
        let info = with(&[("aof_enabled", "1"), ("aof_last_write_status", "err")]);
        let f = &findings(&info, &defaults(), at(1))[0];
        assert_eq!(f.status, Status::Critical);
        assert!(f.summary.starts_with("AOF writes failing (err)"));
    }

    #[test]
    fn changes_unsaved_past_their_rule_are_a_warning() {
        // One change: the rule "3600 1" is due after an hour.
        let info = with(&[("rdb_changes_since_last_save", "1")]);
        assert_eq!(findings(&info, &defaults(), at(3000))[0].status, Status::Ok);
        let f = &findings(&info, &defaults(), at(5 * 3600))[0];
        assert_eq!(f.status, Status::Warn);
        assert_eq!(
            f.summary,
            "1 changes unsaved for 5 h; the save rule should have written them after 1 h"
        );
        // 20000 changes: "60 10000" was due after a minute.
        let info = with(&[("rdb_changes_since_last_save", "20000")]);
        assert_eq!(
            findings(&info, &defaults(), at(600))[0].status,
            Status::Warn
        );
        // No save rules: nothing is due; said plainly.
        let none = Settings {
            save: Some(String::new()),
            ..defaults()
        };
        let f = &findings(&info, &none, at(600))[0];
        assert_eq!(f.status, Status::Ok);
        assert!(
            f.detail[0].contains("a restart starts empty"),
            "{:?}",
            f.detail
        );
    }
}
