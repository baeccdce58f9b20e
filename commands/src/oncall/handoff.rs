//! The handoff digest as data: what the incoming person needs at a shift
//! change — what is still burning, what waits on someone, what happened
//! during the shift — and the lines every platform draws it from.
//!
//! It is stored with the handoff (JSON), so that the edit after "I've got
//! it" redraws the same digest with who took it, whatever happened since.

use serde::{Deserialize, Serialize};

use crate::model::alert::Severity;

/// One handoff digest, for one platform (mentions are that platform's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffView {
    /// The rotation's name.
    pub rotation: String,
    /// The opaque id the "I've got it" button carries.
    pub button: String,
    /// Who hands over (a mention), when anyone held the pager before.
    pub outgoing: Option<String>,
    /// Who takes over (a mention).
    pub incoming: String,
    /// When, in the rotation's zone (`Mon 7 Dec 09:00 CET`).
    pub when: String,
    /// Who asked for it with `/handoff` (a mention); `None` when scheduled.
    pub asked_by: Option<String>,
    /// Incidents still open, most severe and oldest first.
    pub open: Vec<OpenIncident>,
    /// Remediation requests waiting for approval.
    pub pending: Vec<PendingApproval>,
    /// Remediations run during the shift.
    pub actions: Vec<ActionRun>,
    /// What the shift saw.
    pub shift: ShiftCounts,
    /// Who took the pager with the button, and when.
    pub taken: Option<Taken>,
}

/// An incident still open at the handoff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenIncident {
    /// medic's incident number.
    pub id: i64,
    /// Its worst severity.
    pub severity: Severity,
    /// Its P-level.
    #[serde(default)]
    pub priority: Option<crate::model::priority::Priority>,
    /// Its title.
    pub title: String,
    /// How long it has been open (`2 h`).
    pub age: String,
    /// medic's likely cause, one line.
    pub cause: Option<String>,
    /// Its thread, when the platform links threads.
    pub link: Option<String>,
}

/// A request waiting for approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingApproval {
    /// The action's title.
    pub title: String,
    /// The target.
    pub target: String,
    /// Who asked (their name).
    pub requester: String,
    /// When it expires, in the rotation's zone (`09:10`).
    pub expires: String,
}

/// A remediation that ran during the shift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRun {
    /// The action's title.
    pub title: String,
    /// The target.
    pub target: String,
    /// `succeeded`, `failed`, `skipped`.
    pub outcome: String,
    /// Who asked for it.
    pub requester: String,
}

/// Counts over the shift.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShiftCounts {
    /// Alerts received.
    pub alerts: i64,
    /// Incidents opened.
    pub opened: i64,
    /// Incidents resolved.
    pub resolved: i64,
    /// The noisiest alert sources: (source, alerts), most first.
    pub sources: Vec<(String, i64)>,
}

/// The press of "I've got it".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Taken {
    /// Who (a mention).
    pub by: String,
    /// When, in the rotation's zone (`09:02`).
    pub at: String,
}

/// One part of the digest: a heading, its lines, and how many more lines
/// there were than fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// `Open (2)`.
    pub heading: String,
    /// The lines shown.
    pub lines: Vec<String>,
    /// Lines left out (they go in the digest's thread).
    pub more: usize,
}

/// The symbol for a severity; the word follows it, colour never carries
/// meaning alone.
pub fn symbol(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::Error => "🔴",
        Severity::Warning => "🟠",
        Severity::Info => "⚪",
    }
}

impl HandoffView {
    /// `Handoff: @alice → @bob · Mon 7 Dec 09:00 CET`.
    pub fn headline(&self) -> String {
        let who = match &self.outgoing {
            Some(o) => format!("{o} → {}", self.incoming),
            None => format!("→ {}", self.incoming),
        };
        format!("Handoff *{}*: {who} · {}", self.rotation, self.when)
    }

    /// The parts, each at most `max` lines; `link(url, text)` draws a link
    /// the platform's way.
    pub fn parts(&self, max: usize, link: &dyn Fn(&str, &str) -> String) -> Vec<Part> {
        self.all_lines(link)
            .into_iter()
            .map(|(heading, lines)| {
                let more = lines.len().saturating_sub(max);
                Part {
                    heading,
                    lines: lines.into_iter().take(max).collect(),
                    more,
                }
            })
            .collect()
    }

    /// The lines left out of [`HandoffView::parts`] at `max`, under their
    /// headings: the digest's overflow, for its thread. Empty when all fit.
    pub fn overflow(&self, max: usize, link: &dyn Fn(&str, &str) -> String) -> Vec<String> {
        let mut out = Vec::new();
        for (heading, lines) in self.all_lines(link) {
            if lines.len() > max {
                out.push(format!("{heading}, continued:"));
                out.extend(lines.into_iter().skip(max));
            }
        }
        out
    }

