//! Purpose: `uptime` read against the number of cores — a load above the
//! core count means runnable tasks queue for a CPU (or wait on disk I/O,
//! which Linux counts too), and every request gets slower.

use super::Ctx;
use super::io;
use crate::model::report::{Finding, Status};

/// 5-minute load per core at which it is a warning: every core is busy and
/// work queues.
pub const WARN_PER_CORE: f64 = 1.0;
/// 5-minute load per core at which it is critical.
pub const CRITICAL_PER_CORE: f64 = 2.0;

/// The three averages of `/proc/loadavg`.
pub fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut f = text.split_whitespace().map(|n| n.parse::<f64>().ok());
    Some([f.next()??, f.next()??, f.next()??])
}

/// Online processors listed in `/proc/cpuinfo`.
pub fn count_cpus(cpuinfo: &str) -> usize {
    cpuinfo
        .lines()
        .filter(|l| l.split(':').next().is_some_and(|k| k.trim() == "processor"))
        .count()
}

/// The load against the cores. The 5-minute average decides, so a
/// momentary spike does not page anyone; all three are shown.
pub fn findings(load: [f64; 3], cores: usize) -> Finding {
    let cores = cores.max(1);
    let per_core = load[1] / cores as f64;
    let summary = format!(
        "Load {:.2} / {:.2} / {:.2} (1/5/15 min) on {cores} {}",
        load[0],
        load[1],
        load[2],
        if cores == 1 { "core" } else { "cores" }
    );
    let trend = if load[0] > load[2] * 1.5 && load[0] > cores as f64 {
        "Rising: the last minute is well above the 15-minute average."
    } else {
        "Look at top (CPU) and iostat / the D state in ps (tasks waiting on disk)."
    };
    match Status::by_level(per_core, WARN_PER_CORE, CRITICAL_PER_CORE) {
        Status::Ok => Finding::ok("host.load", summary),
        status => Finding::new("host.load", status, summary).with_detail(trend),
    }
}

/// Reads `root/proc/loadavg` and counts cores from `root/proc/cpuinfo`
/// (the whole machine's, which is what the load average is about); on this
/// machine, what the process may use when cpuinfo is unreadable.
pub async fn check(ctx: &Ctx) -> Vec<Finding> {
    let load = match ctx.machine.read_small("proc/loadavg").await {
        Ok(text) => match parse_loadavg(&text) {
            Some(l) => l,
            None => {
                return vec![Finding::unknown(
                    "host.load",
                    "/proc/loadavg is not three numbers",
                )];
            }
        },
        Err(e) => {
            return vec![Finding::unknown(
                "host.load",
                format!(
                    "Cannot read {}/proc/loadavg: {}",
                    ctx.root.display(),
                    io::io_words(&e)
                ),
            )];
        }
    };
    let mut cores = ctx
        .machine
        .read_small("proc/cpuinfo")
        .await
        .map(|t| count_cpus(&t))
        .unwrap_or(0);
    if cores == 0 && ctx.machine.is_this_machine() {
        cores = std::thread::available_parallelism().map_or(0, usize::from);
    }
    if cores == 0 {
        return vec![Finding::ok(
            "host.load",
            format!(
                "Load {:.2} / {:.2} / {:.2} (1/5/15 min); core count unknown",
                load[0], load[1], load[2]
            ),
        )];
    }
    vec![findings(load, cores)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    #[test]
    fn load_is_read_against_cores() {
        let load = parse_loadavg("7.95 8.40 3.10 9/1024 31337\n").unwrap();
        let cpuinfo = "processor\t: 0\nmodel name\t: x\n\nprocessor\t: 1\nmodel name\t: x\n";
        assert_eq!(count_cpus(cpuinfo), 2);
        let f = findings(load, 2);
        assert_eq!(f.status, Status::Critical);
        assert_eq!(f.summary, "Load 7.95 / 8.40 / 3.10 (1/5/15 min) on 2 cores");
        assert!(f.detail[0].starts_with("Rising"));
        assert_eq!(findings([0.5, 0.4, 0.3], 2).status, Status::Ok);
        assert_eq!(findings([3.0, 2.5, 2.0], 2).status, Status::Warn);
    }
}
