//! `medic oncall [ROTATION] [--at TIME]`: who holds each pager now (or at
//! TIME) and who is next, from the same rotations as `/oncall` in chat.

use std::path::Path;

use jiff::Timestamp;
use medic_commands::model::inbound::Platform;

/// Parses `--at`: an RFC 3339 instant (`2026-12-07T09:00:00+01:00`,
/// `2026-12-07T08:00Z`).
pub fn parse_at(text: Option<&str>) -> Result<Timestamp, String> {
    match text {
        None => Ok(Timestamp::now()),
        Some(t) => t.trim().parse::<Timestamp>().map_err(|_| {
            format!(
                "--at `{t}` is not an RFC 3339 time with an offset, like 2026-12-07T09:00:00+01:00"
            )
        }),
    }
}

/// Prints now and next; exit 0, or 64 for an unknown rotation or time.
pub async fn run(config: Option<&Path>, rotation: Option<&str>, at: Option<&str>) -> u8 {
    let Some(loaded) = super::load_or_report(config) else {
        return super::EXIT_USAGE;
    };
    let at = match parse_at(at) {
        Ok(at) => at,
        Err(e) => {
            eprintln!("medic: {e}");
            return super::EXIT_USAGE;
        }
    };
    let settings = &loaded.settings;
    // Rotations read from PagerDuty are read once, now.
    let schedules = crate::oncall::pagerduty::Schedules::default();
    if let Some(p) = &settings.alerts.pagerduty
        && let Some(token) = &p.api_token
    {
        let reader = crate::oncall::pagerduty::Reader {
            http: reqwest::Client::new(),
            url: p.api_url.clone(),
            token: token.clone(),
        };
        for r in settings.oncall.rotations.values() {
            if let Some(schedule) = &r.pagerduty_schedule {
                schedules
                    .read(&reader, &settings.oncall.people, &r.name, schedule, at)
                    .await;
            }
        }
    }
    let oncall = &schedules.apply(&settings.oncall);
    match oncall.now(rotation, at) {
        Ok(answers) => {
            println!(
                "{}",
                oncall
                    .describe(&answers, Platform::Console, at)
                    .replace('*', "")
            );
            0
        }
        Err(unknown) => {
            eprintln!("medic: {}", unknown.replace('`', ""));
            super::EXIT_USAGE
        }
    }
}
