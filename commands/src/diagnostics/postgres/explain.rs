//! Purpose: the next step after "which statement is slowest" in the
//! runbooks (Tutorial 08 "Slow Database Queries": `EXPLAIN` the slow
//! query): the plan of the slowest query of `pg_stat_statements`, so the
//! thread shows *why* it is slow — a sequential scan of a big table, a
//! nested loop over many rows — without anyone opening psql.
//!
//! The statement comes from the statements check's one read of
//! `pg_stat_statements` (no second query). Its text is normalized: the
//! constants are `$1`, `$2`, … and cannot be planned as they are. Two ways
//! exist: `EXPLAIN (GENERIC_PLAN)` (PostgreSQL 16 and later), or `PREPARE`
//! the text and `EXPLAIN EXECUTE` it with NULLs under `plan_cache_mode =
//! force_generic_plan` (PostgreSQL 12 and later), which gives the same
//! generic plan — the NULLs are never looked at. medic uses the second on
//! every version: one code path, and the one its tests can run, since
//! Debian's apt gives PostgreSQL 15 here (and in bookworm generally).
//! Before 12 there is no `plan_cache_mode`, and no plan is shown.
//!
//! Nothing is run: `EXPLAIN` without `ANALYZE` only plans, and the steps
//! sit in a `READ ONLY` transaction that is always rolled back, under the
//! run's `statement_timeout`. Only texts that start with a plannable
//! keyword and hold a single statement are sent ([`plannable`]).

use std::sync::Arc;

use sqlx::Row;

use super::connect::{Session, StepFailure, error_text};
use super::read::{STATEMENT_CHARS, Statement, one_line};
use crate::model::report::Finding;

/// The first server version with `plan_cache_mode`.
pub const MIN_VERSION_NUM: i32 = 120_000;
/// The most plan lines shown; a plan is read top down, and the first lines
/// carry the costliest nodes.
pub const PLAN_LINES: usize = 25;
/// The name of the prepared statement, deallocated after use.
const PREPARED: &str = "medic_plan";

/// Why a statement's text is not sent to be planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotPlannable {
    /// Not a query: a utility command (VACUUM, CREATE INDEX, COPY, …).
    Utility,
    /// More than one statement, or a `;` inside (never sent as it is).
    Several,
    /// Longer than what was read of it.
    Truncated,
}

/// Why planning gave no plan.
#[derive(Debug, Clone)]
pub enum PlanError {
    /// The server would not plan the text (a parameter whose type it cannot
    /// infer, an object since dropped); its words. Not a failure of the
    /// check: the plan is simply not available.
    Refused(String),
    /// The connection was lost or broke.
    Query(String),
}

/// Whether `text` may be sent for planning: a single SELECT, WITH, INSERT,
/// UPDATE, DELETE, MERGE, VALUES or TABLE statement, comments aside.
pub fn plannable(text: &str) -> Result<(), NotPlannable> {
    let body = text.trim_end().trim_end_matches(';');
    if body.contains(';') {
        return Err(NotPlannable::Several);
    }
    let first: String = skip_comments(body)
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase();
    match first.as_str() {
        "select" | "with" | "insert" | "update" | "delete" | "merge" | "values" | "table" => Ok(()),
        _ => Err(NotPlannable::Utility),
    }
}

/// `text` from its first token: leading whitespace, `-- …` lines and
/// `/* … */` blocks (sqlcommenter tags, ORMs' markers) skipped.
fn skip_comments(mut text: &str) -> &str {
    loop {
        text = text.trim_start();
        if let Some(rest) = text.strip_prefix("--") {
            text = rest.split_once('\n').map(|(_, r)| r).unwrap_or("");
        } else if let Some(rest) = text.strip_prefix("/*") {
            text = rest.split_once("*/").map(|(_, r)| r).unwrap_or("");
        } else {
            return text;
        }
    }
}

