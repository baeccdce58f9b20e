//! Purpose: `ssh deploy@10.0.1.1` the way medic may do it unattended — the
//! system ssh client in batch mode (no password or passphrase prompt, no
//! "are you sure you want to continue connecting"), the host key checked
//! strictly, one connection per run, and a fixed remote command (`sh -s`
//! reading medic's own script, see [`super::snapshot`]).
//!
//! The destination comes only from config and is validated here
//! ([`Destination::parse`]): a user and a host from a conservative
//! character set, so it can never be read by ssh as an option
//! (`-oProxyCommand=…`). Every argument is its own argv element; no shell
//! runs on this side.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// The most of the script's output that is read (its head): every log at
/// its cap with a rotation or two, and the small files.
pub const OUTPUT_CAP: usize = 48 << 20;

/// `user@host`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    user: String,
    host: String,
}

fn conservative(word: &str, extra: &[char]) -> bool {
    !word.is_empty()
        && !word.starts_with(['-', '.'])
        && word.chars().all(|c| {
            c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_' || extra.contains(&c)
        })
}

impl Destination {
    /// Parses `user@host`. The user is letters, digits, `.`, `_`, `-`; the
    /// host a name or an IPv4 address (letters, digits, `.`, `-`) or an
    /// IPv6 address (hex digits and `:`). Neither may start with `-` or
    /// `.`, so neither can be taken for an option; nothing else (spaces,
    /// quotes, `$`, `;`, `%`, `/`) is allowed.
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some((user, host)) = text.split_once('@') else {
            return Err("must be user@host, like deploy@10.0.1.1".into());
        };
        if !conservative(user, &[]) {
            return Err(
                "the user may hold only letters, digits, '.', '_' and '-', and may not start with '-' or '.'"
                    .into(),
            );
        }
        let ipv6 = host.contains(':')
            && host
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
        let name = conservative(host, &[]) && !host.contains('_');
        if !(ipv6 || name) {
            return Err(
                "the host must be a name or an IP address (letters, digits, '.', '-', or ':' for IPv6), not starting with '-'"
                    .into(),
            );
        }
        Ok(Destination {
            user: user.to_string(),
            host: host.to_string(),
        })
    }

    /// The host part.
    pub fn host(&self) -> &str {
        &self.host
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.user, self.host)
    }
}

/// A path ssh is given in an option (`-i`, `UserKnownHostsFile=`): it must
/// be absolute, and free of whitespace (ssh splits the option's value on
/// it), quotes and `%` (ssh expands `%h`-style tokens in these paths).
pub fn check_path(path: &Path) -> Result<(), String> {
    let text = path.to_string_lossy();
    if !path.is_absolute() {
        return Err("must be an absolute path".into());
    }
    if text
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '%' | '"' | '\'' | '\\'))
    {
        return Err("may not hold spaces, quotes, backslashes or %".into());
    }
    Ok(())
}

/// How to reach a host.
#[derive(Debug, Clone)]
pub struct Ssh {
    /// `user@host`.
    pub dest: Destination,
    /// The port (ssh's default, 22, when unset).
    pub port: Option<u16>,
    /// The private key (`-i`); the user's keys and agent when unset.
    pub key: Option<PathBuf>,
    /// The known_hosts file; the user's when unset. Either way the host
    /// key is checked strictly: an unknown or changed key stops the run.
    pub known_hosts: Option<PathBuf>,
    /// How long to wait for the connection and handshake.
    pub connect_timeout: Duration,
}

