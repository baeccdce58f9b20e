//! Purpose: who may request and who may approve an action — pure code over
//! data, so the buttons, `medic policy check` and the Discord adapter all
//! answer from the same functions.
//!
//! Rules are written in config as user ids (`U0123ABCD`, a Discord
//! snowflake), `group:NAME` (from `[groups]`), `oncall` (whoever holds a
//! pager) or `oncall:ROTATION`. Who is on call changes with the clock, so
//! the caller builds the [`Directory`] for the instant of the click
//! ([`Directory::holders`], from the rotations) and these functions stay
//! pure.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use super::Action;

/// One entry of `may_request` / `may_approve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A chat user id.
    User(String),
    /// Every member of `[groups] NAME`.
    Group(String),
    /// Whoever is on call now, in any rotation (or `[oncall] users`).
    OnCall,
    /// Whoever is on call now in this rotation.
    OnCallIn(String),
}

impl Principal {
    /// Parses `U0123`, `group:sre`, `oncall` or `oncall:db`.
    pub fn parse(text: &str) -> Result<Principal, String> {
        let text = text.trim();
        if text == "oncall" {
            Ok(Principal::OnCall)
        } else if let Some(r) = text.strip_prefix("oncall:") {
            if r.is_empty() {
                Err("`oncall:` names no rotation".into())
            } else {
                Ok(Principal::OnCallIn(r.to_string()))
            }
        } else if let Some(g) = text.strip_prefix("group:") {
            if g.is_empty() {
                Err("`group:` names no group".into())
            } else {
                Ok(Principal::Group(g.to_string()))
            }
        } else if text.is_empty() || text.contains(char::is_whitespace) || text.contains(':') {
            Err(format!(
                "`{text}` is neither a user id, `group:NAME`, `oncall` nor `oncall:ROTATION`"
            ))
        } else {
            Ok(Principal::User(text.to_string()))
        }
    }
}

impl fmt::Display for Principal {
    // NOTE: shown in chat (refusals name the rule).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::User(u) => f.write_str(u),
            Principal::Group(g) => write!(f, "group:{g}"),
            Principal::OnCall => f.write_str("oncall"),
            Principal::OnCallIn(r) => write!(f, "oncall:{r}"),
        }
    }
}

/// Who is in which group, and who is on call.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    /// `[groups]`: name → user ids.
    pub groups: BTreeMap<String, BTreeSet<String>>,
    /// `[oncall] users`: people always counted as on call (a team with no
    /// rotation, or a standing escalation contact).
    pub on_call: BTreeSet<String>,
    /// Who holds each rotation's pager at the instant this directory is
    /// for: rotation → ids. Empty in config; filled per check.
    pub holders: BTreeMap<String, BTreeSet<String>>,
}

impl Directory {
    /// Whether `user` is covered by `p`.
    pub fn covers(&self, p: &Principal, user: &str) -> bool {
        match p {
            Principal::User(u) => u == user,
            Principal::Group(g) => self.groups.get(g).is_some_and(|m| m.contains(user)),
            Principal::OnCall => {
                self.on_call.contains(user) || self.holders.values().any(|h| h.contains(user))
            }
            Principal::OnCallIn(r) => self.holders.get(r).is_some_and(|h| h.contains(user)),
        }
    }

    /// The first rule in `rules` that covers `user`.
    pub fn first_match<'a>(&self, rules: &'a [Principal], user: &str) -> Option<&'a Principal> {
        rules.iter().find(|p| self.covers(p, user))
    }
}

