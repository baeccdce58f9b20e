//! Purpose: everything the host checks read, collected from a remote host
//! in one ssh round trip — the `cat /proc/meminfo`, `df`, `dmesg`,
//! `systemctl --failed`, `tail /var/log/syslog` an engineer would type
//! after `ssh deploy@10.0.1.1`, done by one fixed POSIX sh script.
//!
//! The script is medic's own text ([`PRELUDE`] and lines built from a
//! [`Plan`]): paths and argv are fixed in the check modules, the only
//! values are a time (a number) and `releases_dir` from config, and every
//! one of them is single-quoted. Nothing from chat reaches it. It is sent on
//! the standard input of `sh -s`, so the ssh command line itself is fixed.
//!
//! Each answer is a section between two marker lines carrying a random
//! nonce, so no file content (a log line an attacker wrote) can forge a
//! section. Per-file caps match the local reads ([`super::io`]).

use std::hash::{BuildHasher, Hasher};
use std::io;

use super::disk::Usage;
use super::io::{CmdError, CmdOutput, LOG_CAP, LogFile, PROC_CAP};

/// What to collect: built from the checks' own paths and argv.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Small text files, read whole up to [`PROC_CAP`] (`/proc/meminfo`).
    pub files: Vec<String>,
    /// Small binary files, sent as hex (`/etc/localtime`).
    pub binary: Vec<String>,
    /// Logs, with their rotations, each read as its last [`LOG_CAP`] bytes
    /// (`.gz` inflated on the host).
    pub logs: Vec<String>,
    /// Rotations last written before this (unix seconds) are skipped, as
    /// locally.
    pub since: i64,
    /// Paths whose existence is asked.
    pub exists: Vec<String>,
    /// Directories to list.
    pub dirs: Vec<String>,
    /// Commands, each with an optional fixed shell condition.
    pub commands: Vec<PlannedCommand>,
    /// Whether to ask every mount's usage (`stat -f`).
    pub usage: bool,
    /// Directories whose regular files are all read like [`Plan::files`]
    /// (at most [`DIR_FILES_CAP`] each: `/etc/apt/apt.conf.d`).
    pub dir_files: Vec<String>,
    /// Paths whose modification time is asked (`/run/reboot-required`).
    pub mtimes: Vec<String>,
    /// Peers to try a TCP connect to from the host, all at once, each
    /// within [`Plan::peer_secs`] (bash's `/dev/tcp` under `timeout`).
    pub peers: Vec<(String, u16)>,
    /// The most each peer connect may take on the host, in whole seconds
    /// (busybox `timeout` takes no fractions).
    pub peer_secs: u64,
}

/// The most files of one directory the script reads (a conf.d directory
/// holds a dozen).
pub const DIR_FILES_CAP: usize = 100;

/// A command to run on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedCommand {
    /// The argv, exactly as the check will ask for it.
    pub argv: Vec<String>,
    /// When to run it.
    pub when: When,
}

/// A command's condition. Fixed choices, so the script holds no condition
/// text from anywhere but here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Always.
    Always,
    /// Only when the command before it failed (a fallback).
    PreviousFailed,
    /// Only where systemd runs (`/run/systemd/system` exists).
    Systemd,
}

/// The functions every script starts with. `$N` is the section marker;
/// each answer's error text goes on its end line, its output between.
pub const PRELUDE: &str = r#"LC_ALL=C; export LC_ALL
exec 3>&1
R=0
end() { R=$1; printf '\n%s end %s %s\n' "$N" "$1" "$(printf '%s' "$2" | tr '\n' ' ' | cut -c1-500)"; }
file() { printf '%s file %s\n' "$N" "$1"; e=$(head -c 1048576 -- "$1" 2>&1 1>&3 3>&- </dev/null); end $? "$e"; }
hex() { printf '%s hex %s\n' "$N" "$1"; e=$(od -An -v -tx1 -- "$1" 2>&1 1>&3 3>&- </dev/null); end $? "$e"; }
exists() { printf '%s exists %s\n' "$N" "$1"; if [ -e "$1" ]; then printf 1; else printf 0; fi; end 0 ''; }
dir() { printf '%s dir %s\n' "$N" "$1"; e=$(ls -1A -- "$1" 2>&1 1>&3 3>&- </dev/null); end $? "$e"; }
cmd() { k=$1; shift; printf '%s cmd %s\n' "$N" "$k"
  if command -v "$1" >/dev/null 2>&1; then e=$("$@" 2>&1 1>&3 3>&- </dev/null); end $? "$e"; else end 127 missing; fi; }
