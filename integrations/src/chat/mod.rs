//! Chat platforms, and what their renderers share.

pub mod console;
pub mod discord;
pub mod slack;

use medic_commands::model::inbound::Actor;
use serde::{Deserialize, Serialize};

/// Who asked for a report and how to find it again: the context line under
/// every report ("/diag redis by @alice · 1.4 s · #1187").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The command as typed, e.g. `/diag redis`.
    pub command: String,
    /// Who asked; `None` for local runs and scheduled ones.
    pub actor: Option<Actor>,
    /// The run's record number in medic's database, when it has one.
    pub reference: Option<i64>,
}

/// Shortens `text` to at most `max` characters (not bytes: platforms count
/// characters), ending with `…` when cut. Cuts at a line end when one is
/// close, so evidence stays readable.
pub fn shorten(text: &str, max: usize) -> (String, bool) {
    if text.chars().count() <= max {
        return (text.to_string(), false);
    }
    let keep = max.saturating_sub(1);
    let cut: String = text.chars().take(keep).collect();
    let cut = match cut.rfind('\n') {
        Some(i) if i > cut.len() * 3 / 4 => cut[..i].to_string(),
        _ => cut,
    };
    (format!("{cut}…"), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorten_counts_characters_not_bytes() {
        let text = "🔴".repeat(10);
        assert_eq!(shorten(&text, 10), (text.clone(), false));
        let (cut, was_cut) = shorten(&text, 5);
        assert!(was_cut);
        assert_eq!(cut.chars().count(), 5);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn shorten_prefers_a_line_end() {
        let text = format!("{}\n{}", "a".repeat(90), "b".repeat(50));
        let (cut, _) = shorten(&text, 100);
        assert_eq!(cut, format!("{}…", "a".repeat(90)));
    }
}