impl Ssh {
    /// `deploy@10.0.1.1` or `deploy@10.0.1.1:2222`, for reports.
    pub fn shown(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.dest),
            None => self.dest.to_string(),
        }
    }

    /// The argv after `ssh`: options, the destination, `--`, the fixed
    /// remote command.
    pub fn argv(&self) -> Vec<OsString> {
        let mut a = self.options();
        a.push(REMOTE_COMMAND.into());
        a
    }

    /// The argv after `ssh` up to the remote command: batch mode, the
    /// connect timeout, strict host keys (and the known_hosts file, the
    /// key and `IdentitiesOnly` when given), the port, the destination
    /// and `--`. Remote actions use it too ([`crate::actions::exec`]).
    pub fn options(&self) -> Vec<OsString> {
        let secs = self.connect_timeout.as_secs_f64().ceil().max(1.0) as u64;
        let mut a: Vec<OsString> = Vec::new();
        let mut opt = |o: String| {
            a.push("-o".into());
            a.push(o.into());
        };
        opt("BatchMode=yes".into());
        opt(format!("ConnectTimeout={secs}"));
        opt("StrictHostKeyChecking=yes".into());
        opt("LogLevel=ERROR".into());
        if let Some(known) = &self.known_hosts {
            opt(format!("UserKnownHostsFile={}", known.display()));
        }
        if self.key.is_some() {
            opt("IdentitiesOnly=yes".into());
        }
        if let Some(port) = self.port {
            a.push("-p".into());
            a.push(port.to_string().into());
        }
        if let Some(key) = &self.key {
            a.push("-i".into());
            a.push(key.clone().into());
        }
        a.push(self.dest.to_string().into());
        a.push("--".into());
        a
    }

    /// Runs `script` on the host within `limit` and returns its output.
    pub async fn run(&self, script: &str, limit: Duration) -> Result<Vec<u8>, SshError> {
        let mut child = crate::child_env::restrict(&mut Command::new("ssh"))
            .args(self.argv())
            .env("LC_ALL", "C")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => SshError::Missing,
                _ => SshError::Other(format!("cannot run ssh: {e}")),
            })?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let script = script.to_string();
        let work = async move {
            let feed = async move {
                // A host that never reads its input must not block the run.
                let _ = stdin.write_all(script.as_bytes()).await;
                drop(stdin);
            };
            let (_, out, err) = tokio::join!(
                feed,
                read_head(&mut stdout, OUTPUT_CAP),
                read_head(&mut stderr, 64 * 1024)
            );
            let status = child.wait().await;
            (out, err, status)
        };
        let (out, err, status) = tokio::time::timeout(limit, work)
            .await
            .map_err(|_| SshError::Timeout)?;
        let err = String::from_utf8_lossy(&err).into_owned();
        match status.ok().and_then(|s| s.code()) {
            // 255 is ssh's own failure; anything else is the script's.
            Some(255) | None => Err(SshError::classify(&err)),
            Some(_) => Ok(out),
        }
    }
}

/// The one remote command: a POSIX shell reading medic's script from its
/// input.
pub const REMOTE_COMMAND: &str = "sh -s";

async fn read_head(pipe: &mut (impl AsyncReadExt + Unpin), cap: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    while let Ok(n) = pipe.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        if buf.len() < cap {
            let take = n.min(cap - buf.len());
            buf.extend_from_slice(&chunk[..take]);
        }
        // Past the cap the rest is drained, so ssh never blocks on a full
        // pipe.
    }
    buf
}

/// Why ssh could not run the script. Callers branch on it: an unreachable
/// host is an outage, a key or login problem is medic's configuration.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SshError {
    /// No ssh client on medic's machine.
    #[error("the ssh client is not installed on medic's machine")]
    Missing,
    /// Nothing listens on the port.
    #[error("connection refused")]
    Refused,
    /// No answer in time (connect, handshake or the whole run).
    #[error("no answer in time")]
    Timeout,
    /// The name does not resolve.
    #[error("the host name does not resolve")]
    Resolve,
    /// No route to the host.
    #[error("the network is unreachable")]
    Unreachable,
    /// The host's key differs from the known one.
    #[error("the host key does not match the known one")]
    HostKeyChanged,
    /// The host's key is not in known_hosts.
    #[error("the host key is not known")]
    HostKeyUnknown,
    /// The server refused medic's key.
    #[error("the login was refused")]
    AuthDenied,
    /// Anything else, with ssh's words.
    #[error("ssh failed: {0}")]
    Other(String),
}

