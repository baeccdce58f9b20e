//! Purpose: `dmesg | grep -i "out of memory\|oom"` — when the kernel runs out
//! of memory it kills a process, often the biggest (the database, the JVM),
//! and the service's clients see connection resets with no error of its own
//! (`seeds/production-debugging-guide.md`, step 6).
//!
//! One kill writes several lines, and their words changed over the years:
//! - old kernels: `[Memory cgroup o|O]ut of memory: Kill process 1532 (x)
//!   score 919 or sacrifice child`, then `Killed process 1532 (x)
//!   total-vm:…kB, anon-rss:…kB, file-rss:…kB`;
//! - 5.x and later: `oom-kill:constraint=CONSTRAINT_MEMCG,…,task=x,pid=966,uid=0`,
//!   then `Out of memory: Killed process 966 (x) total-vm:…, UID:… oom_score_adj:…`,
//!   and `oom_reaper: reaped process 966 (x), now anon-rss:…`.
//!
//! [`parse_kills`] folds them into one [`OomKill`] per victim. A process
//! name (`comm`) may hold spaces, brackets and parentheses (`Plex Media
//! Server`, `()`), so the name is everything inside the outer parentheses.
//! The same line often sits in dmesg, kern.log and syslog at once; kills are
//! merged across sources by pid, name and time.

use std::sync::LazyLock;

use regex::Regex;
use time::OffsetDateTime;

use super::clock::{LogClock, when};
use super::io::{self, CmdError};
use super::{Ctx, SharedSyslog};
use crate::format::human_bytes;
use crate::model::report::Finding;

/// A kill this recent is critical: the victim's clients are failing now.
pub const RECENT: time::Duration = time::Duration::hours(1);
/// Lines of one kill (or one kill seen in two logs) are this close in time.
const SAME_EVENT: time::Duration = time::Duration::minutes(2);

/// One process killed by the OOM killer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OomKill {
    /// Its pid.
    pub pid: u32,
    /// Its name (the kernel's `comm`, at most 15 bytes).
    pub process: String,
    /// When, if the line carried a time.
    pub time: Option<OffsetDateTime>,
    /// A memory cgroup's limit was hit (a container's), not the machine's.
    pub memcg: bool,
    /// The cgroup whose limit was hit, when the kernel said.
    pub cgroup: Option<String>,
    /// Its resident anonymous memory when killed, in KiB.
    pub anon_rss_kb: Option<u64>,
    /// The kernel's line, the "Killed process" one when there is one.
    pub evidence: String,
}

static KILL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:(Memory cgroup out of memory|Out of memory)[^:]*: )?Kill(ed)? process (\d+)(?:, UID \d+,)? \((.*)\)(?: score \d+| total-vm:\d+kB, anon-rss:(\d+)kB|\s*$)",
    )
    .unwrap()
});
static CONSTRAINT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"oom-kill:constraint=(\w+),(.*),task=(.*),pid=(\d+),uid=\d+").unwrap()
});
static REAPED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"oom_reaper: reaped process (\d+) \((.*)\), now").unwrap());
static TASK_IN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"Task in (\S+) killed as a result of limit of (\S+)").unwrap());
static MEMCG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:^|,)(?:oom_memcg|task_memcg)=([^,]+)").unwrap());

