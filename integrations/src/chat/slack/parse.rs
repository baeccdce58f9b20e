//! Purpose: Slack's wire formats → medic's neutral types, after
//! verification. A malformed body is an error that names the field, so the
//! 400 a caller gets says what is wrong.

/// A slash command as Slack posts it (form-encoded). Only the fields medic
/// uses are read; Slack adds fields over time and they are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlashCommand {
    /// Workspace id.
    pub team_id: String,
    /// Channel the command was typed in.
    pub channel_id: String,
    /// Who typed it.
    pub user_id: String,
    /// Their handle (display only).
    pub user_name: String,
    /// The command as registered, with its slash: `/diag`.
    pub command: String,
    /// What followed the command; empty when nothing did.
    pub text: String,
    /// Where delayed answers may be posted (30 min, 5 uses).
    pub response_url: String,
    /// Unique per invocation (Slack uses it to open a modal within 3 s).
    pub trigger_id: String,
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

impl SlashCommand {
    /// Parses a form body in one pass, decoding only the fields medic
    /// reads. This runs on every request within Slack's 3 s, so it avoids
    /// a generic deserializer; a missing field is still named.
    pub fn parse(body: &[u8]) -> Result<Self, ParseError> {
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
/// becomes U+FFFD, as browsers do.
pub(crate) fn form_decode(raw: &[u8]) -> String {
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
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
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
