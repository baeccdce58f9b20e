//! On-call rotations: who is on call, read from where a rotation is kept.

pub mod pagerduty;
