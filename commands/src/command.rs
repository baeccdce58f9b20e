//! The chat grammar: what a person may type after the slash.
//!
//! It is declared once as data ([`COMMANDS`]) so that the help text, the
//! Slack app manifest and Discord's command registration all come from the
//! same place. Parsing is deliberately small: chat text is a handful of
//! words, and the errors must read well in a chat message, not a terminal.

use std::borrow::Cow;
use std::fmt;

use crate::model::incident::Response;
use crate::model::priority::Priority;

/// One command medic understands, as people see it in help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    /// The command word (`diag`), typed as `/diag`.
    pub name: &'static str,
    /// Usage as typed in chat (`/diag TARGET`).
    pub usage: &'static str,
    /// One line on what it does.
    pub about: &'static str,
}

/// Every chat command, in the order help lists them.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "diag",
        usage: "/diag TARGET",
        about: "Run the diagnostics for a target (its name, a kind such as `postgres`, or `all`) and post the report in a thread.",
    },
    CommandSpec {
        name: "oncall",
        usage: "/oncall [ROTATION]",
        about: "Who is on call now and next, for each rotation (or the one named), with shift ends in its time zone.",
    },
    CommandSpec {
        name: "handoff",
        usage: "/handoff [ROTATION]",
        about: "Post the handoff digest for the rotation now, in its channel: open incidents, waiting approvals, what the shift saw.",
    },
    CommandSpec {
        name: "incident",
        usage: "/incident ack|resolve|reopen|sev P0-P3|timeline [#N] · /incident declare TITLE [P0-P3]",
        about: "Run an incident from its thread (or name it, #N): acknowledge, resolve, reopen, change its severity, show its timeline; or declare one.",
    },
    CommandSpec {
        name: "help",
        usage: "/help",
        about: "Show the commands and the targets configured here.",
    },
];

/// A parsed chat command, borrowing the target's name from the text it
/// was typed in when that is already lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatCommand<'a> {
    /// Diagnose the named target.
    Diag {
        /// The target name as typed, lowercased.
        target: Cow<'a, str>,
    },
    /// Who is on call, in every rotation or the one named.
    OnCall {
        /// The rotation as typed, lowercased.
        rotation: Option<Cow<'a, str>>,
    },
    /// Post a rotation's handoff digest now.
    Handoff {
        /// The rotation as typed, lowercased.
        rotation: Option<Cow<'a, str>>,
    },
    /// Run an incident from its thread: `/incident ack|resolve|reopen|sev
    /// P1|timeline [#N]`. `number` is the incident named (`#12`); without
    /// it, the incident whose thread the command was typed in.
    Incident {
        /// What to do.
        action: IncidentAction,
        /// The incident named, if any.
        number: Option<i64>,
    },
    /// `/incident declare TITLE [P0-P3]`: open an incident from chat.
    Declare {
        /// What is wrong, as typed (quotes removed).
        title: String,
        /// Its level, when given.
        level: Option<Priority>,
    },
    /// Show help.
    Help,
}

/// What `/incident` does to an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentAction {
    /// `ack`, `resolve`, `reopen`.
    Respond(Response),
    /// `sev P1`: change its severity level.
    Severity(Priority),
    /// `timeline`: its events in order.
    Timeline,
}

/// Why a chat line is not a command. Each variant is answered with help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The first word is no command medic knows.
    UnknownCommand(String),
    /// `/diag` without a target.
    MissingTarget,
    /// More words than the command takes.
    UnexpectedWords(Vec<String>),
    /// `/incident` without something it understands; says what it needs.
    IncidentUsage(String),
}

