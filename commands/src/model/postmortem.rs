//! The postmortem draft medic writes when an incident is resolved,
//! following the runbooks' incident report template (Part 4, "Post-Incident
//! Review"): summary; date, duration, severity, services; timeline; root
//! cause; impact; resolution; action items; lessons learned.
//!
//! It is a draft: what medic knows is filled in (the alert, its repeats,
//! the timeline, time to acknowledge and to resolve, the actions run, the
//! likely cause with its evidence — marked as medic's hypothesis), what only
//! people know is marked "to fill". It is drawn once as Markdown (`medic
//! incident show ID --markdown`, for the team's wiki) and once for chat.

use time::OffsetDateTime;

use super::inbound::Platform;
use super::incident::IncidentView;
use super::timeline::{Entry, EventKind};
use crate::format::human_age;

/// What people fill in where medic cannot know.
// NOTE: shown in chat.
pub const TO_FILL: &str = "_to fill_";

/// One section of the draft: a heading and its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// "Summary", "Timeline" …
    pub heading: &'static str,
    /// Its lines, without list markers for the timeline (they carry their
    /// own).
    pub lines: Vec<String>,
}

/// A postmortem draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// "Incident report: #12 P1 DatabaseConnectionError: too many clients".
    pub title: String,
    /// Date, duration, severity, services, time to acknowledge and resolve.
    pub facts: Vec<(&'static str, String)>,
    /// Summary, timeline, root cause, impact, resolution, action items,
    /// lessons learned.
    pub sections: Vec<Section>,
}

use crate::format::human_span as span;

