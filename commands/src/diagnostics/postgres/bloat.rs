//! Purpose: dead-row bloat and the autovacuum that should have cleared it
//! (Tutorial 08 "Slow Database Queries": "check for table bloat, last
//! autovacuum"). Every UPDATE and DELETE leaves a dead row version behind
//! until VACUUM removes it; a table with many of them is bigger than its
//! data, every scan of it reads the dead rows too, and queries slow down
//! with no change in the application.
//!
//! Autovacuum vacuums a table once its dead rows pass
//! `autovacuum_vacuum_scale_factor` (20 % by default) of it, so a table
//! above [`DEAD_SHARE_WARN`] is one autovacuum is not keeping up with:
//! turned off for that table or the server, running behind, or held back by
//! an old transaction. The finding says which, as far as the statistics
//! tell: when (auto)vacuum last ran, and whether it is off.

use std::sync::Arc;

use sqlx::Row;

use super::connect::Session;
use super::read::LISTED;
use super::{decode, queries};
use crate::format::{human_age, percent, thousands};
use crate::model::report::Finding;

/// Share of a table's rows that are dead at which it is a warning: past
/// autovacuum's default trigger (`autovacuum_vacuum_scale_factor` 0.2), so
/// autovacuum should already have run and did not, or could not.
pub const DEAD_SHARE_WARN: f64 = 0.2;
/// Dead rows a table needs before it is named: a small table's dead rows
/// cost a few pages, and autovacuum's own threshold (50 rows plus the
/// share) makes small tables swing past 20 % between runs.
pub const MIN_DEAD_ROWS: i64 = 10_000;

/// One row of `pg_stat_user_tables`, for dead rows.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDead {
    /// `schema.table`.
    pub name: String,
    /// Live rows (estimated).
    pub live_rows: i64,
    /// Dead rows (estimated).
    pub dead_rows: i64,
    /// Seconds since autovacuum last vacuumed it; `None` if never.
    pub autovacuum_secs: Option<f64>,
    /// Seconds since a manual VACUUM; `None` if never.
    pub vacuum_secs: Option<f64>,
    /// `autovacuum_enabled = off` on this table.
    pub table_autovacuum_off: bool,
    /// `autovacuum = off` for the whole server.
    pub server_autovacuum_off: bool,
}

impl TableDead {
    fn dead_share(&self) -> f64 {
        let all = self.live_rows.max(0) + self.dead_rows.max(0);
        if all == 0 {
            0.0
        } else {
            self.dead_rows as f64 / all as f64
        }
    }

    /// Whether autovacuum is not keeping up with this table.
    pub fn bloated(&self) -> bool {
        self.dead_rows >= MIN_DEAD_ROWS && self.dead_share() >= DEAD_SHARE_WARN
    }
}

/// Reads the counters and judges them.
pub async fn check(s: Arc<Session>) -> Vec<Finding> {
    let rows = decode(s.fetch_all(queries::DEAD_ROWS).await, |r| {
        Ok(TableDead {
            name: r.try_get("name")?,
            live_rows: r.try_get("live_rows")?,
            dead_rows: r.try_get("dead_rows")?,
            autovacuum_secs: r.try_get("autovacuum_secs")?,
            vacuum_secs: r.try_get("vacuum_secs")?,
            table_autovacuum_off: r.try_get("table_autovacuum_off")?,
            server_autovacuum_off: r.try_get("server_autovacuum_off")?,
        })
    });
    vec![match rows {
        Ok(rows) => findings(&rows),
        Err(e) => e.finding("postgres.bloat", "Dead rows"),
    }]
}

