//! Purpose: what triage's timeline reads back from a docker report — which
//! container a start or an OOM kill was about, which image is new — from
//! the findings this module writes, so the phrasing and its reading live
//! side by side (`triage::timeline::from_reports` calls these).
//!
//! Every container finding's summary begins with the container's name
//! (Docker names have no spaces), and an image finding says "… runs IMAGE
//! (ID)" (references have no spaces either).

use crate::model::report::Finding;

/// The container a `docker.started`, `docker.crash_loop` or `docker.oom`
/// finding is about.
pub fn container(f: &Finding) -> Option<String> {
    f.summary.split_whitespace().next().map(str::to_string)
}

/// The image a `docker.image` finding names.
pub fn image(f: &Finding) -> Option<String> {
    let (_, rest) = f
        .summary
        .split_once(" runs ")
        .or_else(|| f.summary.split_once(" run "))?;
    rest.split_whitespace().next().map(str::to_string)
}
