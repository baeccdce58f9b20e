//! Purpose: the index half of "Slow Database Queries" (Tutorial 08): indexes
//! no query uses, and indexes that are exact copies of another. Both are
//! pure cost — every INSERT and UPDATE writes each of them, VACUUM reads
//! them, and they take cache from the data that matters — so write latency
//! and cache misses grow with them.
//!
//! Neither is an outage, so both are informational (ok), like the slowest
//! statements: a lead for after the incident, named with its size and the
//! `DROP INDEX` it calls for. An index that enforces something (primary
//! key, unique, exclusion, a constraint) is never called unused: its work
//! is refusing bad rows, not serving scans. Scans are counted on this server
//! only, so an index used only by queries on a replica looks unused here;
//! the finding says so.

use std::collections::BTreeMap;
use std::sync::Arc;

use sqlx::Row;

use super::connect::Session;
use super::read::{LISTED, one_line};
use super::{decode, queries};
use crate::format::human_bytes;
use crate::model::report::Finding;

/// An unused index smaller than this is not named: it costs a few pages
/// and a few microseconds per write, not worth an engineer's attention.
pub const UNUSED_MIN_BYTES: i64 = 1 << 20;
/// The most characters of an index definition shown.
pub const DEFINITION_CHARS: usize = 160;

/// One index of a user table.
#[derive(Debug, Clone, PartialEq)]
pub struct Index {
    /// `schema.index`.
    pub name: String,
    /// `schema.table`.
    pub table: String,
    /// Index scans since the statistics were reset.
    pub scans: i64,
    /// Size in bytes (from `relpages`).
    pub bytes: i64,
    /// Primary key, unique, exclusion or backing a constraint.
    pub enforces: bool,
    /// `indisvalid`: false while a CREATE INDEX CONCURRENTLY builds or
    /// after it failed.
    pub valid: bool,
    /// What makes two indexes the same: table, access method, columns or
    /// expressions, operator classes, collations, options, predicate.
    pub signature: String,
    /// `pg_get_indexdef()`.
    pub definition: String,
}

/// Reads every index and judges them.
pub async fn check(s: Arc<Session>) -> Vec<Finding> {
    let rows = decode(s.fetch_all(queries::INDEXES).await, |r| {
        Ok(Index {
            name: r.try_get("name")?,
            table: r.try_get("table_name")?,
            scans: r.try_get("scans")?,
            bytes: r.try_get("bytes")?,
            enforces: r.try_get("enforces")?,
            valid: r.try_get("valid")?,
            signature: r.try_get("signature")?,
            definition: r.try_get("definition")?,
        })
    });
    match rows {
        Ok(rows) => findings(&rows),
        Err(e) => vec![e.finding("postgres.indexes", "Index usage")],
    }
}

/// Groups of two or more valid indexes with the same signature. In each,
/// the one to keep comes first: one that enforces something, else the most
/// scanned, else the first by name.
pub fn duplicates(indexes: &[Index]) -> Vec<Vec<&Index>> {
    let mut groups: BTreeMap<&str, Vec<&Index>> = BTreeMap::new();
    for i in indexes.iter().filter(|i| i.valid) {
        groups.entry(i.signature.as_str()).or_default().push(i);
    }
    let mut out: Vec<Vec<&Index>> = groups.into_values().filter(|g| g.len() > 1).collect();
    for g in &mut out {
        g.sort_by(|a, b| {
            b.enforces
                .cmp(&a.enforces)
                .then(b.scans.cmp(&a.scans))
                .then(a.name.cmp(&b.name))
        });
    }
    // The most space to win first.
    out.sort_by_key(|g| std::cmp::Reverse(g[1..].iter().map(|i| i.bytes).sum::<i64>()));
    out
}

/// Valid indexes of [`UNUSED_MIN_BYTES`] or more that enforce nothing and
/// were never scanned, biggest first.
pub fn unused(indexes: &[Index]) -> Vec<&Index> {
    let mut out: Vec<&Index> = indexes
        .iter()
        .filter(|i| i.valid && !i.enforces && i.scans == 0 && i.bytes >= UNUSED_MIN_BYTES)
        .collect();
    out.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.name.cmp(&b.name)));
    out
}

