//! Purpose: an alert storm on Discord as one message — a line per new
//! incident, changing as each does — and the notes in that message's
//! thread, each headed by the incident it is about.
//!
//! Discord lets about five messages a second into a channel, and medic
//! sends one a second: thirty roots would keep a channel busy for half a
//! minute and bury the first alert under the rest. One digest shows all of
//! them at once (as Slack's digest does, UX.md "An alert storm").
//!
//! The lines go into embed descriptions (4096 characters each, at most ten
//! embeds, 6000 characters across them); what does not fit is counted in
//! an "…and N more" line rather than rejected. Those incidents still have
//! their notes, each headed by its number and title, in the thread.

use medic_commands::model::incident::{IncidentState, IncidentView};

use super::incident::mark;
use super::render::{
    self, DiscordMessage, Embed, Footer, MAX_CONTENT, MAX_DESCRIPTION, MAX_EMBED_TOTAL, MAX_EMBEDS,
    MAX_THREAD_NAME,
};
use crate::chat::shorten;

/// The most incidents one digest lists, as on Slack: the fold takes at
/// most this many waiting roots at once.
pub const DIGEST_MAX: usize = 40;

/// Characters of a title in a digest line: 40 lines of titles this long
/// (without links) fit the 6000-character budget.
const LINE_TITLE: usize = 100;

/// Characters kept for the "…and N more" line and the newline before it.
const MORE_ROOM: usize = 80;

/// Colour of an all-resolved digest.
const RESOLVED: u32 = 0x2e_cc_71;

/// Escapes Discord markdown in text taken from an alert (a title with
/// `*` or `[` must not turn the line bold or into a broken link).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '~' | '`' | '|' | '[' | ']' | '<' | '>'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One line: how bad, which incident, what (linked where it has a web
/// link), where, how often.
fn line(v: &IncidentView) -> String {
    let (symbol, word) = match v.state {
        IncidentState::Open => {
            let (s, w, _) = mark(v.severity);
            (s, w)
        }
        IncidentState::Resolved => ("✅", "resolved"),
    };
    let title = escape(&shorten(&v.title, LINE_TITLE).0);
    let title = match v.link.as_deref().filter(|l| {
        (l.starts_with("https://") || l.starts_with("http://")) && !l.contains([')', ' '])
    }) {
        Some(link) => format!("[{title}]({link})"),
        None => title,
    };
    let place = match (&v.service, &v.host) {
        (Some(s), _) | (None, Some(s)) => format!(" — {}", escape(&shorten(s, 60).0)),
        (None, None) => String::new(),
    };
    let seen = if v.seen_count > 1 {
        format!(" · seen {}×", v.seen_count)
    } else {
        String::new()
    };
    format!(
        "{symbol} #{} {}**{title}**{place} · {word}{seen}",
        v.id,
        v.level_prefix()
    )
}

/// "incidents #3–#14", the numbers a digest covers.
fn span(views: &[IncidentView]) -> String {
    match (views.first(), views.last()) {
        (Some(a), Some(b)) if a.id != b.id => format!("incidents #{}–#{}", a.id, b.id),
        (Some(a), _) => format!("incident #{}", a.id),
        _ => "no incidents".to_string(),
    }
}

/// The digest message for `views` (the incidents it lists, in order), as
/// they read now: posted once, then edited whenever one of them changes.
pub fn incident_digest(views: &[IncidentView]) -> DiscordMessage {
    let resolved = views
        .iter()
        .filter(|v| v.state == IncidentState::Resolved)
        .count();
    let mut title = format!("🚨 {} new incidents at once", views.len());
    if resolved > 0 {
        title.push_str(&format!(" · {resolved} resolved since"));
    }
    let footer = format!(
        "{} · alert storm digest · updates in this message's thread",
        span(views)
    );
    let colour = views
        .iter()
        .filter(|v| v.state == IncidentState::Open)
        .map(|v| v.severity)
        .max()
        .map_or(RESOLVED, |s| mark(s).2);

    // Lines into descriptions, a new embed when one is full, until the
    // total budget (less the title, footer and "more" line) is spent.
    let budget = MAX_EMBED_TOTAL - title.chars().count() - footer.chars().count() - MORE_ROOM;
    let mut descriptions: Vec<String> = vec![String::new()];
    let mut used = 0;
    let mut listed = 0;
    for v in views.iter().take(DIGEST_MAX) {
        let l = line(v);
        let n = l.chars().count() + 1;
        if used + n > budget {
            break;
        }
        let current = descriptions.last_mut().expect("never empty");
        if current.chars().count() + n > MAX_DESCRIPTION - MORE_ROOM {
            if descriptions.len() == MAX_EMBEDS {
                break;
            }
            descriptions.push(String::new());
        }
        let current = descriptions.last_mut().expect("never empty");
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(&l);
        used += n;
        listed += 1;
    }
    if listed < views.len() {
        let last = descriptions.last_mut().expect("never empty");
        last.push_str(&format!(
            "\n…and {} more; each one's notes are in this message's thread",
            views.len() - listed
        ));
    }
    let count = descriptions.len();
    let embeds = descriptions
        .into_iter()
        .enumerate()
        .map(|(i, d)| Embed {
            title: (i == 0).then(|| title.clone()),
            description: Some(d).filter(|d| !d.is_empty()),
            color: Some(colour),
            footer: (i + 1 == count).then(|| Footer {
                text: footer.clone(),
            }),
            ..Default::default()
        })
        .collect();
    let titles: Vec<&str> = views.iter().map(|v| v.title.as_str()).collect();
    let mut m = DiscordMessage::embeds(embeds);
    m.content = Some(
        shorten(
            &format!("🚨 {} new incidents: {}", views.len(), titles.join("; ")),
            200,
        )
        .0,
    );
    m
}

