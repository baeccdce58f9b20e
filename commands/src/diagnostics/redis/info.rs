//! Purpose: `redis-cli info`, parsed once and read by every check — the
//! numbers the runbook's engineer scans by eye (clients, memory, the
//! `# Keyspace` and `# Replication` sections).

use std::collections::HashMap;

/// Parsed `INFO` output: `key:value` lines, sections ignored.
#[derive(Debug, Clone, Default)]
pub struct Info(HashMap<String, String>);

impl Info {
    /// Parses INFO text; tolerant of `\r\n`, comments and blank lines.
    pub fn parse(text: &str) -> Self {
        let map = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Info(map)
    }

    /// A raw value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A value as an unsigned number; absent or negative is `None`.
    pub fn num(&self, key: &str) -> Option<u64> {
        self.get(key)?.parse().ok()
    }

    /// A value as a signed number (some counters use -1 for "never").
    pub fn signed(&self, key: &str) -> Option<i64> {
        self.get(key)?.parse().ok()
    }

    /// A value as a decimal (`mem_fragmentation_ratio:1.53`).
    pub fn float(&self, key: &str) -> Option<f64> {
        self.get(key)?.parse().ok().filter(|v: &f64| v.is_finite())
    }

    /// Sets a value: a fallback read elsewhere (CONFIG GET), or a test's
    /// override.
    pub fn insert(&mut self, key: &str, value: &str) {
        self.0.insert(key.to_string(), value.to_string());
    }

    /// Lines whose key is `prefix` followed by a number (`db0`, `slave1`),
    /// in that number's order, each value split into its `k=v` fields.
    pub fn numbered(&self, prefix: &str) -> Vec<(u64, Fields)> {
        let mut out: Vec<(u64, Fields)> = self
            .0
            .iter()
            .filter_map(|(k, v)| {
                let n = k.strip_prefix(prefix)?.parse().ok()?;
                Some((n, Fields::parse(v)))
            })
            .collect();
        out.sort_by_key(|(n, _)| *n);
        out
    }
}

/// The `k=v,k=v` value of a `db0:` or `slave0:` line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// Parses `keys=3,expires=1,avg_ttl=0`.
    pub fn parse(text: &str) -> Self {
        Fields(
            text.split(',')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect(),
        )
    }

    /// A raw field.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A field as an unsigned number.
    pub fn num(&self, key: &str) -> Option<u64> {
        self.get(key)?.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_lines_come_in_order_with_their_fields() {
        let info = Info::parse(
            "# Keyspace\r\ndb10:keys=5,expires=0,avg_ttl=0\r\ndb0:keys=3,expires=1,avg_ttl=9\r\ndbx:nope\r\n",
        );
        let dbs = info.numbered("db");
        assert_eq!(dbs.len(), 2);
        assert_eq!(dbs[0].0, 0);
        assert_eq!(dbs[0].1.num("keys"), Some(3));
        assert_eq!(dbs[1].0, 10);
        assert_eq!(dbs[1].1.num("expires"), Some(0));
    }

    #[test]
    fn numbers_and_ratios_parse_and_bad_values_are_none() {
        let info = Info::parse("a:12\nb:-1\nc:1.53\nd:nan\n");
        assert_eq!(info.num("a"), Some(12));
        assert_eq!(info.num("b"), None);
        assert_eq!(info.signed("b"), Some(-1));
        assert_eq!(info.float("c"), Some(1.53));
        assert_eq!(info.float("d"), None);
    }
}
