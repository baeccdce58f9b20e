//! Purpose: the verdict an experienced engineer gives before opening a
//! terminal — "the openssl upgrade three minutes before did it, and it heals
//! itself" — with the lines that prove it, or a plain "no likely cause
//! found". Pure: every input is a value, so every rule is unit-tested.
//!
//! Order of the rules:
//!
//! 1. Several incidents naming one host within the correlation window, and
//!    this error is not an application bug: one infrastructure event.
//! 2. A knowledge pattern matched (innermost exception first): its cause,
//!    backed by the best timeline event (an event the pattern names beats a
//!    merely high-impact one; closer beats farther) and by diagnostic
//!    findings the pattern names.
//! 3. No pattern, but a change that takes services down came just before:
//!    that change, at low confidence, said as a candidate.
//! 4. Otherwise: no likely cause — never a guess.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::chain::Link;
use super::correlation::Correlated;
use super::knowledge::{Category, Knowledge};
use super::patterns::{self, Place};
use super::quoted;
use super::timeline::{self, Event};
use crate::model::report::{Report, Status};

/// Timeline events quoted as evidence, at most.
const MAX_EVENT_LINES: usize = 3;

/// How sure medic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// One hint only.
    Low,
    /// The error text is known, nothing else confirms it.
    Medium,
    /// The error text and an independent fact (a timeline event, a finding,
    /// another incident) agree.
    High,
}

impl Confidence {
    /// The word shown in chat.
    // NOTE: shown in chat.
    pub fn word(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// A likely cause with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LikelyCause {
    /// The cause, one or two sentences.
    pub cause: String,
    /// What kind of trouble, when a pattern or the correlation rule said.
    pub category: Option<Category>,
    /// The knowledge pattern that matched, or `correlation`.
    pub rule: Option<String>,
    /// The lines that prove it: the error, the apt line, the kernel line,
    /// the uptime, the release, the other incident.
    pub evidence: Vec<String>,
    /// How sure.
    pub confidence: Confidence,
    /// Why that confidence.
    pub why: String,
    /// It recovers on its own.
    pub self_healing: bool,
    /// What to check or do next.
    pub next_check: String,
    /// Remediations to offer, by name (#6 builds them).
    pub actions: Vec<String>,
}

impl LikelyCause {
    /// Its timeline entry: the cause and how sure on the first line, its
    /// evidence on the next ones.
    // NOTE: shown in chat.
    pub fn timeline_text(&self) -> String {
        let mut text = format!(
            "Likely cause ({} confidence): {}",
            self.confidence.word(),
            self.cause
        );
        for line in &self.evidence {
            text.push('\n');
            text.push_str(line);
        }
        text
    }
}

/// The verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Triage {
    /// A likely cause.
    Likely(LikelyCause),
    /// Nothing known explains it; what was looked at.
    NoLikelyCause {
        /// What was looked at, for the reader to trust the "no".
        looked_at: Vec<String>,
    },
}

/// Everything the verdict is drawn from.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The knowledge.
    pub knowledge: &'a Knowledge,
    /// The exception chain, innermost first (empty when the source has none).
    pub chain: &'a [Link],
    /// The alert's title.
    pub title: &'a str,
    /// When the first error happened.
    pub first_error: OffsetDateTime,
    /// Changes on the hosts and services involved.
    pub events: &'a [Event],
    /// The runbook's diagnostic reports.
    pub reports: &'a [Report],
    /// Other incidents that are the same event.
    pub correlated: &'a [Correlated],
    /// How far back events count.
    pub timeline_window: Duration,
    /// What went wrong when there is no alert: a restart a `/diag` found on
    /// its targets' timeline ([`super::symptom`]). `first_error` is its time,
    /// and the verdict speaks of it rather than of "the first error".
    pub symptom: Option<&'a Event>,
}

