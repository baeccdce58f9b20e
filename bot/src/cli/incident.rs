//! `medic incident list [--all]` and `medic incident show ID [--markdown]`:
//! the incidents medic opened, from its database, for a terminal — the
//! ones still open by default, most urgent first; `--all` adds the 50
//! latest; `show` adds its timeline, or prints its postmortem draft.

use std::path::Path;

use medic_commands::format::human_age;
use medic_commands::model::incident::IncidentState;
use medic_commands::model::priority::Priority;
use time::OffsetDateTime;

use crate::storage::Store;
use crate::storage::incidents::IncidentRow;

/// How many incidents `--all` lists.
const LATEST: usize = 50;

async fn store(config: Option<&Path>) -> Result<Store, u8> {
    let Some(loaded) = super::load_or_report(config) else {
        return Err(super::EXIT_USAGE);
    };
    Store::connect(&loaded.settings.database.url)
        .await
        .map_err(|e| {
            eprintln!("medic: {e:#}");
            super::EXIT_USAGE
        })
}

fn age(since: OffsetDateTime) -> String {
    let secs = (OffsetDateTime::now_utc() - since).whole_seconds();
    human_age(u64::try_from(secs).unwrap_or(0))
}

/// One line: `#12  P1  open 2 h  sentry  Title — api · likely: …`.
fn line(i: &IncidentRow) -> String {
    let v = &i.view;
    let level = v.priority.map_or("--", Priority::as_str);
    let state = match v.state {
        IncidentState::Open => format!("open {}", age(v.first_seen)),
        IncidentState::Resolved => format!(
            "resolved {} ago",
            v.resolved_at.map_or_else(|| "?".into(), age)
        ),
    };
    let mut out = format!(
        "#{:<5} {level}  {state:<16} {:<12} {}",
        i.id,
        v.source.as_str(),
        v.title
    );
    if let Some(s) = v.service.as_deref().or(v.host.as_deref()) {
        out.push_str(&format!(" — {s}"));
    }
    if let Some(c) = &i.likely_cause {
        out.push_str(&format!(" · likely: {c}"));
    }
    out
}

/// `medic incident list`.
pub async fn list(config: Option<&Path>, all: bool) -> u8 {
    let store = match store(config).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let rows = store.incidents().await;
    store.close().await;
    let mut rows = match rows {
        Ok(r) => r,
        Err(e) => {
            eprintln!("medic: cannot read the incidents: {e}");
            return super::EXIT_USAGE;
        }
    };
    let mut open: Vec<IncidentRow> = rows
        .iter()
        .filter(|i| i.view.state == IncidentState::Open)
        .cloned()
        .collect();
    // Most urgent first (unknown levels last), then oldest.
    open.sort_by_key(|i| (i.view.priority.unwrap_or(Priority::P3), i.view.first_seen));
    if open.is_empty() {
        println!("No incident is open.");
    } else {
        println!("Open ({}):", open.len());
        for i in &open {
            println!("  {}", line(i));
        }
    }
    if all {
        rows.retain(|i| i.view.state == IncidentState::Resolved);
        rows.truncate(LATEST);
        println!("Resolved, latest first ({}):", rows.len());
        for i in &rows {
            println!("  {}", line(i));
        }
    }
    0
}

/// `medic incident show ID [--markdown]`; exit 64 when there is no such
/// incident.
pub async fn show(config: Option<&Path>, id: i64, markdown: bool) -> u8 {
    let store = match store(config).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let read = async {
        let Some(row) = store.incident(id).await? else {
            return Ok(None);
        };
        let timeline = store.timeline(&row).await?;
        Ok::<_, sqlx::Error>(Some((row, timeline)))
    }
    .await;
    store.close().await;
    let (i, timeline) = match read {
        Ok(Some(read)) => read,
        Ok(None) => {
            eprintln!("medic: there is no incident #{id}");
            return super::EXIT_USAGE;
        }
        Err(e) => {
            eprintln!("medic: cannot read incident #{id}: {e}");
            return super::EXIT_USAGE;
        }
    };
    if markdown {
        let draft =
            medic_commands::model::postmortem::draft(&i.view, &timeline, OffsetDateTime::now_utc());
        print!("{}", medic_commands::redact::redact(&draft.markdown()));
        return 0;
    }
    let v = &i.view;
    println!("#{} {}", i.id, v.title);
    let level = v.level_line().unwrap_or_else(|| "no severity level".into());
    println!("  {level}");
    println!(
        "  {} · {} · seen {}× · first {} · last {}",
        v.source.as_str(),
        match v.state {
            IncidentState::Open => "open".to_string(),
            IncidentState::Resolved => format!(
                "resolved {}",
                v.resolved_at.map_or_else(|| "?".into(), |t| t.to_string())
            ),
        },
        v.seen_count,
        v.first_seen,
        v.last_seen
    );
    if let Some(s) = &v.service {
        println!("  service: {s}");
    }
    if let Some(h) = &v.host {
        println!("  host: {h}");
    }
    if let Some(c) = &i.likely_cause {
        println!("  likely cause (medic's hypothesis): {c}");
    }
    if let Some(l) = &v.link {
        println!("  at its source: {l}");
    }
    match (&i.place, &i.root_ts) {
        (Some((p, channel)), Some(root)) => {
            let link = medic_integrations::chat::draw(*p).thread_link(channel, root);
            println!(
                "  thread: {} {channel}{}",
                p.as_str(),
                link.map(|l| format!(" · {l}")).unwrap_or_default()
            );
        }
        (Some((p, channel)), None) => {
            println!("  thread: {} {channel} (not posted yet)", p.as_str())
        }
        (None, _) => println!("  thread: none (no route matched)"),
    }
    println!("timeline:");
    for e in &timeline {
        println!("  {}", e.headline());
        for line in e.detail() {
            println!("      {line}");
        }
    }
    0
}