impl SshError {
    /// Reads ssh's error output (LC_ALL=C, so its English words).
    pub fn classify(stderr: &str) -> Self {
        let has = |s: &str| stderr.contains(s);
        if has("REMOTE HOST IDENTIFICATION HAS CHANGED")
            || has("has changed and you have requested strict checking")
        {
            SshError::HostKeyChanged
        } else if has("host key is known for") || has("Host key verification failed") {
            SshError::HostKeyUnknown
        } else if has("Permission denied") || has("Too many authentication failures") {
            SshError::AuthDenied
        } else if has("Connection refused") {
            SshError::Refused
        } else if has("timed out") {
            SshError::Timeout
        } else if has("Could not resolve hostname") || has("Name or service not known") {
            SshError::Resolve
        } else if has("No route to host") || has("Network is unreachable") {
            SshError::Unreachable
        } else {
            let last = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no error text");
            SshError::Other(last.trim().to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_user_at_host_and_never_an_option() {
        assert!(Destination::parse("deploy@10.0.1.1").is_ok());
        assert!(Destination::parse("ops_user@db-1.internal.example").is_ok());
        assert!(Destination::parse("root@::1").is_ok());
        for bad in [
            "-oProxyCommand=touch /tmp/pwned",
            "deploy@-oProxyCommand=sh",
            "-oProxyCommand=x@host",
            "deploy@10.0.1.1 -oProxyCommand=x",
            "deploy@host;reboot",
            "deploy@$(reboot)",
            "deploy@`id`",
            "de ploy@host",
            "deploy@",
            "@host",
            "host",
            "a@b@c",
            "deploy@host/x",
            "deploy@%h",
            ".deploy@host",
            "deploy@ho'st",
        ] {
            assert!(Destination::parse(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn the_argv_is_batch_strict_and_ends_with_the_fixed_command() {
        let ssh = Ssh {
            dest: Destination::parse("deploy@127.0.0.1").unwrap(),
            port: Some(2222),
            key: Some("/etc/medic/id_ed25519".into()),
            known_hosts: Some("/etc/medic/known_hosts".into()),
            connect_timeout: Duration::from_millis(1600),
        };
        let argv: Vec<String> = ssh
            .argv()
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(
            argv,
            [
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=2",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "UserKnownHostsFile=/etc/medic/known_hosts",
                "-o",
                "IdentitiesOnly=yes",
                "-p",
                "2222",
                "-i",
                "/etc/medic/id_ed25519",
                "deploy@127.0.0.1",
                "--",
                "sh -s",
            ]
        );
        assert_eq!(ssh.shown(), "deploy@127.0.0.1:2222");
    }

    #[test]
    fn paths_for_ssh_options_are_plain_and_absolute() {
        assert!(check_path(Path::new("/etc/medic/known_hosts")).is_ok());
        assert!(check_path(Path::new("keys/id")).is_err());
        assert!(check_path(Path::new("/etc/my keys/id")).is_err());
        assert!(check_path(Path::new("/etc/%h/id")).is_err());
    }

    #[test]
    fn ssh_errors_are_read_from_its_words() {
        let c = SshError::classify;
        assert!(matches!(
            c("ssh: connect to host 127.0.0.1 port 1: Connection refused"),
            SshError::Refused
        ));
        assert!(matches!(
            c(
                "@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nHost key verification failed."
            ),
            SshError::HostKeyChanged
        ));
        assert!(matches!(
            c(
                "No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.\nHost key verification failed."
            ),
            SshError::HostKeyUnknown
        ));
        assert!(matches!(
            c("root@127.0.0.1: Permission denied (publickey)."),
            SshError::AuthDenied
        ));
        assert!(matches!(
            c("ssh: connect to host 10.0.1.1 port 22: Connection timed out"),
            SshError::Timeout
        ));
        assert!(matches!(
            c("ssh: Could not resolve hostname nowhere: Name or service not known"),
            SshError::Resolve
        ));
        assert!(matches!(
            c("kex_exchange_identification: Connection closed by remote host"),
            SshError::Other(_)
        ));
    }
}
