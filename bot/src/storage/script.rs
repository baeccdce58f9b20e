//! Statements run together, in order, on one connection.
//!
//! The delivery writer's batch is a chain of statements (begin, insert,
//! read the open incidents, count the repeats, queue the root edits,
//! commit) whose values are all known before the first is sent; a
//! [`Script`] holds them with their values and runs them one after the
//! other, each with its own prepared statement, returning each one's rows.
//! (Sending them to SQLite as one multi-statement text saved round trips
//! but relied on behaviour sqlx marks deprecated, and did not make ingest
//! faster.)
//!
//! Only statements whose values are known before it runs can share a
//! script: what depends on a row read in the same transaction goes in the
//! next one.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe};

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

/// Statements to run in order.
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
        let mut out = Vec::with_capacity(self.statements.len());
        for statement in self.statements {
            out.push(statement.fetch_all(&mut *conn).await?);
        }
        Ok(out)
    }
}
