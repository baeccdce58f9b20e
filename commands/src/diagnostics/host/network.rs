//! Purpose: `ip addr show enp7s0` and `dmesg | grep -E "enp7s0|hc-net-ifup"` —
//! the private network the databases are reached over is one interface, and
//! when it goes down Redis and PostgreSQL fail at the same second
//! (`seeds/production-debugging-guide.md`, "Check Network Connectivity" and
//! "Both Redis and PostgreSQL Fail Simultaneously").
//!
//! For each interface named in `interfaces`: its state from
//! `/sys/class/net/NAME/{operstate,carrier,flags}` (plain files, so they
//! read the same under a mounted `root` and over ssh), its addresses, the
//! unit that manages it (`hc-net-ifup@enp7s0.service`) when
//! `systemctl --failed` names it, and its link and unit events in the
//! window from the system log (kernel "Link is Down", networkd "Lost
//! carrier", systemd "Failed with result").
//!
//! Addresses come from `ip -j addr show` where commands describe the host
//! (root `/`, or over ssh): IPv4 addresses are in no file of `/sys` or
//! `/proc` per interface, and `ip -j` is the runbook's own command in a
//! stable JSON form (iproute2 4.13, 2017). Under another root, or without
//! a JSON-speaking `ip`, `/proc/net/if_inet6` gives the IPv6 addresses and
//! the finding says IPv4 was not read.

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use time::OffsetDateTime;

use super::clock::{LogClock, when};
use super::systemd::{FailedUnit, SharedFailed};
use super::{Ctx, SharedSyslog};
use crate::model::report::Finding;

/// A link or unit event this recent is a warning even when the interface
/// is up again: it explains errors of the last hour (the outage lasted
/// seconds; the errors it caused are still in the alerts).
pub const RECENT: time::Duration = time::Duration::hours(1);
/// How many events (and their lines) a finding lists.
const SHOWN_EVENTS: usize = 5;
/// Where the kernel lists interfaces.
pub const SYS_NET: &str = "sys/class/net";
/// IPv6 addresses per interface, where `ip` cannot be asked.
pub const IF_INET6: &str = "proc/net/if_inet6";
/// Every interface's addresses as JSON (`ip addr show`, machine-readable).
pub const IP_ARGV: [&str; 4] = ["ip", "-j", "addr", "show"];
/// The files read per interface.
pub const STATE_FILES: [&str; 4] = ["operstate", "carrier", "flags", "carrier_down_count"];
/// `IFF_UP` in `/sys/class/net/NAME/flags`: the interface is
/// administratively up.
const IFF_UP: u32 = 0x1;
/// `IFF_LOOPBACK` in the same flags.
const IFF_LOOPBACK: u32 = 0x8;

/// Checks an `interfaces` entry: a Linux interface name (at most 15
/// characters of letters, digits, `.`, `_`, `-`), since it becomes a path.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not an interface name (like enp7s0 or eth0: up to 15 letters, digits, . _ -)"
        ))
    }
}

/// One address of an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr {
    /// `10.0.1.1/32`, `fe80::1/64`.
    pub cidr: String,
    /// `global`, `link`, `host`.
    pub scope: String,
}

impl Addr {
    /// An address other hosts can use (not link-local, not loopback).
    fn routable(&self) -> bool {
        self.scope != "link" && self.scope != "host"
    }
}

/// What is known of an interface's addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addresses {
    /// All of them (from `ip -j`).
    All(Vec<Addr>),
    /// Only IPv6 (from `/proc/net/if_inet6`), and why IPv4 is missing.
    Ipv6Only(Vec<Addr>, String),
}