logs() { first=1
  for s in '' .1 .1.gz .2 .2.gz .3 .3.gz .4 .4.gz; do p=$1$s
    if [ -e "$p" ]; then
      if [ -z "$first" ]; then m=$(stat -c %Y -- "$p" 2>/dev/null </dev/null || echo 0); [ "$m" -lt "$2" ] && break; fi
      printf '%s log %s\n' "$N" "$p"
      case $p in
        *.gz) e=$( { gzip -dc -- "$p" | tail -c 4194304; } 2>&1 1>&3 3>&- </dev/null);;
        *) e=$(tail -c 4194304 -- "$p" 2>&1 1>&3 3>&- </dev/null);;
      esac
      end $? "$e"
    fi
    first=
  done; }
mtime() { printf '%s mtime %s\n' "$N" "$1"; e=$(stat -c %Y -- "$1" 2>&1 1>&3 3>&- </dev/null); end $? "$e"; }
files() { n=0; for f in "$1"/*; do [ -f "$f" ] || continue; n=$((n+1)); [ "$n" -gt 100 ] && break; file "$f"; done; }
probe() { if ! command -v bash >/dev/null 2>&1; then printf '127 missing'; return; fi
  T=; command -v timeout >/dev/null 2>&1 && T="timeout $1"
  e=$($T bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$2" "$3" 2>&1 </dev/null); printf '%s %s' $? "$(printf '%s' "$e" | tr '\n' ' ' | cut -c1-300)"; }
peers() { s=$1; shift; d=$(mktemp -d 2>/dev/null) || d=; i=0
  while [ $# -ge 2 ]; do i=$((i+1)); if [ -n "$d" ]; then probe "$s" "$1" "$2" > "$d/$i" & fi; shift 2; done
  wait; n=$i; i=0
  while [ "$i" -lt "$n" ]; do i=$((i+1)); printf '%s peer %s\n' "$N" "$i"
    if [ -n "$d" ] && [ -s "$d/$i" ]; then r=$(cat "$d/$i"); end "${r%% *}" "${r#* }"; else end 1 'no temporary directory on the host (mktemp -d failed)'; fi
  done; [ -n "$d" ] && rm -rf -- "$d"; }
usage() { T=; command -v timeout >/dev/null 2>&1 && T='timeout 2'
  while read -r src mp rest; do printf '%s usage %s\n' "$N" "$mp"; p=$(printf '%b' "$mp")
    e=$($T stat -f -c '%S %b %f %a %c %d' -- "$p" 2>&1 1>&3 3>&- </dev/null); end $? "$e"
  done < /proc/mounts; }
"#;

/// Single-quotes a word for sh.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// A fresh random nonce for the section marker.
pub fn nonce() -> String {
    let mut out = String::new();
    for _ in 0..2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.write_u32(std::process::id());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

/// The marker of a run.
fn marker(nonce: &str) -> String {
    format!("@@medic-{nonce}@@")
}

/// The whole script for `plan`.
pub fn script(plan: &Plan, nonce: &str) -> String {
    let mut s = format!("N={}\n{PRELUDE}", quote(&marker(nonce)));
    for f in &plan.files {
        s.push_str(&format!("file {}\n", quote(f)));
    }
    for f in &plan.binary {
        s.push_str(&format!("hex {}\n", quote(f)));
    }
    for p in &plan.exists {
        s.push_str(&format!("exists {}\n", quote(p)));
    }
    for d in &plan.dirs {
        s.push_str(&format!("dir {}\n", quote(d)));
    }
    for l in &plan.logs {
        s.push_str(&format!("logs {} {}\n", quote(l), plan.since));
    }
    for d in &plan.dir_files {
        s.push_str(&format!("files {}\n", quote(d)));
    }
    for m in &plan.mtimes {
        s.push_str(&format!("mtime {}\n", quote(m)));
    }
    if !plan.peers.is_empty() {
        let args: Vec<String> = plan
            .peers
            .iter()
            .map(|(h, p)| format!("{} {}", quote(h), quote(&p.to_string())))
            .collect();
        s.push_str(&format!(
            "peers {} {}\n",
            plan.peer_secs.max(1),
            args.join(" ")
        ));
    }
    for (i, c) in plan.commands.iter().enumerate() {
        let argv: Vec<String> = c.argv.iter().map(|a| quote(a)).collect();
        let condition = match c.when {
            When::Always => "",
            When::PreviousFailed => "[ \"$R\" = 0 ] || ",
            When::Systemd => "[ -d /run/systemd/system ] && ",
        };
        s.push_str(&format!("{condition}cmd {i} {}\n", argv.join(" ")));
    }
    if plan.usage {
        s.push_str("usage\n");
    }
    s
}

/// One answer of the script.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Section {
    kind: String,
    arg: String,
    body: String,
    rc: i32,
    err: String,
}

/// What a remote host answered.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    sections: Vec<Section>,
    commands: Vec<Vec<String>>,
    /// The output ended inside a section (cut at the size cap, or the
    /// connection dropped): what is missing reads as not found.
    pub truncated: bool,
}

/// A path as the checks name it (`proc/meminfo`) and as the script does
/// (`/proc/meminfo`).
fn absolute(path: &str) -> String {
    format!("/{}", path.trim_start_matches('/'))
}

fn not_collected(path: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{path} was not collected"))
}

/// The host's error words as an io::Error of the kind a local read gives.
fn io_error(err: &str) -> io::Error {
    let kind = if err.contains("No such file") {
        io::ErrorKind::NotFound
    } else if err.contains("Permission denied") {
        io::ErrorKind::PermissionDenied
    } else {
        io::ErrorKind::Other
    };
    io::Error::new(kind, err.trim().to_string())
}

impl Snapshot {
    /// Parses the script's output; `commands` are the plan's, in order.
    pub fn parse(text: &str, nonce: &str, commands: Vec<Vec<String>>) -> Self {
        let head = format!("{} ", marker(nonce));
        let end = format!("\n{} end ", marker(nonce));
        let mut sections = Vec::new();
        let mut truncated = false;
        let mut rest = text;
        while let Some(at) = rest.find(&head) {
            let after = &rest[at + head.len()..];
            let Some((header, body_on)) = after.split_once('\n') else {
                truncated = true;
                break;
            };
            let Some(stop) = body_on.find(&end) else {
                truncated = true;
                break;
            };
            let (kind, arg) = header.split_once(' ').unwrap_or((header, ""));
            let tail = &body_on[stop + end.len()..];
            let (end_line, next) = tail.split_once('\n').unwrap_or((tail, ""));
            let (rc, err) = end_line.split_once(' ').unwrap_or((end_line, ""));
            sections.push(Section {
                kind: kind.to_string(),
                arg: arg.to_string(),
                body: body_on[..stop].to_string(),
                rc: rc.trim().parse().unwrap_or(-1),
                err: err.trim().to_string(),
            });
            rest = next;
        }
        Snapshot {
            sections,
            commands,
            truncated,
        }
    }

    fn find(&self, kind: &str, arg: &str) -> Option<&Section> {
        self.sections
            .iter()
            .find(|s| s.kind == kind && s.arg == arg)
    }

    /// How many answers it holds.
    pub fn len(&self) -> usize {
        self.sections.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.sections.is_empty()
    }

    /// A small text file.
    pub fn file(&self, path: &str) -> io::Result<String> {
        let s = self
            .find("file", &absolute(path))
            .ok_or_else(|| not_collected(path))?;
        if s.rc == 0 {
            Ok(s.body.clone())
        } else {
            Err(io_error(&s.err))
        }
    }

    /// A small binary file.
    pub fn bytes(&self, path: &str) -> io::Result<Vec<u8>> {
        let s = self
            .find("hex", &absolute(path))
            .ok_or_else(|| not_collected(path))?;
        if s.rc != 0 {
            return Err(io_error(&s.err));
        }
        let digits: Vec<u8> = s
            .body
            .bytes()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        digits
            .chunks(2)
            .map(|pair| {
                std::str::from_utf8(pair)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad hex from od"))
            })
            .collect()
    }

    /// A log and its rotations, in the order the host gave them (newest
    /// first). A text at the cap starts at its first whole line.
    pub fn log(&self, log: &str) -> Vec<LogFile> {
        let base = absolute(log);
        self.sections
            .iter()
            .filter(|s| s.kind == "log")
            .filter(|s| {
                s.arg
                    .strip_prefix(&base)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
            })
            .map(|s| LogFile {
                shown: s.arg.trim_start_matches('/').to_string(),
                text: if s.rc == 0 {
                    Ok(whole_lines(&s.body))
                } else {
                    Err(io_error(&s.err))
                },
            })
            .collect()
    }

    /// Whether a path exists.
    pub fn exists(&self, path: &str) -> bool {
        self.find("exists", &absolute(path))
            .is_some_and(|s| s.body == "1")
    }

    /// The files of a directory collected whole (a [`Plan::dir_files`]
    /// entry), by name, in name order.
    pub fn dir_files(&self, dir: &str) -> Vec<(String, io::Result<String>)> {
        let base = format!("{}/", absolute(dir).trim_end_matches('/'));
        let mut out: Vec<(String, io::Result<String>)> = self
            .sections
            .iter()
            .filter(|s| s.kind == "file")
            .filter_map(|s| {
                let name = s.arg.strip_prefix(&base)?;
                (!name.is_empty() && !name.contains('/')).then(|| {
                    let text = if s.rc == 0 {
                        Ok(s.body.clone())
                    } else {
                        Err(io_error(&s.err))
                    };
                    (name.to_string(), text)
                })
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// When a path was last modified.
    pub fn modified(&self, path: &str) -> io::Result<std::time::SystemTime> {
        let s = self
            .find("mtime", &absolute(path))
            .ok_or_else(|| not_collected(path))?;
        if s.rc != 0 {
            return Err(io_error(&s.err));
        }
        let secs: u64 = s.body.trim().parse().map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidData, "unreadable stat -c %Y output")
        })?;
        // Checked: a host can print any number, and one past what a
        // SystemTime holds panicked in the addition.
        std::time::UNIX_EPOCH
            .checked_add(std::time::Duration::from_secs(secs))
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "stat -c %Y out of range"))
    }

    /// How the connect to the `index`th planned peer (from 0) ended on the
    /// host: `Ok(())` when it connected, else the exit status and the
    /// shell's words (124: timed out; 127 and "missing": no bash).
    pub fn peer(&self, index: usize) -> Result<(), (i32, String)> {
        match self.find("peer", &(index + 1).to_string()) {
            Some(s) if s.rc == 0 => Ok(()),
            Some(s) => Err((s.rc, s.err.clone())),
            None => Err((-1, "not collected".into())),
        }
    }

    /// A directory's names.
    pub fn dir(&self, path: &str) -> io::Result<Vec<String>> {
        let s = self
            .find("dir", &absolute(path))
            .ok_or_else(|| not_collected(path))?;
        if s.rc != 0 {
            return Err(io_error(&s.err));
        }
        Ok(s.body.lines().take(10_000).map(str::to_string).collect())
    }

    /// A command's answer; a command that did not run (not planned, its
    /// condition false, or not installed there) reads as not installed.
    pub fn command(&self, argv: &[&str]) -> Result<CmdOutput, CmdError> {
        let missing = || CmdError::Missing(argv.first().copied().unwrap_or("?").to_string());
        let index = self
            .commands
            .iter()
            .position(|c| c.iter().map(String::as_str).eq(argv.iter().copied()))
            .ok_or_else(missing)?;
        let s = self.find("cmd", &index.to_string()).ok_or_else(missing)?;
        if s.rc == 127 && s.err == "missing" {
            return Err(missing());
        }
        Ok(CmdOutput {
            success: s.rc == 0,
            stdout: s.body.clone(),
            stderr: s.err.clone(),
        })
    }

    /// The usage of the filesystem mounted at `point` (unescaped, as the
    /// mount table parser gives it).
    pub fn usage(&self, point: &str) -> Result<Usage, String> {
        let s = self
            .sections
            .iter()
            .find(|s| s.kind == "usage" && super::disk::unescape(&s.arg) == point)
            .ok_or_else(|| "not collected".to_string())?;
        if s.rc != 0 {
            return Err(if s.rc == 124 {
                "no answer within 2 s (a hung network mount?)".into()
            } else {
                super::io::io_words(&io_error(&s.err))
            });
        }
        let n: Vec<u64> = s
            .body
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        let [frsize, blocks, bfree, bavail, files, ffree] = n[..] else {
            return Err(format!("unreadable stat -f output: {}", s.body.trim()));
        };
        // Saturating: the host prints what it likes, and a product past
        // u64 must read as "huge", not panic or wrap (found by fuzzing:
        // host_snapshot).
        Ok(Usage {
            used: blocks.saturating_sub(bfree).saturating_mul(frsize),
            avail: bavail.saturating_mul(frsize),
            inodes_used: files.saturating_sub(ffree),
            inodes_total: files,
        })
    }
}

/// A log tail read at its cap starts mid-line; drop that part line, as the
/// local reader does.
fn whole_lines(body: &str) -> String {
    if body.len() >= LOG_CAP
        && let Some(nl) = body.find('\n')
    {
        return body[nl + 1..].to_string();
    }
    body.to_string()
}

/// Keeps [`PROC_CAP`] in view: the script reads small files with the same
/// cap as the local reader.
const _: () = assert!(PROC_CAP == 1 << 20 && LOG_CAP == 4 << 20);

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            files: vec!["/proc/meminfo".into()],
            binary: vec!["/etc/localtime".into()],
            logs: vec!["/var/log/syslog".into()],
            since: 1_800_000_000,
            exists: vec!["/run/systemd/system".into()],
            dirs: vec!["/srv/it's here/releases".into()],
            commands: vec![
                PlannedCommand {
                    argv: vec!["dmesg".into(), "--time-format".into(), "iso".into()],
                    when: When::Always,
                },
                PlannedCommand {
                    argv: vec!["dmesg".into()],
                    when: When::PreviousFailed,
                },
            ],
            usage: true,
            dir_files: vec!["/etc/apt/apt.conf.d".into()],
            mtimes: vec!["/run/reboot-required".into()],
            peers: vec![("10.0.1.2".into(), 6379), ("::1".into(), 5432)],
            peer_secs: 2,
        }
    }

    #[test]
    fn every_value_in_the_script_is_single_quoted() {
        let s = script(&plan(), "abc");
        assert!(s.starts_with("N='@@medic-abc@@'\n"));
        assert!(s.contains("\ndir '/srv/it'\\''s here/releases'\n"), "{s}");
        assert!(s.contains("\nlogs '/var/log/syslog' 1800000000\n"));
        assert!(s.contains("\ncmd 0 'dmesg' '--time-format' 'iso'\n"));
        assert!(s.contains("\n[ \"$R\" = 0 ] || cmd 1 'dmesg'\n"));
        assert!(s.contains("\nfiles '/etc/apt/apt.conf.d'\n"));
        assert!(s.contains("\nmtime '/run/reboot-required'\n"));
        assert!(
            s.contains("\npeers 2 '10.0.1.2' '6379' '::1' '5432'\n"),
            "{s}"
        );
        assert!(s.ends_with("usage\n"));
    }

    #[test]
    fn the_script_runs_under_sh_and_its_output_parses() {
        // The real script against this machine's sh, to prove its syntax
        // and the round trip; the remote host is exercised in
        // tests/host_ssh.rs.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("20260131062000"), "").unwrap();
        let conf_dir = tempfile::tempdir().unwrap();
        let conf = conf_dir.path().to_path_buf();
        std::fs::write(conf.join("50unattended-upgrades"), "a").unwrap();
        std::fs::write(conf.join("20auto-upgrades"), "b").unwrap();
        // A peer that listens and one where nothing does.
        let live = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (live_port, dead_port) = (
            live.local_addr().unwrap().port(),
            dead.local_addr().unwrap().port(),
        );
        drop(dead);
        let mut p = plan();
        p.dir_files = vec![conf.display().to_string()];
        p.mtimes = vec![
            conf.join("20auto-upgrades").display().to_string(),
            "/nonexistent-medic".into(),
        ];
        p.peers = vec![
            ("127.0.0.1".into(), live_port),
            ("127.0.0.1".into(), dead_port),
        ];
        p.dirs = vec![
            dir.path().display().to_string(),
            "/nonexistent-medic".into(),
        ];
        p.files.push("/nonexistent-medic/file".into());
        p.commands.push(PlannedCommand {
            argv: vec!["medic-no-such-tool".into()],
            when: When::Always,
        });
        let n = nonce();
        let out = std::process::Command::new("sh")
            .arg("-s")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(script(&p, &n).as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let commands = p.commands.iter().map(|c| c.argv.clone()).collect();
        let snap = Snapshot::parse(&text, &n, commands);
        assert!(!snap.truncated);
        assert!(snap.file("proc/meminfo").unwrap().contains("MemTotal:"));
        assert_eq!(
            snap.file("nonexistent-medic/file").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            snap.dir(&dir.path().display().to_string()).unwrap(),
            ["20260131062000"]
        );
        assert!(snap.dir("/nonexistent-medic").is_err());
        assert!(matches!(
            snap.command(&["medic-no-such-tool"]),
            Err(CmdError::Missing(_))
        ));
        assert!(matches!(
            snap.command(&["not", "planned"]),
            Err(CmdError::Missing(_))
        ));
        let files: Vec<(String, String)> = snap
            .dir_files(&conf.display().to_string())
            .into_iter()
            .map(|(n, t)| (n, t.unwrap()))
            .collect();
        assert_eq!(
            files,
            [
                ("20auto-upgrades".to_string(), "b".to_string()),
                ("50unattended-upgrades".to_string(), "a".to_string())
            ]
        );
        let written = std::fs::metadata(conf.join("20auto-upgrades"))
            .unwrap()
            .modified()
            .unwrap();
        let got = snap
            .modified(&conf.join("20auto-upgrades").display().to_string())
            .unwrap();
        assert_eq!(
            got.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
            written
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
        );
        assert!(snap.modified("/nonexistent-medic").is_err());
        if std::path::Path::new("/bin/bash").exists() {
            assert_eq!(snap.peer(0), Ok(()), "{text}");
            let (rc, words) = snap.peer(1).unwrap_err();
            assert_eq!(rc, 1, "{words}");
            assert!(words.contains("Connection refused"), "{words}");
        }
        drop(live);
        let usage = snap.usage("/").expect("the root filesystem's usage");
        assert!(usage.inodes_total > 0 || usage.used + usage.avail > 0);
        assert_eq!(
            snap.exists("run/systemd/system"),
            std::path::Path::new("/run/systemd/system").exists()
        );
    }

    #[test]
    fn a_forged_marker_without_the_nonce_is_content() {
        let n = "n1";
        let text =
            "@@medic-n1@@ file /proc/x\nline\n@@medic-other@@ end 0 \nmore\n@@medic-n1@@ end 0 \n";
        let snap = Snapshot::parse(text, n, Vec::new());
        assert_eq!(
            snap.file("proc/x").unwrap(),
            "line\n@@medic-other@@ end 0 \nmore"
        );
        // Output cut inside a section: marked, and the section is absent.
        let snap = Snapshot::parse("@@medic-n1@@ file /proc/y\npartial", n, Vec::new());
        assert!(snap.truncated);
        assert!(snap.file("proc/y").is_err());
    }

    #[test]
    fn hex_and_usage_decode() {
        let text = "@@medic-n@@ hex /etc/localtime\n 54 5a 69 66\n 32\n@@medic-n@@ end 0 \n\
@@medic-n@@ usage /mnt/my\\040disk\n4096 1000 250 200 500 100\n@@medic-n@@ end 0 \n";
        let snap = Snapshot::parse(text, "n", Vec::new());
        assert_eq!(snap.bytes("etc/localtime").unwrap(), b"TZif2");
        let u = snap.usage("/mnt/my disk").unwrap();
        assert_eq!(u.used, 750 * 4096);
        assert_eq!(u.avail, 200 * 4096);
        assert_eq!((u.inodes_used, u.inodes_total), (400, 500));
    }

    #[test]
    fn an_absurd_mtime_is_an_error_not_a_crash() {
        let text =
            "@@medic-n@@ mtime /run/reboot-required\n18446744073709551615\n@@medic-n@@ end 0 \n";
        let err = Snapshot::parse(text, "n", Vec::new())
            .modified("run/reboot-required")
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn absurd_usage_numbers_saturate_instead_of_overflowing() {
        let text = "@@medic-n@@ usage /
4096 18446744073709551615 0 18446744073709551615 1 0
@@medic-n@@ end 0 
";
        let u = Snapshot::parse(text, "n", Vec::new()).usage("/").unwrap();
        assert_eq!((u.used, u.avail), (u64::MAX, u64::MAX));
        assert_eq!(u.ratio(), 0.5);
    }
}
