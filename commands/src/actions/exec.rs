//! Purpose: run an action's argv with a timeout and an output cap — never
//! through a shell — and say what happened.
//!
//! Locally the argv goes to `execve` as is. Over ssh, the remote side is a
//! login shell whatever we do (ssh joins its arguments into one command
//! line), so each element is single-quoted there: the remote shell sees
//! the same argv, one element per argument, with nothing to expand.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

/// How one run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Whether it did what it was asked (exit 0, a 2xx, a query that ran).
    pub success: bool,
    /// The exit status, HTTP status or rows affected, in words.
    pub status: String,
    /// Output (stdout then stderr), capped with a note.
    pub output: String,
    /// Wall time.
    pub duration: Duration,
}

/// Keeps the first `cap` bytes of `text` (on a character boundary) and
/// says how much was cut.
pub fn cap_output(text: &str, cap: usize, total: usize) -> String {
    if total <= cap && text.len() <= cap {
        return text.to_string();
    }
    let mut end = cap.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n… (output capped at {cap} bytes of {total}; `output_cap` raises the limit)",
        &text[..end]
    )
}

/// Quotes one argv element for a POSIX shell: `'it'\''s'`.
pub fn shell_quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

/// The argv actually executed: `argv` itself, or ssh carrying it quoted.
pub fn command_line(argv: &[String], on: Option<&str>) -> Vec<String> {
    match on {
        None => argv.to_vec(),
        Some(host) => {
            let remote = argv
                .iter()
                .map(|a| shell_quote(a))
                .collect::<Vec<_>>()
                .join(" ");
            vec![
                "ssh".into(),
                "-o".into(),
                "BatchMode=yes".into(),
                "-o".into(),
                "ConnectTimeout=10".into(),
                "--".into(),
                host.to_string(),
                remote,
            ]
        }
    }
}

/// Reads up to `cap` bytes and drains (and counts) the rest, so a chatty
/// program neither blocks on a full pipe nor fills medic's memory.
async fn read_capped(mut r: impl AsyncRead + Unpin, cap: usize) -> (Vec<u8>, usize) {
    let mut kept = Vec::new();
    let mut total = 0usize;
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                total += n;
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    (kept, total)
}

/// Runs `argv` (here, or on `on` over ssh) for at most `timeout`, keeping
/// `cap` bytes of output. The child is killed at the timeout.
pub async fn run_argv(argv: &[String], on: Option<&str>, timeout: Duration, cap: usize) -> Outcome {
    let started = Instant::now();
    let line = command_line(argv, on);
    let mut child = match crate::child_env::restrict(&mut Command::new(&line[0]))
        .args(&line[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            return Outcome {
                success: false,
                status: format!("could not start `{}`: {e}", line[0]),
                output: String::new(),
                duration: started.elapsed(),
            };
        }
    };
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let work = async {
        let ((out, out_n), (err, err_n), status) = tokio::join!(
            read_capped(stdout, cap),
            read_capped(stderr, cap),
            child.wait()
        );
        (out, out_n, err, err_n, status)
    };
    match tokio::time::timeout(timeout, work).await {
        Ok((out, out_n, err, err_n, status)) => {
            let mut text = String::from_utf8_lossy(&out).into_owned();
            if !err.is_empty() {
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                text.push_str(&String::from_utf8_lossy(&err));
            }
            let (success, status) = match status {
                Ok(s) if s.success() => (true, "exit 0".to_string()),
                Ok(s) => (
                    false,
                    match s.code() {
                        Some(c) => format!("exit {c}"),
                        None => "killed by a signal".to_string(),
                    },
                ),
                Err(e) => (false, format!("could not wait for it: {e}")),
            };
            Outcome {
                success,
                status,
                output: cap_output(&text, cap, out_n + err_n),
                duration: started.elapsed(),
            }
        }
        Err(_) => {
            let _ = child.kill().await;
            Outcome {
                success: false,
                status: format!("timed out after {}", crate::format::human_duration(timeout)),
                output: String::new(),
                duration: started.elapsed(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn argv_is_not_a_shell() {
        let hostile = "$(echo pwned); echo two `id`";
        let out = run_argv(
            &argv(&["printf", "%s", hostile]),
            None,
            Duration::from_secs(10),
            1000,
        )
        .await;
        assert!(out.success, "{out:?}");
        assert_eq!(out.output, hostile);
    }

    #[tokio::test]
    async fn exit_status_and_stderr_are_reported() {
        let out = run_argv(
            &argv(&["ls", "/no/such/dir"]),
            None,
            Duration::from_secs(10),
            1000,
        )
        .await;
        assert!(!out.success);
        assert!(out.status.starts_with("exit "), "{}", out.status);
        assert!(out.output.contains("/no/such/dir"), "{}", out.output);
    }

    #[tokio::test]
    async fn output_is_capped_with_a_note() {
        let out = run_argv(
            &argv(&["head", "-c", "100000", "/dev/zero"]),
            None,
            Duration::from_secs(10),
            64,
        )
        .await;
        assert!(out.success);
        assert!(
            out.output.contains("output capped at 64 bytes of 100000"),
            "{}",
            out.output
        );
    }

    #[tokio::test]
    async fn a_hung_command_is_killed_at_the_timeout() {
        let out = run_argv(
            &argv(&["sleep", "30"]),
            None,
            Duration::from_millis(200),
            64,
        )
        .await;
        assert!(!out.success);
        assert!(out.status.starts_with("timed out"), "{}", out.status);
    }

    #[tokio::test]
    async fn a_missing_program_is_an_outcome_not_a_panic() {
        let out = run_argv(
            &argv(&["/no/such/program"]),
            None,
            Duration::from_secs(1),
            64,
        )
        .await;
        assert!(!out.success);
        assert!(out.status.contains("could not start"));
    }

    #[test]
    fn ssh_carries_each_element_quoted() {
        let line = command_line(&argv(&["echo", "it's; id"]), Some("deploy@h"));
        assert_eq!(line.last().unwrap(), r"'echo' 'it'\''s; id'");
        assert_eq!(line[6], "deploy@h");
        assert_eq!(command_line(&argv(&["a"]), None), argv(&["a"]));
    }

    #[test]
    fn capping_respects_character_boundaries() {
        assert_eq!(cap_output("héllo", 2, 6).lines().next().unwrap(), "h");
        assert_eq!(cap_output("ok", 10, 2), "ok");
    }
}
