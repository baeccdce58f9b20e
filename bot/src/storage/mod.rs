//! Durable state through sqlx: an SQLite file by default (zero set-up),
//! PostgreSQL when `database.url` says `postgres://` (several replicas).
//!
//! One code path serves both through `sqlx::Any` (docs/crates.md § sqlx): the SQL is
//! written once with `$n` placeholders, times are unix milliseconds, and the
//! DDL lives in one migrations folder per backend, kept in step by number.

pub mod audit;
pub mod dead_letters;
pub mod deliveries;
pub mod duties;
pub mod events;
pub mod handoffs;
pub mod incidents;
pub mod offers;
pub mod outbox;
pub mod retention;
pub mod runs;
pub mod script;
pub mod timeline;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use medic_commands::diagnostics::SecretUrl;
use medic_commands::model::word::Word;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// `conn`'s database.
    pub fn of(conn: &sqlx::AnyConnection) -> Backend {
        if conn.backend_name() == "SQLite" {
            Backend::Sqlite
        } else {
            Backend::Postgres
        }
    }
}

/// How a write transaction begins on SQLite: it takes the write lock at
/// once (see [`Store::begin_write`]).
pub(crate) const BEGIN_WRITE_SQLITE: &str = "BEGIN IMMEDIATE";

/// The database, migrated and ready.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite's one write lock, taken in this process first: see
    /// [`Store::begin_write`].
    writer: Arc<tokio::sync::Mutex<()>>,
    /// Cancelled by [`Store::close`]: whoever holds a connection
    /// ([`Store::hold`]) gives it back, or closing would wait for it.
    closing: tokio_util::sync::CancellationToken,
}

/// A write transaction (see [`Store::begin_write`]); it derefs to its
/// connection like `sqlx::Transaction` does, and rolls back when dropped
/// without [`WriteTx::commit`].
#[derive(Debug)]
pub struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    /// Held until the transaction ends (SQLite only).
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    /// Commits, then lets the next writer in.
    pub async fn commit(self) -> sqlx::Result<()> {
        self.tx.commit().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &sqlx::AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }
}

impl Store {
    /// Connects (creating an SQLite file when missing) and applies
    /// migrations. Errors never include the URL's password.
    pub async fn connect(url: &SecretUrl) -> anyhow::Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = match url.url().scheme() {
            "sqlite" => Backend::Sqlite,
            _ => Backend::Postgres,
        };
        let redactor = url.redactor();
        let mut text = url.expose().to_string();
        if backend == Backend::Sqlite && !text.contains("mode=") {
            // Create the file on first start: the zero set-up promise.
            text.push_str(if text.contains('?') {
                "&mode=rwc"
            } else {
                "?mode=rwc"
            });
        }
        if backend == Backend::Postgres && !text.contains("application_name=") {
            // Named, so DBAs see medic in pg_stat_activity and the
            // postgres.terminate_idle action never terminates medic's own
            // store connections.
            text.push_str(if text.contains('?') {
                "&application_name=medic-store"
            } else {
                "?application_name=medic-store"
            });
        }
        let options = AnyConnectOptions::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "database.url is not usable: {}",
                redactor.redact(&e.to_string())
            )
        })?;
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 4,
                Backend::Postgres => 10,
            })
            .acquire_timeout(Duration::from_secs(5))
            // A pooled SQLite connection is a file handle in this process:
            // it cannot go stale the way a network connection does, and the
            // ping before every acquire was a round trip to its thread on
            // every statement (a tenth of a delivery batch's time).
            .test_before_acquire(backend == Backend::Postgres)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers (readyz, lookups) run beside the
                        // one writer; busy_timeout makes writers queue
                        // instead of failing with SQLITE_BUSY.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        // 512 KiB of page cache per connection instead of
                        // SQLite's 2 MiB: medic's queries touch a few rows,
                        // the OS caches the file anyway, and four full
                        // caches were a third of medic's memory under load.
                        conn.execute("PRAGMA cache_size = -512").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot open the database: {}",
                    redactor.redact(&e.to_string())
                )
            })?;
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&pool)
            .await
            .map_err(|e| anyhow::anyhow!(redactor.redact(&e.to_string())))
            .context("applying database migrations")?;
        Ok(Store {
            pool,
            backend,
            writer: Arc::new(tokio::sync::Mutex::new(())),
            closing: tokio_util::sync::CancellationToken::new(),
        })
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers, for `/readyz`.
    pub async fn ping(&self) -> bool {
        let probe = sqlx::query("SELECT 1").execute(&self.pool);
        matches!(
            tokio::time::timeout(Duration::from_secs(2), probe).await,
            Ok(Ok(_))
        )
    }

    /// Closes every connection, waiting for queries in flight.
    pub async fn close(&self) {
        self.closing.cancel();
        self.pool.close().await;
    }

    /// Resolves once [`Store::close`] is called.
    pub(crate) async fn closing(&self) {
        self.closing.cancelled().await
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a transaction that writes. On SQLite it is `BEGIN IMMEDIATE`:
    /// it takes the write lock at once. A plain (deferred) `BEGIN` that
    /// reads first and writes later cannot wait: if another connection
    /// committed since its read, SQLite answers `SQLITE_BUSY` ("database is
    /// locked") at once, busy_timeout or not. Under an alert storm the
    /// delivery writer commits all the time, so the incident logic failed
    /// nearly every delivery and retried in a loop.
    ///
    /// And before that, on SQLite, it waits for this process's write turn
    /// ([`Store::write_turn`]). SQLite has one write lock; a connection
    /// that finds it taken waits in `busy_timeout`'s handler, which sleeps
    /// 1, 2, 5, 10… ms between tries. With the webhooks' group commit and
    /// the incident logic taking turns hundreds of times a second, those
    /// sleeps, not the work, set the pace: medic used one core of two.
    /// Queued on an async mutex, the next writer starts the moment the
    /// last one commits. (Other processes on the same file still meet the
    /// busy handler.) PostgreSQL needs neither.
    pub async fn begin_write(&self) -> sqlx::Result<WriteTx> {
        let turn = self.write_turn().await;
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with(BEGIN_WRITE_SQLITE).await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(WriteTx { tx, _turn: turn })
    }

    /// A connection of the pool, held by the caller until dropped.
    pub(crate) async fn hold(&self) -> sqlx::Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        self.pool.acquire().await
    }

    /// This process's turn at SQLite's write lock, for a write outside
    /// [`Store::begin_write`] that runs often enough to matter (a single
    /// statement commits on its own); `None` on PostgreSQL. Hold it no
    /// longer than the statement, and never while waiting for another
    /// turn: it is not reentrant.
    pub(crate) async fn write_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match self.backend {
            Backend::Sqlite => Some(self.writer.clone().lock_owned().await),
            Backend::Postgres => None,
        }
    }
}

