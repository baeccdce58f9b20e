//! Purpose: what an on-call engineer types on a box when connections drop —
//! `df -h`, `free -h`, `cat /proc/sys/fs/file-nr`, `uptime`,
//! `dmesg | grep -i oom`, `systemctl --failed`, `tail /var/log/apt/history.log`
//! (and `zcat history.log.*.gz`), `ls releases/ | tail`, and
//! `dmesg | grep "systemd\[1\]:"` — done at once, from
//! `seeds/production-debugging-guide.md` steps 3 to 6.
//!
//! # Layout
//!
//! One file per check family; each has a pure reading function (text in,
//! findings out, "now" passed in) tested against real fixtures, and a thin
//! async shell that reads under [`HostTarget::root`]:
//! [`disk`] (space and inodes per mount), [`memory`] (memory and swap),
//! [`fds`], [`load`], [`oom`] (OOM-killer events), [`systemd`] (failed
//! units), [`apt`] (package changes, high-impact ones flagged; [`dpkg`] adds what
//! bypassed apt), [`releases`]
//! (recent deploys), [`journal`] (daemon reloads and journal restarts),
//! [`network`] (the `interfaces`' state, addresses, units and link events),
//! [`peers`] (a TCP connect to each of `peers`), [`unattended`] (what
//! unattended-upgrades did; [`aptconf`] for Automatic-Reboot and the timer,
//! [`reboot`] for a pending reboot), [`unit_journal`] (the `units`' own
//! journal lines around the incident's first alert, or up to now).
//! [`clock`] reads log timestamps; [`machine`] is the only way to the host
//! ([`io`] for this machine: capped reads, argv commands with a timeout;
//! [`ssh`] and [`snapshot`] for a remote one).
//!
//! Every check reads through a [`machine::Machine`]: this machine, with
//! every file read under `root` (so a container reads a host mounted at
//! `/host` and tests feed fixtures from a temporary directory), or a remote
//! host (`ssh = "deploy@10.0.1.1"`) whose files and command outputs
//! [`ssh`] collects in one round trip with the fixed script of
//! [`snapshot`]. Commands (`dmesg`, `systemctl`, `journalctl`) describe the
//! running kernel, so they run only when `root` is `/`, or over ssh — except
//! `journalctl --directory` for the `units`, which reads the journal's files
//! under `root` like any other file.

pub mod apt;
pub mod aptconf;
pub mod clock;
pub mod disk;
pub mod dpkg;
pub mod fds;
pub mod io;
pub mod journal;
pub mod load;
pub mod machine;
pub mod memory;
pub mod network;
pub mod oom;
pub mod packages;
pub mod peers;
pub mod reboot;
pub mod releases;
mod remote;
pub mod snapshot;
pub mod ssh;
pub mod systemd;
pub mod timeline;
pub mod unattended;
pub mod unit_journal;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use serde::Deserialize;
use time::OffsetDateTime;

use super::{Check, Diagnostic};
use crate::model::report::Finding;
use crate::redact::Redactor;

/// `[targets.NAME] kind = "host"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostTarget {
    /// Where the host's filesystem is: `/` for this machine, `/host` for a
    /// host mounted into medic's container. Every file is read under it.
    #[serde(default = "default_root")]
    pub root: PathBuf,
    /// The most the whole diagnostic may take (default 5 s); each check gets
    /// most of it, so one slow check cannot hide the others.
    #[serde(
        default = "crate::diagnostics::default_timeout",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub timeout: Duration,
    /// A directory (under `root`) of releases named `YYYYMMDDHHMMSS`
    /// (Capistrano, Hatchbox); without it there is no deploy check.
    #[serde(default)]
    pub releases_dir: Option<PathBuf>,
    /// How far back package changes, OOM kills and systemd reloads count
    /// (default 24 h).
    #[serde(
        default = "default_window",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub upgrade_window: Duration,
    /// `user@host`: check that host over ssh instead of this machine
    /// (the system ssh client, batch mode, strict host keys; see [`ssh`]).
    #[serde(default)]
    pub ssh: Option<String>,
    /// The ssh port (default 22).
    #[serde(default)]
    pub ssh_port: Option<u16>,
    /// The private key medic logs in with (default: the ssh client's own
    /// choice, the user's keys and agent).
    #[serde(default)]
    pub ssh_key: Option<PathBuf>,
    /// The known_hosts file holding the host's key (default: the user's).
    /// The key is always checked strictly: an unknown or changed host key
    /// stops the run with a finding.
    #[serde(default)]
    pub ssh_known_hosts: Option<PathBuf>,
    /// Network interfaces whose state is checked (`["enp7s0"]`, the
    /// private network the databases are reached over): up or down,
    /// carrier, addresses, the unit that manages it. None by default.
    #[serde(default)]
    pub interfaces: Vec<String>,
    /// `host:port` addresses the host must reach (`["10.0.1.2:6379"]`),
    /// tried with a TCP connect from the host. None by default.
    #[serde(default)]
    pub peers: Vec<crate::diagnostics::net::Address>,
    /// systemd units whose journal lines are quoted (`["redis-server",
    /// "postgresql@15-main"]`): the last ones in a window around the
    /// incident's first alert, or up to now for `/diag`. None by default.
    #[serde(default)]
    pub units: Vec<String>,
    /// The `journalctl` program run for `units`: `journalctl` on PATH.
    /// Not a config key (unknown keys are refused): tests name a stand-in
    /// script, the way a fixture root stands in for a host's files.
    #[doc(hidden)]
    #[serde(skip, default = "default_journalctl")]
    pub journalctl: String,
}

