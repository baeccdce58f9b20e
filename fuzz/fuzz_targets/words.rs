//! The small grammars people type: durations in config and chat
//! (`duration::parse`: `500ms`, `15m`, `1d`), the chat command grammar
//! (`ChatCommand::parse_slash` under each slash medic registers and an
//! umbrella one), and an SSH destination from config (`user@host`).
//! Properties: never panics; a duration that parses is the number times
//! its unit, exactly (no wrapped overflow).
#![no_main]

use libfuzzer_sys::fuzz_target;
use medic_commands::command::ChatCommand;
use medic_commands::diagnostics::host::ssh::Destination;
use medic_commands::duration;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = duration::parse(text) {
        check_duration(text, d);
    }
    for slash in ["/diag", "/medic", "/incident", "/oncall", "/help", text] {
        let _ = ChatCommand::parse_slash(slash, text);
    }
    let _ = Destination::parse(text);
});

/// The value a parsed duration must have, in milliseconds, computed wide.
fn check_duration(text: &str, d: std::time::Duration) {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let n: u128 = t[..split]
        .parse()
        .expect("a parsed duration starts with its number");
    let ms_per = match t[split..].trim() {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => panic!("{text:?} parsed with unit {other:?}"),
    };
    assert_eq!(d.as_millis(), n * ms_per, "{text:?}");
}
