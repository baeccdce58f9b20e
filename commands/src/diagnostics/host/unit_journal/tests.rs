//! `journalctl -o json` lines in their real shape, the window, the caps
//! and redaction.

use super::*;
use crate::Status;

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap()
}

/// 2026-01-31 06:32:07 UTC, the runbook's outage: the first alert.
const ALERT: i64 = 1_769_841_127;

/// Lines as `journalctl -o json --output-fields=…` prints them (systemd
/// 252): the cursor, both timestamps and the boot id always come along.
fn journal_line(secs: i64, fields: &str) -> String {
    format!(
        r#"{{"__CURSOR":"s=7c1a;i=4f2;b=9e2d;m=1f4;t={secs}000000;x=1","__REALTIME_TIMESTAMP":"{secs}100000","__MONOTONIC_TIMESTAMP":"8123100000","_BOOT_ID":"9e2d0b6a4c8f4e8c9a1d2b3c4d5e6f70",{fields}}}"#
    )
}

fn sample() -> String {
    [
        // Before the window: the day's first lines.
        journal_line(
            ALERT - 3600,
            r#""PRIORITY":"6","SYSLOG_IDENTIFIER":"redis-server","_PID":"812","_SYSTEMD_UNIT":"redis-server.service","MESSAGE":"812:M 31 Jan 2026 05:32:07.000 * Ready to accept connections tcp""#,
        ),
        journal_line(
            ALERT - 17,
            r#""PRIORITY":"6","SYSLOG_IDENTIFIER":"redis-server","_PID":"812","_SYSTEMD_UNIT":"redis-server.service","MESSAGE":"812:M 31 Jan 2026 06:31:50.120 * Background saving started by pid 900""#,
        ),
        // Not UTF-8 (a latin-1 key name): journalctl prints bytes.
        journal_line(
            ALERT + 1,
            r#""PRIORITY":"6","SYSLOG_IDENTIFIER":"redis-server","_PID":"812","_SYSTEMD_UNIT":"redis-server.service","MESSAGE":[107,101,121,32,99,97,102,233,32,101,120,112,105,114,101,100]"#,
        ),
        journal_line(
            ALERT + 2,
            r#""PRIORITY":"6","SYSLOG_IDENTIFIER":"redis-server","_PID":"812","_SYSTEMD_UNIT":"redis-server.service","MESSAGE":"812:signal-handler (1769841129) Received SIGTERM scheduling shutdown...""#,
        ),
        // systemd's own lines about the unit (UNIT=, from PID 1).
        journal_line(
            ALERT + 3,
            r#""PRIORITY":"5","SYSLOG_IDENTIFIER":"systemd","_PID":"1","_SYSTEMD_UNIT":"init.scope","UNIT":"redis-server.service","MESSAGE":"redis-server.service: Main process exited, code=killed, status=9/KILL""#,
        ),
        journal_line(
            ALERT + 3,
            r#""PRIORITY":"4","SYSLOG_IDENTIFIER":"systemd","_PID":"1","_SYSTEMD_UNIT":"init.scope","UNIT":"redis-server.service","MESSAGE":"redis-server.service: Failed with result 'signal'.""#,
        ),
        // A field over 4 KiB: journalctl sends null.
        journal_line(
            ALERT + 4,
            r#""PRIORITY":"3","SYSLOG_IDENTIFIER":"redis-server","_PID":"1201","_SYSTEMD_UNIT":"redis-server.service","MESSAGE":null"#,
        ),
        // After the window.
        journal_line(
            ALERT + 3600,
            r#""PRIORITY":"6","SYSLOG_IDENTIFIER":"redis-server","_PID":"1201","_SYSTEMD_UNIT":"redis-server.service","MESSAGE":"later""#,
        ),
    ]
    .join("\n")
        + "\n{\"__REALTIME_TIMESTAMP\":\"17698" // cut at an output cap
}

#[test]
fn journalctl_json_lines_are_read_in_their_real_shape() {
    let entries = parse(&sample());
    assert_eq!(entries.len(), 8, "the cut line is skipped: {entries:#?}");
    let e = &entries[1];
    assert_eq!(e.at, at(ALERT - 17) + time::Duration::milliseconds(100));
    assert_eq!(e.priority, Some(6));
    assert_eq!(e.ident, "redis-server");
    assert_eq!(e.pid.as_deref(), Some("812"));
    assert_eq!(
        entries[2].message.as_deref(),
        Some("key caf\u{fffd} expired"),
        "bytes that are not UTF-8 are decoded lossily"
    );
    assert!(entries[4].is_stop() && entries[4].is_trouble());
    assert!(!entries[3].is_trouble(), "the service's own info line");
    assert_eq!(entries[6].message, None);
    assert_eq!(
        line(&entries[6], &Redactor::new()),
        "06:32:11 redis-server[1201]: (message over 4 KiB, not shown)"
    );
    // A unit name without a SYSLOG_IDENTIFIER still says who.
    let bare = parse_line(&journal_line(
        ALERT,
        r#""_SYSTEMD_UNIT":"postgresql@15-main.service","MESSAGE":"x""#,
    ))
    .unwrap();
    assert_eq!(bare.ident, "postgresql@15-main.service");
    assert!(parse_line("-- No entries --").is_none());
}

