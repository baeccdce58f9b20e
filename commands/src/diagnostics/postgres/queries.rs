//! The SQL medic sends, in one place, so that a DBA can read exactly what it
//! asks. Every query is read-only and reads only statistics views and
//! settings; times come back as seconds (`float8`) and sizes as `int8`, so
//! that decoding needs no date or numeric types.
//!
//! Thresholds are applied in Rust ([`super::read`]), not in SQL, so the
//! reading is testable without a server; the queries instead cap their rows
//! and order them worst first.

/// Reach: the cheapest round trip there is (`psql -c "SELECT 1;"`).
pub const SELECT_1: &str = "SELECT 1::int4";

/// Version and uptime. `pg_postmaster_start_time()` moves on every restart,
/// which is what "terminating connection due to administrator command" in
/// an application log points at.
pub const UPTIME: &str = "SELECT current_setting('server_version') AS version, \
     extract(epoch FROM pg_postmaster_start_time())::float8 AS started_epoch, \
     extract(epoch FROM now() - pg_postmaster_start_time())::float8 AS uptime_secs";

/// The connection limits: every client session counts against
/// `max_connections`; the last `superuser_reserved_connections` slots are
/// kept for superusers, so ordinary users are refused earlier.
pub const LIMITS: &str = "SELECT current_setting('max_connections')::int8 AS max_connections, \
     current_setting('superuser_reserved_connections')::int8 AS reserved";

/// Client sessions by state and application (the runbooks'
/// `SELECT count(*), state, application_name FROM pg_stat_activity GROUP BY …`),
/// limited to client backends: WAL senders and background workers do not
/// take `max_connections` slots. A role without pg_monitor sees other
/// users' sessions with most columns NULL, `backend_type` included; those
/// in a database are counted (as state `unknown`): nearly all are clients,
/// while the launchers and the checkpointer have no database.
pub const CONNECTIONS: &str = "SELECT coalesce(state, 'unknown') AS state, \
     coalesce(nullif(application_name, ''), '(no application_name)') AS application, \
     count(*)::int8 AS sessions \
     FROM pg_stat_activity \
     WHERE backend_type = 'client backend' OR (backend_type IS NULL AND datid IS NOT NULL) \
     GROUP BY 1, 2";

/// Sessions idle inside an open transaction, longest idle first. Idle time
/// is since the last state change; the transaction's age is shown beside it.
pub const IDLE_IN_TRANSACTION: &str = "SELECT pid, \
     coalesce(usename::text, '') AS usename, \
     coalesce(application_name, '') AS application, \
     coalesce(host(client_addr), 'local') AS client, \
     coalesce(state, '') AS state, \
     extract(epoch FROM now() - state_change)::float8 AS idle_secs, \
     coalesce(extract(epoch FROM now() - xact_start)::float8, 0) AS xact_secs, \
     left(coalesce(query, ''), 200) AS query \
     FROM pg_stat_activity \
     WHERE state IN ('idle in transaction', 'idle in transaction (aborted)') \
       AND pid <> pg_backend_pid() AND state_change IS NOT NULL \
     ORDER BY state_change LIMIT 50";

/// Statements running now, oldest first, with what they wait on.
pub const RUNNING: &str = "SELECT pid, \
     coalesce(usename::text, '') AS usename, \
     coalesce(application_name, '') AS application, \
     extract(epoch FROM now() - query_start)::float8 AS secs, \
     coalesce(wait_event_type || ':' || wait_event, '') AS waiting_on, \
     left(coalesce(query, ''), 200) AS query \
     FROM pg_stat_activity \
     WHERE state = 'active' AND backend_type = 'client backend' \
       AND pid <> pg_backend_pid() AND query_start IS NOT NULL \
     ORDER BY query_start LIMIT 50";

