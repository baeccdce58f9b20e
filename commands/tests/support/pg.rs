//! Real PostgreSQL for the postgres diagnostic's tests.
//!
//! - [`shared_url`]: the shared test server (`scripts/services start`,
//!   127.0.0.1:55432), for checks that only read.
//! - [`Cluster`]: a small server of the test's own (initdb in a temporary
//!   directory, a free loopback port), for what would disturb others:
//!   filling `max_connections`, holding locks, restarting, a replica. It is
//!   stopped when dropped, also when the test panics.
//!
//! Under `CI=true` a missing server or missing binaries fail the test;
//! elsewhere the test is skipped with a note saying how to run it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// The shared server unless `MEDIC_TEST_PG_URL` says otherwise.
pub const DEFAULT_SHARED_URL: &str = "postgres://postgres:pg-pw-6e1c@127.0.0.1:55432/postgres";

/// Whether this is a CI run, where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn missing(what: &str) -> Option<std::convert::Infallible> {
    if in_ci() {
        panic!("{what} (CI=true: tests never skip). Start the services with scripts/test.");
    }
    eprintln!("SKIPPED: {what}; run scripts/test to start the services.");
    None
}

/// The shared server's URL, verified to answer; `None` (skip) outside CI.
pub async fn shared_url() -> Option<String> {
    let url = std::env::var("MEDIC_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_SHARED_URL.into());
    let probe = async {
        let mut conn = PgConnection::connect(&url).await.ok()?;
        sqlx::query("SELECT 1").execute(&mut conn).await.ok()?;
        conn.close().await.ok()
    };
    match tokio::time::timeout(Duration::from_secs(3), probe).await {
        Ok(Some(())) => Some(url),
        _ => {
            missing(&format!("no PostgreSQL answers at {}", redact(&url)))?;
            None
        }
    }
}

fn redact(url: &str) -> String {
    medic_commands::redact::Redactor::new().redact(url)
}

/// The newest installed PostgreSQL's bin directory.
fn bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    // Version directories are numbers ("15", "16"): compare numerically.
    dirs.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop()
}

/// The uid and gid of the `postgres` account, when running as root:
/// initdb and the server refuse to run as root.
fn server_user() -> Option<(u32, u32)> {
    if rustix_is_root() {
        let passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
        let line = passwd
            .lines()
            .find(|l| l.starts_with("postgres:"))
            .expect("running as root needs a `postgres` account (the postgresql package makes it)");
        let fields: Vec<&str> = line.split(':').collect();
        Some((fields[2].parse().unwrap(), fields[3].parse().unwrap()))
    } else {
        None
    }
}

fn rustix_is_root() -> bool {
    // The effective uid of this process, from /proc (no libc binding needed).
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A PostgreSQL server of one test's own. Dropping it stops the server
/// (immediate mode: nothing in it is worth a checkpoint) and removes its
/// directory.
pub struct Cluster {
    bin: PathBuf,
    user: Option<(u32, u32)>,
    /// Holds the data directory, the socket and the log.
    dir: tempfile::TempDir,
    data: PathBuf,
    /// The loopback port it listens on.
    pub port: u16,
    running: bool,
}

impl Cluster {
    /// initdb and start a server with `settings` (`key = value` lines for
    /// postgresql.conf) on a free port. `None` (skip) outside CI when
    /// PostgreSQL is not installed.
    pub fn start(settings: &[&str]) -> Option<Cluster> {
        let Some(bin) = bin_dir() else {
            missing("PostgreSQL binaries (initdb) are not installed under /usr/lib/postgresql")?;
            return None;
        };
        let mut cluster = Cluster::empty(bin);
        let data = cluster.data.to_str().unwrap().to_string();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
        );
        cluster.configure(settings);
        cluster.pg_ctl_start();
        Some(cluster)
    }

    fn empty(bin: PathBuf) -> Cluster {
        let user = server_user();
        let dir = tempfile::Builder::new()
            .prefix("medic-pg-")
            .tempdir_in(std::env::temp_dir())
            .expect("temporary directory");
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown to postgres");
        }
        let data = dir.path().join("data");
        Cluster {
            bin,
            user,
            dir,
            data,
            port: free_port(),
            running: false,
        }
    }

    /// Appends the test's settings to postgresql.conf; later lines win, so
    /// a replica's copy can be given its own port.
    fn configure(&self, settings: &[&str]) {
        let socket = self.dir.path().display();
        let mut conf = format!(
            "\n# medic test\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{socket}'\n\
             shared_buffers = 16MB\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n",
            self.port
        );
        for s in settings {
            conf.push_str(s);
            conf.push('\n');
        }
        let path = self.data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&path).expect("postgresql.conf");
        text.push_str(&conf);
        std::fs::write(&path, text).expect("write postgresql.conf");
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    fn pg_ctl_start(&mut self) {
        let (data, log) = (self.data_arg(), self.log().display().to_string());
        self.run(
            "pg_ctl",
            &["-D", &data, "-l", &log, "-w", "-t", "60", "start"],
        );
        self.running = true;
    }

    fn data_arg(&self) -> String {
        self.data.display().to_string()
    }

    /// `pg_ctl restart`: every session ends with "terminating connection
    /// due to administrator command".
    pub fn restart(&self) {
        let (data, log) = (self.data_arg(), self.log().display().to_string());
        self.run(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-w", "-t", "60", "-m", "fast", "restart",
            ],
        );
    }

    /// A streaming replica of this server made with `pg_basebackup -R`,
    /// started on a port of its own with `settings` added.
    pub fn replica(&self, settings: &[&str]) -> Cluster {
        let mut replica = Cluster::empty(self.bin.clone());
        let port = self.port.to_string();
        let data = replica.data_arg();
        replica.run(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-D",
                &data,
                "-R",
                "-X",
                "stream",
                "--no-sync",
            ],
        );
        replica.configure(settings);
        replica.pg_ctl_start();
        replica
    }

    /// A URL for `database` as the `postgres` superuser (trust auth).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// A new session to `database`, named `application` in pg_stat_activity.
    pub async fn session(&self, database: &str, application: &str) -> PgConnection {
        let opts: sqlx::postgres::PgConnectOptions = self.url(database).parse().unwrap();
        PgConnection::connect_with(&opts.application_name(application))
            .await
            .unwrap_or_else(|e| panic!("connect to the test cluster: {e}"))
    }

    /// Runs `program` from the PostgreSQL bin directory as the server's
    /// user, from argv; panics with its output and the server log on
    /// failure.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let mut cmd = Command::new(self.bin.join(program));
        cmd.args(args).current_dir(self.dir.path());
        if let Some((uid, gid)) = self.user {
            use std::os::unix::process::CommandExt;
            cmd.uid(uid).gid(gid).env("HOME", self.dir.path());
        }
        let started = Instant::now();
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"));
        if !out.status.success() {
            panic!(
                "{program} {args:?} failed after {:?}: {}\n{}\nserver log:\n{}",
                started.elapsed(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(self.log()).unwrap_or_default()
            );
        }
        out
    }

    /// Where the server's data is.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.running {
            return;
        }
        let mut cmd = Command::new(self.bin.join("pg_ctl"));
        cmd.args([
            "-D",
            &self.data_arg(),
            "-m",
            "immediate",
            "-w",
            "-t",
            "30",
            "stop",
        ])
        .current_dir(self.dir.path());
        if let Some((uid, gid)) = self.user {
            use std::os::unix::process::CommandExt;
            cmd.uid(uid).gid(gid);
        }
        // Errors are ignored: a panicking test must still clean up the rest.
        let _ = cmd.output();
    }
}
