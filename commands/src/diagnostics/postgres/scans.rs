//! Purpose: the "missing index" question of the runbooks (Tutorial 08
//! "Slow Database Queries", Troubleshooting Runbook "High Latency"): which
//! tables are read whole, again and again, where an index would read a few
//! pages. `pg_stat_user_tables` counts, per table, the sequential scans and
//! the rows they read, and the index scans; a big table read mostly by
//! sequential scans is the usual cause of a query that got slow as the data
//! grew.
//!
//! Small tables are left alone: the planner rightly scans a table of a few
//! pages rather than walk an index, so only scans that read
//! [`MIN_ROWS_PER_SCAN`] rows on average count. The counters run since the
//! statistics were last reset, so a table is named when the pattern is
//! steady ([`MIN_SEQ_SCANS`]), not after one report or `pg_dump`.

use std::sync::Arc;

use sqlx::Row;

use super::connect::Session;
use super::read::LISTED;
use super::{decode, queries};
use crate::format::thousands;
use crate::model::report::Finding;

/// Rows a sequential scan of the table reads on average (`seq_tup_read /
/// seq_scan`) from which it counts: below this a table fits in a few
/// hundred pages and a sequential scan is what the planner should pick.
/// PgHero's "missing indexes" uses the same 10 000-row cut.
pub const MIN_ROWS_PER_SCAN: i64 = 10_000;
/// Sequential scans a table needs before it is named: a pattern of the
/// application, not a one-off report, `pg_dump` or `ANALYZE`.
pub const MIN_SEQ_SCANS: i64 = 100;
/// The share of a table's scans that use an index below which it is named
/// (PgHero's 95 %): a table queried by key through an index stays above
/// it even with a nightly full scan.
pub const INDEX_SHARE_BELOW: f64 = 0.95;

/// One row of `pg_stat_user_tables`.
#[derive(Debug, Clone, PartialEq)]
pub struct TableScans {
    /// `schema.table`, quoted where SQL needs it.
    pub name: String,
    /// Sequential scans since the statistics were reset.
    pub seq_scan: i64,
    /// Rows those scans read.
    pub seq_rows: i64,
    /// Index scans (0 for a table without indexes).
    pub idx_scan: i64,
    /// Live rows now (estimated).
    pub live_rows: i64,
    /// How many indexes the table has.
    pub indexes: i64,
}

impl TableScans {
    fn rows_per_scan(&self) -> i64 {
        self.seq_rows / self.seq_scan.max(1)
    }

    fn index_share(&self) -> f64 {
        let all = self.seq_scan + self.idx_scan;
        if all == 0 {
            1.0
        } else {
            self.idx_scan as f64 / all as f64
        }
    }

    /// Whether this table is read mostly by big sequential scans.
    pub fn scanned_whole(&self) -> bool {
        self.seq_scan >= MIN_SEQ_SCANS
            && self.rows_per_scan() >= MIN_ROWS_PER_SCAN
            && self.index_share() < INDEX_SHARE_BELOW
    }
}

/// Reads the counters and judges them.
pub async fn check(s: Arc<Session>) -> Vec<Finding> {
    let rows = decode(s.fetch_all(queries::SEQ_SCANS).await, |r| {
        Ok(TableScans {
            name: r.try_get("name")?,
            seq_scan: r.try_get("seq_scan")?,
            seq_rows: r.try_get("seq_rows")?,
            idx_scan: r.try_get("idx_scan")?,
            live_rows: r.try_get("live_rows")?,
            indexes: r.try_get("indexes")?,
        })
    });
    vec![match rows {
        Ok(rows) => findings(&rows),
        Err(e) => e.finding("postgres.seq_scans", "Sequential scans"),
    }]
}

