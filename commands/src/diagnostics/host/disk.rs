//! Purpose: `df -h` and `df -i` — a full disk crashes databases and makes
//! Redis refuse writes (MISCONF), and running out of inodes looks like a
//! full disk with free space (`seeds/production-debugging-guide.md`, step 6).
//!
//! Mounts come from `/proc/mounts`; pseudo filesystems (proc, tmpfs,
//! cgroup, …), read-only images that are always full (squashfs snaps) and
//! repeated mounts of one device (bind mounts, Docker's overlays) are left
//! out, so every line is a real disk.

use std::collections::HashSet;

use super::Ctx;
use super::io;
use crate::format::{human_bytes, percent};
use crate::model::report::{Finding, Status};

/// Share used at which a disk (or its inodes) is a warning.
pub const WARN_RATIO: f64 = 0.85;
/// Share used at which it is critical.
pub const CRITICAL_RATIO: f64 = 0.95;

/// Filesystem types that hold no user data on a disk.
const PSEUDO: &[&str] = &[
    "proc",
    "sysfs",
    "tmpfs",
    "devtmpfs",
    "devpts",
    "cgroup",
    "cgroup2",
    "securityfs",
    "pstore",
    "debugfs",
    "tracefs",
    "configfs",
    "fusectl",
    "mqueue",
    "hugetlbfs",
    "bpf",
    "autofs",
    "binfmt_misc",
    "rpc_pipefs",
    "nsfs",
    "efivarfs",
    "selinuxfs",
    "ramfs",
    "squashfs",
    "nfsd",
    "fuse.lxcfs",
    "fuse.gvfsd-fuse",
    "fuse.snapfuse",
    "fuse.portal",
    "overlay",
    "shm",
    "iso9660",
];

/// One mounted filesystem worth checking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The device or source (`/dev/sda1`).
    pub source: String,
    /// Where it is mounted, as the host sees it (`/var/lib/postgresql`).
    pub point: String,
    /// Its type (`ext4`).
    pub fstype: String,
}

/// Reads `/proc/mounts`, keeping real disks once each. An overlay is kept
/// only when it is `/` (a container's root); a device mounted at several
/// places is kept at its shortest mount point.
pub fn parse_mounts(text: &str) -> Vec<Mount> {
    let mut out: Vec<Mount> = Vec::new();
    let mut seen = HashSet::new();
    let mut all: Vec<Mount> = text
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some(Mount {
                source: unescape(f.next()?),
                point: unescape(f.next()?),
                fstype: f.next()?.to_string(),
            })
        })
        .filter(|m| {
            !PSEUDO.contains(&m.fstype.as_str()) || (m.fstype == "overlay" && m.point == "/")
        })
        .collect();
    all.sort_by_key(|m| m.point.len());
    for m in all {
        if m.source.starts_with('/') && !seen.insert(m.source.clone()) {
            continue;
        }
        if out.iter().any(|o| o.point == m.point) {
            continue;
        }
        out.push(m);
    }
    out.sort_by(|a, b| a.point.cmp(&b.point));
    out
}

/// `/proc/mounts` writes a space as `\040`, a tab as `\011`.
pub(crate) fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(code) = field.get(i + 1..i + 4)
            && let Ok(n) = u8::from_str_radix(code, 8)
        {
            out.push(n);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What `statvfs` says of one filesystem, in bytes and inodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Bytes in use.
    pub used: u64,
    /// Bytes an unprivileged user can still write (df's "Avail").
    pub avail: u64,
    /// Inodes in use.
    pub inodes_used: u64,
    /// Inodes in all (0 on filesystems without a fixed table, like btrfs).
    pub inodes_total: u64,
}

impl Usage {
    /// df's Use%: used against used + available, so the blocks reserved for
    /// root count as full, as they do for every service but root.
    pub fn ratio(&self) -> f64 {
        // In f64: two sizes near u64::MAX (a host's garbled answer) add
        // up without overflowing.
        let whole = self.used as f64 + self.avail as f64;
        if whole == 0.0 {
            0.0
        } else {
            self.used as f64 / whole
        }
    }
}

fn level(check: &str, ratio: f64, summary: String) -> Finding {
    Finding::new(
        check,
        Status::by_level(ratio, WARN_RATIO, CRITICAL_RATIO),
        summary,
    )
}

/// One finding per full disk (space or inodes), one finding for the rest,
/// one per mount that could not be read.
pub fn findings(results: &[(Mount, Result<Usage, String>)]) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut fine = Vec::new();
    let mut inodes_fine = 0;
    for (m, r) in results {
        let u = match r {
            Ok(u) => u,
            Err(e) => {
                out.push(Finding::unknown(
                    "host.disk",
                    format!("Cannot read the use of {} ({}): {e}", m.point, m.source),
                ));
                continue;
            }
        };
        if u.used + u.avail == 0 {
            continue;
        }
        let f = level(
            "host.disk",
            u.ratio(),
            format!(
                "Disk {} {} full ({} used, {} free)",
                m.point,
                percent(u.used, u.used + u.avail),
                human_bytes(u.used),
                human_bytes(u.avail)
            ),
        );
        if f.status == crate::Status::Ok {
            fine.push(format!("{} {}", m.point, percent(u.used, u.used + u.avail)));
        } else {
            out.push(
                f.with_detail(format!("{} ({}) on {}", m.source, m.fstype, m.point))
                    .with_detail("A full disk stops databases and makes Redis refuse writes; look for big logs (du -xh --max-depth=2) and old releases."),
            );
        }
        if u.inodes_total > 0 {
            let ratio = u.inodes_used as f64 / u.inodes_total as f64;
            let f = level(
                "host.inodes",
                ratio,
                format!(
                    "Inodes on {} {} used ({} of {})",
                    m.point,
                    percent(u.inodes_used, u.inodes_total),
                    u.inodes_used,
                    u.inodes_total
                ),
            );
            if f.status == crate::Status::Ok {
                inodes_fine += 1;
            } else {
                out.push(f.with_detail("Out of inodes, writes fail with \"No space left on device\" while df shows free space; look for directories of many small files (sessions, caches)."));
            }
        }
    }
    if !fine.is_empty() {
        out.push(Finding::ok(
            "host.disk",
            format!("Disk use ok: {}", fine.join(", ")),
        ));
    }
    if inodes_fine > 0 {
        out.push(Finding::ok(
            "host.inodes",
            format!(
                "Inodes ok on {inodes_fine} {}",
                if inodes_fine == 1 {
                    "filesystem"
                } else {
                    "filesystems"
                }
            ),
        ));
    }
    out
}

