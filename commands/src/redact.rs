//! The one place that scrubs secrets from text bound for chat or logs.
//!
//! Two layers, because neither alone is enough: the secrets medic knows
//! (passwords in target URLs, tokens from config) are replaced wherever they
//! appear verbatim, and well-known secret shapes (URL credentials, Slack
//! tokens, bearer tokens) are masked even when medic never saw them before —
//! an error message from a library may echo a DSN we did not expect.

use std::sync::{LazyLock, RwLock};

use regex::Regex;

/// What a secret is replaced with. Fixed-width, so the length of a secret is
/// not leaked either.
pub const MASK: &str = "••••";

/// Secrets shorter than this are not replaced verbatim: masking every "a" in
/// a message would destroy it, and a 3-character password is not protected by
/// redaction anyway.
const MIN_KNOWN_SECRET_LEN: usize = 4;

static PATTERNS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        // scheme://user:password@host → keep the user, mask the password.
        (
            r"([a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*):[^@\s/]+@",
            "${1}:••••@",
        ),
        // Slack tokens: bot, user, app-level, refresh, config.
        (r"\bxox[abposre]-[A-Za-z0-9\-]+", "xox•-••••"),
        (r"\bxapp-[A-Za-z0-9\-]+", "xapp-••••"),
        // Authorization header values.
        (
            r"(?i)\b(bearer|basic|bot)\s+[A-Za-z0-9\-._~+/]{8,}=*",
            "${1} ••••",
        ),
        // Authorization header values, whatever the scheme.
        (
            r"(?i)\b((?:proxy-)?authorization)(\s*[:=]\s*)(?:(?:bearer|basic|token|bot|digest)\s+)?[^\s,;]+",
            "${1}${2}••••",
        ),
        // key=value and key: value secrets in DSNs, query strings, env
        // dumps, JSON and YAML.
        (
            r#"(?i)\b(password|passwd|pwd|secret|client_secret|token|access_token|api[_-]?key|apikey|auth|access[_-]?key|private[_-]?key)("?\s*[=:]\s*"?)([^\s&;",}]+)"#,
            "${1}${2}••••",
        ),
        // Vendor API key shapes (Stripe, OpenAI-style, GitHub, GitLab, AWS).
        (r"\b[spr]k_(?:live|test)_[A-Za-z0-9]{8,}", "••••"),
        (r"\bsk-[A-Za-z0-9_\-]{16,}", "••••"),
        (r"\bgh[pousr]_[A-Za-z0-9]{20,}", "••••"),
        (r"\bglpat-[A-Za-z0-9_\-]{16,}", "••••"),
        (r"\bAKIA[0-9A-Z]{16}\b", "••••"),
    ]
    .into_iter()
    .map(|(re, with)| (Regex::new(re).expect("redaction pattern compiles"), with))
    .collect()
});

/// The secrets of medic's configuration (tokens, signing secrets, the
/// passwords in its URLs), masked by every redactor in the process, the
/// log's included: a secret whose name does not look like one, or that a
/// script echoes, is known by its value. Only ever added to.
static CONFIGURED: RwLock<Redactor> = RwLock::new(Redactor {
    known: Vec::new(),
    encoded: Vec::new(),
});

/// Teaches every redactor in the process these secrets (in every form
/// [`Redactor::add_secret`] knows). medic's CLI and its `App::build` call
/// it with the configuration's secrets.
pub fn configure(secrets: &Redactor) {
    CONFIGURED
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .absorb(secrets);
}

/// Scrubs known secrets and secret-shaped substrings from text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    known: Vec<String>,
    /// The known secrets as they may be posted encoded, as one
    /// alternation (one pass over the text, however many secrets); see
    /// [`posted_forms`].
    encoded: Vec<Regex>,
}

impl Redactor {
    /// A redactor that masks only secret shapes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also masks this exact secret wherever it appears: verbatim, its
    /// percent-decoded form (as it appears once a URL is parsed), and
    /// either of them percent-encoded or JSON/`{:?}`-escaped (as a URL or
    /// an error quoting it shows it).
    pub fn with_secret(mut self, secret: &str) -> Self {
        self.add_secret(secret);
        self
    }

    /// Adds a secret to mask verbatim.
    pub fn add_secret(&mut self, secret: &str) {
        for form in [secret.to_string(), percent_decode(secret)] {
            if form.len() >= MIN_KNOWN_SECRET_LEN && !self.known.contains(&form) {
                self.known.push(form);
            }
        }
        // Longest first, so a secret that contains another is masked whole.
        self.known.sort_by_key(|s| std::cmp::Reverse(s.len()));
        self.encoded = posted_forms(&self.known);
    }