/// The most `interfaces` a target may name: each is a few files and a
/// finding in the thread; more is a list nobody reads at 3 a.m.
pub const MAX_INTERFACES: usize = 8;
/// The most `peers` a target may name: they are tried at once, and over
/// ssh each is a process on the host.
pub const MAX_PEERS: usize = 16;

fn default_journalctl() -> String {
    "journalctl".into()
}

fn default_root() -> PathBuf {
    PathBuf::from("/")
}

fn default_window() -> Duration {
    Duration::from_secs(24 * 3600)
}

impl HostTarget {
    /// The zero-config target: this machine.
    pub fn local_default() -> Self {
        HostTarget {
            root: default_root(),
            timeout: crate::diagnostics::default_timeout(),
            releases_dir: None,
            upgrade_window: default_window(),
            ssh: None,
            ssh_port: None,
            ssh_key: None,
            ssh_known_hosts: None,
            interfaces: Vec::new(),
            peers: Vec::new(),
            units: Vec::new(),
            journalctl: default_journalctl(),
        }
    }

    /// A target reading the files under `root` (tests, a mounted host).
    pub fn under_root(root: impl Into<PathBuf>) -> Self {
        HostTarget {
            root: root.into(),
            ..Self::local_default()
        }
    }

    /// Checks what serde cannot. The error names the key at fault and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        match &self.ssh {
            Some(dest) => {
                ssh::Destination::parse(dest).map_err(|m| ("ssh", m))?;
                if self.root != Path::new("/") {
                    return Err((
                        "root",
                        "cannot be combined with ssh: a remote host is read from its own /".into(),
                    ));
                }
                if self.ssh_port == Some(0) {
                    return Err(("ssh_port", "must be a port number, 1 to 65535".into()));
                }
                if let Some(key) = &self.ssh_key {
                    ssh::check_path(key).map_err(|m| ("ssh_key", m))?;
                }
                if let Some(known) = &self.ssh_known_hosts {
                    ssh::check_path(known).map_err(|m| ("ssh_known_hosts", m))?;
                }
            }
            None => {
                for (key, set) in [
                    ("ssh_port", self.ssh_port.is_some()),
                    ("ssh_key", self.ssh_key.is_some()),
                    ("ssh_known_hosts", self.ssh_known_hosts.is_some()),
                ] {
                    if set {
                        return Err((key, "only means something with ssh = \"user@host\"".into()));
                    }
                }
            }
        }
        if !self.root.is_absolute() {
            return Err(("root", "must be an absolute path, like / or /host".into()));
        }
        if self.upgrade_window.is_zero() {
            return Err(("upgrade_window", "must be longer than 0, like 24h".into()));
        }
        if self.interfaces.len() > MAX_INTERFACES {
            return Err((
                "interfaces",
                format!("names {}; at most {MAX_INTERFACES}", self.interfaces.len()),
            ));
        }
        for name in &self.interfaces {
            network::check_name(name).map_err(|m| ("interfaces", m))?;
        }
        if self.peers.len() > MAX_PEERS {
            return Err((
                "peers",
                format!("names {}; at most {MAX_PEERS}", self.peers.len()),
            ));
        }
        for peer in &self.peers {
            peers::check_host(&peer.host).map_err(|m| ("peers", m))?;
        }
        if self.units.len() > unit_journal::MAX_UNITS {
            return Err((
                "units",
                format!(
                    "names {}; at most {}",
                    self.units.len(),
                    unit_journal::MAX_UNITS
                ),
            ));
        }
        for unit in &self.units {
            unit_journal::check_name(unit).map_err(|m| ("units", m))?;
        }
        Ok(())
    }

    /// This machine itself, rather than files under another root or a
    /// host over ssh.
    pub fn is_local(&self) -> bool {
        self.ssh.is_none() && self.root == Path::new("/")
    }

    /// The time each check may take: most of the whole, so that a stuck
    /// check is reported by name before the diagnostic's own timeout.
    fn check_budget(&self) -> Duration {
        self.timeout
            .mul_f64(0.8)
            .max(Duration::from_millis(100).min(self.timeout))
    }

    /// Runs every check as of `now`, at once, and returns all findings.
    /// [`Diagnostic::checks`] uses the wall clock; tests pass a fixed
    /// instant that matches their fixtures.
    pub async fn check_all(&self, now: OffsetDateTime) -> Vec<Finding> {
        self.check_all_around(now, None).await
    }

    /// [`HostTarget::check_all`] for an incident whose first alert was at
    /// `around`: the `units`' journal is read around it.
    pub async fn check_all_around(
        &self,
        now: OffsetDateTime,
        around: Option<OffsetDateTime>,
    ) -> Vec<Finding> {
        use futures::StreamExt;
        super::run_checks(
            self.checks_around(now, around),
            self.timeout,
            &self.location(),
            self.redactor(),
        )
        .flat_map(|done| futures::stream::iter(done.findings))
        .collect()
        .await
    }

    /// The checks of a run as of `now`.
    pub fn checks_at(&self, now: OffsetDateTime) -> Vec<Check> {
        self.checks_around(now, None)
    }

    /// The checks of a run as of `now`, for an incident whose first alert
    /// was at `around` (`None` for `/diag`): only the `units`' journal
    /// window depends on it; every other check describes the host now.
    pub fn checks_around(&self, now: OffsetDateTime, around: Option<OffsetDateTime>) -> Vec<Check> {
        let journal_window = unit_journal::Window::new(now, around);
        // Over ssh, the machine is what one connection collected; when it
        // fails, the ssh check says why and the others stay silent (never
        // this machine's answers for another host's).
        let machine: remote::SharedMachine = self.machine(now, &journal_window);
        let root = self.root.clone();
        let window = self.upgrade_window;
        let budget = self.check_budget();
        // The log clock (the host's time zone) is read once and shared.
        let ctx = {
            let machine = machine.clone();
            async move {
                let machine = machine.await.0?;
                let clock = clock::LogClock::load(&machine, now).await;
                Some(Arc::new(Ctx {
                    root,
                    local: machine.runs_commands(),
                    machine,
                    clock,
                    window,
                    window_start: now - window,
                    budget,
                }))
            }
            .boxed()
            .shared()
        };
        // syslog is read once and shared by the OOM and reload checks.
        let since = std::time::SystemTime::from(now - self.upgrade_window);
        let syslog = {
            let machine = machine.clone();
            async move {
                let files = match machine.await.0 {
                    Some(m) => m.read_rotated(SYSLOG, Some(since)).await,
                    None => Vec::new(),
                };
                Arc::new(files)
            }
            .boxed()
            .shared()
        };
        let releases_dir = self.releases_dir.clone();
        // systemctl --failed is run once and shared by the systemd and
        // network checks.
        let failed: systemd::SharedFailed = {
            let ctx = ctx.clone();
            async move {
                Arc::new(match ctx.await {
                    Some(c) => systemd::read_failed(&c).await,
                    None => Ok(Vec::new()),
                })
            }
            .boxed()
            .shared()
        };
        let interfaces = self.interfaces.clone();
        let peers = self.peers.clone();
        let units = self.units.clone();
        let journalctl = self.journalctl.clone();
        let redactor = self.redactor();

        /// A check that first waits for the shared context; silent when
        /// there is no machine to read (the ssh check says why).
        macro_rules! check {
            ($id:literal, $what:literal, |$c:ident| $body:expr) => {{
                let ctx = ctx.clone();
                Check::new($id, $what, async move {
                    match ctx.await {
                        Some($c) => $body.await,
                        None => Vec::new(),
                    }
                })
                .silence_hint(SILENCE_HINT)
            }};
        }
        let (oom_log, reload_log, net_log) = (syslog.clone(), syslog.clone(), syslog);
        let net_failed = failed.clone();
        let mut checks = Vec::new();
        if self.ssh.is_some() {
            checks.push(
                Check::new("host.ssh", "The ssh connection", async move {
                    machine.await.1.into_iter().collect()
                })
                .critical_when_silent()
                .silence_hint(
                    "sshd accepted the connection and never answered, or the host is overloaded.",
                ),
            );
        }
        checks.extend([
            check!("host.disk", "Disk use", |c| disk::check(&c)),
            check!("host.memory", "Memory", |c| memory::check(&c)),
            check!("host.fds", "File descriptors", |c| fds::check(&c)),
            check!("host.load", "Load", |c| load::check(&c)),
            check!("host.oom", "The kernel log", |c| oom::check(&c, oom_log)),
            check!("host.systemd", "systemctl --failed", |_c| systemd::check(
                failed
            )),
            check!("host.apt", "The apt history", |c| apt::check(&c)),
            check!("host.deploys", "The releases directory", |c| {
                releases::check(&c, releases_dir.as_deref())
            }),
            check!("host.reloads", "The system log", |c| journal::check(
                &c, reload_log
            )),
            check!("host.unattended", "unattended-upgrades", |c| {
                unattended::check(&c)
            }),
        ]);
        if !interfaces.is_empty() {
            checks.push(check!("host.network", "The network interfaces", |c| {
                network::check(&c, &interfaces, net_failed, net_log)
            }));
        }
        if !peers.is_empty() {
            checks.push(check!("host.peers", "TCP connects to the peers", |c| {
                peers::check(&c, &peers)
            }));
        }
        if !units.is_empty() {
            checks.push(check!("host.journal", "journalctl -u for the units", |c| {
                unit_journal::check(&c, &journalctl, &units, journal_window, &redactor)
            }));
        }
        checks
    }
}

