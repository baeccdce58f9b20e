//! Purpose: the one question every host check asks — "read this file, run
//! this command, how full is this mount" — answered for whichever machine
//! the target names: this one (files under `root`), or a remote host whose
//! answers were collected over ssh in one round trip ([`super::snapshot`]).
//!
//! The checks do not know which; only here and in the snapshot does "where"
//! matter. A remote host answers only what the snapshot collected: anything
//! else reads as not found, never as this machine's answer.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::disk::Usage;
use super::io::{CmdError, CmdOutput, LogFile};
use super::snapshot::Snapshot;

/// Where the host checks read from.
#[derive(Debug, Clone)]
pub enum Machine {
    /// This machine; files are read under `root` (`/`, or a host mounted at
    /// `/host`).
    Local {
        /// The root every path is read under.
        root: PathBuf,
    },
    /// A remote host, as collected over ssh at the start of the run.
    Remote(Arc<Snapshot>),
}

impl Machine {
    /// This machine with `/` as root: the only case where this process's
    /// own view (its CPU count) is the host's.
    pub fn is_this_machine(&self) -> bool {
        matches!(self, Machine::Local { root } if root == Path::new("/"))
    }

    /// Whether commands (`dmesg`, `systemctl`, `journalctl`) describe the
    /// host: on this machine with root `/`, and on a remote host. Under
    /// another root they would describe the wrong kernel.
    pub fn runs_commands(&self) -> bool {
        match self {
            Machine::Local { .. } => self.is_this_machine(),
            Machine::Remote(_) => true,
        }
    }

    /// `/proc/meminfo` and the like, given as `proc/meminfo`.
    pub async fn read_small(&self, path: &str) -> io::Result<String> {
        match self {
            Machine::Local { root } => super::io::read_small(&super::io::under(root, path)).await,
            Machine::Remote(s) => s.file(path),
        }
    }

    /// A small binary file (`etc/localtime`).
    pub async fn read_bytes(&self, path: &str) -> io::Result<Vec<u8>> {
        match self {
            Machine::Local { root } => tokio::fs::read(super::io::under(root, path)).await,
            Machine::Remote(s) => s.bytes(path),
        }
    }

    /// A log and its rotations, newest first (see [`super::io::read_rotated`]).
    pub async fn read_rotated(&self, log: &str, since: Option<SystemTime>) -> Vec<LogFile> {
        match self {
            Machine::Local { root } => super::io::read_rotated(root, log, since).await,
            Machine::Remote(s) => s.log(log),
        }
    }

    /// Whether a path exists (`run/systemd/system`).
    pub async fn exists(&self, path: &str) -> bool {
        match self {
            Machine::Local { root } => super::io::exists(&super::io::under(root, path)).await,
            Machine::Remote(s) => s.exists(path),
        }
    }

    /// When a path was last modified (`run/reboot-required`: since when a
    /// reboot is pending).
    pub async fn modified(&self, path: &str) -> io::Result<SystemTime> {
        match self {
            Machine::Local { root } => tokio::fs::metadata(super::io::under(root, path))
                .await?
                .modified(),
            Machine::Remote(s) => s.modified(path),
        }
    }

    /// Every regular file of a directory, read like [`Machine::read_small`],
    /// in name order (at most [`super::snapshot::DIR_FILES_CAP`]): a
    /// `conf.d` directory whose later files override earlier ones.
    pub async fn read_dir_files(&self, dir: &str) -> Vec<(String, io::Result<String>)> {
        match self {
            Machine::Local { root } => {
                let path = super::io::under(root, dir);
                let Ok(mut names) = self.list_dir(Path::new(dir)).await else {
                    return Vec::new();
                };
                names.sort();
                let mut out = Vec::new();
                for name in names {
                    let file = path.join(&name);
                    if !tokio::fs::metadata(&file).await.is_ok_and(|m| m.is_file()) {
                        continue;
                    }
                    if out.len() >= super::snapshot::DIR_FILES_CAP {
                        break;
                    }
                    out.push((name, super::io::read_small(&file).await));
                }
                out
            }
            Machine::Remote(s) => s.dir_files(dir),
        }
    }

    /// The names in a directory (at most 10 000).
    pub async fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        match self {
            Machine::Local { root } => {
                let mut entries = tokio::fs::read_dir(super::io::under(root, path)).await?;
                let mut names = Vec::new();
                while let Ok(Some(entry)) = entries.next_entry().await {
                    if names.len() >= 10_000 {
                        break;
                    }
                    names.push(entry.file_name().to_string_lossy().into_owned());
                }
                Ok(names)
            }
            Machine::Remote(s) => s.dir(&path.to_string_lossy()),
        }
    }

    /// Runs a command on the host (callers check [`Machine::runs_commands`]
    /// first). On a remote host, only the commands the snapshot ran have an
    /// answer; any other reads as not installed.
    pub async fn run(&self, argv: &[&str], limit: Duration) -> Result<CmdOutput, CmdError> {
        match self {
            Machine::Local { .. } => super::io::run_argv(argv, limit).await,
            Machine::Remote(s) => s.command(argv),
        }
    }

    /// Space and inodes of the filesystem mounted at `point` (a mount
    /// point as the host's mount table names it), within `limit`.
    pub async fn fs_usage(&self, point: &str, limit: Duration) -> Result<Usage, String> {
        match self {
            Machine::Local { root } => {
                // A mount point already inside root (a container's own
                // table) is used as it is.
                let path: PathBuf = if root != Path::new("/") && Path::new(point).starts_with(root)
                {
                    PathBuf::from(point)
                } else {
                    super::io::under(root, point)
                };
                match tokio::time::timeout(
                    limit,
                    tokio::task::spawn_blocking(move || super::disk::statvfs(&path)),
                )
                .await
                {
                    Ok(Ok(usage)) => usage,
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err(format!(
                        "no answer within {} (a hung network mount?)",
                        crate::format::human_duration(limit)
                    )),
                }
            }
            Machine::Remote(s) => s.usage(point),
        }
    }
}