/// Who blocks whom. The seeds join `pg_locks` to itself on `locktype`
/// only, which pairs every waiting lock with every granted lock of the same
/// type (any table, any row); `pg_blocking_pids()` asks the lock manager
/// instead and is exact, including queued waiters ahead in line.
pub const BLOCKING: &str = "SELECT blocked.pid AS blocked_pid, \
     coalesce(blocked.application_name, '') AS blocked_application, \
     coalesce(extract(epoch FROM now() - blocked.query_start)::float8, 0) AS blocked_secs, \
     left(coalesce(blocked.query, ''), 200) AS blocked_query, \
     coalesce((SELECT l.mode || ' on ' || coalesce(l.relation::regclass::text, l.locktype) \
               FROM pg_locks l WHERE l.pid = blocked.pid AND NOT l.granted LIMIT 1), '') AS waiting_for, \
     blocking.pid AS blocking_pid, \
     coalesce(blocking.application_name, '') AS blocking_application, \
     coalesce(blocking.state, '') AS blocking_state, \
     coalesce(extract(epoch FROM now() - blocking.xact_start)::float8, 0) AS blocking_xact_secs, \
     left(coalesce(blocking.query, ''), 200) AS blocking_query \
     FROM pg_stat_activity blocked \
     CROSS JOIN LATERAL unnest(pg_blocking_pids(blocked.pid)) AS b(pid) \
     JOIN pg_stat_activity blocking ON blocking.pid = b.pid \
     ORDER BY blocked.query_start, blocking.pid LIMIT 100";

/// Whether this server is a replica.
pub const IN_RECOVERY: &str = "SELECT pg_is_in_recovery() AS in_recovery";

/// On a primary: each replica's lag in bytes (the runbook's
/// `pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)`) and in time.
/// The time columns are NULL once a replica has caught up and gone idle.
pub const REPLICAS: &str = "SELECT coalesce(nullif(application_name, ''), '(unnamed)') AS name, \
     coalesce(host(client_addr), 'local') AS client, \
     coalesce(state, '') AS state, \
     coalesce(sync_state, '') AS sync_state, \
     pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8 AS lag_bytes, \
     extract(epoch FROM replay_lag)::float8 AS replay_lag_secs \
     FROM pg_stat_replication ORDER BY 1";

/// On a replica: WAL received but not yet replayed, the age of the last
/// replayed transaction, and whether the WAL receiver is streaming.
pub const REPLICA_SELF: &str = "SELECT \
     pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::float8 AS pending_bytes, \
     extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS last_replay_secs, \
     (SELECT status FROM pg_stat_wal_receiver LIMIT 1) AS receiver, \
     (SELECT sender_host FROM pg_stat_wal_receiver LIMIT 1) AS sender";

/// Where `pg_stat_statements` is installed in this database, quoted for SQL
/// by the server itself; no row when it is not.
pub const STATEMENTS_SCHEMA: &str = "SELECT quote_ident(n.nspname) AS schema \
     FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace \
     WHERE e.extname = 'pg_stat_statements'";

/// The server's version as a number (`150004`), to pick column names.
pub const VERSION_NUM: &str = "SELECT current_setting('server_version_num')::int4 AS num";

/// The most characters of a statement's text that are read: enough for
/// nearly every statement an application sends, so the slowest can be
/// planned from its whole text ([`super::explain`]); a longer one is
/// listed cut and not planned.
pub const STATEMENT_TEXT_MAX: i32 = 8000;

/// The top statements of this database by mean time (the runbooks'
/// `ORDER BY mean_exec_time DESC`). Before PostgreSQL 13 the columns were
/// `mean_time` and `total_time`. The text comes whole up to
/// [`STATEMENT_TEXT_MAX`] characters, for the plan check; the listing cuts
/// it for chat.
pub fn top_statements(schema: &str, version_num: i32) -> String {
    let (mean, total) = if version_num >= 130_000 {
        ("mean_exec_time", "total_exec_time")
    } else {
        ("mean_time", "total_time")
    };
    format!(
        "SELECT calls::int8 AS calls, {mean}::float8 AS mean_ms, {total}::float8 AS total_ms, \
         left(query, {STATEMENT_TEXT_MAX}) AS query, \
         length(query) > {STATEMENT_TEXT_MAX} AS truncated \
         FROM {schema}.pg_stat_statements \
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND calls > 0 \
         ORDER BY {mean} DESC LIMIT 5"
    )
}

