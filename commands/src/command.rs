//! The chat grammar: what a person may type after the slash.
//!
//! It is declared once as data ([`COMMANDS`]) so that the help text, the
//! Slack app manifest and Discord's command registration all come from the
//! same place. Parsing is deliberately small: chat text is a handful of
//! words, and the errors must read well in a chat message, not a terminal.

use std::borrow::Cow;
use std::fmt;

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
    /// Show help.
    Help,
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
            other => Err(ParseError::UnknownCommand(other.to_string())),
        }
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
