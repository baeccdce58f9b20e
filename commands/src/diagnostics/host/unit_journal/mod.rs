//! Purpose: `journalctl -u redis-server --since … --until …` — what the
//! service said when it died. The runbooks' first step after "is it up?"
//! is reading the unit's own log around the time the errors started
//! (`seeds/production-debugging-guide.md`: "Check system logs:
//! `journalctl -u postgresql --since "1 hour ago"`"). medic reads the last
//! lines of each unit of `units` in a window around the incident's first
//! alert (for `/diag`, the window ends now), redacted and capped, so the
//! thread quotes them.
//!
//! `journalctl -o json` (one object per line, stable since systemd 38) is
//! read, not the text form: the time is exact (`__REALTIME_TIMESTAMP`,
//! microseconds), the priority is a field, and a message that is not
//! UTF-8 comes as a byte array instead of being mangled.
//!
//! Where: on this machine with `root = "/"`, the system's journal; over
//! ssh, the host's (one command per unit in the fixed script of
//! [`super::snapshot`]); under another root (a host mounted at `/host`),
//! `journalctl --directory=ROOT/var/log/journal` on this machine. Not
//! `--root=ROOT`: that also reads `ROOT/run/log/journal`, which in a mounted
//! host is an empty mount point (`/run` is the host's tmpfs), and it reads
//! the catalog and configuration from under ROOT too; `--directory` names
//! exactly the one directory read, which the finding can say, and whose
//! absence medic sees before running anything. A host without a journal
//! (only syslog, or `Storage=volatile` under a mounted root) gets one quiet
//! note.

use std::path::Path;

use time::OffsetDateTime;

use super::Ctx;
use super::io::CmdError;
use super::machine::Machine;
use crate::format::utc_clock;
use crate::model::report::Finding;
use crate::redact::Redactor;

/// The check's id.
pub const CHECK: &str = "host.journal";

/// How far before the first alert the window starts (and, for `/diag`,
/// before now): a service usually complains for minutes before it dies
/// (memory, connections, a failing disk), and the triage timeline looks
/// as far back by default (`timeline_window = "30m"`).
pub const BEFORE: time::Duration = time::Duration::minutes(30);
/// How far after the first alert the window ends: the stop, the restart
/// and the first lines of the new process come within seconds to a minute
/// of the error; five minutes covers a slow recovery (PostgreSQL replaying
/// WAL) and clock skew between the alert's source and the host.
pub const AFTER: time::Duration = time::Duration::minutes(5);
/// The most journal entries shown per unit, the newest of the window
/// (`journalctl -n`, so the host sends no more): a phone screen of lines,
/// enough for a stop–start sequence (systemd writes 4–6 lines per
/// restart, PostgreSQL about 10 while it recovers).
pub const LINES_PER_UNIT: usize = 20;
/// The most characters of one entry shown: a log line, not a stack trace.
/// (journalctl itself sends no field over 4 KiB in JSON — a bigger one
/// comes as `null` — so what the host sends is bounded too.)
pub const MAX_LINE_CHARS: usize = 240;
/// The most bytes of evidence per unit; older lines go first. Small enough
/// that no chat renderer shortens it (Slack cuts evidence past 1 200
/// characters, from the end — which would drop the newest lines, the ones
/// that matter).
pub const MAX_UNIT_BYTES: usize = 1024;
/// The most `units` a target may name: one command each, and a finding each
/// in the thread.
pub const MAX_UNITS: usize = 8;
/// The longest unit name systemd accepts (`UNIT_NAME_MAX`).
const MAX_NAME: usize = 255;
/// The journal's directories: persistent, then volatile.
pub const JOURNAL_DIRS: [&str; 2] = ["var/log/journal", "run/log/journal"];
/// The fields asked for (`--output-fields`; journalctl adds the timestamp).
/// `UNIT` carries systemd's own lines about the unit ("Stopped …", "Main
/// process exited …"), which `-u` includes.
const FIELDS: &str = "MESSAGE,PRIORITY,_SYSTEMD_UNIT,UNIT,SYSLOG_IDENTIFIER,_PID";
/// `PRIORITY` at or below this is trouble: warning (4), error (3), and
/// worse. systemd logs "Failed with result …" as a warning.
const TROUBLE: u8 = 4;