/// The highest `$N` placeholder in a normalized text: how many parameters
/// `PREPARE` infers. A `$` inside an identifier (`a$1`) is not one.
pub fn placeholders(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut max = 0;
    let mut i = 0;
    while i < bytes.len() {
        let prev_ident = i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if bytes[i] == b'$' && !prev_ident {
            let digits: String = text[i + 1..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(n) = digits.parse::<usize>() {
                max = max.max(n);
            }
            i += 1 + digits.len();
        } else {
            i += 1;
        }
    }
    max
}

/// The statements that plan `text` generically without running it.
pub fn steps(text: &str) -> Vec<String> {
    let body = text.trim_end().trim_end_matches(';');
    let params = placeholders(body);
    let execute = if params == 0 {
        format!("EXPLAIN EXECUTE {PREPARED}")
    } else {
        format!(
            "EXPLAIN EXECUTE {PREPARED}({})",
            vec!["NULL"; params].join(", ")
        )
    };
    vec![
        "BEGIN READ ONLY".into(),
        "SET LOCAL plan_cache_mode = force_generic_plan".into(),
        format!("PREPARE {PREPARED} AS {body}"),
        execute,
    ]
}

/// Plans the slowest plannable statement of `top` (ordered by mean time),
/// on servers from [`MIN_VERSION_NUM`].
pub async fn check(s: Arc<Session>, top: &[Statement], version_num: i32) -> Vec<Finding> {
    let Some(slowest) = top.first() else {
        return Vec::new();
    };
    if version_num < MIN_VERSION_NUM {
        return vec![Finding::ok(
            "postgres.plan",
            "No plan of the slowest statement: PostgreSQL before 12 cannot plan a normalized statement without its values",
        )];
    }
    let Some(stmt) = top
        .iter()
        .find(|st| !st.truncated && plannable(&st.query).is_ok())
    else {
        let why = if slowest.truncated {
            NotPlannable::Truncated
        } else {
            plannable(&slowest.query)
                .err()
                .unwrap_or(NotPlannable::Utility)
        };
        return vec![not_planned(slowest, why)];
    };
    let plan = plan(&s, &stmt.query).await;
    let mut f = findings(stmt, &plan);
    if !std::ptr::eq(stmt, slowest) {
        f = f.with_detail(format!(
            "The slowest statement is not a query ({}); this is the slowest query.",
            shown(&slowest.query)
        ));
    }
    vec![f]
}

async fn plan(s: &Session, text: &str) -> Result<Vec<String>, PlanError> {
    let rows = s
        .run_steps(&steps(text), |failed| match failed {
            // BEGIN, SET or PREPARE failed: nothing was prepared.
            Some(step) if step < 3 => vec!["ROLLBACK"],
            // A prepared statement outlives a rollback.
            _ => vec!["ROLLBACK", "DEALLOCATE medic_plan"],
        })
        .await;
    match rows {
        Ok(rows) => rows
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PlanError::Query(error_text(&e))),
        Err(StepFailure::Lost) => Err(PlanError::Query(
            "the connection was dropped after an earlier query did not answer in time".into(),
        )),
        // PREPARE (2) and EXPLAIN (3) fail on the statement itself.
        Err(StepFailure::Failed { step, error }) if step >= 2 => Err(PlanError::Refused(error)),
        Err(StepFailure::Failed { error, .. }) => Err(PlanError::Query(error)),
    }
}

/// The slowest statement could not be sent for planning.
pub fn not_planned(st: &Statement, why: NotPlannable) -> Finding {
    let reason = match why {
        NotPlannable::Utility => "it is not a query (a utility command has no plan)",
        NotPlannable::Several => "its text holds more than one statement",
        NotPlannable::Truncated => "its text is too long to plan from pg_stat_statements",
    };
    Finding::ok(
        "postgres.plan",
        format!("No plan of the slowest statement: {reason}"),
    )
    .with_detail(format!("Statement: {}", shown(&st.query)))
}

/// The plan as a finding: the statement, the nodes that matter in the
/// summary (sequential scans first), the plan as evidence. Informational,
/// like the statement list it explains.
pub fn findings(st: &Statement, plan: &Result<Vec<String>, PlanError>) -> Finding {
    let lines = match plan {
        Ok(lines) => lines,
        Err(PlanError::Refused(e)) => {
            return Finding::ok(
                "postgres.plan",
                "No plan of the slowest statement: the server would not plan its normalized text",
            )
            .with_detail(format!("Statement: {}", shown(&st.query)))
            .with_evidence(e.clone());
        }
        Err(PlanError::Query(e)) => {
            return Finding::unknown(
                "postgres.plan",
                "Plan of the slowest query: the query failed",
            )
            .with_evidence(e.clone());
        }
    };
    let nodes: Vec<String> = lines.iter().filter_map(|l| node(l)).collect();
    let mut seq: Vec<&str> = nodes
        .iter()
        .map(String::as_str)
        .filter(|n| n.starts_with("Seq Scan on ") || n.starts_with("Parallel Seq Scan on "))
        .collect();
    seq.dedup();
    let headline = if seq.is_empty() {
        nodes
            .first()
            .cloned()
            .unwrap_or_else(|| "(empty plan)".into())
    } else {
        seq.iter().take(3).copied().collect::<Vec<_>>().join(", ")
    };
    let mut evidence: Vec<&str> = lines.iter().take(PLAN_LINES).map(String::as_str).collect();
    if lines.len() > PLAN_LINES {
        evidence.push("…");
    }
    let mut f = Finding::ok(
        "postgres.plan",
        format!(
            "Plan of the slowest query ({} mean): {headline}",
            super::read::human_ms(st.mean_ms)
        ),
    )
    .with_detail(format!("Statement: {}", shown(&st.query)));
    if !seq.is_empty() {
        f = f.with_detail("A sequential scan reads the whole table on every call: an index on the columns it filters on usually fixes it (see the sequential-scan finding).");
    }
    f.with_detail("Generic plan with estimated costs, parameters unknown ($1…); nothing was run. By hand: PREPARE q AS <statement>; SET plan_cache_mode = force_generic_plan; EXPLAIN EXECUTE q(NULL, …); — or EXPLAIN (GENERIC_PLAN) <statement> on PostgreSQL 16+.")
        .with_evidence(evidence.join("\n"))
}

