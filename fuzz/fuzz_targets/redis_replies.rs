//! What a Redis server answers, through medic's readers: the INFO text
//! (`Info::parse`, its `k=v,…` fields, and every INFO check's findings),
//! `CLIENT LIST` (blocked clients), and the `SLOWLOG GET` and
//! `LATENCY LATEST` replies — the input read as RESP by the redis crate
//! (`parse_redis_value`, the bytes a server sends), then through
//! `slowlog::parse` / `latency::parse` and their findings. A server
//! (or something posing as one) can answer anything: never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medic_commands::diagnostics::redis::info::{Fields, Info};
use medic_commands::diagnostics::redis::{blocked, info_findings, latency, slowlog};
use time::OffsetDateTime;

fuzz_target!(|data: &[u8]| {
    let now = OffsetDateTime::from_unix_timestamp(1_774_747_800).unwrap();
    if let Ok(value) = redis::parse_redis_value(data) {
        let entries = slowlog::parse(&value);
        for e in &entries {
            let _ = slowlog::shown_command(&e.args);
        }
        let _ = slowlog::findings(&entries, Some(10_000), now);
        let _ = slowlog::findings(&entries, None, now);
        let events = latency::parse(&value);
        let _ = latency::findings(&events, Some(100), Some("doctor says"), now);
        let _ = latency::findings(&events, None, None, now);
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let info = Info::parse(text);
    let _ = info_findings(&info, now);
    let _ = Fields::parse(text);
    let list = blocked::parse_client_list(text);
    let _ = blocked::findings(&info, Some(&list));
    let _ = slowlog::printable(text, 40);
});