/// Checks a `units` entry: a systemd unit name or a `journalctl -u`
/// pattern (`redis-server`, `postgresql@15-main`, `postgresql@*`): letters,
/// digits and `: _ . @ - * \`, not starting with `-` or `.`.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with(['-', '.'])
        && name.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '.' | '@' | '-' | '*' | '\\')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a unit name (like redis-server or postgresql@15-main: letters, digits, : _ . @ - *, at most {MAX_NAME})"
        ))
    }
}

/// The time span read, and the instant it surrounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// From (inclusive).
    pub since: OffsetDateTime,
    /// To (inclusive).
    pub until: OffsetDateTime,
    /// The incident's first alert, when the run is for one; `None` for
    /// `/diag`, whose window ends at the run.
    pub around: Option<OffsetDateTime>,
}

impl Window {
    /// [`BEFORE`] to [`AFTER`] around the first alert, or the [`BEFORE`]
    /// up to `now`.
    pub fn new(now: OffsetDateTime, around: Option<OffsetDateTime>) -> Self {
        match around {
            Some(at) => Window {
                since: at - BEFORE,
                until: at + AFTER,
                around: Some(at),
            },
            None => Window {
                since: now - BEFORE,
                until: now,
                around: None,
            },
        }
    }

    fn contains(&self, t: OffsetDateTime) -> bool {
        t >= self.since && t <= self.until
    }

    /// "06:02:07 to 06:37:07 UTC, around the first alert at 06:32:07 UTC".
    // NOTE: shown in chat.
    fn words(&self) -> String {
        let span = format!(
            "{} to {}",
            utc_clock(self.since).trim_end_matches(" UTC"),
            utc_clock(self.until)
        );
        match self.around {
            Some(at) => format!("{span}, around the first alert at {}", utc_clock(at)),
            None => span,
        }
    }

    /// When `t` was, relative to the alert: "06:32:10 UTC (3 s after the
    /// first alert)"; for `/diag`, "(3 min ago)".
    // NOTE: shown in chat.
    fn when(&self, t: OffsetDateTime) -> String {
        let Some(at) = self.around else {
            return super::clock::when(t, self.until);
        };
        let apart = crate::format::human_age((t - at).whole_seconds().unsigned_abs());
        let side = if t < at { "before" } else { "after" };
        format!("{} ({apart} {side} the first alert)", utc_clock(t))
    }
}

/// `journalctl` for one unit in `window`: JSON, the newest
/// [`LINES_PER_UNIT`], from `directory` when given (under another root).
pub fn argv(program: &str, unit: &str, window: &Window, directory: Option<&Path>) -> Vec<String> {
    let mut argv: Vec<String> = [program, "-q", "--no-pager", "-o", "json"]
        .into_iter()
        .map(String::from)
        .collect();
    argv.push(format!("--output-fields={FIELDS}"));
    argv.push(format!("--lines={LINES_PER_UNIT}"));
    argv.push(format!("--since=@{}", window.since.unix_timestamp()));
    argv.push(format!("--until=@{}", window.until.unix_timestamp()));
    if let Some(dir) = directory {
        argv.push(format!("--directory={}", dir.display()));
    }
    argv.push(format!("--unit={unit}"));
    argv
}

/// One journal entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `__REALTIME_TIMESTAMP`.
    pub at: OffsetDateTime,
    /// `MESSAGE`, decoded lossily when it came as bytes; `None` when
    /// journalctl left it out (over 4 KiB).
    pub message: Option<String>,
    /// `PRIORITY` (0 emerg … 7 debug), when given.
    pub priority: Option<u8>,
    /// Who wrote it: `SYSLOG_IDENTIFIER`, else the unit.
    pub ident: String,
    /// `_PID`.
    pub pid: Option<String>,
}

impl Entry {
    /// A warning or worse, or systemd saying the unit stopped or died.
    pub fn is_trouble(&self) -> bool {
        self.priority.is_some_and(|p| p <= TROUBLE) || self.is_stop()
    }

    /// systemd (PID 1) saying the unit stopped, died or is restarted.
    pub fn is_stop(&self) -> bool {
        self.ident == "systemd"
            && self.message.as_deref().is_some_and(|m| {
                [
                    "Stopped ",
                    "Main process exited",
                    "Scheduled restart job",
                    "Killing process",
                ]
                .iter()
                .any(|p| m.contains(p))
                    || m.contains(": Failed with result")
                    || m.starts_with("Failed with result")
            })
    }
}