/// Why someone may not do something. Its `Display` is the ephemeral
/// answer, naming the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not covered by `may_request`.
    #[error("you may not request *{title}*: `may_request = [{rules}]` does not include you")]
    MayNotRequest {
        /// The action's title.
        title: String,
        /// The rule, as configured.
        rules: String,
    },
    /// Not covered by `may_approve`.
    #[error("you may not approve *{title}*: `may_approve = [{rules}]` does not include you")]
    MayNotApprove {
        /// The action's title.
        title: String,
        /// The rule, as configured.
        rules: String,
    },
    /// The requester tried to approve their own request.
    #[error("you requested *{title}*; the requester's approval never counts (two-person rule)")]
    OwnRequest {
        /// The action's title.
        title: String,
    },
    /// This approver already approved.
    #[error("you already approved *{title}*; it needs another approver")]
    AlreadyApproved {
        /// The action's title.
        title: String,
    },
    /// The action is not offered for that target.
    #[error("*{title}* is not offered for `{target}` (`offered_on`)")]
    NotOffered {
        /// The action's title.
        title: String,
        /// The target asked about.
        target: String,
    },
    /// The action ran for this target too recently.
    #[error(
        "*{title}* ran on `{target}` {ago} ago; `cooldown = {cooldown}` allows the next run in {left}"
    )]
    Cooldown {
        /// The action's title.
        title: String,
        /// The target.
        target: String,
        /// Since the last run finished.
        ago: String,
        /// The configured cooldown.
        cooldown: String,
        /// Time left.
        left: String,
    },
    /// A run of the action on this target is in progress.
    #[error("*{title}* is already running on `{target}` (one run per action and target at a time)")]
    Running {
        /// The action's title.
        title: String,
        /// The target.
        target: String,
    },
}

fn rules(list: &[Principal]) -> String {
    list.iter()
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `user` may request `action`; `Ok` names the rule that allows it.
pub fn may_request<'a>(
    action: &'a Action,
    dir: &Directory,
    user: &str,
) -> Result<&'a Principal, Refusal> {
    dir.first_match(&action.may_request, user)
        .ok_or_else(|| Refusal::MayNotRequest {
            title: action.title.clone(),
            rules: rules(&action.may_request),
        })
}

/// Whether `user` may approve `requester`'s request of `action`, given the
/// approvals already given.
pub fn may_approve<'a>(
    action: &'a Action,
    dir: &Directory,
    user: &str,
    requester: &str,
    approved_by: &[String],
) -> Result<&'a Principal, Refusal> {
    if user == requester {
        return Err(Refusal::OwnRequest {
            title: action.title.clone(),
        });
    }
    let rule =
        dir.first_match(&action.may_approve, user)
            .ok_or_else(|| Refusal::MayNotApprove {
                title: action.title.clone(),
                rules: rules(&action.may_approve),
            })?;
    if approved_by.iter().any(|a| a == user) {
        return Err(Refusal::AlreadyApproved {
            title: action.title.clone(),
        });
    }
    Ok(rule)
}

/// Distinct approvals that count: never the requester's own.
pub fn counted_approvals(requester: &str, approved_by: &[String]) -> usize {
    approved_by
        .iter()
        .filter(|a| a.as_str() != requester)
        .collect::<BTreeSet<_>>()
        .len()
}

/// Whether enough approvals are in.
pub fn approved(action: &Action, requester: &str, approved_by: &[String]) -> bool {
    counted_approvals(requester, approved_by) >= action.approvals as usize
}

/// Refuses a run that comes before the cooldown since the last finished
/// run of this action on this target has passed.
pub fn check_cooldown(
    action: &Action,
    target: &str,
    last_finished: Option<Duration>,
) -> Result<(), Refusal> {
    match last_finished {
        Some(ago) if ago < action.cooldown => Err(Refusal::Cooldown {
            title: action.title.clone(),
            target: target.to_string(),
            ago: crate::format::human_duration(ago),
            cooldown: crate::format::human_duration(action.cooldown),
            left: crate::format::human_duration(action.cooldown - ago),
        }),
        _ => Ok(()),
    }
}