/// The name of a digest's thread.
pub fn digest_thread_name(views: &[IncidentView]) -> String {
    shorten(
        &format!("🚨 {} new incidents ({})", views.len(), span(views)),
        MAX_THREAD_NAME,
    )
    .0
}

/// `note` (a message for `v`'s thread) as posted in a digest's thread,
/// which many incidents share: headed by the incident it is about.
pub fn digest_note(v: &IncidentView, mut note: DiscordMessage) -> DiscordMessage {
    let head = format!("**#{} · {}**", v.id, escape(&shorten(&v.title, 200).0));
    note.content = Some(match note.content.take().filter(|c| !c.is_empty()) {
        Some(c) => shorten(&format!("{head}\n{c}"), MAX_CONTENT).0,
        None => head,
    });
    render::fit(&mut note);
    note
}

#[cfg(test)]
mod tests {
    use medic_commands::model::alert::{AlertSource, Severity};
    use time::macros::datetime;

    use super::*;

    fn view(id: i64, title: &str) -> IncidentView {
        IncidentView {
            id,
            source: AlertSource::Alertmanager,
            state: IncidentState::Open,
            title: title.into(),
            severity: Severity::Warning,
            service: Some("api".into()),
            host: None,
            link: Some("https://am.example/#/alerts?g=1".into()),
            seen_count: 1,
            first_seen: datetime!(2026-11-29 06:29:07 UTC),
            last_seen: datetime!(2026-11-29 06:29:07 UTC),
            resolved_at: None,
            priority: None,
            acked_by: None,
        }
    }

    fn within_limits(m: &DiscordMessage) {
        assert!(m.embeds.len() <= MAX_EMBEDS);
        assert!(m.embeds.iter().map(Embed::chars).sum::<usize>() <= MAX_EMBED_TOTAL);
        for e in &m.embeds {
            let d = e.description.as_deref().unwrap_or_default();
            assert!(d.chars().count() <= MAX_DESCRIPTION);
        }
        assert!(m.content.as_deref().unwrap().chars().count() <= MAX_CONTENT);
    }

    #[test]
    fn every_incident_is_a_line_that_follows_it() {
        let mut views: Vec<IncidentView> = (1..=12)
            .map(|i| view(i, &format!("Upstream {i} *timed* out")))
            .collect();
        views[3].state = IncidentState::Resolved;
        views[4].seen_count = 7;
        let m = incident_digest(&views);
        within_limits(&m);
        let text = m.all_text();
        assert!(
            text.contains("12 new incidents at once · 1 resolved since"),
            "{text}"
        );
        for i in 1..=12 {
            assert!(
                text.contains(&format!("#{i} **[Upstream {i} \\*timed\\* out]")),
                "{text}"
            );
        }
        assert!(text.contains("✅ #4"), "{text}");
        assert!(text.contains("seen 7×"), "{text}");
        assert!(text.contains("incidents #1–#12"), "{text}");
        assert!(
            m.content
                .unwrap()
                .starts_with("🚨 12 new incidents: Upstream 1")
        );
    }

    #[test]
    fn a_digest_of_long_titles_fits_and_counts_the_rest() {
        let long = "x".repeat(300);
        let views: Vec<IncidentView> = (1..=DIGEST_MAX as i64)
            .map(|i| {
                let mut v = view(i, &long);
                v.link = Some(format!(
                    "https://sentry.io/organizations/acme/issues/{}/",
                    "9".repeat(40)
                ));
                v.service = Some("s".repeat(200));
                v
            })
            .collect();
        let m = incident_digest(&views);
        within_limits(&m);
        let text = m.all_text();
        let listed = (1..=DIGEST_MAX)
            .filter(|i| text.contains(&format!("#{i} **")))
            .count();
        assert!(listed >= 15, "{listed} listed");
        assert!(
            text.contains(&format!("…and {} more", DIGEST_MAX - listed)),
            "{text}"
        );
    }

    #[test]
    fn notes_name_their_incident_and_threads_their_span() {
        let v = view(9, "DiskFull");
        let note = digest_note(&v, DiscordMessage::text("✅ Resolved at 06:40:02 UTC"));
        assert_eq!(
            note.content.as_deref(),
            Some("**#9 · DiskFull**\n✅ Resolved at 06:40:02 UTC")
        );
        let embeds_only = digest_note(&v, DiscordMessage::embeds(vec![Embed::default()]));
        assert_eq!(embeds_only.content.as_deref(), Some("**#9 · DiskFull**"));
        let name = digest_thread_name(&[view(3, "a"), view(14, "b")]);
        assert_eq!(name, "🚨 2 new incidents (incidents #3–#14)");
        assert!(
            digest_note(&v, DiscordMessage::text(&"n".repeat(3000)))
                .content
                .unwrap()
                .chars()
                .count()
                <= MAX_CONTENT
        );
    }
}
