//! Purpose: `free -h` — a machine out of memory swaps until it crawls, then
//! the OOM killer picks a victim (often the database); see [`super::oom`].
//!
//! The measure is `MemAvailable` (what can be had without swapping), not
//! `MemFree`, which is low on every healthy Linux because of the page cache.

use std::collections::HashMap;

use super::Ctx;
use super::io;
use crate::format::{human_bytes, percent};
use crate::model::report::Finding;

/// Share of memory in use (not available) at which it is a warning.
pub const WARN_RATIO: f64 = 0.90;
/// Share at which it is critical: the OOM killer is near.
pub const CRITICAL_RATIO: f64 = 0.95;
/// Share of swap in use at which it is a warning: the machine has been
/// short of memory for a while.
pub const SWAP_WARN_RATIO: f64 = 0.80;

/// `/proc/meminfo` as bytes by key (`MemTotal` → 16 GiB).
pub fn parse_meminfo(text: &str) -> HashMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (key, rest) = l.split_once(':')?;
            let mut parts = rest.split_whitespace();
            let n: u64 = parts.next()?.parse().ok()?;
            let scale = if parts.next() == Some("kB") { 1024 } else { 1 };
            Some((key.trim().to_string(), n * scale))
        })
        .collect()
}

/// Memory and swap findings from `/proc/meminfo`.
pub fn findings(info: &HashMap<String, u64>) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(&total) = info.get("MemTotal").filter(|&&t| t > 0) else {
        return vec![Finding::unknown(
            "host.memory",
            "/proc/meminfo has no MemTotal",
        )];
    };
    // Kernels before 3.14 have no MemAvailable; free + buffers + cache is
    // what `free` showed then.
    let available = info.get("MemAvailable").copied().unwrap_or_else(|| {
        ["MemFree", "Buffers", "Cached"]
            .iter()
            .filter_map(|k| info.get(*k))
            .sum()
    });
    let used = total.saturating_sub(available);
    let ratio = used as f64 / total as f64;
    let summary = format!(
        "Memory {} used of {} ({}), {} available",
        human_bytes(used),
        human_bytes(total),
        percent(used, total),
        human_bytes(available)
    );
    out.push(if ratio >= CRITICAL_RATIO {
        Finding::critical("host.memory", summary)
            .with_detail("The OOM killer is close; see host.oom, and the biggest processes with ps aux --sort=-rss | head.")
    } else if ratio >= WARN_RATIO {
        Finding::warn("host.memory", summary)
            .with_detail("Little memory left; the biggest processes: ps aux --sort=-rss | head.")
    } else {
        Finding::ok("host.memory", summary)
    });

    let swap_total = info.get("SwapTotal").copied().unwrap_or(0);
    let swap_free = info.get("SwapFree").copied().unwrap_or(0);
    if swap_total == 0 {
        out.push(Finding::ok("host.swap", "No swap configured"));
    } else {
        let swap_used = swap_total.saturating_sub(swap_free);
        let summary = format!(
            "Swap {} used of {} ({})",
            human_bytes(swap_used),
            human_bytes(swap_total),
            percent(swap_used, swap_total)
        );
        out.push(if swap_used as f64 / swap_total as f64 >= SWAP_WARN_RATIO {
            Finding::warn("host.swap", summary).with_detail(
                "Heavy swapping makes every service slow; memory has been short for a while.",
            )
        } else {
            Finding::ok("host.swap", summary)
        });
    }
    out
}

/// Reads `root/proc/meminfo`.
pub async fn check(ctx: &Ctx) -> Vec<Finding> {
    match ctx.machine.read_small("proc/meminfo").await {
        Ok(text) => findings(&parse_meminfo(&text)),
        Err(e) => vec![Finding::unknown(
            "host.memory",
            format!(
                "Cannot read {}/proc/meminfo: {}",
                ctx.root.display(),
                io::io_words(&e)
            ),
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    #[test]
    fn available_memory_not_free_memory_decides() {
        let info = parse_meminfo(
            "MemTotal:       16000000 kB\nMemFree:          200000 kB\nMemAvailable:   12000000 kB\nSwapTotal:       2000000 kB\nSwapFree:        2000000 kB\n",
        );
        let fs = findings(&info);
        assert_eq!(fs[0].status, Status::Ok, "{fs:#?}");
        assert_eq!(
            fs[0].summary,
            "Memory 3.8 GiB used of 15.3 GiB (25 %), 11.4 GiB available"
        );
        assert_eq!(fs[1].summary, "Swap 0 B used of 1.9 GiB (0 %)");
    }

    #[test]
    fn nearly_out_of_memory_and_swapping() {
        let info = parse_meminfo(
            "MemTotal: 1000000 kB\nMemAvailable: 40000 kB\nSwapTotal: 1000000 kB\nSwapFree: 100000 kB\n",
        );
        let fs = findings(&info);
        assert_eq!(fs[0].status, Status::Critical);
        assert_eq!(fs[1].status, Status::Warn);
        let fs = findings(&parse_meminfo(
            "MemTotal: 1000 kB\nMemFree: 50 kB\nCached: 20 kB\n",
        ));
        assert_eq!(
            fs[0].summary,
            "Memory 930.0 KiB used of 1000.0 KiB (93 %), 70.0 KiB available"
        );
        assert_eq!(fs[1].summary, "No swap configured");
    }
}
