//! Purpose: `grep -i reboot /etc/apt/apt.conf.d/50unattended-upgrades` and
//! `systemctl list-timers | grep apt` — whether unattended-upgrades may
//! reboot the host by itself, and when it runs next
//! (`seeds/production-debugging-guide.md`, "Understanding
//! unattended-upgrades").
//!
//! apt reads every file of `/etc/apt/apt.conf.d` in name order (names of
//! letters, digits, `-`, `_`, `.`, without an extension or ending in
//! `.conf`; `50unattended-upgrades.ucf-dist` is ignored), then
//! `/etc/apt/apt.conf`; a later setting overrides an earlier one. Comments
//! are `//`, `#` and `/* */`; keys are case-insensitive and may be written
//! flat (`Unattended-Upgrade::Automatic-Reboot "true";`) or nested in
//! scopes (`Unattended-Upgrade { Automatic-Reboot "true"; };`).

use std::sync::LazyLock;

use regex::Regex;
use time::OffsetDateTime;

use super::clock::{LogClock, when};
use super::machine::Machine;
use crate::format::{human_age, utc_clock};

/// apt's configuration fragments.
pub const CONF_DIR: &str = "etc/apt/apt.conf.d";
/// apt's main configuration file, read after the fragments.
pub const CONF_MAIN: &str = "etc/apt/apt.conf";
/// The timer that starts unattended-upgrades (`apt-daily-upgrade.service`).
pub const TIMER: &str = "apt-daily-upgrade.timer";
/// `systemctl show` of [`TIMER`]: when it fires next, when it last did,
/// and whether it is active at all.
pub const TIMER_ARGV: [&str; 10] = [
    "systemctl",
    "show",
    TIMER,
    "-p",
    "NextElapseUSecRealtime",
    "-p",
    "LastTriggerUSec",
    "-p",
    "ActiveState",
    "--no-pager",
];

/// A setting and the file that set it last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The value as written (`true`, `02:00`).
    pub value: String,
    /// `/etc/apt/apt.conf.d/50unattended-upgrades`.
    pub file: String,
}

/// What the configuration says about automatic upgrades.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AptConf {
    /// `Unattended-Upgrade::Automatic-Reboot` (default false).
    pub auto_reboot: Option<Setting>,
    /// `Unattended-Upgrade::Automatic-Reboot-Time` (default: at once).
    pub reboot_time: Option<Setting>,
    /// `APT::Periodic::Unattended-Upgrade` (`1`: every day; `0`: off).
    pub periodic: Option<Setting>,
    /// Whether any file was read.
    pub read: bool,
}

/// apt's words for true (`FindB`).
fn truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "true" | "yes" | "on" | "enable" | "with" | "1"
    )
}

impl AptConf {
    /// Whether unattended-upgrades reboots the host when an upgrade asks.
    pub fn reboots(&self) -> bool {
        self.auto_reboot.as_ref().is_some_and(|s| truthy(&s.value))
    }

    /// Whether the daily timer runs unattended-upgrades at all (apt's
    /// default, without the setting, is off).
    pub fn enabled(&self) -> Option<bool> {
        self.periodic
            .as_ref()
            .map(|s| s.value.trim().parse::<u32>().is_ok_and(|n| n > 0))
    }

    /// "Automatic reboot: on, at 02:00 (…/50unattended-upgrades)".
    // NOTE: shown in chat.
    pub fn reboot_words(&self) -> String {
        match &self.auto_reboot {
            Some(s) if truthy(&s.value) => {
                let at = match &self.reboot_time {
                    Some(t) if t.value != "now" => format!(" at {} host time", t.value),
                    _ => " as soon as an upgrade asks for it".into(),
                };
                format!(
                    "Automatic reboot: on{at} (Unattended-Upgrade::Automatic-Reboot in {})",
                    s.file
                )
            }
            Some(s) => format!("Automatic reboot: off ({})", s.file),
            None => "Automatic reboot: off (the default; Unattended-Upgrade::Automatic-Reboot is not set)".into(),
        }
    }
}

/// Whether apt reads a file of `apt.conf.d` with this name.
pub fn apt_reads(name: &str) -> bool {
    let chars = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    chars
        && match name.rsplit_once('.') {
            None => true,
            Some((_, ext)) => ext == "conf",
        }
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Open,
    Close,
    End,
}

fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'#' || text[i..].starts_with("//") {
            i = text[i..].find('\n').map_or(b.len(), |n| i + n);
        } else if text[i..].starts_with("/*") {
            i = text[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2);
        } else if c == b'"' {
            let end = text[i + 1..].find('"').map_or(b.len(), |n| i + 1 + n);
            out.push(Token::Str(text[i + 1..end].to_string()));
            i = end + 1;
        } else if c == b'{' {
            out.push(Token::Open);
            i += 1;
        } else if c == b'}' {
            out.push(Token::Close);
            i += 1;
        } else if c == b';' {
            out.push(Token::End);
            i += 1;
        } else {
            let end = text[i..]
                .find(|ch: char| ch.is_ascii_whitespace() || "{};\"".contains(ch))
                .map_or(b.len(), |n| i + n);
            out.push(Token::Word(text[i..end].to_string()));
            i = end;
        }
    }
    out
}

/// Every `key "value";` of a file, with nested scopes joined by `::`, in
/// order; list items without a key are skipped.
pub fn settings(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut scope: Vec<String> = Vec::new();
    let mut key: Option<String> = None;
    for t in tokens(text) {
        match t {
            Token::Word(w) => key = Some(w),
            Token::Str(v) => {
                if let Some(k) = key.take() {
                    let mut full = scope.clone();
                    full.push(k);
                    out.push((full.join("::"), v));
                }
            }
            Token::Open => scope.push(key.take().unwrap_or_default()),
            Token::Close => {
                scope.pop();
                key = None;
            }
            Token::End => key = None,
        }
    }
    out
}

/// Applies files, in the order apt reads them, to what is known.
pub fn parse(files: &[(String, String)]) -> AptConf {
    let mut conf = AptConf::default();
    for (file, text) in files {
        conf.read = true;
        for (key, value) in settings(text) {
            let slot = match key.to_ascii_lowercase().as_str() {
                "unattended-upgrade::automatic-reboot" => &mut conf.auto_reboot,
                "unattended-upgrade::automatic-reboot-time" => &mut conf.reboot_time,
                "apt::periodic::unattended-upgrade" => &mut conf.periodic,
                _ => continue,
            };
            *slot = Some(Setting {
                value,
                file: file.clone(),
            });
        }
    }
    conf
}

/// Reads apt's configuration on the host, in apt's order.
pub async fn read(machine: &Machine) -> AptConf {
    let mut files: Vec<(String, String)> = machine
        .read_dir_files(CONF_DIR)
        .await
        .into_iter()
        .filter(|(name, _)| apt_reads(name))
        .filter_map(|(name, text)| Some((format!("/{CONF_DIR}/{name}"), text.ok()?)))
        .collect();
    if let Ok(text) = machine.read_small(CONF_MAIN).await {
        files.push((format!("/{CONF_MAIN}"), text));
    }
    parse(&files)
}

/// What `systemctl show apt-daily-upgrade.timer` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    /// When it fires next.
    pub next: Option<OffsetDateTime>,
    /// When it last fired.
    pub last: Option<OffsetDateTime>,
    /// `active`, `inactive`.
    pub active: String,
}

static STAMP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?: (\S+))?").unwrap()
});

/// systemd's `Sun 2026-12-06 06:25:31 UTC`: UTC when it says so, else in
/// the host's zone (systemctl prints local time).
fn systemd_time(value: &str, clock: &LogClock) -> Option<OffsetDateTime> {
    let c = STAMP.captures(value)?;
    let n = |i: usize| c[i].parse::<u32>().unwrap_or(0);
    let date = (n(1) as i32, n(2) as u8, n(3) as u8);
    let clock_t = (n(4) as u8, n(5) as u8, n(6) as u8);
    match c.get(7).map(|m| m.as_str()) {
        Some("UTC" | "GMT") => LogClock::utc(clock.now).local(date, clock_t, 0),
        _ => clock.local(date, clock_t, 0),
    }
}

/// Reads `systemctl show`'s `KEY=VALUE` lines.
pub fn parse_timer(text: &str, clock: &LogClock) -> Timer {
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .unwrap_or("")
            .trim()
    };
    Timer {
        next: systemd_time(get("NextElapseUSecRealtime"), clock),
        last: systemd_time(get("LastTriggerUSec"), clock),
        active: get("ActiveState").to_string(),
    }
}

/// A time to come: "06:12 UTC (in 20 h)".
// NOTE: shown in chat.
pub fn when_next(t: OffsetDateTime, now: OffsetDateTime) -> String {
    let ahead = (t - now).whole_seconds().max(0) as u64;
    let u = t.to_offset(time::UtcOffset::UTC);
    if ahead < 86_400 {
        format!("{} (in {})", utc_clock(u), human_age(ahead))
    } else {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC (in {})",
            u.year(),
            u.month() as u8,
            u.day(),
            u.hour(),
            u.minute(),
            human_age(ahead)
        )
    }
}

