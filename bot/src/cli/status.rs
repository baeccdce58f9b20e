//! `medic status`: is medic keeping up, and what has it given up on? Read
//! from the database, so it answers for the whole cluster, whichever
//! replica (or none) is running: the duties and who holds them, the work
//! waiting, the dead letters with their last error, and how much is
//! stored against `[retention]`.
//!
//! Exit 0 when nothing is parked or failed, 1 when there are dead letters
//! (a cron job or a monitoring check can alert on it), 64 when the
//! database cannot be read.

use std::path::Path;

use medic_commands::format::human_age;

use crate::settings::RetentionSettings;
use crate::storage::dead_letters::{Backlog, Dead, DeadLetter};
use crate::storage::retention::Swept;
use crate::storage::{Backend, Store, now_ms};

/// Dead letters listed per kind (the count says how many more there are).
const LISTED: i64 = 10;

/// What `medic status` read.
struct Status {
    duties: Vec<(String, String)>,
    backlog: Backlog,
    dead: Vec<(Dead, i64, Vec<DeadLetter>)>,
    stored: Vec<(Swept, i64)>,
}

/// `medic status`.
pub async fn run(config: Option<&Path>) -> u8 {
    let Some(loaded) = super::load_or_report(config) else {
        return super::EXIT_USAGE;
    };
    let settings = &loaded.settings;
    let store = match Store::connect(&settings.database.url).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("medic: {e:#}");
            return super::EXIT_USAGE;
        }
    };
    let read = read(&store).await;
    let backend = store.backend();
    store.close().await;
    let status = match read {
        Ok(s) => s,
        Err(e) => {
            eprintln!("medic: cannot read the database: {e}");
            return super::EXIT_USAGE;
        }
    };
    print!(
        "{}",
        render(&status, backend, &settings.retention, now_ms())
    );
    let dead: i64 = status.dead.iter().map(|(_, n, _)| n).sum();
    u8::from(dead > 0)
}

async fn read(store: &Store) -> sqlx::Result<Status> {
    let mut dead = Vec::new();
    for kind in Dead::ALL {
        let count = store.dead_letter_count(kind).await?;
        let listed = if count > 0 {
            store.dead_letters(kind, LISTED).await?
        } else {
            Vec::new()
        };
        dead.push((kind, count, listed));
    }
    let mut stored = Vec::new();
    for what in Swept::ALL {
        stored.push((what, store.rows_of(what).await?));
    }
    Ok(Status {
        duties: store.duty_holders(now_ms()).await?,
        backlog: store.backlog().await?,
        dead,
        stored,
    })
}

/// `age` ms before `now`, as people say it.
fn ago(now: i64, at: i64) -> String {
    human_age(u64::try_from((now - at) / 1000).unwrap_or(0))
}

fn render(s: &Status, backend: Backend, retention: &RetentionSettings, now: i64) -> String {
    let mut out = String::new();
    out.push_str("Duties: ");
    match backend {
        Backend::Sqlite => out.push_str("one process holds every duty (SQLite)\n"),
        Backend::Postgres if s.duties.is_empty() => {
            out.push_str("none held (no replica is running)\n");
        }
        Backend::Postgres => {
            let held: Vec<String> = s
                .duties
                .iter()
                .map(|(duty, holder)| format!("{duty} ({holder})"))
                .collect();
            out.push_str(&held.join(", "));
            out.push('\n');
        }
    }
    let b = &s.backlog;
    out.push_str(&format!(
        "Waiting: {} alert deliveries, {} incident jobs, {} chat messages",
        b.deliveries, b.jobs, b.messages
    ));
    if let Some(oldest) = b.oldest_message_ms {
        out.push_str(&format!(" (oldest queued {} ago)", ago(now, oldest)));
    }
    out.push('\n');
    let total: i64 = s.dead.iter().map(|(_, n, _)| n).sum();
    if total == 0 {
        out.push_str("Dead letters: none\n");
    } else {
        out.push_str(&format!("Dead letters: {total}\n"));
        for (kind, count, listed) in &s.dead {
            if *count == 0 {
                continue;
            }
            let title = match kind {
                Dead::Delivery => "alert deliveries parked",
                Dead::Job => "incident jobs parked",
                Dead::Message => "chat messages failed",
            };
            out.push_str(&format!("  {count} {title}:\n"));
            for d in listed {
                out.push_str(&format!(
                    "    {} #{}  {}  {} ago, {} attempt(s): {}\n",
                    d.kind.as_str(),
                    d.id,
                    d.what,
                    ago(now, d.at_ms),
                    d.attempts,
                    d.error.as_deref().unwrap_or("(no error recorded)")
                ));
            }
            if *count > listed.len() as i64 {
                out.push_str(&format!(
                    "    … and {} more\n",
                    *count - listed.len() as i64
                ));
            }
        }
    }
    out.push_str("Stored (kept once over, [retention]):\n");
    for (what, rows) in &s.stored {
        out.push_str(&format!(
            "  {:<13} {rows:>8} rows, kept {}\n",
            what.as_str(),
            human_age(retention.keep(*what).as_secs())
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letters_are_listed_with_their_error_and_a_count_of_the_rest() {
        let now = 10 * 24 * 3600 * 1000;
        let letter = |id| DeadLetter {
            kind: Dead::Job,
            id,
            at_ms: now - 2 * 3600 * 1000,
            what: "incident #7 diagnose".into(),
            attempts: 5,
            error: Some("queueing its runbook report: disk full".into()),
        };
        let status = Status {
            duties: vec![("outbox".into(), "replica-a".into())],
            backlog: Backlog {
                messages: 3,
                oldest_message_ms: Some(now - 12_000),
                ..Backlog::default()
            },
            dead: vec![
                (Dead::Delivery, 0, vec![]),
                (Dead::Job, 12, (1..=10).map(letter).collect()),
                (Dead::Message, 0, vec![]),
            ],
            stored: vec![(Swept::Incidents, 40)],
        };
        let text = render(
            &status,
            Backend::Postgres,
            &RetentionSettings::default(),
            now,
        );
        assert!(text.contains("Duties: outbox (replica-a)"), "{text}");
        assert!(
            text.contains("3 chat messages (oldest queued 12 s ago)"),
            "{text}"
        );
        assert!(text.contains("Dead letters: 12"), "{text}");
        assert!(
            text.contains(
                "job #3  incident #7 diagnose  2 h ago, 5 attempt(s): queueing its runbook report: disk full"
            ),
            "{text}"
        );
        assert!(text.contains("… and 2 more"), "{text}");
        assert!(
            text.contains("incidents           40 rows, kept 180 days"),
            "{text}"
        );
    }
}