/// Bind-parameter markers for generated multi-row statements, in text
/// order: `$1, $2, …` on PostgreSQL, anonymous `?` on SQLite. SQLite looks
/// up a named marker's number by scanning the statement's list of names
/// (`sqlite3_bind_parameter_name`), once per parameter, so binding a
/// statement with n `$N` markers costs n²/2 steps: a 256-row batch of five
/// columns spent more time there than in the UPDATE itself. Anonymous
/// markers are bound by position, for free. Values must be bound in the
/// order the markers were written.
#[derive(Debug)]
pub(crate) struct Markers {
    numbered: bool,
    next: usize,
}

impl Markers {
    /// Markers for `conn`'s database.
    pub(crate) fn for_conn(conn: &sqlx::AnyConnection) -> Markers {
        Markers::for_backend(Backend::of(conn))
    }

    /// Markers for `backend`.
    pub(crate) fn for_backend(backend: Backend) -> Markers {
        Markers::numbered(backend == Backend::Postgres)
    }

    fn numbered(numbered: bool) -> Markers {
        Markers { numbered, next: 0 }
    }

    /// The next marker.
    pub(crate) fn next(&mut self) -> String {
        self.next += 1;
        if self.numbered {
            format!("${}", self.next)
        } else {
            "?".to_string()
        }
    }

    /// `n` markers in a row, comma-separated, in parentheses.
    pub(crate) fn tuple(&mut self, n: usize) -> String {
        let list: Vec<String> = (0..n).map(|_| self.next()).collect();
        format!("({})", list.join(", "))
    }
}

/// The rows of a generated multi-row statement, padded: `rows` repeated
/// from its last element up to the next power of two. sqlx keeps one
/// prepared statement per SQL text (100 per connection); a batch of n rows
/// wrote a text of its own for every n, so under load the incident logic's
/// five statement kinds made hundreds of texts that evicted each other
/// (SQLite's `prepare` was 4 % of medic's CPU during an alert storm) and
/// held a large statement each. Padded, each kind has at most ten. Every
/// statement built this way must mean the same with a row repeated: an
/// `IN` list, `INSERT … ON CONFLICT DO NOTHING`, `UPDATE … FROM` a CTE of
/// equal rows, `INSERT … SELECT DISTINCT`.
pub(crate) fn padded<T>(rows: &[T]) -> impl Iterator<Item = &T> {
    let n = if rows.is_empty() {
        0
    } else {
        rows.len().next_power_of_two()
    };
    (0..n).map(move |i| &rows[i.min(rows.len() - 1)])
}

/// Column `i` of `r`, a stored [`Word`]: a word of none of its set's
/// values (a row written by a newer medic, or by hand) is a decode error
/// naming it, never read as some default.
pub(crate) fn word<W: Word, I: sqlx::ColumnIndex<sqlx::any::AnyRow>>(
    r: &sqlx::any::AnyRow,
    i: I,
) -> sqlx::Result<W> {
    use sqlx::Row;
    let text: String = r.try_get(i)?;
    W::parse(&text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// [`word`] for a column that may be NULL.
pub(crate) fn word_opt<W: Word, I: sqlx::ColumnIndex<sqlx::any::AnyRow>>(
    r: &sqlx::any::AnyRow,
    i: I,
) -> sqlx::Result<Option<W>> {
    use sqlx::Row;
    let text: Option<String> = r.try_get(i)?;
    text.map(|t| W::parse(&t).map_err(|e| sqlx::Error::Decode(Box::new(e))))
        .transpose()
}

/// Now, in the unit every table uses.
/// `d` in milliseconds, as the database stores spans.
pub fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
}

#[cfg(test)]
mod tests {
    use super::padded;

    #[test]
    fn padded_repeats_the_last_row_up_to_a_power_of_two() {
        let none: [i32; 0] = [];
        assert_eq!(padded(&none).count(), 0);
        assert_eq!(padded(&[7]).collect::<Vec<_>>(), [&7]);
        assert_eq!(padded(&[1, 2, 3]).collect::<Vec<_>>(), [&1, &2, &3, &3]);
        assert_eq!(padded(&[1, 2, 3, 4]).count(), 4);
        assert_eq!(padded(&[0; 200]).count(), 256);
    }
}
