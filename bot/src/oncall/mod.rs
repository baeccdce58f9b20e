//! On call, in the running medic: who holds each pager now (on
//! [`crate::clock::Clock`], which a test can move), the `/oncall` and
//! `/handoff` answers, the digest posted at each handover, the "I've got
//! it" button and the reminders when nobody presses it.
//!
//! - [`digest`]: a handoff digest made from the database and queued in the
//!   outbox with its handoff row, once.
//! - [`schedule`]: the loop that posts digests at handovers and sends the
//!   reminders that are due.
//! - [`take`]: "I've got it".
//! - [`pagerduty`]: rotations whose turns are read from PagerDuty, and
//!   [`refresh`], the loop that reads them.
//! - [`usergroup`]: a rotation's Slack user group kept to the holder.

pub mod digest;
pub mod pagerduty;
pub mod refresh;
pub mod schedule;
pub mod take;
pub mod usergroup;

use medic_commands::actions::policy::Directory;
use medic_commands::model::inbound::Platform;
use medic_commands::oncall::OnCall;

use crate::state::AppState;

/// The policy directory at this moment: `[groups]`, `[oncall] users`, and
/// whoever holds each rotation's pager now (overrides included). Built per
/// click, so `oncall:db` means who is on call when the button is pressed.
pub fn directory_now(state: &AppState) -> Directory {
    let mut dir = state.settings.remediation.directory.clone();
    dir.holders = live(state).holders_at(state.clock.now());
    dir
}

/// The rotations as they stand: the configuration, with the turns of
/// those read from PagerDuty as last read.
pub fn live(state: &AppState) -> OnCall {
    state.schedules.apply(&state.settings.oncall)
}

/// The answer to `/oncall [ROTATION]` on `platform`.
pub fn answer(state: &AppState, rotation: Option<&str>, platform: Platform) -> String {
    let oncall = live(state);
    let now = state.clock.now();
    match oncall.now(rotation, now) {
        Ok(answers) => oncall.describe(&answers, platform, now),
        Err(unknown) => unknown,
    }
}
