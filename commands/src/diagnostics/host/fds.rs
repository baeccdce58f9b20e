//! Purpose: `cat /proc/sys/fs/file-nr` — at the system-wide limit every
//! `open` and `accept` fails with "Too many open files", which services log
//! as connection errors (`seeds/production-debugging-guide.md`, step 6).

use super::Ctx;
use super::io;
use crate::model::report::Finding;

/// Share of `file-max` in use at which it is a warning.
pub const WARN_RATIO: f64 = 0.80;
/// Share at which it is critical.
pub const CRITICAL_RATIO: f64 = 0.95;

/// `file-nr` is "allocated  free  max"; open handles are allocated − free
/// (free is always 0 on kernels since 2.6).
pub fn parse_file_nr(text: &str) -> Option<(u64, u64)> {
    let mut f = text.split_whitespace().map(|n| n.parse::<u64>().ok());
    let (allocated, free, max) = (f.next()??, f.next()??, f.next()??);
    Some((allocated.saturating_sub(free), max))
}

/// Open file handles against the system limit.
pub fn findings(open: u64, max: u64) -> Finding {
    let ratio = if max == 0 {
        0.0
    } else {
        open as f64 / max as f64
    };
    let summary = format!(
        "File descriptors {open} open of {max} ({})",
        crate::format::percent(open, max)
    );
    let f = if ratio >= CRITICAL_RATIO {
        Finding::critical("host.fds", summary)
    } else if ratio >= WARN_RATIO {
        Finding::warn("host.fds", summary)
    } else {
        return Finding::ok("host.fds", summary);
    };
    f.with_detail("At fs.file-max every open and accept fails (\"Too many open files\"); find the holder with ls /proc/*/fd | wc -l per process, or raise fs.file-max.")
}

/// Reads `root/proc/sys/fs/file-nr`.
pub async fn check(ctx: &Ctx) -> Vec<Finding> {
    let f = match ctx.machine.read_small("proc/sys/fs/file-nr").await {
        Ok(text) => match parse_file_nr(&text) {
            Some((open, max)) => findings(open, max),
            None => Finding::unknown("host.fds", "/proc/sys/fs/file-nr is not three numbers")
                .with_evidence(text.trim().to_string()),
        },
        Err(e) => Finding::unknown(
            "host.fds",
            format!(
                "Cannot read {}/proc/sys/fs/file-nr: {}",
                ctx.root.display(),
                io::io_words(&e)
            ),
        ),
    };
    vec![f]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    #[test]
    fn open_handles_against_file_max() {
        assert_eq!(
            parse_file_nr("9824\t0\t9223372036854775807\n"),
            Some((9824, 9223372036854775807))
        );
        let (open, max) = parse_file_nr("96000 0 100000").unwrap();
        let f = findings(open, max);
        assert_eq!(f.status, Status::Critical);
        assert_eq!(f.summary, "File descriptors 96000 open of 100000 (96 %)");
        assert_eq!(findings(1000, 100000).status, Status::Ok);
        assert_eq!(parse_file_nr("garbage"), None);
    }
}
