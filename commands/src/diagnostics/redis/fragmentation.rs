//! Purpose: `redis-cli info memory` read for the two ways RSS and data
//! disagree. `mem_fragmentation_ratio` is the resident memory (RSS) over
//! what Redis's data uses: well above 1, the allocator holds freed memory
//! the OS cannot reuse (many deletes, values of varying sizes) and the host
//! runs out of RAM before maxmemory is reached; below 1, part of Redis is
//! swapped out and every command touching it waits on the disk.
//!
//! A small dataset has a high ratio by nature (Redis's own few MiB of code
//! and buffers over a few KiB of data), so the ratio above 1 is judged only
//! from [`MEANINGFUL`] used memory up, as Redis's own `MEMORY DOCTOR` does.

use crate::format::human_bytes;
use crate::model::report::Finding;

use super::info::Info;

/// Below this much used memory, a ratio above 1 says nothing.
pub const MEANINGFUL: u64 = 64 << 20;
/// A ratio above this is a warning.
pub const WARN_ABOVE: f64 = 1.5;
/// A ratio above this is critical, when the waste is also [`CRITICAL_WASTE`].
pub const CRITICAL_ABOVE: f64 = 2.0;
/// The RSS wasted by fragmentation that makes a ratio above
/// [`CRITICAL_ABOVE`] critical: a GiB of the host's RAM holding nothing.
pub const CRITICAL_WASTE: u64 = 1 << 30;
/// A ratio below this (a fifth of the data swapped out) is critical;
/// between it and 1 it is a warning.
pub const CRITICAL_BELOW: f64 = 0.8;

/// Judges `mem_fragmentation_ratio` with `used_memory` and
/// `used_memory_rss`.
pub fn findings(info: &Info) -> Vec<Finding> {
    let (Some(ratio), Some(used)) = (
        info.float("mem_fragmentation_ratio"),
        info.num("used_memory"),
    ) else {
        return Vec::new();
    };
    let rss = info
        .num("used_memory_rss")
        .unwrap_or((used as f64 * ratio) as u64);
    let figures = format!(
        "RSS {} for {} of data (ratio {ratio:.2})",
        human_bytes(rss),
        human_bytes(used)
    );
    let by_hand = "By hand: redis-cli info memory; redis-cli memory doctor";
    if ratio < 1.0 && used > 0 {
        let swapped = used.saturating_sub(rss);
        let f = if ratio < CRITICAL_BELOW {
            Finding::critical(
                "redis.fragmentation",
                format!("Redis is swapping: {figures}"),
            )
        } else {
            Finding::warn(
                "redis.fragmentation",
                format!("Redis is partly swapped out: {figures}"),
            )
        };
        return vec![
            f.with_detail(format!(
                "About {} of Redis's memory is not resident: commands touching it wait on the disk, and latency spikes follow.",
                human_bytes(swapped)
            ))
            .with_detail("Look at free -h and vmstat 1 on the host; keep maxmemory well under the RAM left to Redis, and vm.swappiness low.")
            .with_detail(by_hand),
        ];
    }
    if used < MEANINGFUL {
        return vec![Finding::ok(
            "redis.fragmentation",
            format!(
                "Fragmentation not judged: {figures}; below {} of data the ratio means little",
                human_bytes(MEANINGFUL)
            ),
        )];
    }
    if ratio <= WARN_ABOVE {
        return vec![Finding::ok(
            "redis.fragmentation",
            format!("Fragmentation ok: {figures}"),
        )];
    }
    let waste = info
        .num("mem_fragmentation_bytes")
        .unwrap_or(rss.saturating_sub(used));
    let summary = format!(
        "Memory fragmented: {figures}, {} held but unused",
        human_bytes(waste)
    );
    let f = if ratio > CRITICAL_ABOVE && waste >= CRITICAL_WASTE {
        Finding::critical("redis.fragmentation", summary)
    } else {
        Finding::warn("redis.fragmentation", summary)
    };
    let mut f = f
        .with_detail("The allocator keeps memory freed by deletes and resized values; the host's RAM runs out before maxmemory is reached, and the OOM killer may pick Redis.")
        .with_detail("Remedies: CONFIG SET activedefrag yes (jemalloc builds), or restart a replica and fail over to it.");
    if info.num("active_defrag_running").is_some_and(|r| r > 0) {
        f = f.with_detail("Active defragmentation is running now.");
    }
    vec![f.with_detail(by_hand)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    fn info(used: u64, rss: u64) -> Info {
        let ratio = rss as f64 / used as f64;
        Info::parse(&format!(
            "used_memory:{used}\nused_memory_rss:{rss}\nmem_fragmentation_ratio:{ratio:.2}\nmem_fragmentation_bytes:{}\n",
            rss as i64 - used as i64
        ))
    }

    const GIB: u64 = 1 << 30;

    #[test]
    fn a_fresh_server_is_not_judged_on_its_ratio() {
        // The captured INFO of an empty Redis 7.0 shows a ratio of 7.68.
        let info = Info::parse(include_str!("testdata/redis_info_7.0_master.txt"));
        let f = &findings(&info)[0];
        assert_eq!(f.status, Status::Ok);
        assert!(
            f.summary.starts_with("Fragmentation not judged"),
            "{}",
            f.summary
        );
        assert!(f.summary.contains("ratio 7.68"), "{}", f.summary);
    }

    #[test]
    fn high_ratios_warn_and_a_big_waste_is_critical() {
        let f = &findings(&info(GIB, GIB * 12 / 10))[0];
        assert_eq!(f.status, Status::Ok);
        let f = &findings(&info(GIB, GIB * 17 / 10))[0];
        assert_eq!(f.status, Status::Warn);
        assert_eq!(
            f.summary,
            "Memory fragmented: RSS 1.7 GiB for 1.0 GiB of data (ratio 1.70), 716.8 MiB held but unused"
        );
        // Ratio over 2, but only 200 MiB wasted: a warning.
        let f = &findings(&info(150 << 20, 350 << 20))[0];
        assert_eq!(f.status, Status::Warn);
        let f = &findings(&info(2 * GIB, 5 * GIB))[0];
        assert_eq!(f.status, Status::Critical);
    }

    #[test]
    fn a_ratio_below_one_is_swapping_at_any_size() {
        let f = &findings(&info(10 << 20, 9 << 20))[0];
        assert_eq!(f.status, Status::Warn);
        assert!(
            f.summary.starts_with("Redis is partly swapped out"),
            "{}",
            f.summary
        );
        let f = &findings(&info(GIB, GIB / 2))[0];
        assert_eq!(f.status, Status::Critical);
        assert!(f.detail[0].contains("512.0 MiB"), "{:?}", f.detail);
    }
}