#[test]
fn the_window_surrounds_the_alert_or_ends_now() {
    let now = at(ALERT + 7200);
    let around = Window::new(now, Some(at(ALERT)));
    assert_eq!(around.since, at(ALERT) - BEFORE);
    assert_eq!(around.until, at(ALERT) + AFTER);
    let diag = Window::new(now, None);
    assert_eq!((diag.since, diag.until), (now - BEFORE, now));

    let argv = argv("journalctl", "redis-server", &around, None);
    assert_eq!(
        argv,
        [
            "journalctl",
            "-q",
            "--no-pager",
            "-o",
            "json",
            "--output-fields=MESSAGE,PRIORITY,_SYSTEMD_UNIT,UNIT,SYSLOG_IDENTIFIER,_PID",
            "--lines=20",
            "--since=@1769839327",
            "--until=@1769841427",
            "--unit=redis-server",
        ]
    );
    let under = argv_dir(&around);
    assert!(under.contains(&"--directory=/host/var/log/journal".to_string()));

    // Only the window's entries count: not the hour before, not after.
    let f = finding("redis-server", &parse(&sample()), &around, &Redactor::new());
    assert_eq!(f.status, Status::Warn, "{f:#?}");
    assert_eq!(
        f.summary,
        "redis-server stopped or died at 06:32:10 UTC (3 s after the first alert); 1 error"
    );
    assert_eq!(
        f.at,
        Some(at(ALERT + 3) + time::Duration::milliseconds(100))
    );
    assert_eq!(
        f.detail[0],
        "The journal from 06:02:07 to 06:37:07 UTC, around the first alert at 06:32:07 UTC"
    );
    let evidence = f.evidence.unwrap();
    assert!(
        evidence.starts_with("06:31:50 redis-server[812]: 812:M 31 Jan"),
        "{evidence}"
    );
    assert!(
        evidence.contains(
            "\n06:32:10 systemd[1]: redis-server.service: Failed with result 'signal'.\n"
        )
    );
    assert!(!evidence.contains("Ready to accept") && !evidence.contains("later"));

    // /diag two hours later: the outage is outside the window.
    let f = finding("redis-server", &parse(&sample()), &diag, &Redactor::new());
    assert_eq!(f.status, Status::Ok);
    assert_eq!(
        f.summary,
        "redis-server: nothing in the journal from 08:02:07 to 08:32:07 UTC"
    );
    // An hour later: the one later line.
    let hour = Window::new(at(ALERT + 3660), None);
    let f = finding("redis-server", &parse(&sample()), &hour, &Redactor::new());
    assert_eq!(f.status, Status::Ok);
    assert_eq!(
        f.summary,
        "redis-server: 1 journal line, no warnings or errors, from 07:03:07 to 07:33:07 UTC"
    );
    assert_eq!(
        f.evidence.as_deref(),
        Some("07:32:07 redis-server[1201]: later")
    );
    let quiet = finding("postgresql@15-main", &[], &around, &Redactor::new());
    assert_eq!(quiet.status, Status::Ok);
    assert_eq!(
        quiet.summary,
        "postgresql@15-main: nothing in the journal from 06:02:07 to 06:37:07 UTC, around the first alert at 06:32:07 UTC"
    );
}

fn argv_dir(w: &Window) -> Vec<String> {
    argv(
        "journalctl",
        "redis-server",
        w,
        Some(Path::new("/host/var/log/journal")),
    )
}