    fn all_lines(&self, link: &dyn Fn(&str, &str) -> String) -> Vec<(String, Vec<String>)> {
        let mut parts = Vec::new();
        let open: Vec<String> = self
            .open
            .iter()
            .map(|i| {
                let name = format!("#{} {}", i.id, i.title);
                let name = match &i.link {
                    Some(url) => link(url, &name),
                    None => name,
                };
                let level = match i.priority {
                    Some(p) => p.as_str(),
                    None => crate::model::word::Word::as_str(i.severity),
                };
                let mut line = format!("{} {level} {name} · open {}", symbol(i.severity), i.age);
                if let Some(c) = &i.cause {
                    line.push_str(&format!(" · likely: {c}"));
                }
                line
            })
            .collect();
        parts.push((
            if open.is_empty() {
                "Open: none".to_string()
            } else {
                format!("Open ({})", open.len())
            },
            open,
        ));
        if !self.pending.is_empty() {
            parts.push((
                format!("Waiting for approval ({})", self.pending.len()),
                self.pending
                    .iter()
                    .map(|p| {
                        format!(
                            "{} on `{}` — asked by {}, expires {}",
                            p.title, p.target, p.requester, p.expires
                        )
                    })
                    .collect(),
            ));
        }
        let s = &self.shift;
        let mut during = vec![format!(
            "{} alert{} · {} incident{} opened, {} resolved",
            s.alerts,
            plural(s.alerts),
            s.opened,
            plural(s.opened),
            s.resolved
        )];
        if !s.sources.is_empty() {
            during.push(format!(
                "Noisiest: {}",
                s.sources
                    .iter()
                    .map(|(src, n)| format!("{src} ({n})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !self.actions.is_empty() {
            let ok = self
                .actions
                .iter()
                .filter(|a| a.outcome == "succeeded")
                .count();
            during.push(format!(
                "{} action{} run ({ok} ok):",
                self.actions.len(),
                plural(self.actions.len() as i64)
            ));
            during.extend(self.actions.iter().map(|a| {
                format!(
                    "• {} on `{}` — {} (asked by {})",
                    a.title, a.target, a.outcome, a.requester
                )
            }));
        }
        parts.push(("During the shift".to_string(), during));
        parts
    }

    /// The line under the digest: who took it, or who should.
    pub fn footer(&self) -> String {
        match &self.taken {
            Some(t) => format!("✅ Taken by {} at {}", t.by, t.at),
            None => format!(
                "{}: press *I've got it* to take the pager.{}",
                self.incoming,
                self.asked_by
                    .as_ref()
                    .map(|a| format!(" (asked for by {a})"))
                    .unwrap_or_default()
            ),
        }
    }

    /// The view with every free text (titles, causes, targets, names,
    /// sources) passed through `escape`, the platform's; mentions and
    /// links are left as they are.
    pub fn escaped(&self, escape: &dyn Fn(&str) -> String) -> HandoffView {
        let mut v = self.clone();
        v.rotation = escape(&v.rotation);
        for i in &mut v.open {
            i.title = escape(&i.title);
            i.cause = i.cause.as_deref().map(escape);
        }
        for p in &mut v.pending {
            p.title = escape(&p.title);
            p.target = escape(&p.target);
            p.requester = escape(&p.requester);
        }
        for a in &mut v.actions {
            a.title = escape(&a.title);
            a.target = escape(&a.target);
            a.requester = escape(&a.requester);
        }
        for (src, _) in &mut v.shift.sources {
            *src = escape(src);
        }
        v
    }

    /// Whether the button is still offered.
    pub fn open_for_taking(&self) -> bool {
        self.taken.is_none()
    }
}

fn plural(n: i64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> HandoffView {
        HandoffView {
            rotation: "db".into(),
            button: "b1".into(),
            outgoing: Some("@alice".into()),
            incoming: "@bob".into(),
            when: "Mon 7 Dec 09:00 CET".into(),
            asked_by: None,
            open: (1..=4)
                .map(|i| OpenIncident {
                    id: i,
                    severity: Severity::Error,
                    priority: (i == 1).then_some(crate::model::priority::Priority::P1),
                    title: format!("Incident {i}"),
                    age: "2 h".into(),
                    cause: (i == 1).then(|| "Redis restarted by an upgrade".into()),
                    link: (i == 1).then(|| "https://x/1".into()),
                })
                .collect(),
            pending: vec![PendingApproval {
                title: "Restart worker".into(),
                target: "worker".into(),
                requester: "alice".into(),
                expires: "09:10".into(),
            }],
            actions: vec![ActionRun {
                title: "Terminate idle".into(),
                target: "pg".into(),
                outcome: "succeeded".into(),
                requester: "alice".into(),
            }],
            shift: ShiftCounts {
                alerts: 14,
                opened: 5,
                resolved: 3,
                sources: vec![("sentry".into(), 10), ("alertmanager".into(), 4)],
            },
            taken: None,
        }
    }

    #[test]
    fn parts_cap_their_lines_and_the_rest_is_overflow() {
        let v = view();
        let link = |url: &str, text: &str| format!("[{text}]({url})");
        let parts = v.parts(3, &link);
        assert_eq!(parts[0].heading, "Open (4)");
        assert_eq!(parts[0].lines.len(), 3);
        assert_eq!(parts[0].more, 1);
        assert_eq!(
            parts[0].lines[0],
            "🔴 P1 [#1 Incident 1](https://x/1) · open 2 h · likely: Redis restarted by an upgrade"
        );
        assert_eq!(parts[1].heading, "Waiting for approval (1)");
        assert_eq!(
            parts[2].lines,
            vec![
                "14 alerts · 5 incidents opened, 3 resolved",
                "Noisiest: sentry (10), alertmanager (4)",
                "1 action run (1 ok):",
            ]
        );
        assert_eq!(parts[2].more, 1);
        let over = v.overflow(3, &link);
        assert_eq!(over[0], "Open (4), continued:");
        assert!(over[1].contains("#4 Incident 4"));
        assert!(over.iter().any(|l| l.contains("Terminate idle")));
        assert!(v.overflow(10, &link).is_empty());
    }

    #[test]
    fn headline_and_footer_say_who_and_whether_taken() {
        let mut v = view();
        assert_eq!(
            v.headline(),
            "Handoff *db*: @alice → @bob · Mon 7 Dec 09:00 CET"
        );
        assert_eq!(v.footer(), "@bob: press *I've got it* to take the pager.");
        v.taken = Some(Taken {
            by: "@bob".into(),
            at: "09:02".into(),
        });
        assert_eq!(v.footer(), "✅ Taken by @bob at 09:02");
        assert!(!v.open_for_taking());
    }
}
