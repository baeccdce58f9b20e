//! Purpose: the quick-reference tables of the runbooks, applied — find the
//! knowledge pattern an error matches, looking at the innermost exception
//! first (the root cause), then outward, then at what the diagnostics
//! quoted (a crashed container's log, its termination reason), then at the
//! alert's title.

use super::chain::Link;
use super::knowledge::{Field, Knowledge, Pattern};
use super::quoted::Quote;

/// Where a pattern matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A link of the exception chain: 0 is the innermost.
    Chain(usize),
    /// A text a diagnostic quoted.
    Quote,
    /// The alert's title.
    Title,
}

/// A pattern that matched, and the text it matched in.
#[derive(Debug, Clone)]
pub struct Match<'k> {
    /// The pattern.
    pub pattern: &'k Pattern,
    /// The exception (`Type: message`), the quote's evidence line, or the
    /// title it matched.
    pub matched: String,
    /// Where.
    pub place: Place,
    /// A second line of evidence that goes with the match (a quoted
    /// finding's own evidence).
    pub also: Option<String>,
}

/// The first pattern that matches, innermost link first; patterns are tried
/// in the knowledge's order on each link before moving outward, so the root
/// cause wins over the wrapper that surfaced it.
pub fn find<'k>(knowledge: &'k Knowledge, chain: &[Link], title: &str) -> Option<Match<'k>> {
    find_in(knowledge, chain, &[], title)
}

/// [`find`] with the diagnostics' quotes read after the chain and before
/// the title: an alert with no exception (Alertmanager) is explained by
/// what its runbook's targets saw before its title's generic words.
pub fn find_in<'k>(
    knowledge: &'k Knowledge,
    chain: &[Link],
    quotes: &[Quote],
    title: &str,
) -> Option<Match<'k>> {
    for (depth, link) in chain.iter().enumerate() {
        for p in &knowledge.patterns {
            let on_type = p.looks_at(Field::Type) && p.regex.is_match(&link.kind);
            let on_message = p.looks_at(Field::Message) && p.regex.is_match(&link.message);
            // Some messages only make sense with their type ("TypeError:
            // x is not a function"): try the headline too when both are read.
            let on_both = p.looks_at(Field::Type)
                && p.looks_at(Field::Message)
                && p.regex.is_match(&link.headline());
            if on_type || on_message || on_both {
                return Some(Match {
                    pattern: p,
                    matched: link.headline(),
                    place: Place::Chain(depth),
                    also: None,
                });
            }
        }
    }
    for q in quotes {
        if let Some(p) = knowledge
            .patterns
            .iter()
            .find(|p| p.looks_at(Field::Message) && p.regex.is_match(&q.text))
        {
            return Some(Match {
                pattern: p,
                matched: q.shown.clone(),
                place: Place::Quote,
                also: q.also.clone(),
            });
        }
    }
    knowledge
        .patterns
        .iter()
        .find(|p| p.looks_at(Field::Title) && p.regex.is_match(title))
        .map(|p| Match {
            pattern: p,
            matched: title.to_string(),
            place: Place::Title,
            also: None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(kind: &str, message: &str) -> Link {
        Link {
            kind: kind.into(),
            message: message.into(),
        }
    }

    #[test]
    fn the_innermost_link_wins() {
        let k = Knowledge::builtin();
        // The runbook's own example chain, oldest (innermost) first.
        let chain = [
            link(
                "PG::ConnectionBad",
                "terminating connection due to administrator command",
            ),
            link("PG::ConnectionBad", "Connection refused"),
            link("ActiveRecord::DatabaseConnectionError", "db"),
        ];
        let m = find(&k, &chain, "ActiveRecord::DatabaseConnectionError").unwrap();
        assert_eq!(m.pattern.id, "admin-command");
        assert_eq!(m.place, Place::Chain(0));
    }

    #[test]
    fn the_title_is_the_last_resort() {
        let k = Knowledge::builtin();
        let m = find(&k, &[link("Weird", "nothing known")], "Disk full on db-1").unwrap();
        assert_eq!(m.pattern.id, "disk-full");
        assert_eq!(m.place, Place::Title);
        assert!(find(&k, &[], "Something odd happened").is_none());
    }

    #[test]
    fn a_type_error_is_an_application_bug() {
        let k = Knowledge::builtin();
        let chain = [link(
            "TypeError",
            "Cannot read properties of undefined (reading 'id')",
        )];
        let m = find(&k, &chain, "TypeError: Cannot read properties of undefined").unwrap();
        assert_eq!(m.pattern.id, "application-bug");
    }
}
