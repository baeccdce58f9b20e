//! A rotation's Slack user group (`usergroup = "S0…"`) kept to whoever
//! holds its pager, so that `@oncall-db` notifies the right person.
//!
//! Reconciled rather than fired once per handover: every pass of the
//! on-call loop compares who holds each pager with what this process last
//! set, and sets it when they differ. A failed call is tried again at the
//! next pass, a restart sets it once more (the same members: harmless),
//! and an override moves the group like a handover does. Nobody on call,
//! or a holder with no Slack id, leaves the group as it is: Slack refuses
//! an empty group, and a stale member beats nobody to page.

use std::collections::HashMap;

use jiff::Timestamp;
use medic_commands::oncall::OnCall;

use crate::state::AppState;

/// What this process last set, by rotation: the Slack user id.
pub type Synced = HashMap<String, String>;

/// Sets each rotation's user group to its holder at `now` where it
/// differs from what was last set.
pub async fn sync(state: &AppState, oncall: &OnCall, now: Timestamp, synced: &mut Synced) {
    let Some(slack) = &state.slack else {
        return;
    };
    for r in oncall.rotations.values() {
        let Some(group) = &r.usergroup else {
            continue;
        };
        let Some(holder) = r.schedule.shift_at(now) else {
            continue;
        };
        let Some(id) = oncall.person(&holder.who).slack else {
            continue;
        };
        if synced.get(&r.name) == Some(&id) {
            continue;
        }
        match slack.api.set_usergroup_users(group, &[&id]).await {
            Ok(()) => {
                tracing::info!(rotation = %r.name, usergroup = %group, who = %holder.who, "The rotation's user group follows the pager.");
                synced.insert(r.name.clone(), id);
            }
            Err(error) => {
                tracing::warn!(rotation = %r.name, usergroup = %group, %error, "Could not update the rotation's Slack user group; will try again.");
            }
        }
    }
}