/// The system log, as the checks name it.
pub const SYSLOG: &str = "var/log/syslog";

/// What a host check's silence usually means.
const SILENCE_HINT: &str = "A hung network mount or an overloaded machine looks like this.";

/// What every check needs to know about this run.
pub struct Ctx {
    /// The root every file is read under (`/` over ssh), for messages.
    pub root: PathBuf,
    /// Commands describe the host: `root` is `/`, or the host is read over
    /// ssh.
    pub local: bool,
    /// Where files are read and commands run.
    pub machine: machine::Machine,
    /// Now, and how to read the host's log times.
    pub clock: clock::LogClock,
    /// How far back events count.
    pub window: Duration,
    /// `clock.now - window`.
    pub window_start: OffsetDateTime,
    /// The time each check (and each command) may take.
    pub budget: Duration,
}

impl Ctx {
    /// `path` under the root.
    pub fn path(&self, path: &str) -> PathBuf {
        io::under(&self.root, path)
    }

    /// The window in words: "24 h".
    pub fn window_words(&self) -> String {
        crate::format::human_age(self.window.as_secs())
    }
}

/// The syslog of the host and its rotations, read once.
pub type SharedSyslog =
    futures::future::Shared<futures::future::BoxFuture<'static, Arc<Vec<io::LogFile>>>>;

impl Diagnostic for HostTarget {
    const KIND: &'static str = "host";

    fn location(&self) -> String {
        match (self.ssh(), self.is_local()) {
            (Some(Ok(ssh)), _) => format!("{} over ssh", ssh.shown()),
            (Some(Err(_)), _) => "an invalid ssh destination".into(),
            (None, true) => "this machine".into(),
            (None, false) => format!("this machine, files under {}", self.root.display()),
        }
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn redactor(&self) -> Redactor {
        // No secret in a host target's config. Log lines quoted as evidence
        // (an apt command line, a kernel line) still pass the redactor's
        // secret shapes (password=…, URL credentials, tokens) in Target::run.
        Redactor::new()
    }

    fn checks(&self) -> Vec<Check> {
        self.checks_at(OffsetDateTime::now_utc())
    }
}
