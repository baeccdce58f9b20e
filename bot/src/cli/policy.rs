//! `medic policy check USER ACTION [--target T]`: the answer a button
//! would give, from the same policy code, without clicking anything.
//!
//! With `--target`, the database is asked too (cooldown, a run in
//! progress), exactly as a click would.

use std::path::Path;

use medic_commands::actions::policy;

use crate::remediation::gate;

/// What `medic policy check` is asked.
#[derive(Debug, Clone, Copy)]
pub struct Question<'a> {
    /// A chat user id.
    pub user: &'a str,
    /// The action's name.
    pub action: &'a str,
    /// The target it would run on.
    pub target: Option<&'a str>,
    /// The moment asked about (RFC 3339); now when `None`.
    pub at: Option<&'a str>,
}

/// Prints whether `user` may request `action` (and on `target`), and
/// who may approve it, at `at`. Exit 0 when allowed, 1 when refused, 64
/// when the action does not exist or the configuration is broken.
pub async fn check(config: Option<&Path>, q: Question<'_>) -> u8 {
    let Question {
        user,
        action,
        target,
        at,
    } = q;
    let Some(loaded) = super::load_or_report(config) else {
        return super::EXIT_USAGE;
    };
    let at = match super::oncall::parse_at(at) {
        Ok(at) => at,
        Err(e) => {
            eprintln!("medic: {e}");
            return super::EXIT_USAGE;
        }
    };
    let r = &loaded.settings.remediation;
    let mut directory = r.directory.clone();
    directory.holders = loaded.settings.oncall.holders_at(at);
    let Some(a) = r.actions.get(action) else {
        let known: Vec<&str> = r.actions.keys().map(String::as_str).collect();
        eprintln!(
            "medic: no action `{action}` (configured: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
        return super::EXIT_USAGE;
    };
    let mut refused = None;
    match policy::may_request(a, &directory, user) {
        Ok(rule) => println!(
            "{user} may request {action} (\"{}\") by the rule \"{rule}\".",
            a.title
        ),
        Err(e) => refused = Some(e.to_string()),
    }
    if refused.is_none()
        && let Some(t) = target
    {
        if let Err(e) = policy::check_offered(a, t) {
            refused = Some(e.to_string());
        } else {
            match crate::storage::Store::connect(&loaded.settings.database.url).await {
                Ok(store) => {
                    if let Err(e) = gate(&store, a, t).await {
                        refused = Some(e);
                    } else {
                        println!(
                            "{action} may run on {t} now (no run in progress, cooldown passed)."
                        );
                    }
                    store.close().await;
                }
                Err(e) => {
                    eprintln!("medic: {e:#}");
                    return super::EXIT_USAGE;
                }
            }
        }
    }
    if let Some(why) = refused {
        println!("Refused: {}", why.replace('*', ""));
        return 1;
    }
    if a.approvals == 0 {
        println!("It runs without approval.");
    } else {
        let approvers: Vec<String> = a.may_approve.iter().map(|p| p.to_string()).collect();
        println!(
            "It needs {} approval(s) from [{}], never the requester's own; requests expire after {}.",
            a.approvals,
            approvers.join(", "),
            medic_commands::format::human_duration(a.expires)
        );
    }
    0
}