impl Timer {
    /// "Next automatic upgrade run: … (apt-daily-upgrade.timer); last …".
    // NOTE: shown in chat.
    pub fn words(&self, now: OffsetDateTime) -> String {
        if !self.active.is_empty() && self.active != "active" {
            return format!(
                "{TIMER} is {}: no automatic upgrade runs are scheduled",
                self.active
            );
        }
        let last = self
            .last
            .map(|t| format!("; last at {}", when(t, now)))
            .unwrap_or_default();
        match self.next {
            Some(t) => format!(
                "Next automatic upgrade run: {} ({TIMER}){last}",
                when_next(t, now)
            ),
            None => format!("{TIMER} has no next run scheduled{last}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(f, t)| (f.to_string(), t.to_string()))
            .collect()
    }

    /// The stock Ubuntu file's reboot lines: commented out.
    const STOCK: &str = r#"// Automatically upgrade packages from these (origin:archive) pairs
Unattended-Upgrade::Allowed-Origins {
        "${distro_id}:${distro_codename}";
        "${distro_id}:${distro_codename}-security";
//      "${distro_id}:${distro_codename}-updates";
};
// Automatically reboot *WITHOUT CONFIRMATION* if
//  the file /var/run/reboot-required is found after the upgrade
//Unattended-Upgrade::Automatic-Reboot "false";
/* Unattended-Upgrade::Automatic-Reboot "true"; */
# Unattended-Upgrade::Automatic-Reboot "true";
//Unattended-Upgrade::Automatic-Reboot-Time "02:00";
Unattended-Upgrade::Mail "ops@example.com";
"#;

    #[test]
    fn commented_lines_are_ignored_and_later_files_override() {
        let c = parse(&files(&[(
            "/etc/apt/apt.conf.d/50unattended-upgrades",
            STOCK,
        )]));
        assert!(c.read && !c.reboots());
        assert_eq!(c.auto_reboot, None);
        assert!(
            c.reboot_words()
                .starts_with("Automatic reboot: off (the default")
        );

        let c = parse(&files(&[
            (
                "/etc/apt/apt.conf.d/20auto-upgrades",
                "APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n",
            ),
            (
                "/etc/apt/apt.conf.d/50unattended-upgrades",
                "Unattended-Upgrade::Automatic-Reboot \"false\";",
            ),
            (
                "/etc/apt/apt.conf.d/52local",
                "unattended-upgrade::automatic-reboot \"true\"; // ours\nUnattended-Upgrade::Automatic-Reboot-Time \"02:00\";",
            ),
        ]));
        assert!(c.reboots());
        assert_eq!(c.enabled(), Some(true));
        assert_eq!(
            c.reboot_words(),
            "Automatic reboot: on at 02:00 host time (Unattended-Upgrade::Automatic-Reboot in /etc/apt/apt.conf.d/52local)"
        );
    }

    #[test]
    fn nested_scopes_and_apts_file_names() {
        let s = settings(
            "Unattended-Upgrade {\n  Automatic-Reboot \"yes\";\n  Origins-Pattern { \"a\"; \"b\"; };\n};\nAPT::Periodic::Unattended-Upgrade \"0\";",
        );
        assert_eq!(
            s,
            [
                (
                    "Unattended-Upgrade::Automatic-Reboot".to_string(),
                    "yes".to_string()
                ),
                ("APT::Periodic::Unattended-Upgrade".into(), "0".into())
            ]
        );
        assert!(apt_reads("50unattended-upgrades"));
        assert!(apt_reads("99-local.conf"));
        assert!(!apt_reads("50unattended-upgrades.ucf-dist"));
        assert!(!apt_reads("50unattended-upgrades.dpkg-old"));
        assert!(!apt_reads("my file"));
    }

    #[test]
    fn the_timers_next_run() {
        let now = OffsetDateTime::from_unix_timestamp(1_796_538_331).unwrap(); // 2026-12-06 06:25:31 UTC
        let clock = LogClock::utc(now);
        let t = parse_timer(
            "NextElapseUSecRealtime=Mon 2026-12-07 06:12:40 UTC\nLastTriggerUSec=Sun 2026-12-06 06:25:01 UTC\nActiveState=active\n",
            &clock,
        );
        assert_eq!(
            t.next.unwrap().unix_timestamp() - now.unix_timestamp(),
            85_629
        );
        assert_eq!(
            t.words(now),
            "Next automatic upgrade run: 06:12:40 UTC (in 23 h) (apt-daily-upgrade.timer); last at 06:25:01 UTC (30 s ago)"
        );
        let off = parse_timer(
            "NextElapseUSecRealtime=\nLastTriggerUSec=n/a\nActiveState=inactive\n",
            &clock,
        );
        assert_eq!(off.next, None);
        assert_eq!(
            off.words(now),
            "apt-daily-upgrade.timer is inactive: no automatic upgrade runs are scheduled"
        );
    }
}