/// Finds the OOM kills in a kernel log (dmesg, kern.log, syslog, kmsg
/// bodies), one per victim, in log order.
pub fn parse_kills(text: &str, clock: &LogClock) -> Vec<OomKill> {
    let mut kills: Vec<OomKill> = Vec::new();
    let mut pending_cgroup: Option<String> = None;
    for line in text.lines() {
        if !line.contains("process") && !line.contains("oom-kill:") && !line.contains("Task in") {
            continue;
        }
        let (time, rest) = clock.stamp(line);
        let rest = rest.trim_end();
        if let Some(c) = TASK_IN.captures(rest) {
            pending_cgroup = Some(c[2].to_string());
            continue;
        }
        let mut kill = OomKill {
            pid: 0,
            process: String::new(),
            time,
            memcg: false,
            cgroup: None,
            anon_rss_kb: None,
            evidence: rest.to_string(),
        };
        let killed_line;
        if let Some(c) = KILL.captures(rest) {
            // "Killed process" alone is also what other tools print (a
            // `kill` wrapper); only the kernel adds total-vm, a score or a
            // reason, so require one of them.
            if c.get(1).is_none() && c.get(5).is_none() && !rest.contains("total-vm:") {
                continue;
            }
            kill.pid = c[3].parse().unwrap_or(0);
            kill.process = c[4].to_string();
            kill.memcg = c
                .get(1)
                .is_some_and(|m| m.as_str().starts_with("Memory cgroup"));
            kill.anon_rss_kb = c.get(5).and_then(|m| m.as_str().parse().ok());
            killed_line = c.get(2).is_some();
        } else if let Some(c) = CONSTRAINT.captures(rest) {
            kill.pid = c[4].parse().unwrap_or(0);
            kill.process = c[3].to_string();
            kill.memcg = &c[1] == "CONSTRAINT_MEMCG";
            kill.cgroup = MEMCG.captures(&c[2]).map(|m| m[1].to_string());
            killed_line = false;
        } else if let Some(c) = REAPED.captures(rest) {
            kill.pid = c[1].parse().unwrap_or(0);
            kill.process = c[2].to_string();
            killed_line = false;
        } else {
            continue;
        }
        if kill.cgroup.is_none()
            && let Some(cg) = pending_cgroup.take()
        {
            kill.cgroup = Some(cg);
            kill.memcg = true;
        }
        absorb(&mut kills, kill, killed_line);
    }
    kills
}

fn close(a: Option<OffsetDateTime>, b: Option<OffsetDateTime>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= SAME_EVENT,
        _ => true,
    }
}

/// Adds a kill, or completes the one it is another line (or another log's
/// copy) of.
fn absorb(kills: &mut Vec<OomKill>, new: OomKill, killed_line: bool) {
    let same = kills
        .iter_mut()
        .rev()
        .find(|k| k.pid == new.pid && k.process == new.process && close(k.time, new.time));
    match same {
        Some(k) => {
            k.time = k.time.or(new.time);
            k.memcg |= new.memcg;
            k.cgroup = k.cgroup.take().or(new.cgroup);
            k.anon_rss_kb = k.anon_rss_kb.or(new.anon_rss_kb);
            if killed_line {
                k.evidence = new.evidence;
            }
        }
        None => kills.push(new),
    }
}

/// Merges the kills of several logs into one list, oldest first.
pub fn merge(sources: Vec<Vec<OomKill>>) -> Vec<OomKill> {
    let mut all: Vec<OomKill> = Vec::new();
    for kill in sources.into_iter().flatten() {
        let killed_line = kill.evidence.contains("Killed process");
        absorb(&mut all, kill, killed_line);
    }
    all.sort_by_key(|k| k.time);
    all
}

/// One line per kill, for the thread.
// NOTE: shown in chat.
fn describe(k: &OomKill, now: OffsetDateTime) -> String {
    let at = k.time.map_or("time unknown".to_string(), |t| when(t, now));
    let rss = k
        .anon_rss_kb
        .map(|kb| format!(", {} resident", human_bytes(kb * 1024)))
        .unwrap_or_default();
    let scope = match (&k.cgroup, k.memcg) {
        (Some(cg), _) => format!("the memory limit of cgroup {cg} was hit"),
        (None, true) => "a memory cgroup (container) limit was hit".to_string(),
        (None, false) => "the machine ran out of memory".to_string(),
    };
    format!("{at}: {} (pid {}){rss} — {scope}", k.process, k.pid)
}

