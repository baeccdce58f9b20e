//! Purpose: Slack's wire formats → medic's neutral types, after
//! verification. A malformed body is an error that names the field, so the
//! 400 a caller gets says what is wrong.

use std::borrow::Cow;

/// A slash command as Slack posts it (form-encoded). Only the fields medic
/// uses are read; Slack adds fields over time and they are ignored.
///
/// Each field borrows from the body it was parsed from unless decoding
/// changed it (`%2Fdiag`, a `+` for a space): a flood of commands that are
/// answered at once ("busy", "already running") copies nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlashCommand<'a> {
    /// Workspace id.
    pub team_id: Cow<'a, str>,
    /// Channel the command was typed in.
    pub channel_id: Cow<'a, str>,
    /// Who typed it.
    pub user_id: Cow<'a, str>,
    /// Their handle (display only).
    pub user_name: Cow<'a, str>,
    /// The command as registered, with its slash: `/diag`.
    pub command: Cow<'a, str>,
    /// What followed the command; empty when nothing did.
    pub text: Cow<'a, str>,
    /// Where delayed answers may be posted (30 min, 5 uses).
    pub response_url: Cow<'a, str>,
    /// Unique per invocation (Slack uses it to open a modal within 3 s).
    pub trigger_id: Cow<'a, str>,
}

/// A body that is not a slash command, naming what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed slash command: {0}")]
pub struct ParseError(pub String);

/// Fields without which medic cannot answer, in the order they are named
/// when missing.
const REQUIRED: [&str; 5] = [
    "team_id",
    "channel_id",
    "user_id",
    "command",
    "response_url",
];

impl<'a> SlashCommand<'a> {
    /// Parses a form body in one pass, decoding only the fields medic
    /// reads. This runs on every request within Slack's 3 s, so it avoids
    /// a generic deserializer; a missing field is still named.
    pub fn parse(body: &'a [u8]) -> Result<Self, ParseError> {
        let mut cmd = SlashCommand::default();
        let mut seen = [false; REQUIRED.len()];
        for pair in body.split(|b| *b == b'&') {
            let (key, value) = match pair.iter().position(|b| *b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            // Keys are compared undecoded: Slack's field names are plain
            // ASCII that no form encoder escapes.
            let slot = match key {
                b"team_id" => &mut cmd.team_id,
                b"channel_id" => &mut cmd.channel_id,
                b"user_id" => &mut cmd.user_id,
                b"user_name" => &mut cmd.user_name,
                b"command" => &mut cmd.command,
                b"text" => &mut cmd.text,
                b"response_url" => &mut cmd.response_url,
                b"trigger_id" => &mut cmd.trigger_id,
                _ => continue,
            };
            if let Some(i) = REQUIRED.iter().position(|r| r.as_bytes() == key) {
                seen[i] = true;
            }
            *slot = form_decode(value);
        }
        match REQUIRED.iter().zip(seen).find(|(_, seen)| !seen) {
            Some((name, _)) => Err(ParseError(format!("missing field `{name}`"))),
            None => Ok(cmd),
        }
    }
}

/// Decodes one `application/x-www-form-urlencoded` value: `+` is a space,
/// `%XX` a byte; a malformed escape is kept as written and invalid UTF-8
/// becomes U+FFFD, as browsers do. A value with nothing to decode is
/// borrowed as it is.
pub(crate) fn form_decode(raw: &[u8]) -> Cow<'_, str> {
    if !raw.iter().any(|b| matches!(b, b'+' | b'%')) {
        return match std::str::from_utf8(raw) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(raw),
        };
    }
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < raw.len() => match (hex(raw[i + 1]), hex(raw[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCS: &str = include_str!("../../../../tests/fixtures/slack/slash_command_docs.form.txt");
    const BOLT: &str = include_str!("../../../../tests/fixtures/slack/slash_command_bolt.form.txt");

    #[test]
    fn parses_slacks_documented_example() {
        let cmd = SlashCommand::parse(DOCS.as_bytes()).unwrap();
        assert_eq!(cmd.command, "/webhook-collect");
        assert_eq!(cmd.text, "");
        assert_eq!(cmd.channel_id, "G8PSS9T3V");
        assert_eq!(cmd.user_id, "U2CERLKJA");
        assert!(
            cmd.response_url
                .starts_with("https://hooks.slack.com/commands/")
        );
    }

    #[test]
    fn parses_bolts_enterprise_example() {
        let cmd = SlashCommand::parse(BOLT.as_bytes()).unwrap();
        assert_eq!(cmd.command, "/hello-world");
        assert_eq!(cmd.text, "Hi");
        assert_eq!(cmd.user_name, "primary-owner");
    }

    #[test]
    fn a_missing_field_is_named() {
        let err = SlashCommand::parse(b"team_id=T1&user_id=U1&command=%2Fdiag&response_url=x")
            .unwrap_err();
        assert!(err.0.contains("channel_id"), "{err}");
    }

    #[test]
    fn the_last_of_a_repeated_field_wins_and_unknown_fields_are_ignored() {
        let cmd = SlashCommand::parse(
            b"team_id=T&channel_id=C1&channel_id=C2&user_id=U&command=%2Fdiag&response_url=x&new_field=1",
        )
        .unwrap();
        assert_eq!(cmd.channel_id, "C2");
        assert_eq!(cmd.user_name, "");
    }

    #[test]
    fn values_decode_like_a_browser_form() {
        assert_eq!(form_decode(b"a+b%20c"), "a b c");
        assert_eq!(form_decode(b"%2Fdiag"), "/diag");
        assert_eq!(form_decode(b"caf%C3%A9"), "café");
        // Malformed escapes are kept as written; bad UTF-8 is replaced.
        assert_eq!(form_decode(b"100%"), "100%");
        assert_eq!(form_decode(b"%zz%4"), "%zz%4");
        assert_eq!(form_decode(b"%FF"), "\u{FFFD}");
    }

    #[test]
    fn a_value_with_nothing_to_decode_is_borrowed_from_the_body() {
        let body = b"team_id=T1&channel_id=C1&user_id=U1&command=%2Fdiag&text=redis&response_url=x";
        let cmd = SlashCommand::parse(body).unwrap();
        assert!(matches!(cmd.channel_id, Cow::Borrowed("C1")));
        assert!(matches!(cmd.text, Cow::Borrowed("redis")));
        assert!(matches!(cmd.command, Cow::Owned(_)));
        assert_eq!(cmd.command, "/diag");
        // Invalid UTF-8 with no escape is still replaced, as with one.
        assert_eq!(form_decode(b"a\xFFb"), "a\u{FFFD}b");
    }

    #[test]
    fn plus_and_percent_spaces_both_decode() {
        let cmd = SlashCommand::parse(
            b"team_id=T&channel_id=C&user_id=U&command=%2Fmedic&text=diag+redis&response_url=x",
        )
        .unwrap();
        assert_eq!(cmd.text, "diag redis");
        let cmd = SlashCommand::parse(
            b"team_id=T&channel_id=C&user_id=U&command=%2Fmedic&text=diag%20redis&response_url=x",
        )
        .unwrap();
        assert_eq!(cmd.text, "diag redis");
    }
}