/// A field's text: a string; a byte array (what journalctl prints for a
/// value that is not valid UTF-8 or holds control characters), decoded
/// lossily; the first of several values.
fn text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(items) if items.iter().all(|i| i.is_u64()) => {
            let bytes: Vec<u8> = items
                .iter()
                .filter_map(|i| i.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect();
            Some(String::from_utf8_lossy(&bytes).into_owned())
        }
        serde_json::Value::Array(items) => items.first().and_then(text),
        _ => None,
    }
}

/// Reads one line of `journalctl -o json`; `None` for anything else (a
/// blank line, a line cut at an output cap).
pub fn parse_line(line: &str) -> Option<Entry> {
    let v: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
    let micros: i128 = text(v.get("__REALTIME_TIMESTAMP")?)?.parse().ok()?;
    // Checked: a line's number can be of any size, and one past i128
    // overflowed here (found writing the host_logs fuzz target).
    let at = OffsetDateTime::from_unix_timestamp_nanos(micros.checked_mul(1000)?).ok()?;
    let field = |name: &str| v.get(name).and_then(text);
    let ident = field("SYSLOG_IDENTIFIER")
        .or_else(|| field("_SYSTEMD_UNIT"))
        .or_else(|| field("UNIT"))
        .unwrap_or_else(|| "?".into());
    Some(Entry {
        at,
        message: v.get("MESSAGE").and_then(text),
        priority: field("PRIORITY").and_then(|p| p.trim().parse().ok()),
        ident,
        pid: field("_PID"),
    })
}

/// Every entry of a `journalctl -o json` output, in its order.
pub fn parse(output: &str) -> Vec<Entry> {
    output.lines().filter_map(parse_line).collect()
}

/// One entry as a line of evidence, redacted before it is cut (so no
/// piece of a secret survives the cut): "06:32:10 redis-server[812]: …".
pub fn line(e: &Entry, redactor: &Redactor) -> String {
    let who = match &e.pid {
        Some(pid) => format!("{}[{pid}]", e.ident),
        None => e.ident.clone(),
    };
    let message = match &e.message {
        // Newlines and other control characters would break the quote.
        Some(m) => m
            .trim_end()
            .replace('\n', " ⏎ ")
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect(),
        None => "(message over 4 KiB, not shown)".to_string(),
    };
    let whole = redactor.redact(&format!(
        "{} {who}: {message}",
        utc_clock(e.at).trim_end_matches(" UTC")
    ));
    if whole.chars().count() > MAX_LINE_CHARS {
        let cut: String = whole.chars().take(MAX_LINE_CHARS - 1).collect();
        format!("{cut}…")
    } else {
        whole
    }
}

/// The entries of `window`, the newest [`LINES_PER_UNIT`], as evidence of
/// at most [`MAX_UNIT_BYTES`] (older lines dropped first), and how many
/// of the shown entries were dropped for it.
pub fn evidence(entries: &[&Entry], redactor: &Redactor) -> (String, usize) {
    let mut kept: Vec<String> = Vec::new();
    let mut bytes = 0;
    for e in entries.iter().rev() {
        let l = line(e, redactor);
        if !kept.is_empty() && bytes + l.len() + 1 > MAX_UNIT_BYTES {
            break;
        }
        bytes += l.len() + 1;
        kept.push(l);
    }
    let dropped = entries.len() - kept.len();
    kept.reverse();
    (kept.join("\n"), dropped)
}

