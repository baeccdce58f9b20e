//! The redactor's promise, as a property: a secret medic knows (a password
//! in a target URL, a token from config) never survives redaction, at any
//! position in any text, in any of the forms it is posted in —
//!
//! - verbatim;
//! - percent-decoded, when it was configured percent-encoded (a URL's
//!   password as written in config, echoed decoded by a driver);
//! - percent-encoded, any subset of its characters, either hex case (a
//!   URL quoting it: reqwest's errors show the URL);
//! - JSON- or Rust-`Debug`-escaped (`\"`, `\\`: an error that prints its
//!   input with `{:?}`, a JSON body echoed back).
//!
//! What it does not promise is left out: secrets shorter than 4 bytes,
//! secrets with whitespace or control characters (a log line's spacing may
//! be rewritten), secrets containing the mask's own `•`, and Debug's
//! `\u{…}` escapes of unprintable characters. The shape-based patterns
//! (tokens, `password=`) run on every input too, so they must not panic.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use medic_commands::redact::{self, Redactor};

#[derive(Debug, Arbitrary)]
struct Case {
    prefix: String,
    secret: String,
    suffix: String,
    form: Form,
    /// Which characters are percent-encoded (bit i: the i-th, cycling).
    encode: u64,
    lower_hex: bool,
}

#[derive(Debug, Arbitrary)]
enum Form {
    Verbatim,
    /// Configured percent-encoded, posted decoded.
    Decoded,
    /// Configured plain, posted percent-encoded.
    Encoded,
    Json,
    Debug,
}

fuzz_target!(|case: Case| {
    // Shapes alone, on anything.
    let _ = redact::redact(&case.prefix);
    let s = &case.secret;
    if s.len() < 4
        || s.chars().count() > 256
        || s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '•')
    {
        return;
    }
    let (configured, posted) = match case.form {
        Form::Verbatim => (s.clone(), s.clone()),
        // As a URL writes it: a literal `%` is always `%25` there, so the
        // configured form decodes to exactly `s`.
        Form::Decoded => (
            percent_encode(s, case.encode, case.lower_hex, true),
            s.clone(),
        ),
        Form::Encoded => (
            s.clone(),
            percent_encode(s, case.encode, case.lower_hex, false),
        ),
        Form::Json => (s.clone(), unquote(serde_json::to_string(s).unwrap())),
        Form::Debug => {
            let debug = unquote(format!("{s:?}"));
            if debug.contains("\\u{") {
                return;
            }
            (s.clone(), debug)
        }
    };
    let text = format!("{}{posted}{}", case.prefix, case.suffix);
    let out = Redactor::new().with_secret(&configured).redact(&text);
    assert!(
        !out.contains(&posted),
        "secret {configured:?} survived as {posted:?} in {out:?} (from {text:?})"
    );
});

fn percent_encode(s: &str, mask: u64, lower: bool, percent_too: bool) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if mask >> (i % 64) & 1 == 1 || (percent_too && c == '%') {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                if lower {
                    out.push_str(&format!("%{b:02x}"));
                } else {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn unquote(quoted: String) -> String {
    quoted[1..quoted.len() - 1].to_string()
}