/// Reads `ip -j addr show` for `name`: `None` when it is not listed.
pub fn parse_ip_json(text: &str, name: &str) -> Option<Vec<Addr>> {
    let all: serde_json::Value = serde_json::from_str(text.trim()).ok()?;
    let link = all
        .as_array()?
        .iter()
        .find(|l| l.get("ifname").and_then(|n| n.as_str()) == Some(name))?;
    let infos = link.get("addr_info").and_then(|a| a.as_array());
    Some(
        infos
            .into_iter()
            .flatten()
            .filter_map(|a| {
                let local = a.get("local")?.as_str()?;
                let len = a.get("prefixlen")?.as_u64()?;
                Some(Addr {
                    cidr: format!("{local}/{len}"),
                    scope: a
                        .get("scope")
                        .and_then(|s| s.as_str())
                        .unwrap_or("global")
                        .to_string(),
                })
            })
            .collect(),
    )
}

/// Reads `/proc/net/if_inet6` (`ADDR32HEX IDX PREFIXHEX SCOPEHEX FLAGS
/// NAME` per line) for `name`.
pub fn parse_if_inet6(text: &str, name: &str) -> Vec<Addr> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let [hex, _idx, prefix, scope, _flags, dev] = f[..] else {
                return None;
            };
            // ASCII only: the groups are sliced by byte, and a multibyte
            // character in a garbled file panicked there (found by fuzzing:
            // host_logs).
            if dev != name || hex.len() != 32 || !hex.is_ascii() {
                return None;
            }
            let groups: Vec<u16> = (0..8)
                .map(|i| u16::from_str_radix(&hex[i * 4..i * 4 + 4], 16))
                .collect::<Result<_, _>>()
                .ok()?;
            let ip = std::net::Ipv6Addr::new(
                groups[0], groups[1], groups[2], groups[3], groups[4], groups[5], groups[6],
                groups[7],
            );
            let len = u8::from_str_radix(prefix, 16).ok()?;
            let scope = match u8::from_str_radix(scope, 16).ok()? {
                0x10 => "host",
                0x20 => "link",
                0x40 => "site",
                _ => "global",
            };
            Some(Addr {
                cidr: format!("{ip}/{len}"),
                scope: scope.to_string(),
            })
        })
        .collect()
}

/// An interface as `/sys/class/net` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// `enp7s0`.
    pub name: String,
    /// `up`, `down`, `lowerlayerdown`, `dormant`, `unknown` (loopback and
    /// some virtual drivers never report one).
    pub operstate: Option<String>,
    /// The cable or virtual link is there. The kernel refuses to say
    /// (EINVAL) while the interface is administratively down.
    pub carrier: Option<bool>,
    /// `IFF_UP`: someone brought it up (`ip link set up`).
    pub admin_up: Option<bool>,
    /// Times the carrier went down since boot (kernels from 4.16).
    pub carrier_down_count: Option<u64>,
    /// `IFF_LOOPBACK`: `lo`, whose addresses are for this host only.
    pub loopback: bool,
}

impl Link {
    /// Reads the state files' texts (`None` when unreadable).
    pub fn from_files(name: &str, files: [Option<&str>; 4]) -> Self {
        let [operstate, carrier, flags, downs] = files.map(|f| f.map(str::trim));
        let flags = flags.and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok());
        Link {
            name: name.to_string(),
            operstate: operstate.filter(|s| !s.is_empty()).map(str::to_string),
            carrier: carrier.and_then(|c| match c {
                "1" => Some(true),
                "0" => Some(false),
                _ => None,
            }),
            admin_up: flags.map(|f| f & IFF_UP != 0),
            carrier_down_count: downs.and_then(|d| d.parse().ok()),
            loopback: flags.is_some_and(|f| f & IFF_LOOPBACK != 0),
        }
    }

    /// Why the link is down, when it is.
    // NOTE: shown in chat.
    fn down(&self) -> Option<String> {
        let state = self.operstate.as_deref().unwrap_or("unknown");
        if self.admin_up == Some(false) {
            return Some(format!(
                "administratively down (operstate {state}): nothing brought it up, or someone ran ip link set {} down",
                self.name
            ));
        }
        if self.carrier == Some(false) {
            return Some(format!(
                "no carrier (operstate {state}): the link itself is lost (cable, switch, or the provider's virtual network)"
            ));
        }
        match state {
            "down" | "lowerlayerdown" | "notpresent" | "dormant" => {
                Some(format!("operstate {state}"))
            }
            _ => None,
        }
    }
}

