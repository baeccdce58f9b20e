//! Purpose: the only doors the host checks have to the machine — capped
//! file reads under `root` and argv commands with a timeout — so that no
//! check can hang medic on a huge log, a zip bomb or a stuck tool.
//!
//! Reads run on the blocking pool (a file on a hung NFS mount blocks its
//! thread, not the runtime; the check's own timeout answers for it).
//! Commands are argv, never a shell string, and are killed when dropped.

use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use tokio::io::AsyncReadExt;
use tokio::process::Command;

/// The most of a log that is read: its last 4 MiB (days of a busy syslog).
pub const LOG_CAP: usize = 4 << 20;
/// The most of a `/proc` file that is read; they are a few KiB.
pub const PROC_CAP: u64 = 1 << 20;
/// The most a `.gz` may inflate to before reading stops (a zip bomb guard).
pub const GZ_INFLATE_CAP: u64 = 64 << 20;
/// The most of a command's standard output kept (its tail).
pub const OUTPUT_CAP: usize = 4 << 20;
/// How many rotated files of one log are looked at (`syslog.1`, `.2.gz`, …).
pub const MAX_ROTATIONS: usize = 4;

/// `path` read under `root`: `under("/host", "/proc/meminfo")` is
/// `/host/proc/meminfo`.
pub fn under(root: &Path, path: impl AsRef<Path>) -> PathBuf {
    let path = path.as_ref();
    root.join(path.strip_prefix("/").unwrap_or(path))
}

/// Runs blocking file work on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e.to_string())))
}

/// Reads a small file (a `/proc` file) whole, up to [`PROC_CAP`].
pub async fn read_small(path: &Path) -> io::Result<String> {
    let path = path.to_path_buf();
    blocking(move || {
        let mut text = Vec::new();
        std::fs::File::open(&path)?
            .take(PROC_CAP)
            .read_to_end(&mut text)?;
        Ok(String::from_utf8_lossy(&text).into_owned())
    })
    .await
}

/// Keeps the last `cap` bytes of a stream: memory stays at about twice the
/// cap however long the stream is.
fn keep_tail(buf: &mut Vec<u8>, chunk: &[u8], cap: usize) -> bool {
    buf.extend_from_slice(chunk);
    if buf.len() > 2 * cap {
        buf.drain(..buf.len() - cap);
        return true;
    }
    false
}

/// Cuts a tail back to `cap` bytes starting at a line boundary, so no check
/// sees half a line.
fn finish_tail(mut buf: Vec<u8>, cap: usize, cut: bool) -> String {
    let mut cut = cut;
    if buf.len() > cap {
        buf.drain(..buf.len() - cap);
        cut = true;
    }
    if cut && let Some(nl) = buf.iter().position(|&b| b == b'\n') {
        buf.drain(..=nl);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// The last [`LOG_CAP`] bytes of a log, inflating it first when its name
/// ends in `.gz`.
fn read_tail_sync(path: &Path) -> io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut gz = flate2::read::MultiGzDecoder::new(file).take(GZ_INFLATE_CAP);
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        let mut cut = false;
        loop {
            let n = gz.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            cut |= keep_tail(&mut buf, &chunk[..n], LOG_CAP);
        }
        return Ok(finish_tail(buf, LOG_CAP, cut));
    }
    let len = file.metadata()?.len();
    let start = len.saturating_sub(LOG_CAP as u64);
    file.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    file.take(LOG_CAP as u64).read_to_end(&mut buf)?;
    Ok(finish_tail(buf, LOG_CAP, start > 0))
}

/// One log read, or why it could not be.
#[derive(Debug)]
pub struct LogFile {
    /// Where it was, as the host sees it (without `root`).
    pub shown: String,
    /// Its text, or the error reading it.
    pub text: io::Result<String>,
}

/// A log and its rotations, newest first: `syslog`, `syslog.1`,
/// `syslog.1.gz`, `syslog.2.gz`, … A rotation last written before `since`
/// holds nothing newer, so it and older ones are skipped. Files that do not
/// exist are left out; the result is empty when none does.
pub async fn read_rotated(root: &Path, log: &str, since: Option<SystemTime>) -> Vec<LogFile> {
    let root = root.to_path_buf();
    let log = log.to_string();
    blocking(move || {
        let mut names = vec![log.clone()];
        for n in 1..=MAX_ROTATIONS {
            names.push(format!("{log}.{n}"));
            names.push(format!("{log}.{n}.gz"));
        }
        let mut out = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let path = under(&root, name);
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if i > 0
                && let (Some(since), Ok(modified)) = (since, meta.modified())
                && modified < since
            {
                break;
            }
            out.push(LogFile {
                shown: name.clone(),
                text: read_tail_sync(&path),
            });
        }
        Ok(out)
    })
    .await
    .unwrap_or_default()
}