/// A warning naming the tables read mostly by big sequential scans, most
/// rows read first; ok when there are none. Rows arrive worst first.
pub fn findings(rows: &[TableScans]) -> Finding {
    let heavy: Vec<&TableScans> = rows.iter().filter(|t| t.scanned_whole()).collect();
    let Some(worst) = heavy.first() else {
        return Finding::ok(
            "postgres.seq_scans",
            format!(
                "No table is read mostly by sequential scans of {} rows or more",
                thousands(MIN_ROWS_PER_SCAN)
            ),
        );
    };
    let summary = match heavy.len() {
        1 => format!(
            "Table {} is read by sequential scans: {} scans of {} rows on average",
            worst.name,
            thousands(worst.seq_scan),
            thousands(worst.rows_per_scan())
        ),
        n => format!(
            "{n} tables are read by sequential scans, most rows in {} ({} scans of {} rows on average)",
            worst.name,
            thousands(worst.seq_scan),
            thousands(worst.rows_per_scan())
        ),
    };
    let mut f = Finding::warn("postgres.seq_scans", summary);
    for t in heavy.iter().take(LISTED) {
        let indexes = match t.indexes {
            0 => "no index at all".to_string(),
            1 => "1 index".to_string(),
            n => format!("{n} indexes"),
        };
        f = f.with_detail(format!(
            "{}: {} sequential scans read {} rows ({} per scan), {} index scans ({:.0} % of scans); {} live rows, {indexes}",
            t.name,
            thousands(t.seq_scan),
            thousands(t.seq_rows),
            thousands(t.rows_per_scan()),
            thousands(t.idx_scan),
            t.index_share() * 100.0,
            thousands(t.live_rows),
        ));
    }
    if heavy.len() > LISTED {
        f = f.with_detail(format!("and {} more", heavy.len() - LISTED));
    }
    f.with_detail("Each such scan reads the whole table: find the queries filtering on it (pg_stat_statements, the plan below) and index the columns in their WHERE.")
        .with_detail("Counts run since the statistics were last reset. By hand: SELECT relname, seq_scan, seq_tup_read, idx_scan FROM pg_stat_user_tables ORDER BY seq_tup_read DESC;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    fn table(name: &str, seq_scan: i64, seq_rows: i64, idx_scan: i64) -> TableScans {
        TableScans {
            name: name.into(),
            seq_scan,
            seq_rows,
            idx_scan,
            live_rows: 50_000,
            indexes: if idx_scan > 0 { 1 } else { 0 },
        }
    }

    #[test]
    fn a_big_table_scanned_whole_again_and_again_is_a_warning() {
        let rows = [
            table("public.orders", 1_204, 60_200_000, 3),
            // Scanned whole just as often, but small: the planner's choice.
            table("public.countries", 90_000, 90_000 * 250, 0),
        ];
        let f = findings(&rows);
        assert_eq!(f.status, Status::Warn);
        assert_eq!(
            f.summary,
            "Table public.orders is read by sequential scans: 1 204 scans of 50 000 rows on average"
        );
        assert_eq!(
            f.detail[0],
            "public.orders: 1 204 sequential scans read 60 200 000 rows (50 000 per scan), 3 index scans (0 % of scans); 50 000 live rows, 1 index"
        );
        assert!(!f.detail.iter().any(|d| d.contains("countries")));
    }

    #[test]
    fn thresholds_each_keep_a_table_out() {
        // A few scans only: a report, a pg_dump.
        assert!(!table("t", MIN_SEQ_SCANS - 1, 99 * 1_000_000, 0).scanned_whole());
        // Mostly read through an index.
        assert!(!table("t", 200, 200 * 20_000, 200 * 19).scanned_whole());
        // Small scans.
        assert!(!table("t", 200, 200 * (MIN_ROWS_PER_SCAN - 1), 0).scanned_whole());
        // All three together.
        assert!(table("t", 200, 200 * MIN_ROWS_PER_SCAN, 200 * 18).scanned_whole());
        let f = findings(&[table("t", 1, 1, 1)]);
        assert_eq!(f.status, Status::Ok);
        assert_eq!(
            f.summary,
            "No table is read mostly by sequential scans of 10 000 rows or more"
        );
    }

    #[test]
    fn several_tables_are_counted_and_the_worst_named() {
        let rows: Vec<TableScans> = (0..7)
            .map(|i| table(&format!("public.t{i}"), 500, 500 * 30_000, 0))
            .collect();
        let f = findings(&rows);
        assert!(
            f.summary
                .starts_with("7 tables are read by sequential scans, most rows in public.t0"),
            "{}",
            f.summary
        );
        assert!(f.detail.iter().any(|d| d == "and 2 more"), "{:?}", f.detail);
        assert!(f.detail[0].ends_with("no index at all"), "{:?}", f.detail);
    }
}