/// What happened to an interface or its unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// Kernel "Link is Down", networkd "Lost carrier".
    LinkDown,
    /// Kernel "Link is Up", networkd "Gained carrier", "link becomes ready".
    LinkUp,
    /// systemd: "Failed with result", "Failed to start".
    UnitFailed,
    /// systemd: "Scheduled restart job", "Started", "Stopped".
    UnitRestarted,
}

/// One line of the system log about an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEvent {
    /// When, if the line said.
    pub time: Option<OffsetDateTime>,
    /// The interface it is about.
    pub interface: String,
    /// What.
    pub kind: EventKind,
    /// The line, without its timestamp.
    pub line: String,
}

// NOTE: shown in chat.
fn words(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::LinkDown => "its link went down",
        EventKind::LinkUp => "its link came up",
        EventKind::UnitFailed => "its unit failed",
        EventKind::UnitRestarted => "its unit restarted or stopped",
    }
}

static DOWN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)link is down|lost carrier|\blink down\b|carrier lost|state change: \S+ -> (?:unavailable|disconnected)").unwrap()
});
static UP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)link is up|gained carrier|\blink up\b|link becomes ready").unwrap()
});
static UNIT_FAILED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"Failed with result|Failed to start|Main process exited, code=\w+, status=[1-9]")
        .unwrap()
});
static UNIT_RESTART: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"Scheduled restart job|\bStarted |\bStopped |Deactivated successfully").unwrap()
});

/// Whether `line` names `interface` as a word (`enp7s0:`,
/// `hc-net-ifup@enp7s0.service`, `device (enp7s0)`), not as part of a
/// longer name (`enp7s0f1`).
fn names(line: &str, interface: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    line.match_indices(interface).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + interface.len()..].chars().next();
        !before.is_some_and(|c| word(c) || c == '-') && !after.is_some_and(word)
    })
}

/// Finds link and unit events of `interfaces` in a log, in log order.
pub fn parse_events(text: &str, interfaces: &[String], clock: &LogClock) -> Vec<LinkEvent> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(iface) = interfaces.iter().find(|i| line.contains(i.as_str())) else {
            continue;
        };
        if !names(line, iface) {
            continue;
        }
        let (time, rest) = clock.stamp(line);
        let is_unit = rest.contains("systemd[1]:") || rest.contains(".service");
        let kind = if is_unit && UNIT_FAILED.is_match(rest) {
            EventKind::UnitFailed
        } else if is_unit && UNIT_RESTART.is_match(rest) {
            EventKind::UnitRestarted
        } else if DOWN.is_match(rest) {
            EventKind::LinkDown
        } else if UP.is_match(rest) {
            EventKind::LinkUp
        } else {
            continue;
        };
        out.push(LinkEvent {
            time,
            interface: iface.clone(),
            kind,
            line: rest.trim_end().to_string(),
        });
    }
    out
}

/// Whether a unit manages `interface`: an instance for it
/// (`hc-net-ifup@enp7s0.service`, `ifup@enp7s0.service`,
/// `wg-quick@wg0.service`), or the host's network service itself.
pub fn manages(unit: &str, interface: &str) -> bool {
    let base = unit.split('.').next().unwrap_or(unit);
    base.rsplit_once('@')
        .is_some_and(|(_, inst)| inst == interface)
        || matches!(
            base,
            "networking" | "systemd-networkd" | "NetworkManager" | "network" | "netplan-apply"
        )
}