/// Whether something exists under `root` (a directory like
/// `/run/systemd/system`).
pub async fn exists(path: &Path) -> bool {
    tokio::fs::try_exists(path).await.unwrap_or(false)
}

/// What a command printed and how it ended.
#[derive(Debug)]
pub struct CmdOutput {
    /// Exit status 0.
    pub success: bool,
    /// Standard output (its last [`OUTPUT_CAP`] bytes).
    pub stdout: String,
    /// Standard error (its last 64 KiB).
    pub stderr: String,
}

/// Why a command gave no output. Callers branch on it: a missing tool is
/// "not available here", a timeout is a stuck system.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    /// The program is not installed (or not on PATH).
    #[error("{0} is not installed here")]
    Missing(String),
    /// It did not finish in time and was killed.
    #[error("{program} did not finish within {}", crate::format::human_duration(*.limit))]
    Timeout {
        /// The program.
        program: String,
        /// The limit it overran.
        limit: Duration,
    },
    /// It could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: io::Error,
    },
}

/// Runs `argv` (never through a shell) with a timeout, in the C locale so
/// its words are the ones parsers expect. The child is killed when the
/// timeout drops it.
pub async fn run_argv(argv: &[&str], limit: Duration) -> Result<CmdOutput, CmdError> {
    let program = argv[0].to_string();
    let mut child = crate::child_env::restrict(&mut Command::new(argv[0]))
        .args(&argv[1..])
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => CmdError::Missing(program.clone()),
            _ => CmdError::Spawn {
                program: program.clone(),
                source,
            },
        })?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let work = async move {
        let (out, err) = tokio::join!(
            read_stream(&mut stdout, OUTPUT_CAP),
            read_stream(&mut stderr, 64 * 1024)
        );
        let status = child.wait().await;
        (out, err, status)
    };
    match tokio::time::timeout(limit, work).await {
        Ok((stdout, stderr, status)) => Ok(CmdOutput {
            success: status.is_ok_and(|s| s.success()),
            stdout,
            stderr,
        }),
        Err(_) => Err(CmdError::Timeout { program, limit }),
    }
}

/// Reads a pipe to its end, keeping its tail: the child never blocks on a
/// full pipe, and memory stays bounded.
async fn read_stream(pipe: &mut (impl AsyncReadExt + Unpin), cap: usize) -> String {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut cut = false;
    while let Ok(n) = pipe.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        cut |= keep_tail(&mut buf, &chunk[..n], cap);
    }
    finish_tail(buf, cap, cut)
}

/// "permission denied" and friends, in lower case for a sentence.
pub fn io_words(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "not found".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_starts_at_a_line_and_stays_under_its_cap() {
        let mut buf = Vec::new();
        let mut cut = false;
        for i in 0..1000 {
            cut |= keep_tail(&mut buf, format!("line {i}\n").as_bytes(), 100);
        }
        let tail = finish_tail(buf, 100, cut);
        assert!(tail.len() <= 100);
        assert!(tail.starts_with("line "), "{tail}");
        assert!(tail.ends_with("line 999\n"));
    }

    #[test]
    fn gz_rotations_are_read_and_capped() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.log.1.gz");
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        for i in 0..600_000 {
            writeln!(gz, "entry {i:08}").unwrap();
        }
        gz.finish().unwrap();
        let text = read_tail_sync(&path).unwrap();
        assert!(text.len() <= LOG_CAP);
        assert!(text.starts_with("entry "));
        assert!(text.ends_with("entry 00599999\n"));
    }

    #[tokio::test]
    async fn commands_time_out_and_missing_tools_are_named() {
        let err = run_argv(&["sleep", "5"], Duration::from_millis(100))
            .await
            .unwrap_err();
        assert!(matches!(err, CmdError::Timeout { .. }), "{err}");
        let err = run_argv(&["medic-no-such-tool"], Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(matches!(err, CmdError::Missing(_)), "{err}");
        let out = run_argv(&["echo", "hi"], Duration::from_secs(5))
            .await
            .unwrap();
        assert!(out.success);
        assert_eq!(out.stdout, "hi\n");
    }
}
