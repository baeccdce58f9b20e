//! Purpose: `systemctl --failed` — a failed unit is a service that is not
//! running (redis-server) or a network set-up that did not finish
//! (`hc-net-ifup@enp7s0.service`, `seeds/production-debugging-guide.md`).
//!
//! systemctl talks to the running systemd, so it runs only when `root` is
//! `/` and systemd is PID 1 (`/run/systemd/system` exists); anywhere else
//! (a container, a mounted root) this says so as a note, not as a fault.

use std::sync::Arc;

use super::Ctx;
use super::io::CmdError;
use crate::model::report::Finding;

/// One line of `systemctl --failed --no-legend --plain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedUnit {
    /// `redis-server.service`.
    pub unit: String,
    /// Its description (`Advanced key-value store`).
    pub description: String,
}

/// Reads `UNIT LOAD ACTIVE SUB DESCRIPTION` lines; a leading `●` (older
/// systemd prints it even with --plain) is dropped.
pub fn parse_failed(text: &str) -> Vec<FailedUnit> {
    text.lines()
        .map(|l| l.trim().trim_start_matches(['●', '*', '×']).trim_start())
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let unit = f.next()?.to_string();
            let _load = f.next();
            let _active = f.next();
            let _sub = f.next();
            Some(FailedUnit {
                unit,
                description: f.collect::<Vec<_>>().join(" "),
            })
        })
        .collect()
}

/// Failed units are a warning naming each.
pub fn findings(units: &[FailedUnit]) -> Finding {
    if units.is_empty() {
        return Finding::ok("host.systemd", "No failed systemd units");
    }
    let names: Vec<&str> = units.iter().map(|u| u.unit.as_str()).collect();
    let mut f = Finding::warn(
        "host.systemd",
        format!(
            "{} failed systemd {}: {}",
            units.len(),
            if units.len() == 1 { "unit" } else { "units" },
            names.join(", ")
        ),
    );
    for u in units.iter().take(10) {
        f = f.with_detail(format!("{}: {}", u.unit, u.description));
    }
    f.with_detail("Why: systemctl status UNIT and journalctl -u UNIT -n 50.")
}

/// Exists where systemd is PID 1.
pub const SYSTEMD_DIR: &str = "run/systemd/system";

/// `systemctl --failed`, in words a parser can read.
pub const FAILED_ARGV: [&str; 5] = [
    "systemctl",
    "--failed",
    "--no-legend",
    "--plain",
    "--no-pager",
];

/// The failed units, or the finding saying why they could not be read
/// (a note where systemd does not run, unknown when systemctl fails).
pub type FailedUnits = Result<Vec<FailedUnit>, Finding>;

/// `systemctl --failed`, run once per run and shared: the systemd check
/// reports it, the network check names an interface's unit from it.
pub type SharedFailed =
    futures::future::Shared<futures::future::BoxFuture<'static, Arc<FailedUnits>>>;

/// Runs `systemctl --failed` where systemd runs.
pub async fn read_failed(ctx: &Ctx) -> FailedUnits {
    if !ctx.local {
        return Err(Finding::ok(
            "host.systemd",
            format!(
                "Failed units not checked: systemctl reads the running system, not files under {} (not available)",
                ctx.root.display()
            ),
        ));
    }
    if !ctx.machine.exists(SYSTEMD_DIR).await {
        return Err(Finding::ok(
            "host.systemd",
            "systemd is not running here (not available)",
        ));
    }
    match ctx.machine.run(&FAILED_ARGV, ctx.budget).await {
        Ok(out) if out.success => Ok(parse_failed(&out.stdout)),
        Ok(out) => Err(
            Finding::unknown("host.systemd", "systemctl --failed did not answer")
                .with_detail(
                    "medic's user needs no privilege for this; is the system bus (dbus) up?",
                )
                .with_evidence(out.stderr.trim().to_string()),
        ),
        Err(CmdError::Missing(_)) => Err(Finding::unknown(
            "host.systemd",
            "systemd runs but systemctl is not installed here; install systemd's tools in medic's image",
        )),
        Err(e) => Err(Finding::unknown("host.systemd", e.to_string())),
    }
}

/// Reports the shared `systemctl --failed`.
pub async fn check(failed: SharedFailed) -> Vec<Finding> {
    match &*failed.await {
        Ok(units) => vec![findings(units)],
        Err(f) => vec![f.clone()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    #[test]
    fn failed_units_are_named() {
        let out = "hc-net-ifup@enp7s0.service loaded failed failed Hetzner private network\n● redis-server.service loaded failed failed Advanced key-value store\n";
        let units = parse_failed(out);
        assert_eq!(units[1].unit, "redis-server.service");
        assert_eq!(units[1].description, "Advanced key-value store");
        let f = findings(&units);
        assert_eq!(f.status, Status::Warn);
        assert_eq!(
            f.summary,
            "2 failed systemd units: hc-net-ifup@enp7s0.service, redis-server.service"
        );
        assert_eq!(findings(&parse_failed("")).status, Status::Ok);
    }
}