/// Writes the draft for `incident` from its `timeline` (in order), as of
/// `now` (an incident still open has lasted until now).
pub fn draft(incident: &IncidentView, timeline: &[Entry], now: OffsetDateTime) -> Draft {
    let opened = incident.first_seen;
    let ended = incident.resolved_at;
    let first = |kind: EventKind| timeline.iter().find(|e| e.kind == kind);
    let acked = first(EventKind::Acknowledged)
        .or_else(|| {
            timeline
                .iter()
                .find(|e| e.kind == EventKind::Note && e.text.contains("cknowledged"))
        })
        .map(|e| e.at);
    let mut facts = vec![(
        "Date",
        opened.to_offset(time::UtcOffset::UTC).date().to_string(),
    )];
    facts.push((
        "Duration",
        match ended {
            Some(end) => span(opened, end),
            None => format!("{} so far (still open)", span(opened, now)),
        },
    ));
    facts.push((
        "Severity",
        match incident.priority {
            Some(p) => format!("{} ({})", p.as_str(), p.name()),
            None => TO_FILL.into(),
        },
    ));
    facts.push((
        "Services affected",
        match (&incident.service, &incident.host) {
            (Some(s), Some(h)) => format!("{s} (on {h})"),
            (Some(s), None) => s.clone(),
            (None, Some(h)) => format!("on {h}"),
            (None, None) => TO_FILL.into(),
        },
    ));
    facts.push((
        "Time to acknowledge",
        match acked {
            Some(at) => span(opened, at),
            None => "not acknowledged".into(),
        },
    ));
    facts.push((
        "Time to resolve",
        match ended {
            Some(end) => span(opened, end),
            None => "not resolved".into(),
        },
    ));

    let mut sections = Vec::new();
    let source = first(EventKind::Declared)
        .map(|_| "declared in chat".to_string())
        .unwrap_or_else(|| format!("alert from {}", incident.source.name()));
    let seen = match incident.seen_count {
        0 | 1 => format!("seen once, at {}", crate::format::utc_clock(opened)),
        n => format!(
            "seen {n}× between {} and {}",
            crate::format::utc_clock(opened),
            crate::format::utc_clock(incident.last_seen),
        ),
    };
    let mut summary = vec![format!("{} ({source}), {seen}.", incident.title)];
    if let Some(link) = &incident.link {
        summary.push(format!("At its source: {link}"));
    }
    summary.push(format!("What users saw: {TO_FILL}"));
    sections.push(Section {
        heading: "Summary",
        lines: summary,
    });

    sections.push(Section {
        heading: "Timeline",
        lines: timeline.iter().map(|e| e.headline()).collect(),
    });

    let cause = timeline.iter().rev().find(|e| e.kind == EventKind::Cause);
    sections.push(Section {
        heading: "Root cause",
        lines: match cause {
            Some(c) => {
                let mut lines = vec![format!(
                    "medic's hypothesis, to confirm: {}",
                    c.first_line()
                )];
                lines.extend(c.detail().map(|l| format!("evidence: {l}")));
                lines
            }
            None => vec![format!("{TO_FILL} (medic found no likely cause)")],
        },
    });

    let declared = first(EventKind::Declared).is_some();
    let mut impact = vec![match incident.seen_count {
        _ if declared => "No alert fired: it was declared in chat.".to_string(),
        0 | 1 => "The alert fired once.".to_string(),
        n => format!(
            "The alert fired {n}× over {}.",
            human_age((incident.last_seen - opened).whole_seconds().max(0) as u64)
        ),
    }];
    impact.push(format!(
        "Requests failed, users affected, data lost: {TO_FILL}"
    ));
    sections.push(Section {
        heading: "Impact",
        lines: impact,
    });

    let actions: Vec<String> = timeline
        .iter()
        .filter(|e| e.kind == EventKind::Action && e.text.contains("succeeded"))
        .map(|e| e.first_line().to_string())
        .collect();
    let mut resolution = if actions.is_empty() {
        vec![format!("No action was run from medic. {TO_FILL}")]
    } else {
        actions
    };
    if let Some(r) = timeline
        .iter()
        .rev()
        .find(|e| e.kind == EventKind::Resolved)
    {
        resolution.push(r.first_line().to_string());
    }
    sections.push(Section {
        heading: "Resolution",
        lines: resolution,
    });
    sections.push(Section {
        heading: "Action items",
        lines: vec!["[ ] ".to_string() + TO_FILL],
    });
    sections.push(Section {
        heading: "Lessons learned",
        lines: vec![TO_FILL.into()],
    });
    Draft {
        title: format!(
            "Incident report: #{} {}{}",
            incident.id,
            incident.level_prefix(),
            incident.title
        ),
        facts,
        sections,
    }
}

impl Draft {
    /// The draft as a Markdown document, for a wiki or a postmortem
    /// repository.
    pub fn markdown(&self) -> String {
        let mut out = format!("# {}\n\n", self.title);
        for (name, value) in &self.facts {
            out.push_str(&format!("**{name}**: {value}  \n"));
        }
        for s in &self.sections {
            out.push_str(&format!("\n## {}\n", s.heading));
            for line in &s.lines {
                out.push_str(&format!("- {line}\n"));
            }
        }
        out
    }

