//! Purpose: `redis-cli info keyspace` — keys per database and how many have
//! a TTL — read against maxmemory and its eviction policy. The trap it
//! catches: a `volatile-*` policy only evicts keys that have a TTL, so a
//! full Redis whose keys have none cannot evict anything and refuses
//! writes with `OOM command not allowed when used memory > 'maxmemory'`,
//! although "eviction is configured".

use super::info::Info;
use super::{CRITICAL_RATIO, WARN_RATIO};
use crate::format::{human_bytes, percent};
use crate::model::report::{Finding, Status};

/// Judges the keyspace and, near maxmemory, whether the policy can evict.
pub fn findings(info: &Info) -> Vec<Finding> {
    let dbs = info.numbered("db");
    let keys: u64 = dbs.iter().filter_map(|(_, f)| f.num("keys")).sum();
    let expires: u64 = dbs.iter().filter_map(|(_, f)| f.num("expires")).sum();
    let mut out = Vec::new();
    let summary = if dbs.is_empty() {
        "Keyspace empty: no keys".to_string()
    } else {
        let per_db = dbs
            .iter()
            .map(|(n, f)| {
                format!(
                    "db{n} {} ({} with a TTL)",
                    f.num("keys").unwrap_or(0),
                    f.num("expires").unwrap_or(0)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!("Keys: {per_db}")
    };
    let mut f = Finding::ok("redis.keyspace", summary);
    if dbs.len() > 1 {
        f = f.with_detail(format!("{keys} keys in all, {expires} with a TTL"));
    }
    out.push(f);

    let policy = info.get("maxmemory_policy").unwrap_or("");
    if let (Some(max), Some(used)) = (
        info.num("maxmemory").filter(|&m| m > 0),
        info.num("used_memory"),
    ) {
        let ratio = used as f64 / max as f64;
        if policy.starts_with("volatile-") && ratio >= WARN_RATIO {
            let status = if expires == 0 || ratio >= CRITICAL_RATIO {
                Status::Critical
            } else {
                Status::Warn
            };
            let evictable = if expires == 0 {
                "no key has a TTL, so nothing can be evicted".to_string()
            } else {
                format!(
                    "only the {expires} keys with a TTL ({}) can be evicted",
                    percent(expires, keys.max(1))
                )
            };
            out.push(
                Finding::new(
                    "redis.keyspace",
                    status,
                    format!(
                        "Memory {} of {} maxmemory ({}) under {policy}: {evictable}",
                        human_bytes(used),
                        human_bytes(max),
                        percent(used, max)
                    ),
                )
                .with_detail("Once nothing evictable is left, writes fail with \"OOM command not allowed when used memory > 'maxmemory'\".")
                .with_detail("Set TTLs on cache keys, switch to an allkeys-* policy, or raise maxmemory."),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_listed_per_database() {
        let info = Info::parse(
            "db0:keys=12000,expires=4800,avg_ttl=0\ndb3:keys=345,expires=0,avg_ttl=0\n",
        );
        let fs = findings(&info);
        assert_eq!(fs.len(), 1);
        assert_eq!(
            fs[0].summary,
            "Keys: db0 12000 (4800 with a TTL), db3 345 (0 with a TTL)"
        );
        assert_eq!(fs[0].detail, ["12345 keys in all, 4800 with a TTL"]);
        let empty = Info::parse(include_str!("testdata/redis_info_7.0_master.txt"));
        assert_eq!(findings(&empty)[0].summary, "Keyspace empty: no keys");
    }

    #[test]
    fn a_volatile_policy_with_no_ttls_near_full_is_critical() {
        let base =
            "db0:keys=1000,expires=0,avg_ttl=0\nused_memory:870000000\nmaxmemory:1000000000\n";
        let info = Info::parse(&format!("{base}maxmemory_policy:volatile-lru\n"));
        let fs = findings(&info);
        assert_eq!(fs[1].status, Status::Critical);
        assert!(
            fs[1]
                .summary
                .ends_with("no key has a TTL, so nothing can be evicted"),
            "{}",
            fs[1].summary
        );

        let some_ttl = base.replace("expires=0", "expires=100");
        let info = Info::parse(&format!("{some_ttl}maxmemory_policy:volatile-ttl\n"));
        let fs = findings(&info);
        assert_eq!(fs[1].status, Status::Warn);
        assert!(
            fs[1]
                .summary
                .contains("only the 100 keys with a TTL (10 %)"),
            "{}",
            fs[1].summary
        );

        // allkeys-* can always evict: nothing to add to the memory finding.
        let info = Info::parse(&format!("{base}maxmemory_policy:allkeys-lru\n"));
        assert_eq!(findings(&info).len(), 1);
    }
}