/// The finding for one interface.
pub fn finding(
    link: &Link,
    addresses: &Addresses,
    failed: Option<&[FailedUnit]>,
    events: &[LinkEvent],
    clock: &LogClock,
    window_start: OffsetDateTime,
    window_words: &str,
) -> Finding {
    let now = clock.now;
    let name = &link.name;
    let mine: Vec<&LinkEvent> = events
        .iter()
        .filter(|e| &e.interface == name)
        .filter(|e| {
            e.time
                .is_some_and(|t| super::apt::in_window(t, now, window_start))
        })
        .collect();
    let units: Vec<&FailedUnit> = failed
        .unwrap_or_default()
        .iter()
        .filter(|u| manages(&u.unit, name))
        .collect();
    let (shown_addrs, routable) = match addresses {
        Addresses::All(a) | Addresses::Ipv6Only(a, _) => (
            a.iter().map(|a| a.cidr.as_str()).collect::<Vec<_>>(),
            a.iter().any(Addr::routable),
        ),
    };
    let addr_words = if shown_addrs.is_empty() {
        "no address".to_string()
    } else {
        shown_addrs.join(", ")
    };
    // The latest link loss of the last hour, else the latest unit trouble.
    let within = |e: &&&LinkEvent| e.time.is_some_and(|t| now - t <= RECENT);
    let recent = mine
        .iter()
        .rev()
        .filter(within)
        .find(|e| e.kind == EventKind::LinkDown)
        .or_else(|| {
            mine.iter()
                .rev()
                .filter(within)
                .find(|e| e.kind != EventKind::LinkUp)
        })
        .copied();

    let mut f = if let Some(why) = link.down() {
        Finding::critical("host.network", format!("Interface {name} is down: {why}"))
            .with_detail(format!(
                "Everything reached over {name} is unreachable while it is down: errors from several services at the same second (Redis and PostgreSQL on the private network) point here, not at the applications."
            ))
    } else if matches!(addresses, Addresses::All(_)) && !routable && !link.loopback {
        Finding::warn(
            "host.network",
            format!("Interface {name} is up but has no address other hosts can use ({addr_words})"),
        )
        .with_detail("The unit that configures it (DHCP, hc-net-ifup) did not finish: services bound to its address cannot start or be reached.")
    } else if let Some(e) = recent {
        Finding::warn(
            "host.network",
            format!(
                "Interface {name} is up ({addr_words}), but {} at {}",
                words(&e.kind),
                when(e.time.expect("recent has a time"), now)
            ),
        )
        .with_detail("Connection errors from several services at that second are explained by it; they stop once clients reconnect.")
    } else if let Some(u) = units.first() {
        Finding::warn(
            "host.network",
            format!("Interface {name} is up ({addr_words}), but {} has failed", u.unit),
        )
        .with_detail("A later restart of that unit (or a DHCP renewal it should do) may take the interface down again.")
    } else {
        Finding::ok(
            "host.network",
            format!(
                "Interface {name} is up: {}{addr_words}",
                match link.carrier {
                    Some(true) => "carrier on, ",
                    _ => "",
                }
            ),
        )
    };
    if link.down().is_some() || !units.is_empty() {
        f = f.with_detail(format!("Addresses: {addr_words}"));
    }
    if let Addresses::Ipv6Only(_, why) = addresses {
        f = f.with_detail(format!("IPv4 addresses not read: {why}"));
    }
    for u in &units {
        f = f.with_detail(format!(
            "Managed by {}: failed (systemctl --failed). Why: journalctl -u {} -n 50",
            u.unit, u.unit
        ));
    }
    if !mine.is_empty() {
        let list: Vec<String> = mine
            .iter()
            .rev()
            .take(SHOWN_EVENTS)
            .map(|e| {
                format!(
                    "{} {}",
                    when(e.time.expect("in window"), now),
                    words(&e.kind)
                )
            })
            .collect();
        f = f.with_detail(format!("In the last {window_words}: {}", list.join("; ")));
        let lines: Vec<&str> = mine
            .iter()
            .rev()
            .take(SHOWN_EVENTS)
            .rev()
            .map(|e| e.line.as_str())
            .collect();
        f = f.with_evidence(lines.join("\n"));
    }
    if let Some(n @ 1..) = link.carrier_down_count {
        f = f.with_detail(format!(
            "The link went down {n} {} since boot (carrier_down_count).",
            if n == 1 { "time" } else { "times" }
        ));
    }
    if f.status != crate::Status::Ok {
        f = f.with_detail(format!("By hand: ip addr show {name}"));
    }
    f
}