    /// The draft as a chat message's text on `platform`: bold headings in
    /// its own markup, the same lines.
    // NOTE: shown in chat.
    pub fn chat(&self, platform: Platform) -> String {
        let bold = |t: &str| match platform {
            Platform::Slack => format!("*{t}*"),
            Platform::Discord => format!("**{t}**"),
            Platform::Console => t.to_uppercase(),
        };
        let mut out = format!("📝 {} (draft)\n", bold(&self.title));
        for (name, value) in &self.facts {
            out.push_str(&format!("{}: {value}\n", bold(name)));
        }
        for s in &self.sections {
            out.push_str(&format!("\n{}\n", bold(s.heading)));
            for line in &s.lines {
                out.push_str(&format!("• {line}\n"));
            }
        }
        out.trim_end().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::alert::{AlertSource, Severity};
    use crate::model::inbound::Actor;
    use crate::model::incident::IncidentState;
    use crate::model::priority::Priority;

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_765_000_000 + secs).unwrap()
    }

    fn incident() -> IncidentView {
        IncidentView {
            id: 12,
            source: AlertSource::PagerDuty,
            state: IncidentState::Resolved,
            title: "Checkout latency above 2 s".into(),
            severity: Severity::Critical,
            service: Some("checkout".into()),
            host: None,
            link: Some("https://acme.pagerduty.com/incidents/PGR0VU2".into()),
            seen_count: 3,
            first_seen: at(0),
            last_seen: at(600),
            resolved_at: Some(at(3900)),
            priority: Some(Priority::P1),
            acked_by: None,
        }
    }

    fn entry(secs: i64, kind: EventKind, text: &str, actor: Option<&str>) -> Entry {
        Entry {
            at: at(secs),
            kind,
            actor: actor.map(|a| Actor {
                id: a.into(),
                name: a.into(),
            }),
            text: text.into(),
        }
    }

    fn timeline() -> Vec<Entry> {
        vec![
            entry(0, EventKind::Alert, "Alert from PagerDuty", None),
            entry(
                60,
                EventKind::Cause,
                "Connection pool exhausted (high)\nFATAL: too many clients\npg: 97/100 connections",
                None,
            ),
            entry(300, EventKind::Acknowledged, "Acknowledged", Some("alice")),
            entry(
                900,
                EventKind::Action,
                "postgres.terminate_idle on db: succeeded",
                Some("bob"),
            ),
            entry(3900, EventKind::Resolved, "Resolved", Some("alice")),
        ]
    }

    #[test]
    fn the_draft_says_what_medic_knows_and_marks_what_it_cannot() {
        let d = draft(&incident(), &timeline(), at(4000));
        let md = d.markdown();
        assert!(
            md.starts_with("# Incident report: #12 P1 Checkout latency above 2 s\n"),
            "{md}"
        );
        for want in [
            "**Duration**: 1 h 5 min",
            "**Severity**: P1 (High)",
            "**Services affected**: checkout",
            "**Time to acknowledge**: 5 min 0 s",
            "**Time to resolve**: 1 h 5 min",
            "## Timeline\n- `2025-12-06 05:46:40` 🚨 Alert from PagerDuty\n",
            "- medic's hypothesis, to confirm: Connection pool exhausted (high)",
            "- evidence: FATAL: too many clients",
            "- evidence: pg: 97/100 connections",
            "## Resolution\n- postgres.terminate_idle on db: succeeded\n- Resolved\n",
            "What users saw: _to fill_",
            "## Action items\n- [ ] _to fill_",
        ] {
            assert!(md.contains(want), "missing {want:?} in\n{md}");
        }
        // The timeline lists the cause's headline, not its evidence.
        let timeline_part = md.split("## Root cause").next().unwrap();
        assert!(!timeline_part.contains("97/100"), "{timeline_part}");
    }

    #[test]
    fn without_a_likely_cause_or_an_ack_the_draft_says_so() {
        let t: Vec<Entry> = timeline()
            .into_iter()
            .filter(|e| !matches!(e.kind, EventKind::Cause | EventKind::Acknowledged))
            .collect();
        let md = draft(&incident(), &t, at(4000)).markdown();
        assert!(
            md.contains("## Root cause\n- _to fill_ (medic found no likely cause)"),
            "{md}"
        );
        assert!(
            md.contains("**Time to acknowledge**: not acknowledged"),
            "{md}"
        );
    }

    #[test]
    fn chat_headings_use_the_platforms_markup() {
        let d = draft(&incident(), &timeline(), at(4000));
        assert!(d.chat(Platform::Slack).contains("\n*Root cause*\n"));
        assert!(d.chat(Platform::Discord).contains("\n**Root cause**\n"));
        assert!(d.chat(Platform::Console).contains("\nROOT CAUSE\n"));
    }
}