/// The OOM finding: kills since `window_start` (and kills of unknown time),
/// worst when one is within the last hour. `read` names the logs read.
pub fn findings(
    kills: &[OomKill],
    clock: &LogClock,
    window_start: OffsetDateTime,
    window_words: &str,
    read: &[String],
) -> Finding {
    let now = clock.now;
    let recent: Vec<&OomKill> = kills
        .iter()
        .filter(|k| k.time.is_none_or(|t| t >= window_start))
        .collect();
    let Some(latest) = recent
        .iter()
        .rev()
        .find(|k| k.time.is_some())
        .or(recent.last())
    else {
        return Finding::ok(
            "host.oom",
            format!("No OOM kills in the kernel log in the last {window_words}"),
        )
        .with_detail(format!("Read: {}", read.join(", ")));
    };
    let n = recent.len();
    let summary = format!(
        "{n} OOM {} in the last {window_words}; latest {} (pid {}) at {}",
        if n == 1 { "kill" } else { "kills" },
        latest.process,
        latest.pid,
        latest
            .time
            .map_or("an unknown time".to_string(), |t| when(t, now))
    );
    let fresh = latest.time.is_some_and(|t| now - t <= RECENT);
    let mut f = if fresh {
        Finding::critical("host.oom", summary)
    } else {
        Finding::warn("host.oom", summary)
    };
    for k in recent.iter().rev().take(5) {
        f = f.with_detail(describe(k, now));
    }
    if n > 5 {
        f = f.with_detail(format!("… and {} earlier", n - 5));
    }
    f.with_detail("The killed service's clients saw connection resets; check it restarted, and what grew (memory limits, a leak, a big query).")
        .with_detail(format!("Read: {}", read.join(", ")))
        .with_evidence(latest.evidence.clone())
}

/// The kernel log file of Debian and Ubuntu.
pub const KERN_LOG: &str = "var/log/kern.log";

/// `dmesg` with absolute times.
pub const DMESG_ISO: [&str; 3] = ["dmesg", "--time-format", "iso"];
/// `dmesg` where `--time-format` is unknown (busybox).
pub const DMESG_PLAIN: [&str; 1] = ["dmesg"];

/// The journal's kernel messages since `start` (unix seconds).
pub fn journal_argv(start: i64) -> Vec<String> {
    ["journalctl", "-k", "-q", "--no-pager", "-o", "short-iso"]
        .into_iter()
        .map(String::from)
        .chain([format!("--since=@{start}")])
        .collect()
}

/// Reads the kernel log: `dmesg` on this machine, then `kern.log` and
/// `syslog` (with rotations) under root, and the journal's kernel messages
/// when neither file exists.
pub async fn check(ctx: &Ctx, syslog: SharedSyslog) -> Vec<Finding> {
    let mut parsed = Vec::new();
    let mut read = Vec::new();
    let mut problems = Vec::new();
    if ctx.local {
        match dmesg(ctx).await {
            Ok(text) => {
                parsed.push(parse_kills(&text, &ctx.clock));
                read.push("dmesg".to_string());
            }
            Err(p) => problems.push(p),
        }
    }
    let since = std::time::SystemTime::from(ctx.window_start);
    let kern = ctx.machine.read_rotated(KERN_LOG, Some(since)).await;
    let syslog = syslog.await;
    for f in kern.iter().chain(syslog.iter()) {
        match &f.text {
            Ok(text) => {
                parsed.push(parse_kills(text, &ctx.clock));
                read.push(format!("/{}", f.shown));
            }
            Err(e) => problems.push(format!(
                "/{} is not readable ({}): add medic's user to the adm group",
                f.shown,
                io::io_words(e)
            )),
        }
    }
    // The journal only when there is nothing else: dmesg and the files say
    // the same, and journalctl is the slowest of them.
    if ctx.local && read.is_empty() {
        let argv = journal_argv(ctx.window_start.unix_timestamp());
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        match ctx.machine.run(&argv, ctx.budget).await {
            Ok(out) if out.success => {
                parsed.push(parse_kills(&out.stdout, &ctx.clock));
                read.push("journalctl -k".to_string());
            }
            Ok(out) => problems.push(format!(
                "journalctl -k failed ({}): add medic's user to the systemd-journal group",
                out.stderr.trim()
            )),
            Err(CmdError::Missing(_)) => {}
            Err(e) => problems.push(e.to_string()),
        }
    }
    if read.is_empty() {
        let mut f = Finding::unknown(
            "host.oom",
            problems.first().cloned().unwrap_or_else(|| {
                "No kernel log here: no dmesg, kern.log, syslog or journal".into()
            }),
        );
        for p in problems.iter().skip(1) {
            f = f.with_detail(p.clone());
        }
        return vec![f];
    }
    let mut f = findings(
        &merge(parsed),
        &ctx.clock,
        ctx.window_start,
        &ctx.window_words(),
        &read,
    );
    for p in problems {
        f = f.with_detail(format!("Not read: {p}"));
    }
    vec![f]
}