/// A plan line's node: `Seq Scan on orders` of
/// `  ->  Seq Scan on orders  (cost=0.00..1.50 rows=1 width=4)`; `None` for
/// lines that are not nodes (`Filter: …`).
fn node(line: &str) -> Option<String> {
    let line = line.trim_start();
    let line = line.strip_prefix("->").unwrap_or(line).trim_start();
    let (name, _) = line.split_once("  (cost=")?;
    Some(name.trim().to_string())
}

fn shown(query: &str) -> String {
    let line = one_line(query);
    if line.chars().count() > STATEMENT_CHARS {
        format!(
            "{}…",
            line.chars().take(STATEMENT_CHARS).collect::<String>()
        )
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    fn st(query: &str) -> Statement {
        Statement {
            calls: 2,
            mean_ms: 300.0,
            total_ms: 600.0,
            query: query.into(),
            truncated: false,
        }
    }

    #[test]
    fn only_single_queries_are_sent() {
        assert_eq!(plannable("SELECT * FROM t WHERE a = $1"), Ok(()));
        assert_eq!(plannable("  with x as (select 1) select * from x;"), Ok(()));
        assert_eq!(
            plannable("/* app=web,route=/orders */ -- tag\n UPDATE t SET a = $1"),
            Ok(())
        );
        assert_eq!(plannable("VACUUM t"), Err(NotPlannable::Utility));
        assert_eq!(
            plannable("CREATE INDEX i ON t (a)"),
            Err(NotPlannable::Utility)
        );
        assert_eq!(plannable("SELECT pg_sleep($1)"), Ok(()));
        assert_eq!(
            plannable("SELECT 1; DROP TABLE t"),
            Err(NotPlannable::Several)
        );
        assert_eq!(plannable("/* unterminated"), Err(NotPlannable::Utility));
    }

    #[test]
    fn placeholders_count_the_highest_number() {
        assert_eq!(placeholders("SELECT 1"), 0);
        assert_eq!(
            placeholders("SELECT * FROM t WHERE a = $1 AND b IN ($3, $2)"),
            3
        );
        assert_eq!(placeholders("SELECT a$1 FROM t WHERE b = $12"), 12);
        assert_eq!(placeholders("SELECT '$' || x FROM t"), 0);
    }

    #[test]
    fn the_steps_prepare_in_a_read_only_transaction() {
        assert_eq!(
            steps("SELECT * FROM t WHERE a = $1 AND b = $2;"),
            [
                "BEGIN READ ONLY",
                "SET LOCAL plan_cache_mode = force_generic_plan",
                "PREPARE medic_plan AS SELECT * FROM t WHERE a = $1 AND b = $2",
                "EXPLAIN EXECUTE medic_plan(NULL, NULL)",
            ]
        );
        assert_eq!(steps("TABLE t")[3], "EXPLAIN EXECUTE medic_plan");
    }

    #[test]
    fn a_plan_names_its_sequential_scans() {
        let plan = Ok(vec![
            "Hash Join  (cost=10.00..2000.00 rows=10 width=8)".to_string(),
            "  Hash Cond: (o.customer = c.id)".into(),
            "  ->  Seq Scan on orders o  (cost=0.00..1693.00 rows=10 width=8)".into(),
            "        Filter: (note ~~ $1)".into(),
            "  ->  Index Scan using customers_pkey on customers c  (cost=0.29..8.30 rows=1 width=4)".into(),
        ]);
        let f = findings(&st("SELECT … FROM orders o JOIN customers c …"), &plan);
        assert_eq!(f.status, Status::Ok);
        assert_eq!(
            f.summary,
            "Plan of the slowest query (300 ms mean): Seq Scan on orders o"
        );
        assert!(
            f.evidence
                .as_deref()
                .unwrap()
                .contains("Filter: (note ~~ $1)")
        );

        let plan = Ok(vec!["Result  (cost=0.00..0.01 rows=1 width=4)".to_string()]);
        let f = findings(&st("SELECT pg_sleep($1)"), &plan);
        assert_eq!(f.summary, "Plan of the slowest query (300 ms mean): Result");
    }

    #[test]
    fn a_refusal_is_a_note_and_a_failure_unknown() {
        let f = findings(
            &st("SELECT $1"),
            &Err(PlanError::Refused(
                "could not determine data type of parameter $1".into(),
            )),
        );
        assert_eq!(f.status, Status::Ok);
        assert!(f.summary.contains("would not plan"), "{}", f.summary);
        let f = findings(
            &st("SELECT $1"),
            &Err(PlanError::Query("broken pipe".into())),
        );
        assert_eq!(f.status, Status::Unknown);
        let f = not_planned(&st("VACUUM big"), NotPlannable::Utility);
        assert_eq!(
            f.summary,
            "No plan of the slowest statement: it is not a query (a utility command has no plan)"
        );
    }
}