/// Reads the interfaces' state, addresses, units and events.
pub async fn check(
    ctx: &Ctx,
    interfaces: &[String],
    failed: SharedFailed,
    syslog: SharedSyslog,
) -> Vec<Finding> {
    let present = match ctx.machine.list_dir(Path::new(SYS_NET)).await {
        Ok(names) => names,
        Err(e) => {
            return vec![
                Finding::unknown(
                    "host.network",
                    format!(
                        "Interfaces not checked: /{SYS_NET} is not readable ({})",
                        super::io::io_words(&e)
                    ),
                )
                .with_detail("medic reads the kernel's interface files; mount the host's /sys at root/sys in a container."),
            ];
        }
    };
    let ip_json = if ctx.local {
        match ctx.machine.run(&IP_ARGV, ctx.budget).await {
            Ok(out) if out.success => Some(out.stdout),
            _ => None,
        }
    } else {
        None
    };
    let inet6 = ctx.machine.read_small(IF_INET6).await.unwrap_or_default();
    let failed = failed.await;
    let failed = (*failed).as_ref().ok().map(Vec::as_slice);
    let events = read_events(ctx, interfaces, syslog).await;

    let mut out = Vec::new();
    for name in interfaces {
        if !present.iter().any(|p| p == name) {
            let mut others: Vec<&str> = present.iter().map(String::as_str).collect();
            others.sort();
            out.push(
                Finding::critical(
                    "host.network",
                    format!("Interface {name} does not exist here"),
                )
                .with_detail(format!("Interfaces here: {}", others.join(", ")))
                .with_detail("A renamed interface (a new NIC, a kernel update changing predictable names) or a private network detached from the server looks like this."),
            );
            continue;
        }
        let mut texts: [Option<String>; 4] = Default::default();
        for (slot, file) in texts.iter_mut().zip(STATE_FILES) {
            *slot = ctx
                .machine
                .read_small(&format!("{SYS_NET}/{name}/{file}"))
                .await
                .ok();
        }
        let link = Link::from_files(name, texts.each_ref().map(|t| t.as_deref()));
        let addresses = match ip_json.as_deref().and_then(|j| parse_ip_json(j, name)) {
            Some(a) => Addresses::All(a),
            None => Addresses::Ipv6Only(
                parse_if_inet6(&inet6, name),
                if ctx.local {
                    "`ip -j addr show` did not answer (iproute2 too old, or not installed)".into()
                } else {
                    format!(
                        "files under {} (ip would describe this machine)",
                        ctx.root.display()
                    )
                },
            ),
        };
        out.push(finding(
            &link,
            &addresses,
            failed,
            &events,
            &ctx.clock,
            ctx.window_start,
            &ctx.window_words(),
        ));
    }
    out
}