#[test]
fn lines_and_bytes_are_capped_newest_kept() {
    let window = Window::new(at(ALERT + 60), None);
    let long = "x".repeat(1000);
    let text: Vec<String> = (0..50)
        .map(|i| {
            journal_line(
                ALERT - 50 + i,
                &format!(r#""PRIORITY":"6","SYSLOG_IDENTIFIER":"app","MESSAGE":"line {i} {long}""#),
            )
        })
        .collect();
    let f = finding("app", &parse(&text.join("\n")), &window, &Redactor::new());
    let evidence = f.evidence.clone().unwrap();
    assert!(evidence.len() <= MAX_UNIT_BYTES, "{}", evidence.len());
    let lines: Vec<&str> = evidence.lines().collect();
    assert!(lines.iter().all(|l| l.chars().count() <= MAX_LINE_CHARS));
    assert!(lines.iter().all(|l| l.ends_with('…')));
    assert!(
        lines.last().unwrap().contains(" line 49 "),
        "the newest last"
    );
    let shown = lines.len();
    assert_eq!(
        f.detail.last().unwrap(),
        &format!(
            "The last {shown} lines ({} earlier not shown: journalctl -u app prints them)",
            50 - shown
        )
    );
    // Short lines: the line cap alone, LINES_PER_UNIT of them.
    let text: Vec<String> = (0..50)
        .map(|i| {
            journal_line(
                ALERT - 50 + i,
                &format!(r#""PRIORITY":"6","SYSLOG_IDENTIFIER":"app","MESSAGE":"{i}""#),
            )
        })
        .collect();
    let f = finding("app", &parse(&text.join("\n")), &window, &Redactor::new());
    let evidence = f.evidence.unwrap();
    assert_eq!(evidence.lines().count(), LINES_PER_UNIT);
    assert!(evidence.ends_with(" app: 49"));
    // Control characters and newlines never break the quote.
    let e = parse_line(&journal_line(
        ALERT,
        r#""SYSLOG_IDENTIFIER":"app","MESSAGE":"panic: boom\n  at main.rs:3\u001b[31m""#,
    ))
    .unwrap();
    assert_eq!(
        line(&e, &Redactor::new()),
        "06:32:07 app: panic: boom ⏎   at main.rs:3 [31m"
    );
}

#[test]
fn a_secret_in_a_line_is_redacted_before_the_cut() {
    // The password sits across the line cap: redacting after cutting
    // would leave its first characters.
    let pad = "p".repeat(MAX_LINE_CHARS - 60);
    let e = parse_line(&journal_line(
        ALERT,
        &format!(
            r#""PRIORITY":"3","SYSLOG_IDENTIFIER":"worker","MESSAGE":"{pad} cannot connect to redis://default:hunter2hunter2@10.0.1.1:6379/0 (refused) api_key=sk_live_abcdefgh12345678""#
        ),
    ))
    .unwrap();
    let shown = line(&e, &Redactor::new());
    assert!(!shown.contains("hunter"), "{shown}");
    assert!(shown.contains("redis://default:••••@"), "{shown}");
    assert!(shown.ends_with('…'), "{shown}");
    let f = finding(
        "worker",
        &[e],
        &Window::new(at(ALERT + 60), None),
        &Redactor::new().with_secret("abcdefgh12345678"),
    );
    let evidence = f.evidence.unwrap();
    assert!(!evidence.contains("hunter") && !evidence.contains("abcdefgh"));
}

#[test]
fn unit_names_are_checked() {
    for ok in [
        "redis-server",
        "postgresql@15-main",
        "postgresql@*",
        "a.service",
        "sys-devices-x\\x2d1.device",
    ] {
        assert!(check_name(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "-redis",
        ".hidden",
        "redis server",
        "redis;reboot",
        "a/b",
        "$(x)",
        &"a".repeat(300),
    ] {
        assert!(check_name(bad).is_err(), "{bad}");
    }
}

#[test]
fn errors_and_warnings_without_a_stop_are_named_by_their_latest() {
    let window = Window::new(at(ALERT + 600), Some(at(ALERT)));
    let entry = |secs: i64, priority: &str| {
        journal_line(
            secs,
            &format!(
                r#""PRIORITY":"{priority}","SYSLOG_IDENTIFIER":"postgres","MESSAGE":"p{priority}""#
            ),
        )
    };
    let text = [
        entry(ALERT - 60, "3"),
        entry(ALERT - 2, "3"),
        entry(ALERT + 1, "6"),
    ]
    .join("\n");
    let f = finding(
        "postgresql@15-main",
        &parse(&text),
        &window,
        &Redactor::new(),
    );
    assert_eq!(f.status, Status::Warn);
    assert_eq!(
        f.summary,
        "postgresql@15-main logged 2 errors, the latest at 06:32:05 UTC (1 s before the first alert)"
    );
    let f = finding(
        "postgresql@15-main",
        &parse(&entry(ALERT + 1, "4")),
        &window,
        &Redactor::new(),
    );
    assert_eq!(
        f.summary,
        "postgresql@15-main logged a warning at 06:32:08 UTC (1 s after the first alert)"
    );
}

#[test]
fn a_timestamp_of_any_size_is_skipped_not_a_crash() {
    let huge =
        r#"{"__REALTIME_TIMESTAMP":"170141183460469231731687303715884105727","MESSAGE":"x"}"#;
    assert!(parse_line(huge).is_none());
    let far = r#"{"__REALTIME_TIMESTAMP":"9223372036854775807000","MESSAGE":"x"}"#;
    assert!(parse_line(far).is_none());
}