/// A warning naming the tables with [`DEAD_SHARE_WARN`] of their rows
/// dead (and at least [`MIN_DEAD_ROWS`]), most dead rows first, each with
/// its last vacuum; ok otherwise. Rows arrive most dead rows first.
pub fn findings(rows: &[TableDead]) -> Finding {
    let bloated: Vec<&TableDead> = rows.iter().filter(|t| t.bloated()).collect();
    let Some(worst) = bloated.first() else {
        let dead: i64 = rows.iter().map(|t| t.dead_rows.max(0)).sum();
        return Finding::ok(
            "postgres.bloat",
            format!(
                "No table has {} or more of its rows dead ({} dead rows in all)",
                percent((DEAD_SHARE_WARN * 100.0) as u64, 100),
                thousands(dead)
            ),
        );
    };
    let share = |t: &TableDead| {
        percent(
            t.dead_rows.max(0) as u64,
            (t.dead_rows.max(0) + t.live_rows.max(0)) as u64,
        )
    };
    let summary = match bloated.len() {
        1 => format!(
            "Table {} is bloated: {} dead rows ({} of its rows), {}",
            worst.name,
            thousands(worst.dead_rows),
            share(worst),
            last_autovacuum(worst)
        ),
        n => format!(
            "{n} tables are bloated, worst {}: {} dead rows ({} of its rows), {}",
            worst.name,
            thousands(worst.dead_rows),
            share(worst),
            last_autovacuum(worst)
        ),
    };
    let mut f = Finding::warn("postgres.bloat", summary);
    for t in bloated.iter().take(LISTED) {
        let manual = t
            .vacuum_secs
            .map(|s| format!(", manual VACUUM {} ago", human_age(s.max(0.0) as u64)))
            .unwrap_or_default();
        let off = if t.table_autovacuum_off {
            " — autovacuum is off for this table (autovacuum_enabled = off)"
        } else {
            ""
        };
        f = f.with_detail(format!(
            "{}: {} dead, {} live ({}); {}{manual}{off}",
            t.name,
            thousands(t.dead_rows),
            thousands(t.live_rows),
            share(t),
            last_autovacuum(t),
        ));
    }
    if bloated.len() > LISTED {
        f = f.with_detail(format!("and {} more", bloated.len() - LISTED));
    }
    if worst.server_autovacuum_off {
        f = f.with_detail(
            "autovacuum = off for the whole server: nothing clears dead rows but a manual VACUUM.",
        );
    }
    if bloated.iter().any(|t| t.table_autovacuum_off) {
        f = f.with_detail("To turn it back on: ALTER TABLE … RESET (autovacuum_enabled);");
    }
    f.with_detail("Dead rows are read by every scan until VACUUM removes them. An old transaction (see idle in transaction, long queries, replication slots) keeps VACUUM from removing them.")
        .with_detail(format!("By hand: VACUUM (VERBOSE, ANALYZE) {};", worst.name))
}

fn last_autovacuum(t: &TableDead) -> String {
    match t.autovacuum_secs {
        Some(s) => format!("last autovacuum {} ago", human_age(s.max(0.0) as u64)),
        None => "never autovacuumed".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    fn table(name: &str, live: i64, dead: i64) -> TableDead {
        TableDead {
            name: name.into(),
            live_rows: live,
            dead_rows: dead,
            autovacuum_secs: None,
            vacuum_secs: None,
            table_autovacuum_off: false,
            server_autovacuum_off: false,
        }
    }

    #[test]
    fn a_table_past_autovacuums_trigger_is_a_warning_saying_why() {
        let mut churn = table("public.churn", 20_000, 20_000);
        churn.table_autovacuum_off = true;
        let mut events = table("public.events", 1_000_000, 300_000);
        events.autovacuum_secs = Some(3.0 * 86_400.0);
        let f = findings(&[churn, events]);
        assert_eq!(f.status, Status::Warn);
        assert_eq!(
            f.summary,
            "2 tables are bloated, worst public.churn: 20 000 dead rows (50 % of its rows), never autovacuumed"
        );
        assert_eq!(
            f.detail[0],
            "public.churn: 20 000 dead, 20 000 live (50 %); never autovacuumed — autovacuum is off for this table (autovacuum_enabled = off)"
        );
        assert_eq!(
            f.detail[1],
            "public.events: 300 000 dead, 1 000 000 live (23 %); last autovacuum 3 days ago"
        );
        assert!(
            f.detail
                .iter()
                .any(|d| d.contains("RESET (autovacuum_enabled)"))
        );
        assert_eq!(
            f.detail.last().unwrap(),
            "By hand: VACUUM (VERBOSE, ANALYZE) public.churn;"
        );
    }

    #[test]
    fn small_or_mostly_live_tables_are_ok() {
        // Half dead, but only 5 000 rows: a few pages.
        assert!(!table("t", 5_000, 5_000).bloated());
        // Many dead rows, but a small share of a big table.
        assert!(!table("t", 10_000_000, 100_000).bloated());
        let f = findings(&[table("t", 5_000, 5_000), table("u", 10_000_000, 100_000)]);
        assert_eq!(f.status, Status::Ok);
        assert_eq!(
            f.summary,
            "No table has 20 % or more of its rows dead (105 000 dead rows in all)"
        );
    }
}