/// Reads the mount table and asks the kernel about each mount (under
/// `root`; a mount point that is already inside `root`, as in a container's
/// own table, is used as it is).
pub async fn check(ctx: &Ctx) -> Vec<Finding> {
    let mut table = None;
    let mut why = String::new();
    for name in ["proc/mounts", "proc/self/mounts"] {
        match ctx.machine.read_small(name).await {
            Ok(t) => {
                table = Some(t);
                break;
            }
            Err(e) => why = io::io_words(&e),
        }
    }
    let Some(table) = table else {
        return vec![
            Finding::unknown(
                "host.disk",
                format!(
                    "Cannot read the mount table ({}/proc/mounts: {why})",
                    ctx.root.display()
                ),
            )
            .with_detail("Mount the host's /proc under root, or run medic on the host."),
        ];
    };
    let mounts = parse_mounts(&table);
    // Every mount at once, each with its own limit: one hung network mount
    // is one unknown line, not a silent disk check.
    let limit = ctx.budget.mul_f64(0.75);
    let results = futures::future::join_all(mounts.into_iter().map(|m| async move {
        let usage = ctx.machine.fs_usage(&m.point, limit).await;
        (m, usage)
    }))
    .await;
    let mut out = findings(&results);
    if out.is_empty() {
        out.push(Finding::ok(
            "host.disk",
            "No disk filesystems mounted (nothing to check)",
        ));
    }
    out
}

pub(crate) fn statvfs(path: &std::path::Path) -> Result<Usage, String> {
    let s = rustix::fs::statvfs(path).map_err(|e| io::io_words(&e.into()))?;
    let frsize = if s.f_frsize > 0 {
        s.f_frsize
    } else {
        s.f_bsize
    };
    Ok(Usage {
        used: s.f_blocks.saturating_sub(s.f_bfree) * frsize,
        avail: s.f_bavail * frsize,
        inodes_used: s.f_files.saturating_sub(s.f_ffree),
        inodes_total: s.f_files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    const MOUNTS: &str = "\
sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
udev /dev devtmpfs rw,nosuid,relatime,size=8123456k 0 0
/dev/sda1 / ext4 rw,relatime 0 0
/dev/sda1 /var/lib/docker ext4 rw,relatime 0 0
tmpfs /run tmpfs rw,nosuid,nodev 0 0
/dev/loop0 /snap/core20/2105 squashfs ro,nodev,relatime 0 0
overlay /var/lib/docker/overlay2/abc/merged overlay rw,relatime 0 0
/dev/sdb1 /mnt/my\\040data xfs rw 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw 0 0
";

    #[test]
    fn only_real_disks_once_each() {
        let points: Vec<String> = parse_mounts(MOUNTS).into_iter().map(|m| m.point).collect();
        assert_eq!(points, ["/", "/mnt/my data"]);
        let container = "overlay / overlay rw 0 0\n/dev/vda1 /etc/hosts ext4 rw 0 0\n";
        let points: Vec<String> = parse_mounts(container)
            .into_iter()
            .map(|m| m.point)
            .collect();
        assert_eq!(points, ["/", "/etc/hosts"]);
    }

    #[test]
    fn a_full_disk_is_critical_and_the_rest_summarised() {
        let gib = 1u64 << 30;
        let disk = |point: &str| Mount {
            source: "/dev/sda1".into(),
            point: point.into(),
            fstype: "ext4".into(),
        };
        let results = vec![
            (
                disk("/"),
                Ok(Usage {
                    used: 48 * gib,
                    avail: 2 * gib,
                    inodes_used: 10,
                    inodes_total: 100,
                }),
            ),
            (
                disk("/data"),
                Ok(Usage {
                    used: 40 * gib,
                    avail: 60 * gib,
                    inodes_used: 90,
                    inodes_total: 100,
                }),
            ),
            (disk("/gone"), Err("permission denied".into())),
        ];
        let fs = findings(&results);
        let full = fs.iter().find(|f| f.status == Status::Critical).unwrap();
        assert_eq!(
            full.summary,
            "Disk / 96 % full (48.0 GiB used, 2.0 GiB free)"
        );
        assert!(fs.iter().any(|f| f.check == "host.inodes"
            && f.status == Status::Warn
            && f.summary == "Inodes on /data 90 % used (90 of 100)"));
        assert!(
            fs.iter()
                .any(|f| f.status == Status::Ok && f.summary == "Disk use ok: /data 40 %")
        );
        assert!(
            fs.iter()
                .any(|f| f.status == Status::Unknown && f.summary.contains("/gone"))
        );
    }
}
