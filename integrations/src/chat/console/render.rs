//! Purpose: a [`Report`] as plain text with the same structure as in chat —
//! the symbols, one finding per line, evidence indented — and colour only on
//! a terminal (UX.md, "Terminal and console").

use medic_commands::format::human_duration;
use medic_commands::{Finding, Report, Status};

use crate::chat::Provenance;

/// Whether to colour output (only when writing to a terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// ANSI colour on or off.
    pub color: bool,
}

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn status(self, s: Status) -> String {
        let code = match s {
            Status::Ok => "32",
            Status::Unknown => "2",
            Status::Warn => "33",
            Status::Critical => "1;31",
        };
        self.paint(code, s.word())
    }

    fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }

    fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }
}

/// The root message: status line and headline.
pub fn root(report: &Report, style: Style) -> String {
    root_with(report, style, &report.headline())
}

/// [`root`] with another second line (a likely cause).
pub fn root_with(report: &Report, style: Style, headline: &str) -> String {
    let status = report.status();
    format!(
        "{} {} ({}) — {} · {} · {}\n{}",
        status.symbol(),
        style.bold(&report.target.name),
        report.target.location,
        style.status(status),
        report.counts(),
        human_duration(report.elapsed),
        headline
    )
}

fn finding(f: &Finding, style: Style, indent: &str, out: &mut String) {
    let summary = if f.status == Status::Ok {
        f.summary.clone()
    } else {
        style.bold(&f.summary)
    };
    out.push_str(&format!("{indent}{} {summary}\n", f.status.symbol()));
    for line in &f.detail {
        out.push_str(&format!("{indent}   {line}\n"));
    }
    if let Some(evidence) = &f.evidence {
        for line in evidence.lines() {
            out.push_str(&format!("{indent}   {}\n", style.dim(&format!("│ {line}"))));
        }
    }
}

/// The findings, worst first, and the context line.
pub fn details(report: &Report, prov: Option<&Provenance>, style: Style, indent: &str) -> String {
    let mut out = String::new();
    for f in &report.findings {
        finding(f, style, indent, &mut out);
    }
    if let Some(p) = prov {
        let mut ctx = p.command.clone();
        if let Some(a) = &p.actor {
            ctx.push_str(&format!(" by @{}", a.name));
        }
        ctx.push_str(&format!(" · {}", human_duration(report.elapsed)));
        if let Some(r) = p.reference {
            ctx.push_str(&format!(" · #{r}"));
        }
        out.push_str(&format!("{indent}{}\n", style.dim(&ctx)));
    }
    out
}

/// A whole report for `medic diag`: root, a blank line, the details.
pub fn report(report: &Report, prov: Option<&Provenance>, style: Style) -> String {
    format!(
        "{}\n\n{}",
        root(report, style),
        details(report, prov, style, "")
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use medic_commands::TargetRef;

    use super::*;

    fn sample() -> Report {
        Report::new(
            TargetRef {
                name: "redis".into(),
                kind: "redis".into(),
                location: "127.0.0.1:6399".into(),
            },
            vec![
                Finding::ok("redis.ping", "PING answered in 0.20 ms"),
                Finding::critical(
                    "redis.reach",
                    "Connection refused by 127.0.0.1:6399 after 0 ms",
                )
                .with_detail("Is redis-server running?")
                .with_evidence("Connection refused (os error 111)"),
            ],
            Duration::from_millis(3),
        )
    }

    #[test]
    fn plain_text_has_symbols_and_no_colour_codes() {
        let text = report(&sample(), None, Style { color: false });
        assert_eq!(
            text,
            "🔴 redis (127.0.0.1:6399) — critical · 1 problem, 1 check ok · 3 ms\n\
             Connection refused by 127.0.0.1:6399 after 0 ms\n\n\
             🔴 Connection refused by 127.0.0.1:6399 after 0 ms\n   Is redis-server running?\n   │ Connection refused (os error 111)\n\
             🟢 PING answered in 0.20 ms\n"
        );
    }

    #[test]
    fn colour_only_when_asked() {
        assert!(report(&sample(), None, Style { color: true }).contains("\x1b[1;31mcritical"));
    }
}