/// One finding for duplicates when there are some, one for unused indexes
/// (or one ok line saying neither was found). Informational: ok status.
pub fn findings(indexes: &[Index]) -> Vec<Finding> {
    let dups = duplicates(indexes);
    let unused = unused(indexes);
    let mut out = Vec::new();
    if !dups.is_empty() {
        let extra: i64 = dups
            .iter()
            .flat_map(|g| g[1..].iter().map(|i| i.bytes))
            .sum();
        let first = &dups[0];
        let summary = match dups.len() {
            1 => format!(
                "Duplicate index: {} is the same as {} ({} to win)",
                names(&first[1..]),
                first[0].name,
                human_bytes(extra.max(0) as u64)
            ),
            n => format!(
                "{n} sets of duplicate indexes ({} to win), e.g. {} is the same as {}",
                human_bytes(extra.max(0) as u64),
                names(&first[1..]),
                first[0].name
            ),
        };
        let mut f = Finding::ok("postgres.indexes", summary);
        for g in dups.iter().take(LISTED) {
            f = f.with_detail(format!(
                "On {}: keep {} ({}), drop {}",
                g[0].table,
                g[0].name,
                short_definition(&g[0].definition),
                g[1..]
                    .iter()
                    .map(|i| format!("{} ({})", i.name, human_bytes(i.bytes.max(0) as u64)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if dups.len() > LISTED {
            f = f.with_detail(format!("and {} more", dups.len() - LISTED));
        }
        f = f.with_detail(format!(
            "Every write updates each copy. To drop one without blocking writes: DROP INDEX CONCURRENTLY {};",
            first[1].name
        ));
        out.push(f);
    }
    if !unused.is_empty() {
        let total: i64 = unused.iter().map(|i| i.bytes).sum();
        let summary = match unused.as_slice() {
            [one] => format!(
                "Unused index: {} on {} ({}) has never been scanned",
                one.name,
                one.table,
                human_bytes(one.bytes.max(0) as u64)
            ),
            many => format!(
                "{} unused indexes ({} in all), biggest {} on {} ({})",
                many.len(),
                human_bytes(total.max(0) as u64),
                many[0].name,
                many[0].table,
                human_bytes(many[0].bytes.max(0) as u64)
            ),
        };
        let mut f = Finding::ok("postgres.indexes", summary);
        for i in unused.iter().take(LISTED) {
            f = f.with_detail(format!(
                "{} on {}, {}: {}",
                i.name,
                i.table,
                human_bytes(i.bytes.max(0) as u64),
                short_definition(&i.definition)
            ));
        }
        if unused.len() > LISTED {
            f = f.with_detail(format!("and {} more", unused.len() - LISTED));
        }
        out.push(f.with_detail(
            "Scans are counted since the statistics were last reset, on this server only: check the replicas before dropping one that a read replica may use.",
        ));
    }
    if out.is_empty() {
        out.push(Finding::ok(
            "postgres.indexes",
            format!(
                "No duplicate index, no unused index of {} or more ({} checked)",
                human_bytes(UNUSED_MIN_BYTES as u64),
                match indexes.len() {
                    1 => "1 index".to_string(),
                    n => format!("{n} indexes"),
                }
            ),
        ));
    }
    out
}

fn names(indexes: &[&Index]) -> String {
    indexes
        .iter()
        .map(|i| i.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `CREATE INDEX … USING btree (code)` on one line, cut to
/// [`DEFINITION_CHARS`].
fn short_definition(definition: &str) -> String {
    let line = one_line(definition);
    if line.chars().count() > DEFINITION_CHARS {
        let cut: String = line.chars().take(DEFINITION_CHARS).collect();
        format!("{cut}…")
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    fn index(name: &str, signature: &str, scans: i64, bytes: i64) -> Index {
        Index {
            name: format!("public.{name}"),
            table: "public.lookup".into(),
            scans,
            bytes,
            enforces: false,
            valid: true,
            signature: signature.into(),
            definition: format!("CREATE INDEX {name} ON public.lookup USING btree ({signature})"),
        }
    }

    #[test]
    fn an_exact_copy_is_named_with_the_one_to_keep() {
        let mut pkey = index("lookup_pkey", "id", 900, 2 << 20);
        pkey.enforces = true;
        let indexes = [
            pkey,
            index("lookup_id_idx", "id", 5_000, 2 << 20),
            index("lookup_code_idx", "code", 10, 3 << 20),
        ];
        let fs = findings(&indexes);
        assert_eq!(fs.len(), 1, "{fs:#?}");
        assert_eq!(fs[0].status, Status::Ok, "a lead, not an outage");
        // The unique one is kept even though the copy is scanned more.
        assert_eq!(
            fs[0].summary,
            "Duplicate index: public.lookup_id_idx is the same as public.lookup_pkey (2.0 MiB to win)"
        );
        assert_eq!(
            fs[0].detail[0],
            "On public.lookup: keep public.lookup_pkey (CREATE INDEX lookup_pkey ON public.lookup USING btree (id)), drop public.lookup_id_idx (2.0 MiB)"
        );
        assert!(
            fs[0]
                .detail
                .last()
                .unwrap()
                .ends_with("DROP INDEX CONCURRENTLY public.lookup_id_idx;")
        );
    }

    #[test]
    fn unused_means_big_never_scanned_and_enforcing_nothing() {
        let mut unique = index("u", "a", 0, 50 << 20);
        unique.enforces = true;
        let mut building = index("b", "b", 0, 50 << 20);
        building.valid = false;
        let indexes = [
            unique,
            building,
            index("small", "c", 0, UNUSED_MIN_BYTES - 1),
            index("used", "d", 1, 50 << 20),
            index("big", "e", 0, 30 << 20),
            index("bigger", "f", 0, 40 << 20),
        ];
        let fs = findings(&indexes);
        assert_eq!(fs.len(), 1, "{fs:#?}");
        assert_eq!(
            fs[0].summary,
            "2 unused indexes (70.0 MiB in all), biggest public.bigger on public.lookup (40.0 MiB)"
        );
        assert!(
            fs[0].detail[1].starts_with("public.big on public.lookup, 30.0 MiB: CREATE INDEX big")
        );
        let one = findings(&[index("big", "e", 0, 30 << 20)]);
        assert_eq!(
            one[0].summary,
            "Unused index: public.big on public.lookup (30.0 MiB) has never been scanned"
        );
    }

    #[test]
    fn unused_duplicates_get_both_findings_and_a_clean_schema_one_line() {
        let fs = findings(&[index("a", "x", 0, 2 << 20), index("b", "x", 0, 2 << 20)]);
        assert_eq!(fs.len(), 2);
        assert!(
            fs[0]
                .summary
                .starts_with("Duplicate index: public.b is the same as public.a")
        );
        assert!(fs[1].summary.starts_with("2 unused indexes"));
        let fs = findings(&[index("a", "x", 3, 2 << 20)]);
        assert_eq!(
            fs[0].summary,
            "No duplicate index, no unused index of 1.0 MiB or more (1 index checked)"
        );
    }
}
