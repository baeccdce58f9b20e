//! Purpose: `docker image inspect` of what each container runs — the image
//! and when it was built (or tagged on this host) — because "was there a
//! recent deploy?" is the runbooks' first question, and on a Compose host a
//! new image *is* the deploy. Triage reads the time as a deploy on the
//! timeline (`triage::timeline::from_reports`), so a restart right after it
//! is blamed on it.

use std::collections::BTreeMap;

use bollard::models::ImageInspect;
use time::OffsetDateTime;

use super::RECENT_START;
use super::client::within;
use super::session::{Session, api_failed};
use super::state::{parse_time, when};
use crate::model::report::Finding;

/// When the image became what it is on this host: built (`Created`), or
/// tagged here later (`Metadata.LastTagTime`: `docker build`, `tag`,
/// `import` on this host), whichever is later.
pub fn arrived(i: &ImageInspect) -> Option<OffsetDateTime> {
    let created = parse_time(i.created.as_deref());
    let tagged = i
        .metadata
        .as_ref()
        .and_then(|m| parse_time(m.last_tag_time.as_deref()));
    created.max(tagged)
}

/// The short id `docker images` shows.
fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

/// One image and the containers running it.
pub fn reading(name: &str, users: &[String], i: &ImageInspect, now: OffsetDateTime) -> Finding {
    let id = short_id(i.id.as_deref().unwrap_or("?"));
    let who = users.join(", ");
    let verb = if users.len() == 1 { "runs" } else { "run" };
    match arrived(i) {
        Some(t) if now - t <= RECENT_START && t <= now + time::Duration::minutes(1) => Finding::ok(
            "docker.image",
            format!(
                "{who} {verb} {name} ({id}), a new image: built {}",
                when(t, now)
            ),
        )
        .with_detail(
            "A new image is a deploy: errors that began after it point at what it changed.",
        )
        .at(t),
        Some(t) => Finding::ok(
            "docker.image",
            format!("{who} {verb} {name} ({id}), built {}", when(t, now)),
        )
        .at(t),
        None => Finding::ok("docker.image", format!("{who} {verb} {name} ({id})")),
    }
}

/// The image check: each distinct image once.
pub async fn check(session: Session, now: OffsetDateTime) -> Vec<Finding> {
    // image id → (the name it was asked by, its containers)
    let mut images: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for c in session.containers.iter() {
        let Some(id) = c.inspect.image.clone() else {
            continue;
        };
        let name = c
            .inspect
            .config
            .as_ref()
            .and_then(|cfg| cfg.image.clone())
            .unwrap_or_else(|| short_id(&id).to_string());
        images
            .entry(id)
            .or_insert((name, Vec::new()))
            .1
            .push(c.label());
    }
    let inspected = futures::future::join_all(
        images
            .keys()
            .map(|id| within(session.budget, session.docker.inspect_image(id))),
    )
    .await;
    images
        .iter()
        .zip(inspected)
        .map(|((_, (name, users)), r)| match r {
            Ok(i) => reading(name, users, &i, now),
            // A removed image still runs in its containers.
            Err(e) if e.status() == Some(404) => Finding::ok(
                "docker.image",
                format!(
                    "{} {name}, an image since removed from this host",
                    users.join(", ")
                ),
            ),
            Err(e) => api_failed("docker.image", &format!("Inspecting the image {name}"), &e),
        })
        .collect()
}
