//! The host diagnostics' readers of what a host's files and commands say,
//! all of them on every input, then the findings and timeline built from
//! what they read: kernel OOM kills, systemd journal events, apt history,
//! dpkg.log, unattended-upgrades, `journalctl` unit lines, apt.conf and the
//! apt timer, link events, `ip -j addr` and `if_inet6`, `/proc/mounts`,
//! meminfo, loadavg, cpuinfo, file-nr, failed units, release directories,
//! and the clock itself (`LogClock::stamp` on every line, `/etc/localtime`
//! as TZif). Never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medic_commands::diagnostics::host::clock::LogClock;
use medic_commands::diagnostics::host::{
    apt, aptconf, disk, dpkg, fds, journal, load, memory, network, oom, releases, systemd,
    timeline, unattended, unit_journal,
};
use medic_commands::redact::Redactor;
use time::{Duration, OffsetDateTime};

fuzz_target!(|data: &[u8]| {
    // A fixed "now" (2026-03-29 01:30 UTC, a DST change in Europe) and a
    // boot a day before it, so `[uptime]` stamps are read too.
    let now = OffsetDateTime::from_unix_timestamp(1_774_747_800).unwrap();
    let mut utc = LogClock::utc(now);
    utc.boot = Some(now - Duration::days(1));
    // The input as a zone file: its parser is outside input too, and a
    // zone that parses is the clock the logs are then read in.
    let zoned = LogClock::with_tzif(now, data).ok();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    read(text, &utc);
    if let Some(mut clock) = zoned {
        clock.boot = utc.boot;
        read(text, &clock);
    }
    let _ = network::parse_ip_json(text, "eth0");
    let _ = network::parse_if_inet6(text, "eth0");
    let _ = disk::parse_mounts(text);
    let meminfo = memory::parse_meminfo(text);
    let _ = memory::findings(&meminfo);
    if let Some(l) = load::parse_loadavg(text) {
        let _ = load::findings(l, load::count_cpus(text));
    }
    if let Some((open, max)) = fds::parse_file_nr(text) {
        let _ = fds::findings(open, max);
    }
    let _ = systemd::findings(&systemd::parse_failed(text));
    let rs = releases::parse_releases(text.lines());
    let _ = releases::findings(&rs, now, "/srv/app/releases");
    let _ = timeline::deploy_events(&rs, "/srv/app/releases", "host");
    let _ = apt::parse_packages("Upgrade", text);
    let files = vec![("50unattended-upgrades".to_string(), text.to_string())];
    let _ = aptconf::settings(text);
    let _ = aptconf::parse(&files);
    let entries = unit_journal::parse(text);
    let _ = unit_journal::finding(
        "app.service",
        &entries,
        &unit_journal::Window::new(now, None),
        &Redactor::new(),
    );
});

fn read(text: &str, clock: &LogClock) {
    let now = clock.now;
    let start = now - Duration::days(1);
    for line in text.lines() {
        let _ = clock.stamp(line);
    }
    let kills = oom::parse_kills(text, clock);
    let _ = timeline::oom_events(&kills, "host");
    let kills = oom::merge(vec![kills.clone(), kills]);
    let _ = oom::findings(&kills, clock, start, "in the last 24 h", &[]);
    let events = journal::parse_events(text, clock);
    let _ = timeline::systemd_events(&events, "host");
    let _ = journal::findings(&events, now, start, "in the last 24 h");
    let history = apt::parse_history(text, clock);
    let _ = apt::findings(&history, now, start, "in the last 24 h");
    let dpkg_log = dpkg::parse_dpkg_log(text, clock);
    let dpkg_log = dpkg::dpkg_only(&history, dpkg_log);
    let _ = timeline::package_events(&dpkg_log, "host");
    let runs = unattended::parse(text, clock);
    let timer = aptconf::parse_timer(text, clock);
    let conf = aptconf::parse(&[]);
    let _ = unattended::finding(&runs, &conf, Some(&timer), now, start, "in the last 24 h");
    let links = network::parse_events(text, &["eth0".to_string()], clock);
    let _ = timeline::link_events(&links, "host");
}
