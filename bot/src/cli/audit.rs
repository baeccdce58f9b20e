//! `medic audit [--since …] [--json]`: export the audit log and verify
//! its hash chain. The whole chain is always verified (a row's hash
//! depends on every row before it); `--since` only limits what is printed.
//! Exit 0 when the chain verifies, 1 when it is broken (naming the first
//! row that does not verify), 64 when the database cannot be read.

use std::path::Path;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::storage::Store;
use crate::storage::audit::verify;

/// `--since`: an RFC 3339 time, or a duration back from now (`24h`).
fn since_ms(text: &str) -> Result<i64, String> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok((t.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    let back = medic_commands::duration::parse(text).map_err(|_| {
        format!("`{text}` is neither a time like 2026-11-29T23:00:00Z nor a duration like 24h")
    })?;
    Ok(crate::storage::now_ms() - back.as_millis() as i64)
}

fn utc(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// Runs the command.
pub async fn run(config: Option<&Path>, since: Option<&str>, json: bool) -> u8 {
    let Some(loaded) = super::load_or_report(config) else {
        return super::EXIT_USAGE;
    };
    let from = match since.map(since_ms).transpose() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("medic: --since: {e}");
            return super::EXIT_USAGE;
        }
    };
    let store = match Store::connect(&loaded.settings.database.url).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("medic: {e:#}");
            return super::EXIT_USAGE;
        }
    };
    let rows = match store.audit_rows().await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("medic: cannot read the audit log: {e}");
            return super::EXIT_USAGE;
        }
    };
    store.close().await;
    let verdict = verify(&rows);
    let shown: Vec<_> = rows
        .iter()
        .filter(|r| from.is_none_or(|f| r.at >= f))
        .collect();
    if json {
        let (ok, head, broken) = match &verdict {
            Ok(head) => (true, Some(head.clone()), None),
            Err(b) => (
                false,
                None,
                Some(serde_json::json!({"seq": b.seq, "reason": b.reason})),
            ),
        };
        let out = serde_json::json!({
            "verified": ok,
            "head": head,
            "broken": broken,
            "rows": shown,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        for r in &shown {
            println!(
                "#{} {} {} actor={} action={} target={} ref={}{}",
                r.seq,
                utc(r.at),
                r.event,
                r.actor,
                r.action,
                r.target,
                r.ref_id,
                if r.detail.is_empty() {
                    String::new()
                } else {
                    format!(" — {}", r.detail.replace('\n', " ⏎ "))
                }
            );
        }
        match &verdict {
            Ok(head) => println!("Audit chain verified: {} row(s), head {head}", rows.len()),
            Err(b) => println!("Audit chain BROKEN at row #{}: {}", b.seq, b.reason),
        }
    }
    if verdict.is_ok() { 0 } else { 1 }
}