/// The interfaces' events from the shared syslog, or from the journal
/// where there is no syslog (PID 1's unit messages and the kernel's).
async fn read_events(ctx: &Ctx, interfaces: &[String], syslog: SharedSyslog) -> Vec<LinkEvent> {
    let files = syslog.await;
    let mut events = Vec::new();
    for f in files.iter() {
        if let Ok(t) = &f.text {
            events.extend(parse_events(t, interfaces, &ctx.clock));
        }
    }
    if files.is_empty() && ctx.local {
        let start = ctx.window_start.unix_timestamp();
        for argv in [
            super::journal::journal_argv(start),
            super::oom::journal_argv(start),
        ] {
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            if let Ok(out) = ctx.machine.run(&argv, ctx.budget).await
                && out.success
            {
                events.extend(parse_events(&out.stdout, interfaces, &ctx.clock));
            }
        }
    }
    events.sort_by_key(|e| e.time);
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    const IP_JSON: &str = r#"[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"operstate":"UNKNOWN","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host","label":"lo"},{"family":"inet6","local":"::1","prefixlen":128,"scope":"host"}]},{"ifindex":3,"ifname":"enp7s0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1450,"operstate":"UP","addr_info":[{"family":"inet","local":"10.0.1.1","prefixlen":32,"broadcast":"10.0.1.1","scope":"global","dynamic":true,"label":"enp7s0"},{"family":"inet6","local":"fe80::8400:ff:fe6a:1234","prefixlen":64,"scope":"link"}]}]"#;

    #[test]
    fn names_are_checked_like_the_kernel_would_take_them() {
        for ok in ["enp7s0", "eth0", "wg0", "br-1a2b", "eth0.100", "ens3_x"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "..",
            "a/b",
            "-x",
            "sixteen-chars-xx",
            "eth 0",
            "eth0;reboot",
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_non_ascii_address_in_if_inet6_is_skipped_not_a_crash() {
        let text = "fe800000000000016.0\u{417}ffffe6a1234 02 40 20 80   eth0\n";
        assert!(parse_if_inet6(text, "eth0").is_empty());
    }

    #[test]
    fn ip_json_and_if_inet6_give_the_addresses() {
        let a = parse_ip_json(IP_JSON, "enp7s0").unwrap();
        assert_eq!(
            a.iter().map(|a| a.cidr.as_str()).collect::<Vec<_>>(),
            ["10.0.1.1/32", "fe80::8400:ff:fe6a:1234/64"]
        );
        assert!(a[0].routable() && !a[1].routable());
        assert!(parse_ip_json(IP_JSON, "eth9").is_none());
        assert!(parse_ip_json("Option \"-j\" is unknown", "lo").is_none());
        let inet6 = "00000000000000000000000000000001 01 80 10 80       lo\n\
fe80000000000000840000fffe6a1234 03 40 20 80   enp7s0\n";
        assert_eq!(
            parse_if_inet6(inet6, "enp7s0"),
            [Addr {
                cidr: "fe80::8400:ff:fe6a:1234/64".into(),
                scope: "link".into()
            }]
        );
        assert_eq!(parse_if_inet6(inet6, "lo")[0].cidr, "::1/128");
    }

    #[test]
    fn units_that_manage_an_interface() {
        assert!(manages("hc-net-ifup@enp7s0.service", "enp7s0"));
        assert!(manages("ifup@enp7s0.service", "enp7s0"));
        assert!(manages("systemd-networkd.service", "enp7s0"));
        assert!(!manages("hc-net-ifup@enp8s0.service", "enp7s0"));
        assert!(!manages("redis-server.service", "enp7s0"));
    }

    #[test]
    fn an_outage_in_the_log_is_told_with_its_lines() {
        // 2026-01-31 06:35:00 UTC.
        let clock = LogClock::utc(at(1_769_841_300));
        let log = "\
Jan 31 06:31:58 web1 kernel: [8123.1] virtio_net virtio2 enp7s0: Link is Down
Jan 31 06:31:58 web1 kernel: [8123.1] igb 0000:08:00.0 enp7s0f1: Link is Down
Jan 31 06:31:59 web1 systemd[1]: hc-net-ifup@enp7s0.service: Main process exited, code=exited, status=1/FAILURE
Jan 31 06:31:59 web1 systemd[1]: hc-net-ifup@enp7s0.service: Failed with result 'exit-code'.
Jan 31 06:32:20 web1 systemd-networkd[612]: enp7s0: Gained carrier
Jan 31 06:32:21 web1 systemd[1]: Started redis-server.service - Advanced key-value store.
";
        let names = vec!["enp7s0".to_string()];
        let events = parse_events(log, &names, &clock);
        let kinds: Vec<&EventKind> = events.iter().map(|e| &e.kind).collect();
        assert_eq!(
            kinds,
            [
                &EventKind::LinkDown,
                &EventKind::UnitFailed,
                &EventKind::UnitFailed,
                &EventKind::LinkUp
            ],
            "{events:#?}"
        );
        // Up again now, with its address: a warning naming the outage.
        let link = Link::from_files(
            "enp7s0",
            [Some("up\n"), Some("1\n"), Some("0x1003\n"), Some("2\n")],
        );
        let addrs = Addresses::All(parse_ip_json(IP_JSON, "enp7s0").unwrap());
        let f = finding(
            &link,
            &addrs,
            Some(&[]),
            &events,
            &clock,
            clock.now - time::Duration::hours(24),
            "24 h",
        );
        assert_eq!(f.status, Status::Warn, "{f:#?}");
        assert_eq!(
            f.summary,
            "Interface enp7s0 is up (10.0.1.1/32, fe80::8400:ff:fe6a:1234/64), but its link went down at 06:31:58 UTC (3 min ago)"
        );
        assert!(f.detail.iter().any(|d| d == "In the last 24 h: 06:32:20 UTC (2 min ago) its link came up; 06:31:59 UTC (3 min ago) its unit failed; 06:31:59 UTC (3 min ago) its unit failed; 06:31:58 UTC (3 min ago) its link went down"), "{f:#?}");
        assert!(
            f.detail
                .iter()
                .any(|d| d == "The link went down 2 times since boot (carrier_down_count).")
        );
        let evidence = f.evidence.as_deref().unwrap();
        assert!(
            evidence.starts_with("web1 kernel: [8123.1] virtio_net virtio2 enp7s0: Link is Down"),
            "{evidence}"
        );
        assert!(!evidence.contains("enp7s0f1"));

        // Two hours later the same log is history: ok.
        let later = LogClock::utc(clock.now + time::Duration::hours(2));
        let f = finding(
            &link,
            &addrs,
            Some(&[]),
            &events,
            &later,
            later.now - time::Duration::hours(24),
            "24 h",
        );
        assert_eq!(f.status, Status::Ok, "{f:#?}");
        assert_eq!(
            f.summary,
            "Interface enp7s0 is up: carrier on, 10.0.1.1/32, fe80::8400:ff:fe6a:1234/64"
        );
    }

    #[test]
    fn down_without_carrier_is_critical_and_names_the_failed_unit() {
        let clock = LogClock::utc(at(1_769_841_300));
        // The kernel refuses to read carrier on an admin-down link; here
        // the link is up administratively and has lost its carrier.
        let link = Link::from_files("enp7s0", [Some("down"), Some("0"), Some("0x1003"), None]);
        let failed = [FailedUnit {
            unit: "hc-net-ifup@enp7s0.service".into(),
            description: "Hetzner private network".into(),
        }];
        let addrs = Addresses::Ipv6Only(
            Vec::new(),
            "files under /host (ip would describe this machine)".into(),
        );
        let f = finding(
            &link,
            &addrs,
            Some(&failed),
            &[],
            &clock,
            clock.now - time::Duration::hours(24),
            "24 h",
        );
        assert_eq!(f.status, Status::Critical);
        assert!(
            f.summary
                .starts_with("Interface enp7s0 is down: no carrier (operstate down)"),
            "{}",
            f.summary
        );
        assert!(
            f.detail
                .iter()
                .any(|d| d.starts_with("Managed by hc-net-ifup@enp7s0.service: failed")),
            "{f:#?}"
        );
        assert!(f.detail.iter().any(|d| d == "By hand: ip addr show enp7s0"));

        let admin_down = Link::from_files("eth1", [Some("down"), None, Some("0x1002"), None]);
        let f = finding(&admin_down, &addrs, None, &[], &clock, clock.now, "1 h");
        assert!(f.summary.contains("administratively down"), "{}", f.summary);

        // Loopback reports operstate "unknown": judged by its flags.
        let lo = Link::from_files("lo", [Some("unknown"), Some("1"), Some("0x9"), None]);
        let addrs = Addresses::All(parse_ip_json(IP_JSON, "lo").unwrap());
        let f = finding(&lo, &addrs, None, &[], &clock, clock.now, "1 h");
        assert_eq!(f.status, Status::Ok, "{f:#?}");
        assert_eq!(
            f.summary,
            "Interface lo is up: carrier on, 127.0.0.1/8, ::1/128"
        );
    }
}
