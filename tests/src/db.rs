//! A fresh database per test: an SQLite file in a temporary directory, or,
//! when `MEDIC_TEST_DATABASE_URL` names a PostgreSQL server, a new database
//! created on it (and dropped when the test stops medic).

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// One test's database.
#[derive(Debug)]
pub enum TestDb {
    /// A file that disappears with the directory.
    Sqlite {
        /// Keeps the directory alive.
        dir: tempfile::TempDir,
        /// `sqlite://…`.
        url: String,
    },
    /// A database created for this test.
    Postgres {
        /// The server's admin URL (to drop the database afterwards).
        admin: String,
        /// The database name.
        name: String,
        /// `postgres://…/name`.
        url: String,
    },
    /// Another test medic's database (a second replica on it): dropped
    /// by its owner, never by this one.
    Shared {
        /// The owner's URL.
        url: String,
    },
}

impl TestDb {
    /// A new database on the test PostgreSQL server
    /// (`MEDIC_TEST_PG_URL`), whichever backend the run is on: for what
    /// only PostgreSQL does (several replicas on one database). `None`
    /// (skip) only outside CI.
    pub async fn postgres() -> Option<TestDb> {
        let admin = std::env::var("MEDIC_TEST_PG_URL").ok();
        let answers = match &admin {
            Some(url) => PgConnection::connect(url).await.is_ok(),
            None => false,
        };
        match admin {
            Some(admin) if answers => Some(Self::create(admin).await),
            _ if crate::services::in_ci() => panic!(
                "PostgreSQL is required at MEDIC_TEST_PG_URL (CI=true: tests never skip). Start it with scripts/test."
            ),
            _ => {
                eprintln!(
                    "SKIPPED: no PostgreSQL at MEDIC_TEST_PG_URL; run scripts/test to start one."
                );
                None
            }
        }
    }

    /// Creates the database for one test.
    pub async fn fresh() -> TestDb {
        match std::env::var("MEDIC_TEST_DATABASE_URL") {
            Ok(admin) if admin.starts_with("postgres") => Self::create(admin).await,
            _ => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("medic.db").display());
                TestDb::Sqlite { dir, url }
            }
        }
    }

    /// A new database on the PostgreSQL server at `admin`.
    async fn create(admin: String) -> TestDb {
        let name = format!(
            "medic_test_{}_{}_{}",
            std::process::id(),
            crate::now_unix(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let mut conn = PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL does not answer at {admin}: {e}"));
        // The name is ours (digits and underscores), never user input.
        conn.execute(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .await
            .expect("CREATE DATABASE");
        let mut url = url::Url::parse(&admin).expect("admin URL parses");
        url.set_path(&name);
        TestDb::Postgres {
            admin,
            name,
            url: url.to_string(),
        }
    }

    /// The URL for `database.url`.
    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url, .. } | TestDb::Shared { url } => {
                url
            }
        }
    }

    /// Which backend, for test names in messages.
    pub fn backend(&self) -> &'static str {
        match self {
            TestDb::Sqlite { .. } => "sqlite",
            TestDb::Postgres { .. } => "postgres",
            TestDb::Shared { url } if url.starts_with("postgres") => "postgres",
            TestDb::Shared { .. } => "sqlite",
        }
    }

    /// Drops a PostgreSQL test database (SQLite files go with their
    /// directory).
    pub async fn drop_database(&self) {
        if let TestDb::Postgres { admin, name, .. } = self
            && let Ok(mut conn) = PgConnection::connect(admin).await
        {
            let _ = conn
                .execute(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .await;
        }
    }
}