    /// Adds every secret `other` knows.
    pub fn absorb(&mut self, other: &Redactor) {
        let before = self.known.len();
        for secret in &other.known {
            if !self.known.contains(secret) {
                self.known.push(secret.clone());
            }
        }
        if self.known.len() != before {
            self.known.sort_by_key(|s| std::cmp::Reverse(s.len()));
            self.encoded = posted_forms(&self.known);
        }
    }

    /// Returns `text` with every secret masked: this redactor's and the
    /// configured ones ([`configure`]), then secret shapes.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        let configured = CONFIGURED.read().unwrap_or_else(|p| p.into_inner());
        let mut known: Vec<&String> = self.known.iter().chain(configured.known.iter()).collect();
        if !self.known.is_empty() && !configured.known.is_empty() {
            // Longest first across both, so a secret containing another is
            // masked whole.
            known.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
        for secret in known {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
        for re in self.encoded.iter().chain(configured.encoded.iter()) {
            if re.is_match(&out) {
                out = re.replace_all(&out, regex::NoExpand(MASK)).into_owned();
            }
        }
        drop(configured);
        for (re, with) in PATTERNS.iter() {
            if re.is_match(&out) {
                out = re.replace_all(&out, *with).into_owned();
            }
        }
        mask_high_entropy(&out)
    }
}

/// Runs of token characters at least this long are candidates for the
/// entropy test.
const LONG_TOKEN: usize = 32;
/// Shannon entropy (bits per character) above which a long token reads as
/// random: generated keys score 4.5–5.5, words and identifiers far less,
/// and hex (hashes, commit ids, at most 4.0) stays readable.
const HIGH_ENTROPY: f64 = 4.2;

static TOKEN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z0-9+_\-=]{32,}").expect("token pattern compiles"));

/// Masks long, random-looking strings: secrets nobody told us about
/// (a key in a command's output) have no shape but their randomness.
fn mask_high_entropy(text: &str) -> String {
    if text.len() < LONG_TOKEN {
        return text.to_string();
    }
    TOKEN
        .replace_all(text, |c: &regex::Captures<'_>| {
            let t = &c[0];
            let letters = t.chars().any(|ch| ch.is_ascii_alphabetic());
            let digits = t.chars().any(|ch| ch.is_ascii_digit());
            if letters && digits && entropy(t) > HIGH_ENTROPY {
                MASK.to_string()
            } else {
                t.to_string()
            }
        })
        .into_owned()
}