/// The size of the database medic is connected to.
pub const DATABASE_SIZE: &str = "SELECT current_database()::text AS name, \
     pg_database_size(current_database())::int8 AS bytes";

/// Tables by rows read in sequential scans, with their index scans
/// (`pg_stat_user_tables`), worst first; [`super::scans`] judges them.
/// `idx_scan` is NULL for a table without indexes.
pub const SEQ_SCANS: &str = "SELECT quote_ident(schemaname) || '.' || quote_ident(relname) AS name, \
     seq_scan::int8 AS seq_scan, \
     coalesce(seq_tup_read, 0)::int8 AS seq_rows, \
     coalesce(idx_scan, 0)::int8 AS idx_scan, \
     coalesce(n_live_tup, 0)::int8 AS live_rows, \
     (SELECT count(*) FROM pg_index i WHERE i.indrelid = t.relid)::int8 AS indexes \
     FROM pg_stat_user_tables t \
     WHERE seq_scan > 0 \
     ORDER BY seq_tup_read DESC LIMIT 50";

/// Tables by dead rows, with when (auto)vacuum last ran and whether
/// autovacuum is off for the table (`autovacuum_enabled = off`) or for the
/// server; [`super::bloat`] judges them.
pub const DEAD_ROWS: &str = "SELECT quote_ident(t.schemaname) || '.' || quote_ident(t.relname) AS name, \
     coalesce(t.n_live_tup, 0)::int8 AS live_rows, \
     coalesce(t.n_dead_tup, 0)::int8 AS dead_rows, \
     extract(epoch FROM now() - t.last_autovacuum)::float8 AS autovacuum_secs, \
     extract(epoch FROM now() - t.last_vacuum)::float8 AS vacuum_secs, \
     NOT coalesce((SELECT o.option_value::bool FROM pg_class c, pg_options_to_table(c.reloptions) o \
                   WHERE c.oid = t.relid AND o.option_name = 'autovacuum_enabled'), true) AS table_autovacuum_off, \
     NOT current_setting('autovacuum')::bool AS server_autovacuum_off \
     FROM pg_stat_user_tables t \
     WHERE t.n_dead_tup > 0 \
     ORDER BY t.n_dead_tup DESC LIMIT 50";

/// Every index of user tables with its scans, its size and what makes two
/// indexes the same (table, access method, columns or expressions, operator
/// classes, collations, options, predicate); [`super::indexes`] judges them.
/// The size is `relpages` (as of the index's last build, VACUUM or ANALYZE)
/// rather than `pg_relation_size()`, which takes a lock and would wait behind
/// DDL, exactly when medic is run.
pub const INDEXES: &str = "SELECT quote_ident(s.schemaname) || '.' || quote_ident(s.indexrelname) AS name, \
     quote_ident(s.schemaname) || '.' || quote_ident(s.relname) AS table_name, \
     coalesce(s.idx_scan, 0)::int8 AS scans, \
     c.relpages::int8 * current_setting('block_size')::int8 AS bytes, \
     (i.indisunique OR i.indisprimary OR i.indisexclusion \
      OR EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)) AS enforces, \
     i.indisvalid AS valid, \
     i.indrelid::text || ' ' || c.relam::text || ' ' || i.indkey::text || ' ' || i.indclass::text \
       || ' ' || i.indcollation::text || ' ' || i.indoption::text \
       || ' ' || coalesce(pg_get_expr(i.indexprs, i.indrelid), '') \
       || ' ' || coalesce(pg_get_expr(i.indpred, i.indrelid), '') AS signature, \
     pg_get_indexdef(i.indexrelid) AS definition \
     FROM pg_stat_user_indexes s \
     JOIN pg_index i ON i.indexrelid = s.indexrelid \
     JOIN pg_class c ON c.oid = s.indexrelid \
     ORDER BY bytes DESC, name LIMIT 1000";
