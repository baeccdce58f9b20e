//! A per-person limit on commands, so that a runaway script or a stuck key
//! cannot turn medic into a load generator against production.
//!
//! Keyed on (platform, user id): the same person on Slack and Discord has
//! separate budgets, and display names (which people can change) play no
//! part. Keys are evicted by [`CommandLimiter::forget_idle`] on a timer,
//! because governor never evicts on its own (docs/crates.md § governor).

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use medic_commands::model::inbound::Platform;

/// Commands per person per minute, with a burst.
#[derive(Debug)]
pub struct CommandLimiter {
    limiter: DefaultKeyedRateLimiter<(Platform, Person)>,
}

/// A person's id as a key, held inline when it fits (Slack's `U…` ids and
/// Discord's snowflakes all do): every command is checked, and a check
/// must not allocate. A longer id is boxed; an id always takes the same
/// form, so the derived comparisons are those of the id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Person {
    Inline { len: u8, bytes: [u8; INLINE] },
    Boxed(Box<str>),
}

const INLINE: usize = 30;

impl Person {
    fn new(id: &str) -> Person {
        match id.len() {
            len @ 0..=INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..len].copy_from_slice(id.as_bytes());
                Person::Inline {
                    len: len as u8,
                    bytes,
                }
            }
            _ => Person::Boxed(id.into()),
        }
    }
}

impl CommandLimiter {
    /// `per_minute` commands a minute, `burst` at once (both at least 1).
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute.max(1)).expect("max(1) is non-zero");
        let burst = NonZeroU32::new(burst.max(1)).expect("max(1) is non-zero");
        CommandLimiter {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
        }
    }

    /// `Ok` when this person may run a command now; otherwise how long to
    /// wait.
    pub fn check(&self, platform: Platform, user: &str) -> Result<(), Duration> {
        self.limiter
            .check_key(&(platform, Person::new(user)))
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Drops the state of people who are back to a full budget.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_the_person_waits() {
        let l = CommandLimiter::new(6, 2);
        assert!(l.check(Platform::Slack, "U1").is_ok());
        assert!(l.check(Platform::Slack, "U1").is_ok());
        let wait = l.check(Platform::Slack, "U1").unwrap_err();
        assert!(
            wait > Duration::from_secs(5) && wait <= Duration::from_secs(10),
            "{wait:?}"
        );
        // Another person, or the same id on another platform, is unaffected.
        assert!(l.check(Platform::Slack, "U2").is_ok());
        assert!(l.check(Platform::Discord, "U1").is_ok());
    }

    #[test]
    fn ids_are_told_apart_inline_and_boxed() {
        let long = "U".repeat(INLINE + 1);
        let longer = "U".repeat(INLINE + 2);
        assert_eq!(Person::new("U1"), Person::new("U1"));
        assert_ne!(Person::new("U1"), Person::new("U1\0"));
        assert_ne!(Person::new("U1"), Person::new("U12"));
        assert_eq!(Person::new(&long), Person::new(&long));
        assert_ne!(Person::new(&long), Person::new(&longer));
        assert!(matches!(
            Person::new(&"U".repeat(INLINE)),
            Person::Inline { .. }
        ));
        let l = CommandLimiter::new(6, 1);
        assert!(l.check(Platform::Slack, &long).is_ok());
        assert!(l.check(Platform::Slack, &long).is_err());
        assert!(l.check(Platform::Slack, &longer).is_ok());
    }
}