/// `dmesg --time-format iso` (absolute times); plain `dmesg` where that
/// option is unknown (busybox), its `[uptime]` stamps read from the boot
/// time. An error is the sentence for the finding, with how to grant access.
async fn dmesg(ctx: &Ctx) -> Result<String, String> {
    let mut out = match ctx.machine.run(&DMESG_ISO, ctx.budget).await {
        Ok(out) => out,
        Err(e) => return Err(e.to_string()),
    };
    let unknown_option =
        |s: &str| s.contains("unrecognized option") || s.contains("invalid option");
    if !out.success && unknown_option(&out.stderr) {
        out = ctx
            .machine
            .run(&DMESG_PLAIN, ctx.budget)
            .await
            .map_err(|e| e.to_string())?;
    }
    if out.success {
        return Ok(out.stdout);
    }
    let stderr = out.stderr.trim().to_string();
    if stderr.contains("not permitted") || stderr.contains("ermission denied") {
        let restrict = ctx
            .machine
            .read_small("proc/sys/kernel/dmesg_restrict")
            .await
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "?".into());
        return Err(format!(
            "dmesg is not readable: kernel.dmesg_restrict={restrict}; run medic with CAP_SYSLOG, or let it read /var/log/kern.log (group adm)"
        ));
    }
    Err(format!("dmesg failed: {stderr}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    const SEQUENCES: &str = include_str!("testdata/kmsg_oom_sequences_cadvisor.log");
    const LEGACY: &str = include_str!("testdata/kmsg_oom_legacy_format_npd.log");
    const SINGLE: &str = include_str!("testdata/kmsg_oom_single_lines_cadvisor.log");
    const NAMES: &str =
        include_str!("testdata/syslog_oom_killed_process_name_edgecases_cadvisor.log");

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    fn names(kills: &[OomKill]) -> Vec<(u32, &str)> {
        kills.iter().map(|k| (k.pid, k.process.as_str())).collect()
    }

    #[test]
    fn old_format_sequences_fold_into_one_kill_each() {
        let kills = parse_kills(SEQUENCES, &LogClock::utc(at(0)));
        assert_eq!(
            names(&kills),
            [
                (13536, "memorymonster"),
                (1532, "badsysprogram"),
                (1381, "gunpowder-memho"),
                (1667, "gunpowder-memho")
            ]
        );
        assert!(kills[0].memcg);
        assert_eq!(kills[0].cgroup.as_deref(), Some("/mem2"));
        assert!(!kills[1].memcg, "a system-wide OOM");
        assert_eq!(kills[1].anon_rss_kb, Some(1_595_164));
        assert!(
            kills[1]
                .evidence
                .starts_with("Killed process 1532 (badsysprogram) total-vm")
        );
        assert_eq!(
            kills[3].cgroup.as_deref(),
            Some("/docker/6c6fcab8562fd3150854986b78552c732f234fd405b624207b8843528a145e70")
        );
    }

    #[test]
    fn legacy_and_modern_single_lines() {
        let clock = LogClock::utc(at(0));
        let kills = parse_kills(LEGACY, &clock);
        assert_eq!(names(&kills), [(1012, "heapster")]);
        assert!(kills[0].memcg);
        assert_eq!(kills[0].anon_rss_kb, Some(306_328));

        let kills = parse_kills(SINGLE, &clock);
        assert_eq!(names(&kills), [(19667, "evil-program2"), (966, "manager")]);
        assert!(kills[1].memcg);
        assert_eq!(
            kills[1].cgroup.as_deref(),
            Some("/kubepods/burstable/podfbdfe8e3-1c87-4ff2-907c-b2ec8e25d012")
        );

        let modern = "2026-01-31T06:20:07,123456+00:00 oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/system.slice/postgresql.service,task=postgres,pid=4242,uid=113\n\
2026-01-31T06:20:07,123500+00:00 Out of memory: Killed process 4242 (postgres) total-vm:8000000kB, anon-rss:6291456kB, file-rss:0kB, shmem-rss:0kB, UID:113 pgtables:12000kB oom_score_adj:0\n\
2026-01-31T06:20:07,200000+00:00 oom_reaper: reaped process 4242 (postgres), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB\n";
        let kills = parse_kills(modern, &clock);
        assert_eq!(names(&kills), [(4242, "postgres")]);
        assert!(!kills[0].memcg, "CONSTRAINT_NONE is the machine");
        assert_eq!(
            kills[0].time,
            Some(at(1_769_840_407) + time::Duration::nanoseconds(123_456_000))
        );
        assert!(
            kills[0]
                .evidence
                .starts_with("Out of memory: Killed process 4242")
        );
    }

    #[test]
    fn process_names_are_what_is_inside_the_outer_parentheses() {
        // Jan 22 2016, so "Jan 21 22:01:49" is last night.
        let clock = LogClock::utc(at(1_453_420_800));
        let kills = parse_kills(NAMES, &clock);
        let got: Vec<&str> = kills.iter().map(|k| k.process.as_str()).collect();
        assert_eq!(
            got,
            [
                "foo",
                "python3.4",
                "foo-bar",
                "Plex Media Server",
                "x86_64-pc-linux-gnu-c++-5.4.0",
                "[",
                "()",
                "\"with quotes\""
            ]
        );
        assert!(kills.iter().all(|k| k.pid == 1234));
        assert_eq!(kills[0].time, Some(at(1_453_413_709)));
    }

    #[test]
    fn the_same_kill_in_two_logs_is_one_kill_and_recent_is_critical() {
        let now = at(1_769_841_127); // 2026-01-31 06:32:07 UTC
        let clock = LogClock::utc(now);
        let kern = "Jan 31 06:20:07 web1 kernel: [62279.421192] Out of memory: Killed process 4242 (postgres) total-vm:1kB, anon-rss:1048576kB, file-rss:4kB\n";
        let dmesg = "2026-01-31T06:20:08,000000+00:00 Out of memory: Killed process 4242 (postgres) total-vm:1kB, anon-rss:1048576kB, file-rss:4kB\n";
        let old = "Jan 20 06:20:07 web1 kernel: [1.0] Out of memory: Killed process 77 (java) total-vm:1kB, anon-rss:1kB, file-rss:4kB\n";
        let kills = merge(vec![
            parse_kills(kern, &clock),
            parse_kills(dmesg, &clock),
            parse_kills(old, &clock),
        ]);
        assert_eq!(kills.len(), 2);
        let f = findings(
            &kills,
            &clock,
            now - time::Duration::hours(24),
            "24 h",
            &["dmesg".into()],
        );
        assert_eq!(f.status, Status::Critical);
        assert_eq!(
            f.summary,
            "1 OOM kill in the last 24 h; latest postgres (pid 4242) at 06:20:07 UTC (12 min ago)"
        );
        assert_eq!(
            f.detail[0],
            "06:20:07 UTC (12 min ago): postgres (pid 4242), 1.0 GiB resident — the machine ran out of memory"
        );

        let quiet = findings(
            &kills[..1],
            &clock,
            now - time::Duration::hours(24),
            "24 h",
            &["dmesg".into()],
        );
        assert_eq!(
            quiet.status,
            Status::Ok,
            "a kill 11 days ago is outside the window"
        );
    }
}
