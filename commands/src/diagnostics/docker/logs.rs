//! Purpose: `docker logs --tail 20 --until EXIT web` — the last lines a
//! container wrote before its last exit, stdout and stderr, as the
//! evidence under its finding, and its last stderr line as the crash's
//! likely reason ("the previous run's last error", as the Troubleshooting
//! Guide reads `kubectl logs --previous`).
//!
//! Lines are capped in length and in number; the report's redactor masks
//! secrets in them like in any other evidence.

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use futures::StreamExt;
use time::OffsetDateTime;

use super::client::{Failed, within};
use super::session::Session;

/// Characters kept of one line; the rest is "…".
pub const MAX_LINE: usize = 240;
/// Characters of evidence at most, all lines together.
pub const MAX_EVIDENCE: usize = 3000;

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// stdout.
    Out,
    /// stderr.
    Err,
    /// A TTY's one stream (`docker run -t`): stdout and stderr mixed.
    Tty,
}

/// One log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Where it came from.
    pub stream: Stream,
    /// Its text, without the newline.
    pub text: String,
}

/// The last lines before `until` (the last exit), or the last lines when
/// the container never exited.
pub async fn read(
    session: &Session,
    id: &str,
    lines: usize,
    until: Option<OffsetDateTime>,
) -> Result<Vec<Line>, Failed> {
    let tail = lines.to_string();
    let mut options = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .tail(&tail);
    if let Some(t) = until {
        // Whole seconds, exclusive: one second more keeps the exit's own
        // last lines.
        let secs = i32::try_from(t.unix_timestamp() + 1).unwrap_or(i32::MAX);
        options = options.until(secs);
    }
    let options = options.build();
    let collect = async {
        let mut stream = session.docker.logs(id, Some(options));
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            out.extend(split(item?));
        }
        Ok(out)
    };
    let mut out = within(session.budget, collect).await?;
    // A frame may hold several lines: keep the last `lines`.
    if out.len() > lines {
        out.drain(..out.len() - lines);
    }
    Ok(out)
}

fn split(frame: LogOutput) -> Vec<Line> {
    let (stream, bytes) = match frame {
        LogOutput::StdOut { message } => (Stream::Out, message),
        LogOutput::StdErr { message } => (Stream::Err, message),
        LogOutput::Console { message } => (Stream::Tty, message),
        LogOutput::StdIn { .. } => return Vec::new(),
    };
    String::from_utf8_lossy(&bytes)
        .split('\n')
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty())
        .map(|l| Line {
            stream,
            text: l.to_string(),
        })
        .collect()
}

/// The line a crash most likely left its reason on: the last stderr line,
/// else (a TTY, or a program logging errors to stdout) the last line.
pub fn last_error(lines: &[Line]) -> Option<&str> {
    lines
        .iter()
        .rev()
        .find(|l| l.stream == Stream::Err)
        .or_else(|| lines.last())
        .map(|l| l.text.as_str())
}

/// `text` cut to `max` characters, with "…" where cut.
pub fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// The lines as evidence: stderr marked, each line and the whole capped,
/// the newest kept when something must go.
pub fn evidence(lines: &[Line]) -> String {
    let mut kept: Vec<String> = Vec::new();
    let mut size = 0;
    for l in lines.iter().rev() {
        let mark = match l.stream {
            Stream::Err => "stderr| ",
            Stream::Out | Stream::Tty => "       ",
        };
        let line = format!("{mark}{}", shorten(&l.text, MAX_LINE));
        if size + line.len() > MAX_EVIDENCE {
            kept.push("…".into());
            break;
        }
        size += line.len() + 1;
        kept.push(line);
    }
    kept.reverse();
    kept.join("\n")
}
