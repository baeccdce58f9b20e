//! Statements sent to the database together.
//!
//! The delivery writer's batch is a chain of statements (begin, insert,
//! read the open incidents, count the repeats, queue the root edits,
//! commit), and every webhook of the batch waits for the whole chain. On
//! SQLite each statement sent alone is a round trip to sqlx's SQLite thread
//! and back, and under load each of those cost 200–400 µs of wake-ups, far
//! more than SQLite's own work (BENCHMARKS.md, stop 15). A [`Script`] sends
//! its statements to SQLite as one text, run in one round trip: SQLite
//! prepares and steps them in order, binding the values in marker order
//! across statement boundaries (anonymous `?` markers, see
//! [`super::Markers`]). On PostgreSQL, whose extended protocol takes one
//! statement at a time, a script runs its statements one after the other
//! on the same connection.
//!
//! Only statements whose values are known before it is sent can share a
//! script: what depends on a row read in the same transaction goes in the
//! next one.
//!
//! sqlx 0.9 marks "several statements in one prepared query" as deprecated
//! on `Query::fetch_many` (launchbadge/sqlx#3108): it still works through
//! `Executor::fetch_many`, which is what this uses; the note beside sqlx
//! in the root Cargo.toml says to check it before upgrading. The tests that
//! store deliveries on SQLite fail if it stops working.

use futures::TryStreamExt;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Either, Executor};

use super::Backend;

/// A value bound to a statement's marker.
#[derive(Debug, Clone)]
pub enum Value {
    /// An integer.
    Int(i64),
    /// An integer or NULL.
    OptInt(Option<i64>),
    /// A constant string (a source's or a state's name).
    Str(&'static str),
    /// A string.
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Value {
        Value::OptInt(v)
    }
}

impl From<&'static str> for Value {
    fn from(v: &'static str) -> Value {
        Value::Str(v)
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}

/// One statement and its values, in the order of its markers. Only the
/// markers are generated into the SQL text; every value is bound.
#[derive(Debug)]
pub struct Statement {
    sql: String,
    values: Vec<Value>,
}

impl Statement {
    /// `sql`, with values to bind in marker order.
    pub fn new(sql: String) -> Statement {
        Statement {
            sql,
            values: Vec::new(),
        }
    }

    /// Binds the next marker.
    pub fn bind(&mut self, value: impl Into<Value>) -> &mut Statement {
        self.values.push(value.into());
        self
    }

    /// A write transaction's first statement: on SQLite `BEGIN IMMEDIATE`,
    /// as [`super::Store::begin_write`] begins.
    pub(crate) fn begin_write(backend: Backend) -> Statement {
        Statement::new(
            match backend {
                Backend::Sqlite => super::BEGIN_WRITE_SQLITE,
                Backend::Postgres => "BEGIN",
            }
            .to_string(),
        )
    }

    /// `COMMIT`.
    pub(crate) fn commit() -> Statement {
        Statement::new("COMMIT".to_string())
    }

    /// Runs it alone; its rows.
    pub(crate) async fn fetch_all(self, conn: &mut AnyConnection) -> sqlx::Result<Vec<AnyRow>> {
        let sql = self.sql;
        bind(sqlx::query(AssertSqlSafe(sql)), self.values)
            .fetch_all(conn)
            .await
    }
}

type AnyQuery = sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>;

fn bind(mut query: AnyQuery, values: Vec<Value>) -> AnyQuery {
    for value in values {
        query = match value {
            Value::Int(v) => query.bind(v),
            Value::OptInt(v) => query.bind(v),
            Value::Str(v) => query.bind(v),
            Value::Text(v) => query.bind(v),
        };
    }
    query
}

/// Statements to run in order, in one round trip on SQLite.
#[derive(Debug)]
pub struct Script {
    backend: Backend,
    statements: Vec<Statement>,
}

impl Script {
    /// An empty script for `conn`'s database.
    pub fn for_conn(conn: &AnyConnection) -> Script {
        Script::new(Backend::of(conn))
    }

    /// An empty script for `backend`'s database.
    pub fn new(backend: Backend) -> Script {
        Script {
            backend,
            statements: Vec::new(),
        }
    }

    /// The database it is written for.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Appends a statement.
    pub fn push(&mut self, statement: Statement) {
        self.statements.push(statement);
    }

    /// Appends statements.
    pub fn extend(&mut self, statements: impl IntoIterator<Item = Statement>) {
        self.statements.extend(statements);
    }

    /// How many statements it holds.
    pub fn len(&self) -> usize {
        self.statements.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// Runs every statement, in order, for what they write.
    pub async fn execute(self, conn: &mut AnyConnection) -> sqlx::Result<()> {
        self.run(conn).await.map(drop)
    }

    /// Runs every statement, in order, and returns each one's rows, in
    /// order. The first failing statement ends the script: the ones after
    /// it do not run, and the caller rolls back whatever transaction it is
    /// in.
    pub async fn run(self, conn: &mut AnyConnection) -> sqlx::Result<Vec<Vec<AnyRow>>> {
        let n = self.statements.len();
        if self.backend == Backend::Postgres || n < 2 {
            let mut out = Vec::with_capacity(n);
            for statement in self.statements {
                out.push(statement.fetch_all(&mut *conn).await?);
            }
            return Ok(out);
        }
        let mut sql = String::with_capacity(self.statements.iter().map(|s| s.sql.len() + 2).sum());
        let mut values = Vec::with_capacity(self.statements.iter().map(|s| s.values.len()).sum());
        for (i, statement) in self.statements.into_iter().enumerate() {
            if i > 0 {
                sql.push_str(";\n");
            }
            sql.push_str(&statement.sql);
            values.extend(statement.values);
        }
        let query = bind(sqlx::query(AssertSqlSafe(sql)), values);
        let mut out: Vec<Vec<AnyRow>> = Vec::with_capacity(n);
        let mut rows = Vec::new();
        let mut results = conn.fetch_many(query);
        while let Some(step) = results.try_next().await? {
            match step {
                // Each statement ends with its result, after its rows.
                Either::Left(_) => out.push(std::mem::take(&mut rows)),
                Either::Right(row) => rows.push(row),
            }
        }
        if out.len() != n {
            return Err(sqlx::Error::Protocol(format!(
                "a script of {n} statements returned {} results",
                out.len()
            )));
        }
        Ok(out)
    }
}
