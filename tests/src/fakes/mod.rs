//! Faithful fakes of the APIs medic calls but tests cannot reach. Each
//! checks authentication like the real one, enforces its documented
//! limits, and records every call for assertions.

pub mod discord;
pub mod discord_gateway;
pub mod kubernetes;
pub mod pagerduty;
pub mod sentry;
pub mod slack;
pub mod socket_mode;
pub mod vendor;