/// The verdict for `input`; see the module docs for the rules.
pub fn decide(input: &Input) -> Triage {
    let k = input.knowledge;
    // A /diag's symptom is a restart; its findings' own words are not
    // read as the error (README, "Triage").
    let quotes = match input.symptom {
        None => quoted::quotes(input.reports),
        Some(_) => Vec::new(),
    };
    let hit = patterns::find_in(k, input.chain, &quotes, input.title);
    let pattern = hit.as_ref().map(|m| m.pattern);
    let ranked = timeline::rank(
        k,
        pattern,
        input.events,
        input.first_error,
        input.timeline_window,
    );
    let best = ranked.first();
    let first_error_words = match input.symptom {
        Some(s) => s.as_symptom(),
        None => "the first error".to_string(),
    };
    let relative = |e: &Event| e.relative_to(input.first_error, &first_error_words);
    let error_line = match &hit {
        _ if input.symptom.is_some() => {
            let s = input.symptom.expect("checked");
            format!("{}: {}", s.describe(), s.evidence)
        }
        Some(m) => match m.place {
            Place::Chain(0) if input.chain.len() > 1 => format!(
                "Error (innermost of {} chained exceptions): {}",
                input.chain.len(),
                m.matched
            ),
            Place::Chain(d) if d > 0 => {
                format!("Error (chained exception {}): {}", d + 1, m.matched)
            }
            // A diagnostic's quote already names its target and place.
            Place::Quote => m.matched.clone(),
            Place::Chain(_) | Place::Title => format!("Error: {}", m.matched),
        },
        None => format!("Error: {}", input.title),
    };
    let event_line = |r: &timeline::Ranked| {
        format!(
            "{} ({}): {}",
            r.event.describe(),
            relative(r.event),
            r.event.evidence
        )
    };
    let application = pattern.is_some_and(|p| p.category == Category::Application);

    // 1. One host, several incidents.
    if !input.correlated.is_empty() && !application {
        let host = &input.correlated[0].host;
        let c = &k.correlation;
        let mut evidence = vec![error_line];
        for other in input.correlated {
            evidence.push(format!(
                "Incident #{} ({}{}): {} — names {} too, {} apart",
                other.peer.id,
                other.peer.source,
                other
                    .peer
                    .service
                    .as_deref()
                    .map(|s| format!(", {s}"))
                    .unwrap_or_default(),
                other.peer.title,
                other.host,
                crate::format::human_age(other.apart.as_secs()),
            ));
        }
        let mut cause = format!("{} — host {host}", c.cause);
        let confidence = if let Some(r) = best {
            cause.push_str(&format!(
                ". Just before: {} ({})",
                r.event.describe(),
                relative(r.event)
            ));
            evidence.push(event_line(r));
            Confidence::High
        } else {
            Confidence::Medium
        };
        let n = input.correlated.len() + 1;
        let why = match best {
            Some(_) => format!(
                "{n} incidents from different services name {host} at the same time, and the host's timeline shows a change just before"
            ),
            None => format!(
                "{n} incidents from different services name {host} at the same time; no change on the timeline says which event"
            ),
        };
        return Triage::Likely(LikelyCause {
            cause,
            category: Some(Category::Infrastructure),
            rule: Some("correlation".into()),
            evidence,
            confidence,
            why,
            self_healing: c.self_healing,
            next_check: c.next_check.clone(),
            actions: c.actions.clone(),
        });
    }

    // 2. A known error.
    if let Some(m) = &hit {
        let p = m.pattern;
        let confirming: Vec<String> = input
            .reports
            .iter()
            .flat_map(|r| r.findings.iter().map(move |f| (r, f)))
            .filter(|(_, f)| f.status >= Status::Warn && p.confirmed_by.contains(&f.check))
            .map(|(r, f)| format!("{}: {}", r.target.name, f.summary))
            .collect();
        let mut evidence = vec![error_line];
        evidence.extend(m.also.clone());
        let mut cause = p.cause.clone();
        if let Some(r) = best {
            cause.push_str(&format!(
                ". On the timeline: {} ({})",
                r.event.describe(),
                relative(r.event)
            ));
            // One upgrade often changes several of the packages named
            // (libssl3t64 and openssl): show each, up to three.
            evidence.extend(
                ranked
                    .iter()
                    .take_while(|o| o.specificity == r.specificity)
                    .take(MAX_EVENT_LINES)
                    .map(event_line),
            );
        }
        // The finding that was quoted may confirm the cause too: once.
        for line in &confirming {
            if !evidence.contains(line) {
                evidence.push(line.clone());
            }
        }
        let explained = best.is_some_and(|r| r.specificity >= 3);
        let (confidence, why) = match (explained, best, confirming.is_empty()) {
            (true, Some(r), _) => (
                Confidence::High,
                format!(
                    "the error is the known sign of this cause, and \"{}\" {} is exactly the change that produces it",
                    r.event.describe(),
                    relative(r.event)
                ),
            ),
            (_, _, false) => (
                Confidence::High,
                "the error is the known sign of this cause, and the diagnostics confirm it".into(),
            ),
            (false, Some(_), true) => (
                Confidence::Medium,
                "the error is the known sign of this cause; the change before it may explain it but is not the usual trigger".into(),
            ),
            _ if m.place != Place::Title => (
                Confidence::Medium,
                "the error is the known sign of this cause; nothing on the timeline or in the diagnostics confirms it yet".into(),
            ),
            _ => (
                Confidence::Low,
                "only the alert's title matches; no exception, timeline event or finding confirms it".into(),
            ),
        };
        return Triage::Likely(LikelyCause {
            cause,
            category: Some(p.category),
            rule: Some(p.id.clone()),
            evidence,
            confidence,
            why,
            self_healing: p.self_healing,
            next_check: p.next_check.clone(),
            actions: p.actions.clone(),
        });
    }

    // 3. No known error, but a change that takes services down.
    if let (Some(r), Some(_)) = (best, input.symptom) {
        // A diagnosis saw a service restart: the change just before it,
        // evidence in the order things happened. A container restarted by
        // a deploy does not heal by itself if the new image is broken.
        let container = input
            .symptom
            .is_some_and(|s| matches!(s.kind, timeline::EventKind::ContainerStart { .. }));
        let mut evidence: Vec<String> = ranked
            .iter()
            .take_while(|o| o.specificity == r.specificity)
            .take(MAX_EVENT_LINES)
            .map(event_line)
            .collect();
        evidence.reverse();
        evidence.push(error_line);
        let impact = match &r.event.kind {
            timeline::EventKind::Package { name, .. } => k.package_impact(name),
            _ => None,
        };
        // One upgrade often changes several high-impact packages at once
        // (libssl3 and openssl): name them together.
        let mut upgraded: Vec<&str> = ranked
            .iter()
            .take_while(|o| o.specificity == r.specificity)
            .filter(|o| o.event.at == r.event.at && o.event.place == r.event.place)
            .filter_map(|o| match &o.event.kind {
                timeline::EventKind::Package { name, action, .. } if action == "Upgrade" => {
                    Some(name.as_str())
                }
                _ => None,
            })
            .collect();
        upgraded.sort_unstable();
        upgraded.dedup();
        let change = if upgraded.len() > 1 {
            format!("{} upgraded on {}", upgraded.join(" and "), r.event.place)
        } else {
            r.event.describe()
        };
        return Triage::Likely(LikelyCause {
            cause: format!("{change}, {}", relative(r.event)),
            category: Some(match r.event.kind {
                timeline::EventKind::Deploy { .. } | timeline::EventKind::Image { .. } => {
                    Category::Deploy
                }
                _ => Category::Infrastructure,
            }),
            rule: None,
            evidence,
            confidence: Confidence::Medium,
            why: match impact {
                Some(i) => format!(
                    "it is the closest change before {first_error_words} on the timeline, and one that takes services down ({i}); no log line says it did"
                ),
                None => format!(
                    "it is the closest change before {first_error_words} on the timeline, and one that takes services down; no log line says it did"
                ),
            },
            self_healing: !container,
            next_check: if container {
                "The container's last lines before it restarted (docker logs --until TIME NAME) against what the new image changed; roll back to the previous image if it keeps failing.".into()
            } else {
                "The service's journal around the restart (journalctl -u UNIT): was it restarted by the change (needrestart, the package's scripts, a reload) or did it crash?".into()
            },
            actions: Vec::new(),
        });
    }
    if let Some(r) = best {
        return Triage::Likely(LikelyCause {
            cause: format!(
                "Unknown error, but {} came {}",
                r.event.describe(),
                r.event.relative(input.first_error)
            ),
            category: None,
            rule: None,
            evidence: vec![error_line, event_line(r)],
            confidence: Confidence::Low,
            why: "no known error pattern matches; this is the closest change before the first error that is known to take services down".into(),
            self_healing: false,
            next_check: "Compare the error with this change: does the failing code talk to what changed?".into(),
            actions: Vec::new(),
        });
    }

    // 4. Nothing.
    let mut looked_at = vec![format!(
        "{} known error patterns against the title{}",
        k.patterns.len(),
        match input.chain.len() {
            0 => String::new(),
            n => format!(" and {n} chained exceptions"),
        }
    )];
    looked_at.push(format!(
        "{} timeline events in the {} before the first error",
        input.events.len(),
        crate::format::human_age(input.timeline_window.as_secs())
    ));
    if !input.reports.is_empty() {
        looked_at.push(format!("{} diagnostic reports", input.reports.len()));
    }
    Triage::NoLikelyCause { looked_at }
}

#[cfg(test)]
mod tests;
