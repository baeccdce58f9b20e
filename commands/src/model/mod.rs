//! The platform-neutral model: what every adapter translates to and from.

pub mod alert;
pub mod declared;
pub mod diagnosis;
pub mod inbound;
pub mod incident;
pub mod postmortem;
pub mod priority;
pub mod report;
pub mod timeline;
pub mod word;