/// Refuses an action on a target that does not offer it.
pub fn check_offered(action: &Action, target: &str) -> Result<(), Refusal> {
    if action.offered_on.iter().any(|t| t == target) {
        Ok(())
    } else {
        Err(Refusal::NotOffered {
            title: action.title.clone(),
            target: target.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::tests::action;

    fn dir() -> Directory {
        Directory {
            groups: BTreeMap::from([(
                "sre".to_string(),
                BTreeSet::from(["U1".to_string(), "U2".to_string()]),
            )]),
            on_call: BTreeSet::from(["U9".to_string()]),
            holders: BTreeMap::from([("db".to_string(), BTreeSet::from(["U8".to_string()]))]),
        }
    }

    #[test]
    fn oncall_covers_static_users_and_every_holder_and_a_rotation_only_its_own() {
        let d = dir();
        assert!(d.covers(&Principal::OnCall, "U9"));
        assert!(d.covers(&Principal::OnCall, "U8"));
        assert!(d.covers(&Principal::OnCallIn("db".into()), "U8"));
        assert!(!d.covers(&Principal::OnCallIn("db".into()), "U9"));
        assert!(!d.covers(&Principal::OnCallIn("web".into()), "U8"));
        assert_eq!(
            Principal::parse("oncall:db"),
            Ok(Principal::OnCallIn("db".into()))
        );
        assert!(Principal::parse("oncall:").is_err());
        assert_eq!(Principal::OnCallIn("db".into()).to_string(), "oncall:db");
    }

    #[test]
    fn principals_parse() {
        assert_eq!(Principal::parse("oncall"), Ok(Principal::OnCall));
        assert_eq!(
            Principal::parse("group:sre"),
            Ok(Principal::Group("sre".into()))
        );
        assert_eq!(Principal::parse("U1"), Ok(Principal::User("U1".into())));
        assert!(Principal::parse("group:").is_err());
        assert!(Principal::parse("team:x").is_err());
        assert!(Principal::parse("").is_err());
    }

    #[test]
    fn request_by_group_oncall_or_id_and_refusal_names_the_rule() {
        let a = action(1);
        let d = dir();
        assert_eq!(
            may_request(&a, &d, "U1"),
            Ok(&Principal::Group("sre".into()))
        );
        assert_eq!(may_request(&a, &d, "U9"), Ok(&Principal::OnCall));
        let no = may_request(&a, &d, "U7").unwrap_err();
        assert_eq!(
            no.to_string(),
            "you may not request *Terminate idle*: `may_request = [\"group:sre\", \"oncall\"]` does not include you"
        );
    }

    #[test]
    fn the_requester_never_approves_and_never_counts() {
        let a = action(1);
        let d = dir();
        assert!(matches!(
            may_approve(&a, &d, "U1", "U1", &[]),
            Err(Refusal::OwnRequest { .. })
        ));
        assert!(may_approve(&a, &d, "U2", "U1", &[]).is_ok());
        assert!(matches!(
            may_approve(&a, &d, "U2", "U1", &["U2".into()]),
            Err(Refusal::AlreadyApproved { .. })
        ));
        assert!(matches!(
            may_approve(&a, &d, "U9", "U1", &[]),
            Err(Refusal::MayNotApprove { .. })
        ));
        assert!(!approved(&a, "U1", &["U1".into()]));
        assert!(approved(&a, "U1", &["U1".into(), "U2".into()]));
        assert!(!approved(&action(2), "U1", &["U2".into(), "U2".into()]));
        assert!(approved(&action(0), "U1", &[]));
    }

    #[test]
    fn cooldown_counts_from_the_last_finished_run() {
        let a = action(0);
        assert!(check_cooldown(&a, "db", None).is_ok());
        let e = check_cooldown(&a, "db", Some(Duration::from_secs(60))).unwrap_err();
        assert!(e.to_string().contains("cooldown = 5 min 0 s"), "{e}");
        assert!(check_cooldown(&a, "db", Some(Duration::from_secs(301))).is_ok());
        assert!(check_offered(&a, "db").is_ok());
        assert!(check_offered(&a, "redis").is_err());
    }
}