fn entropy(t: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in t.bytes() {
        counts[b as usize] += 1;
    }
    let n = t.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// Masks secret shapes only; for text from places with no known secrets.
pub fn redact(text: &str) -> String {
    Redactor::new().redact(text)
}

/// A pattern matching `secret` however it is posted: any of its
/// characters percent-encoded (either hex case, `+` for a space, as a URL
/// or a form carries it: reqwest's errors quote the URL), and `"`, `\`
/// and `/` escaped with a backslash (a JSON body echoed back, an error
/// printing its input with `{:?}`). Without it, a query value added
/// decoded (`sig=a/b` → `a/b`) survived in the URL an error quoted
/// (`sig=a%2Fb`) (found by fuzzing: redactor).
fn posted_pattern(secret: &str) -> String {
    fn hex_digit(d: u8) -> String {
        match d {
            0..=9 => char::from(b'0' + d).to_string(),
            _ => {
                let upper = (b'A' + d - 10) as char;
                format!("[{upper}{}]", upper.to_ascii_lowercase())
            }
        }
    }
    let mut pattern = String::new();
    for c in secret.chars() {
        let mut buf = [0u8; 4];
        let literal = c.encode_utf8(&mut buf);
        let mut forms = vec![regex::escape(literal)];
        let encoded: String = literal
            .bytes()
            .map(|b| format!("%{}{}", hex_digit(b >> 4), hex_digit(b & 0xf)))
            .collect();
        forms.push(encoded);
        match c {
            ' ' => forms.push(r"\+".into()),
            '"' | '\\' | '/' => forms.push(regex::escape(&format!("\\{c}"))),
            _ => {}
        }
        pattern.push_str(&format!("(?:{})", forms.join("|")));
    }
    pattern
}

/// Every one of `known` (longest first) as it may be posted
/// ([`posted_pattern`]), as one regex: one pass over the text instead of
/// one per secret. Should the alternation be too big to build, one regex
/// per secret that can be built; the verbatim forms are masked either way.
fn posted_forms(known: &[String]) -> Vec<Regex> {
    if known.is_empty() {
        return Vec::new();
    }
    let patterns: Vec<String> = known.iter().map(|s| posted_pattern(s)).collect();
    match Regex::new(&patterns.join("|")) {
        Ok(all) => vec![all],
        Err(_) => patterns.iter().filter_map(|p| Regex::new(p).ok()).collect(),
    }
}

pub(crate) fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        // Work on bytes, not str slices: a '%' before a multibyte character
        // must not split it.
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            )
        {
            out.push(hi << 4 | lo);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_masked_but_the_host_stays() {
        assert_eq!(
            redact("cannot connect to redis://:hunter22@10.0.1.1:6379/0"),
            "cannot connect to redis://:••••@10.0.1.1:6379/0"
        );
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/app"),
            "postgres://app:••••@db:5432/app"
        );
    }

    #[test]
    fn tokens_are_masked() {
        let text =
            "token xoxb-1234-5678-abcdef and xapp-1-A0-123 and Authorization: Bearer abcdefghijkl";
        let out = redact(text);
        assert!(!out.contains("1234-5678"), "{out}");
        assert!(!out.contains("A0-123"), "{out}");
        assert!(!out.contains("abcdefghijkl"), "{out}");
    }

    #[test]
    fn known_secrets_are_masked_anywhere_even_decoded() {
        let r = Redactor::new().with_secret("p%40ss-word");
        assert_eq!(
            r.redact("AUTH failed for p@ss-word"),
            "AUTH failed for ••••"
        );
        assert_eq!(r.redact("url had p%40ss-word"), "url had ••••");
    }

    #[test]
    fn a_configured_secret_is_masked_by_every_redactor_in_any_form() {
        // A value with no secret shape, under a name that does not look
        // like a secret's: only knowing it catches it.
        configure(&Redactor::new().with_secret("plain words & more"));
        assert_eq!(
            redact("env: GREETING=plain words & more"),
            "env: GREETING=••••"
        );
        assert_eq!(
            redact("GET /hook?x=plain%20words%20%26%20more"),
            "GET /hook?x=••••"
        );
        // A redactor with its own secrets knows the configured ones too.
        let r = Redactor::new().with_secret("target-pass");
        assert_eq!(
            r.redact("target-pass then plain words & more"),
            "•••• then ••••"
        );
    }

    #[test]
    fn percent_signs_before_multibyte_characters_do_not_panic() {
        let r = Redactor::new().with_secret("pä%éss%");
        assert_eq!(r.redact("x pä%éss% y"), "x •••• y");
    }

    #[test]
    fn known_secrets_are_masked_when_a_url_or_an_error_quotes_them_encoded() {
        let r = Redactor::new().with_secret("a/b+c\"d@e");
        for posted in [
            "a%2Fb%2Bc%22d%40e",
            "a%2fb+c%22d@e",
            "a/b%2bc\\\"d@e",
            "a\\/b+c\\\"d@e",
        ] {
            let out = r.redact(&format!("GET https://h/?sig={posted} failed"));
            assert!(!out.contains(posted), "{posted} → {out}");
            assert!(out.contains(MASK), "{out}");
        }
    }

    #[test]
    fn short_secrets_do_not_shred_text() {
        let r = Redactor::new().with_secret("a");
        assert_eq!(r.redact("a cat"), "a cat");
    }

    #[test]
    fn headers_keys_and_vendor_tokens_are_masked() {
        let cases = [
            "Authorization: Basic dXNlcjpwYXNz",
            "authorization=Token abc123def456",
            "PASSWORD: hunter2hunter2",
            "{\"api_key\": \"k-12345678\"}",
            "client_secret=abcdefgh12",
            "key sk_live_4eC39HqLyjWDarjtT1zdp7dc here",
            "OPENAI sk-proj-abcdefghijklmnop1234",
            "gh token ghp_16C7e42F292c6912E7710c838347Ae178B4a",
            "aws AKIAIOSFODNN7EXAMPLE",
        ];
        for c in cases {
            let out = redact(c);
            for secret in [
                "dXNlcjpwYXNz",
                "abc123def456",
                "hunter2hunter2",
                "k-12345678",
                "abcdefgh12",
                "4eC39HqLyjWDarjtT1zdp7dc",
                "abcdefghijklmnop1234",
                "16C7e42F292c",
                "IOSFODNN7",
            ] {
                assert!(!out.contains(secret), "{c} → {out}");
            }
        }
    }

    #[test]
    fn random_looking_strings_are_masked_but_hashes_and_words_stay() {
        let key = "Zq8vL2mX9pR4tK7wY1nB6cH3jF5gD0sA";
        assert_eq!(
            redact(&format!("export KEY_VALUE {key}")),
            "export KEY_VALUE ••••"
        );
        let sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        assert_eq!(redact(sha), sha);
        let ident = "postgres_connections_by_application_name_total";
        assert_eq!(redact(ident), ident);
    }

    #[test]
    fn plain_text_is_untouched() {
        let text = "Connected clients 12/10000 (0 %)";
        assert_eq!(redact(text), text);
    }
}
