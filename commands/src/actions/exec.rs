//! Purpose: run an action's argv with a timeout and an output cap — never
//! through a shell — and say what happened.
//!
//! Locally the argv goes to `execve` as is. Over ssh, the remote side is a
//! login shell whatever we do (ssh joins its arguments into one command
//! line), so each element is single-quoted there: the remote shell sees
//! the same argv, one element per argument, with nothing to expand.

use std::ffi::OsString;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use crate::diagnostics::host::ssh::Ssh;

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
/// says how much was cut: of `total` bytes when known (`None`: an answer
/// that was not read to its end).
pub fn cap_output(text: &str, cap: usize, total: Option<usize>) -> String {
    if total.is_some_and(|t| t <= cap) && text.len() <= cap {
        return text.to_string();
    }
    let mut end = cap.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let of = match total {
        Some(total) => format!(" of {total}"),
        None => ", and there was more".to_string(),
    };
    format!(
        "{}\n… (output capped at {cap} bytes{of}; `output_cap` raises the limit)",
        &text[..end]
    )
}

/// Quotes one argv element for a POSIX shell: `'it'\''s'`.
pub fn shell_quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

/// Seconds the remote `timeout` waits after its TERM before it sends
/// KILL.
const REMOTE_KILL_AFTER: u64 = 5;

/// The argv actually executed: `argv` itself, or ssh carrying it quoted
/// under the host's `timeout`, so that a run past its time is stopped
/// there too (killing the local ssh client does not stop the remote
/// command: without a terminal, sshd sends it no hangup).
pub fn command_line(argv: &[String], on: Option<&Ssh>, timeout: Duration) -> Vec<OsString> {
    match on {
        None => argv.iter().map(OsString::from).collect(),
        Some(ssh) => {
            let secs = timeout.as_secs().max(1).to_string();
            let kill = REMOTE_KILL_AFTER.to_string();
            let remote = ["timeout", "-k", kill.as_str(), secs.as_str()]
                .into_iter()
                .chain(argv.iter().map(String::as_str))
                .map(shell_quote)
                .collect::<Vec<_>>()
                .join(" ");
            let mut line: Vec<OsString> = vec!["ssh".into()];
            line.extend(ssh.options());
            line.push(remote.into());
            line
        }
    }
}

/// How long medic waits for a run: the action's time, and over ssh the
/// connection's and the remote `timeout`'s grace besides, so that the
/// host's own stop is what is reported.
fn local_limit(on: Option<&Ssh>, timeout: Duration) -> Duration {
    match on {
        None => timeout,
        Some(ssh) => timeout + ssh.connect_timeout + Duration::from_secs(REMOTE_KILL_AFTER + 1),
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
/// `cap` bytes of output; `env` names variables of medic's environment
/// passed to a local program besides [`crate::child_env::PASSED`]. The
/// child is killed at the timeout (over ssh, the host's `timeout` stops
/// the remote command).
pub async fn run_argv(
    argv: &[String],
    on: Option<&Ssh>,
    env: &[String],
    timeout: Duration,
    cap: usize,
) -> Outcome {
    let started = Instant::now();
    let line = command_line(argv, on, timeout);
    let program = line[0].to_string_lossy().into_owned();
    let mut child = match crate::child_env::restrict_passing(&mut Command::new(&line[0]), env)
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
                status: format!("could not start `{program}`: {e}"),
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
    match tokio::time::timeout(local_limit(on, timeout), work).await {
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
                    match (s.code(), on) {
                        // coreutils' `timeout`: TERM (124) or KILL (137)
                        // sent at the limit.
                        (Some(124 | 137), Some(_)) => format!(
                            "timed out after {} (stopped on the host)",
                            crate::format::human_duration(timeout)
                        ),
                        (Some(255), Some(ssh)) => {
                            format!("ssh to {} failed (exit 255)", ssh.shown())
                        }
                        (Some(c), _) => format!("exit {c}"),
                        (None, _) => "killed by a signal".to_string(),
                    },
                ),
                Err(e) => (false, format!("could not wait for it: {e}")),
            };
            Outcome {
                success,
                status,
                output: cap_output(&text, cap, Some(out_n + err_n)),
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
            &[],
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
            &[],
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
            &[],
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
            &[],
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
            &[],
            Duration::from_secs(1),
            64,
        )
        .await;
        assert!(!out.success);
        assert!(out.status.contains("could not start"));
    }

    #[test]
    fn ssh_is_strict_and_carries_each_element_quoted_under_the_hosts_timeout() {
        let ssh = Ssh {
            dest: crate::diagnostics::host::ssh::Destination::parse("deploy@h").unwrap(),
            port: None,
            key: Some("/etc/medic/id".into()),
            known_hosts: Some("/etc/medic/known_hosts".into()),
            connect_timeout: Duration::from_secs(10),
        };
        let line: Vec<String> = command_line(
            &argv(&["echo", "it's; id"]),
            Some(&ssh),
            Duration::from_secs(30),
        )
        .into_iter()
        .map(|a| a.into_string().unwrap())
        .collect();
        assert_eq!(
            line.last().unwrap(),
            r"'timeout' '-k' '5' '30' 'echo' 'it'\''s; id'"
        );
        for option in [
            "BatchMode=yes",
            "StrictHostKeyChecking=yes",
            "UserKnownHostsFile=/etc/medic/known_hosts",
            "IdentitiesOnly=yes",
        ] {
            assert!(line.iter().any(|a| a == option), "{option}: {line:?}");
        }
        let dest = line.iter().position(|a| a == "deploy@h").unwrap();
        assert_eq!(line[dest + 1], "--", "{line:?}");
        assert_eq!(
            command_line(&argv(&["a"]), None, Duration::from_secs(1)),
            [OsString::from("a")]
        );
    }

    #[tokio::test]
    async fn a_named_variable_reaches_a_local_program_and_no_other() {
        // SAFETY: set once, before the child is spawned; no other test
        // reads this name.
        unsafe { std::env::set_var("EXEC_TEST_ACTION_VAR", "passed-on") };
        let out = run_argv(
            &argv(&[
                "sh",
                "-c",
                "echo \"${EXEC_TEST_ACTION_VAR:-unset} ${CARGO:-unset}\"",
            ]),
            None,
            &["EXEC_TEST_ACTION_VAR".to_string()],
            Duration::from_secs(10),
            1000,
        )
        .await;
        assert_eq!(out.output.trim(), "passed-on unset", "{out:?}");
    }

    #[test]
    fn capping_respects_character_boundaries() {
        assert_eq!(cap_output("héllo", 2, Some(6)).lines().next().unwrap(), "h");
        assert_eq!(cap_output("ok", 10, Some(2)), "ok");
    }
}