impl fmt::Display for ParseError {
    // NOTE: shown in chat.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::UnknownCommand(word) => write!(f, "I don't know the command `{word}`."),
            ParseError::MissingTarget => write!(f, "`/diag` needs a target, e.g. `/diag redis`."),
            ParseError::UnexpectedWords(words) => {
                write!(f, "I didn't understand `{}`.", words.join(" "))
            }
            ParseError::IncidentUsage(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for ParseError {}

impl<'a> ChatCommand<'a> {
    /// Parses a slash command as a platform delivers it: the command as
    /// registered (`/diag`, or an umbrella such as `/medic`) and the text
    /// after it.
    ///
    /// When the slash command itself names a medic command, the text holds
    /// its arguments (`/diag redis`); otherwise the text's first word is the
    /// command (`/medic diag redis`), so teams can register one umbrella
    /// command instead of several.
    ///
    /// Every slash command passes here within the platform's 3 s, so a
    /// well-formed one allocates nothing: its words are split onto the
    /// stack (the grammar takes at most two), and the target is borrowed
    /// from `text` unless it had to be lowercased.
    pub fn parse_slash(slash: &str, text: &'a str) -> Result<ChatCommand<'a>, ParseError> {
        const FEW: usize = 4;
        let mut few = [""; FEW];
        let mut n = 0;
        for word in text.split_whitespace() {
            if n == FEW {
                let all: Vec<&str> = text.split_whitespace().collect();
                return Self::parse_split(slash, &all);
            }
            few[n] = word;
            n += 1;
        }
        Self::parse_split(slash, &few[..n])
    }

    /// [`ChatCommand::parse_slash`] for a command whose text is already
    /// split into words.
    pub fn parse_split(slash: &str, words: &[&'a str]) -> Result<ChatCommand<'a>, ParseError> {
        let name = lowercase(slash.trim().trim_start_matches('/'));
        if COMMANDS.iter().any(|c| c.name == name) {
            Self::parse_words(&name, words)
        } else {
            match words.split_first() {
                None => Ok(ChatCommand::Help),
                Some((first, rest)) => Self::parse_words(&lowercase(first), rest),
            }
        }
    }

    /// Parses a command word and its arguments (`diag`, `["redis"]`).
    pub fn parse_words(name: &str, args: &[&'a str]) -> Result<ChatCommand<'a>, ParseError> {
        let name = name.trim_start_matches('/');
        match name {
            "help" | "?" => Ok(ChatCommand::Help),
            "diag" => match args {
                [] => Err(ParseError::MissingTarget),
                [target] if target.eq_ignore_ascii_case("help") => Ok(ChatCommand::Help),
                [target] => Ok(ChatCommand::Diag {
                    target: lowercase(target),
                }),
                [_, rest @ ..] => Err(ParseError::UnexpectedWords(
                    rest.iter().map(|w| w.to_string()).collect(),
                )),
            },
            "oncall" | "handoff" => {
                let rotation = match args {
                    [] => None,
                    [r] => Some(lowercase(r)),
                    [_, rest @ ..] => {
                        return Err(ParseError::UnexpectedWords(
                            rest.iter().map(|w| w.to_string()).collect(),
                        ));
                    }
                };
                Ok(if name == "oncall" {
                    ChatCommand::OnCall { rotation }
                } else {
                    ChatCommand::Handoff { rotation }
                })
            }
            "incident" => parse_incident(args),
            other => Err(ParseError::UnknownCommand(other.to_string())),
        }
    }
}

/// An incident's number as people write it: `12` or `#12`.
fn incident_number(word: &str) -> Option<i64> {
    word.strip_prefix('#')
        .unwrap_or(word)
        .parse()
        .ok()
        .filter(|n: &i64| *n > 0)
}

/// `/incident`'s words after the command.
fn parse_incident<'a>(args: &[&str]) -> Result<ChatCommand<'a>, ParseError> {
    let usage = |why: &str| {
        ParseError::IncidentUsage(format!(
            "{why} `/incident ack`, `resolve`, `reopen`, `sev P1` or `timeline` in an incident's thread (or add its number, `#12`); `/incident declare TITLE [P0-P3]` to open one."
        ))
    };
    let Some((verb, rest)) = args.split_first() else {
        return Err(usage("What should I do?"));
    };
    let verb = lowercase(verb);
    // The incident's number, and nothing else, after a verb that takes it.
    let number = |rest: &[&str]| -> Result<Option<i64>, ParseError> {
        match rest {
            [] => Ok(None),
            [n] => incident_number(n)
                .map(Some)
                .ok_or_else(|| usage(&format!("`{n}` is not an incident number."))),
            [_, more @ ..] => Err(ParseError::UnexpectedWords(
                more.iter().map(|w| w.to_string()).collect(),
            )),
        }
    };
    let response = match verb.as_ref() {
        "ack" | "acknowledge" => Some(Response::Acknowledge),
        "resolve" => Some(Response::Resolve),
        "reopen" => Some(Response::Reopen),
        _ => None,
    };
    if let Some(response) = response {
        return Ok(ChatCommand::Incident {
            action: IncidentAction::Respond(response),
            number: number(rest)?,
        });
    }
    match verb.as_ref() {
        "timeline" => Ok(ChatCommand::Incident {
            action: IncidentAction::Timeline,
            number: number(rest)?,
        }),
        "sev" | "severity" => {
            let Some((level, rest)) = rest.split_first() else {
                return Err(usage("Which level? `/incident sev P1`."));
            };
            let Some(level) = Priority::parse(level) else {
                return Err(usage(&format!(
                    "`{level}` is not a level (P0, P1, P2 or P3)."
                )));
            };
            Ok(ChatCommand::Incident {
                action: IncidentAction::Severity(level),
                number: number(rest)?,
            })
        }
        "declare" => {
            let (level, words) = match rest.split_last() {
                Some((last, words)) if !words.is_empty() => match Priority::parse(last) {
                    Some(p) => (Some(p), words),
                    None => (None, rest),
                },
                _ => (None, rest),
            };
            let title = words
                .join(" ")
                .trim_matches(|c| matches!(c, '"' | '“' | '”' | '\''))
                .trim()
                .to_string();
            if title.is_empty() {
                return Err(usage(
                    "What is wrong? `/incident declare \"Checkout slow\" P2`.",
                ));
            }
            Ok(ChatCommand::Declare { title, level })
        }
        other => Err(usage(&format!("I don't know `/incident {other}`."))),
    }
}

/// `word` in lower case, borrowed when it already is (command words
/// nearly always are): exactly `str::to_lowercase`, which maps each
/// character on its own.
fn lowercase(word: &str) -> Cow<'_, str> {
    if word
        .chars()
        .any(|c| !c.to_lowercase().eq(std::iter::once(c)))
    {
        Cow::Owned(word.to_lowercase())
    } else {
        Cow::Borrowed(word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slash_diag_with_target() {
        assert_eq!(
            ChatCommand::parse_slash("/diag", "redis"),
            Ok(ChatCommand::Diag {
                target: "redis".into()
            })
        );
        assert_eq!(
            ChatCommand::parse_slash("/diag", "  Redis  "),
            Ok(ChatCommand::Diag {
                target: "redis".into()
            })
        );
    }

    #[test]
    fn oncall_and_handoff_take_an_optional_rotation() {
        assert_eq!(
            ChatCommand::parse_slash("/oncall", ""),
            Ok(ChatCommand::OnCall { rotation: None })
        );
        assert_eq!(
            ChatCommand::parse_slash("/medic", "oncall DB"),
            Ok(ChatCommand::OnCall {
                rotation: Some("db".into())
            })
        );
        assert_eq!(
            ChatCommand::parse_slash("/handoff", "db"),
            Ok(ChatCommand::Handoff {
                rotation: Some("db".into())
            })
        );
        assert_eq!(
            ChatCommand::parse_slash("/handoff", "db now"),
            Err(ParseError::UnexpectedWords(vec!["now".into()]))
        );
    }

    #[test]
    fn command_words_match_in_any_case_as_to_lowercase_maps_them() {
        assert_eq!(
            ChatCommand::parse_split("/DIAG", &["Redis"]),
            Ok(ChatCommand::Diag {
                target: "redis".into()
            })
        );
        assert_eq!(
            ChatCommand::parse_split("/medic", &["Diag", "REDIS"]),
            Ok(ChatCommand::Diag {
                target: "redis".into()
            })
        );
        // A title-case letter is not upper case, yet lowers to another.
        assert_eq!(
            ChatCommand::parse_split("/medic", &["\u{1C5}iag"]),
            Err(ParseError::UnknownCommand("\u{1C6}iag".into()))
        );
    }

    #[test]
    fn umbrella_command_takes_the_first_word() {
        assert_eq!(
            ChatCommand::parse_slash("/medic", "diag redis"),
            Ok(ChatCommand::Diag {
                target: "redis".into()
            })
        );
        assert_eq!(
            ChatCommand::parse_slash("/medic", ""),
            Ok(ChatCommand::Help)
        );
        assert_eq!(
            ChatCommand::parse_slash("/medic", "restart everything"),
            Err(ParseError::UnknownCommand("restart".into()))
        );
    }

    #[test]
    fn diag_needs_exactly_one_target() {
        assert_eq!(
            ChatCommand::parse_slash("/diag", ""),
            Err(ParseError::MissingTarget)
        );
        assert_eq!(
            ChatCommand::parse_slash("/diag", "redis now please"),
            Err(ParseError::UnexpectedWords(vec![
                "now".into(),
                "please".into()
            ]))
        );
        assert_eq!(
            ChatCommand::parse_slash("/diag", "help"),
            Ok(ChatCommand::Help)
        );
    }

    #[test]
    fn a_lower_case_target_is_borrowed_and_many_words_still_parse() {
        let text = String::from("redis");
        match ChatCommand::parse_slash("/diag", &text) {
            Ok(ChatCommand::Diag {
                target: Cow::Borrowed(t),
            }) => assert_eq!(t, "redis"),
            other => panic!("{other:?}"),
        }
        // More words than fit on the stack take the general path.
        assert_eq!(
            ChatCommand::parse_slash("/medic", "diag redis a b c d"),
            Err(ParseError::UnexpectedWords(vec![
                "a".into(),
                "b".into(),
                "c".into(),
                "d".into()
            ]))
        );
    }

    #[test]
    fn incident_verbs_take_an_optional_number() {
        assert_eq!(
            ChatCommand::parse_slash("/incident", "ack"),
            Ok(ChatCommand::Incident {
                action: IncidentAction::Respond(Response::Acknowledge),
                number: None
            })
        );
        assert_eq!(
            ChatCommand::parse_slash("/medic", "incident resolve #12"),
            Ok(ChatCommand::Incident {
                action: IncidentAction::Respond(Response::Resolve),
                number: Some(12)
            })
        );
        assert_eq!(
            ChatCommand::parse_slash("/incident", "sev p1 7"),
            Ok(ChatCommand::Incident {
                action: IncidentAction::Severity(Priority::P1),
                number: Some(7)
            })
        );
        assert_eq!(
            ChatCommand::parse_slash("/incident", "timeline"),
            Ok(ChatCommand::Incident {
                action: IncidentAction::Timeline,
                number: None
            })
        );
        let bad = ChatCommand::parse_slash("/incident", "sev P9").unwrap_err();
        assert!(bad.to_string().starts_with("`P9` is not a level"), "{bad}");
        let bad = ChatCommand::parse_slash("/incident", "ack twelve").unwrap_err();
        assert!(
            bad.to_string()
                .contains("`twelve` is not an incident number")
        );
        assert!(ChatCommand::parse_slash("/incident", "").is_err());
    }

    #[test]
    fn declare_takes_a_quoted_title_and_an_optional_level() {
        assert_eq!(
            ChatCommand::parse_slash("/incident", "declare \"Checkout slow\" P2"),
            Ok(ChatCommand::Declare {
                title: "Checkout slow".into(),
                level: Some(Priority::P2)
            })
        );
        assert_eq!(
            ChatCommand::parse_slash("/incident", "declare Checkout is slow for EU users"),
            Ok(ChatCommand::Declare {
                title: "Checkout is slow for EU users".into(),
                level: None
            })
        );
        // A title that is only a level is a title.
        assert_eq!(
            ChatCommand::parse_slash("/incident", "declare P1"),
            Ok(ChatCommand::Declare {
                title: "P1".into(),
                level: None
            })
        );
        assert!(ChatCommand::parse_slash("/incident", "declare").is_err());
    }

    #[test]
    fn errors_read_as_chat() {
        assert_eq!(
            ParseError::UnknownCommand("rstart".into()).to_string(),
            "I don't know the command `rstart`."
        );
    }
}

/// The help message: the commands and the targets configured here.
// NOTE: shown in chat; backticks render as code on every platform medic
// speaks, and plain in a terminal.
pub fn help_text(targets: &[crate::TargetRef]) -> String {
    let mut out =
        String::from("*medic* runs your runbooks' diagnostics and posts the report in a thread.\n");
    for c in COMMANDS {
        out.push_str(&format!("• `{}` — {}\n", c.usage, c.about));
    }
    if targets.is_empty() {
        out.push_str("No targets are configured: add `[targets.NAME]` sections to medic.toml.");
    } else {
        let list: Vec<String> = targets
            .iter()
            .map(|t| format!("`{}` ({} {})", t.name, t.kind, t.location))
            .collect();
        out.push_str(&format!("Targets here: {}", list.join(", ")));
    }
    out
}

#[cfg(test)]
mod help_tests {
    use super::*;

    #[test]
    fn help_lists_commands_and_targets() {
        let text = help_text(&[crate::TargetRef {
            name: "redis".into(),
            kind: "redis".into(),
            location: "127.0.0.1:6379".into(),
        }]);
        assert!(text.contains("• `/diag TARGET` — Run the diagnostics"));
        assert!(text.ends_with("Targets here: `redis` (redis 127.0.0.1:6379)"));
    }
}
