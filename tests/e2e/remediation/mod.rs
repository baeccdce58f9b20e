//! Remediation buttons through the real endpoint with real signatures:
//! offers in reports, policy refusals, two-person approval, exactly-once
//! runs, expiry, and the audit chain — on a real argv command, on real
//! idle PostgreSQL sessions and on real containers.

mod command;
mod docker;
mod ecs;
mod expiry;
mod incident;
mod postgres;
mod storage;
pub(crate) mod vendor;

use std::path::Path;
use std::time::Duration;

use medic::storage::audit::verify;
use medic_tests::{CHANNEL, TestMedic};

/// In `group:sre`: may request and approve.
pub const ALICE: &str = "U0ALICE";
/// In `group:sre`.
pub const BOB: &str = "U0BOB";
/// In `group:sre`.
pub const CAROL: &str = "U0CAROL";
/// In no group.
pub const MALLORY: &str = "U0MALLORY";

/// A generous bound that only catches a hang.
pub const LIMIT: Duration = Duration::from_secs(30);

/// `[groups]` for the tests.
pub fn groups() -> String {
    format!("[groups]\nsre = [\"{ALICE}\", \"{BOB}\", \"{CAROL}\"]\n")
}

/// Waits until the thread in [`CHANNEL`] offers `n` buttons with
/// `action_id`; returns them as (value, thread_ts).
pub async fn wait_for_buttons(m: &TestMedic, action_id: &str, n: usize) -> Vec<(String, String)> {
    m.slack
        .wait_until(&format!("{n} {action_id} button(s)"), LIMIT, |s| {
            s.buttons(CHANNEL, action_id).len() >= n
        })
        .await;
    m.slack
        .buttons(CHANNEL, action_id)
        .into_iter()
        .map(|(v, ts, thread)| (v, thread.unwrap_or(ts)))
        .collect()
}

/// Presses and checks the acknowledgement (Slack needs a 200 at once).
pub async fn press(m: &TestMedic, user: &str, action_id: &str, value: &str, thread: &str) {
    let r = m.click(user, action_id, value, Some(thread)).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
}

/// The events of the audit log, after checking its chain verifies.
pub async fn audited_events(m: &TestMedic) -> Vec<String> {
    let rows = m.state.store.audit_rows().await.expect("audit rows");
    verify(&rows).unwrap_or_else(|b| panic!("audit chain broken at {b:?}"));
    rows.into_iter().map(|r| r.event).collect()
}

/// Files in `dir`.
pub fn files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}