/// The finding for one unit's entries (as journalctl gave them).
pub fn finding(unit: &str, entries: &[Entry], window: &Window, redactor: &Redactor) -> Finding {
    let mut shown: Vec<&Entry> = entries.iter().filter(|e| window.contains(e.at)).collect();
    let beyond = shown.len().saturating_sub(LINES_PER_UNIT);
    shown.drain(..beyond);
    if shown.is_empty() {
        return Finding::ok(
            CHECK,
            format!("{unit}: nothing in the journal from {}", window.words()),
        );
    }
    let errors: Vec<&&Entry> = shown
        .iter()
        .filter(|e| e.priority.is_some_and(|p| p <= 3))
        .collect();
    let count = match errors.len() {
        0 => String::new(),
        1 => "; 1 error".into(),
        n => format!("; {n} errors"),
    };
    let stop = shown.iter().rev().find(|e| e.is_stop());
    let warning = shown.iter().rev().find(|e| e.is_trouble());
    let mut f = if let Some(s) = stop {
        Finding::warn(
            CHECK,
            format!("{unit} stopped or died at {}{count}", window.when(s.at)),
        )
        .at(s.at)
    } else if let Some(latest) = errors.last() {
        Finding::warn(
            CHECK,
            format!(
                "{unit} logged {} error{}, the latest at {}",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" },
                window.when(latest.at)
            ),
        )
    } else if let Some(w) = warning {
        Finding::warn(
            CHECK,
            format!("{unit} logged a warning at {}", window.when(w.at)),
        )
    } else {
        Finding::ok(
            CHECK,
            format!(
                "{unit}: {} journal line{}, no warnings or errors, from {}",
                shown.len(),
                if shown.len() == 1 { "" } else { "s" },
                window.words()
            ),
        )
    };
    if f.status != crate::Status::Ok {
        f = f.with_detail(format!("The journal from {}", window.words()));
    }
    let (text, dropped) = evidence(&shown, redactor);
    let mut note = format!("The last {} line", shown.len() - dropped);
    if shown.len() - dropped != 1 {
        note.push('s');
    }
    if dropped > 0 || beyond > 0 {
        note.push_str(&format!(
            " ({} earlier not shown: journalctl -u {unit} prints them)",
            dropped + beyond
        ));
    }
    f.with_detail(note).with_evidence(text)
}

/// Where the journal is read, for this run.
enum Source {
    /// The system's own (this machine with root `/`, or over ssh);
    /// `present` when one of [`JOURNAL_DIRS`] exists there. journalctl is
    /// run either way (a journal elsewhere, a namespace, still answers);
    /// without one, and with no entries, the check says so once.
    System { present: bool },
    /// `ROOT/var/log/journal` under another root.
    Directory(std::path::PathBuf),
}

/// Where to read, or the quiet note when there is nothing to read.
async fn source(ctx: &Ctx) -> Result<Source, Finding> {
    match &ctx.machine {
        Machine::Local { root } if root != Path::new("/") => {
            let dir = ctx.path(JOURNAL_DIRS[0]);
            if super::io::exists(&dir).await {
                Ok(Source::Directory(dir))
            } else {
                Err(not_available(&format!(
                    "No journal under {}",
                    root.display()
                )))
            }
        }
        m => {
            let mut present = false;
            for d in JOURNAL_DIRS {
                present |= m.exists(d).await;
            }
            Ok(Source::System { present })
        }
    }
}

/// The one quiet note when there is no journal to read.
// NOTE: shown in chat.
fn not_available(why: &str) -> Finding {
    Finding::ok(
        CHECK,
        format!("{why}: the units' logs not read (not available)"),
    )
}

/// Reads each unit's journal in `window` (at once) and reports each.
pub async fn check(
    ctx: &Ctx,
    program: &str,
    units: &[String],
    window: Window,
    redactor: &Redactor,
) -> Vec<Finding> {
    let source = match source(ctx).await {
        Ok(s) => s,
        Err(note) => return vec![note],
    };
    let directory = match &source {
        Source::Directory(d) => Some(d.as_path()),
        Source::System { .. } => None,
    };
    let runs = units.iter().map(|unit| {
        let argv = argv(program, unit, &window, directory);
        async move {
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            (unit, ctx.machine.run(&argv, ctx.budget).await)
        }
    });
    let mut out = Vec::new();
    let mut any_entry = false;
    for (unit, result) in futures::future::join_all(runs).await {
        out.push(match result {
            Ok(o) if o.success => {
                let entries = parse(&o.stdout);
                any_entry |= !entries.is_empty();
                let mut f = finding(unit, &entries, &window, redactor);
                if o.stderr.contains("not seeing messages from other users") {
                    f = f.with_detail(
                        "Only medic's own messages were visible: add medic's user to the systemd-journal group",
                    );
                }
                f
            }
            Ok(o) => Finding::unknown(CHECK, format!("{unit}: journalctl failed"))
                .with_detail(
                    "medic's user needs the systemd-journal (or adm) group to read the journal",
                )
                .with_evidence(redactor.redact(o.stderr.trim())),
            Err(CmdError::Missing(_)) => {
                return vec![not_available("journalctl is not installed here")];
            }
            Err(e) => Finding::unknown(CHECK, format!("{unit}: {e}")),
        });
    }
    let failed = out.iter().any(|f| f.status == crate::Status::Unknown);
    if matches!(source, Source::System { present: false }) && !any_entry && !failed {
        return vec![not_available("No journal on this host")];
    }
    out
}

#[cfg(test)]
mod tests;
