//! Purpose: `grep -E " (install|upgrade|remove) " /var/log/dpkg.log` — a
//! package installed with `dpkg -i` (a vendor's .deb, a hand-made fix)
//! never reaches apt's history, yet restarts services all the same. Its
//! changes outside any apt transaction join the apt check ([`super::apt`]).

use super::clock::LogClock;
use super::packages::{Change, Transaction, local_time};

/// Reads `dpkg.log`'s `install`, `upgrade`, `remove` and `purge` lines
/// (`2016-08-06 17:35:39 install base-passwd:amd64 <none> 3.5.33`) as
/// one-change transactions.
pub fn parse_dpkg_log(text: &str, clock: &LogClock) -> Vec<Transaction> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [date, clock_time, action, pkg, old, new, ..] = f.as_slice() else {
                return None;
            };
            let action = match *action {
                "install" => "Install",
                "upgrade" => "Upgrade",
                "remove" => "Remove",
                "purge" => "Purge",
                _ => return None,
            };
            let t = local_time(&format!("{date} {clock_time}"), clock);
            let version = |v: &str| (v != "<none>").then(|| v.to_string());
            Some(Transaction {
                start: t,
                end: t,
                commandline: Some("dpkg (not through apt)".into()),
                changes: vec![Change {
                    action: action.into(),
                    package: pkg.split(':').next().unwrap_or(pkg).to_string(),
                    from: version(old).filter(|_| action == "Upgrade"),
                    to: version(new).or_else(|| version(old)),
                }],
                errors: Vec::new(),
                text: line.to_string(),
            })
        })
        .collect()
}

/// dpkg.log changes that no apt transaction explains (apt's own changes
/// are in dpkg.log too, between its Start-Date and End-Date).
pub fn dpkg_only(apt: &[Transaction], dpkg: Vec<Transaction>) -> Vec<Transaction> {
    let slack = time::Duration::seconds(60);
    dpkg.into_iter()
        .filter(|d| {
            let Some(t) = d.start else { return false };
            !apt.iter().any(|a| match (a.start, a.end.or(a.start)) {
                (Some(s), Some(e)) => t >= s - slack && t <= e + slack,
                _ => false,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;

    const DPKG: &str = include_str!("testdata/dpkg_plaso.log");

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    #[test]
    fn dpkg_log_changes_outside_apt_are_added() {
        let clock = LogClock::utc(at(1_470_800_000));
        let dpkg = parse_dpkg_log(DPKG, &clock);
        assert_eq!(dpkg.len(), 1, "only install/upgrade/remove/purge lines");
        assert_eq!(dpkg[0].changes[0].package, "base-passwd");
        assert_eq!(dpkg[0].changes[0].to.as_deref(), Some("3.5.33"));
        assert_eq!(dpkg[0].start, Some(at(1_470_504_939))); // 2016-08-06 17:35:39 UTC
        let apt = vec![Transaction {
            start: Some(at(1_470_504_930)),
            end: Some(at(1_470_504_945)),
            ..Transaction::default()
        }];
        assert!(dpkg_only(&apt, dpkg.clone()).is_empty());
        assert_eq!(dpkg_only(&[], dpkg).len(), 1);
    }
}
