//! `/diag` of a docker target blames a container's start right after a new
//! image on that deploy: an image tagged on the tests' real dockerd, a
//! container created from it a moment later, and the report's root leads
//! with the image as the likely cause, the image line as evidence.

use std::time::Duration;

use medic_tests::{CHANNEL, spawn_with_targets};

use crate::docker::{Docker, IMAGE};

const LIMIT: Duration = Duration::from_secs(60);

/// What the report said, first lines of each message, for a failure
/// message short enough to survive a CI log's truncation.
fn said(posts: &[medic_tests::fakes::slack::Call]) -> String {
    posts
        .iter()
        .map(|c| c.all_text().chars().take(300).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n---\n")
}

#[tokio::test]
async fn a_container_started_right_after_a_new_image_is_blamed_on_that_deploy() {
    let Some(d) = Docker::connect() else {
        return;
    };
    // The deploy: a new tag on this host, then a container from it.
    let web = d.name("web");
    let image = format!("medic-test/{web}:2");
    d.cli(&["tag", IMAGE, &image]);
    let _untag = Untag(&d, image.clone());
    d.cli(&["run", "-d", "--name", &web, &image, "sleep", "600"]);

    let medic = spawn_with_targets(format!(
        "[targets.app]\nkind = \"docker\"\nhost = \"{}\"\ncontainers = [\"{web}\"]\ntimeout = \"30s\"\n",
        d.host
    ))
    .await;
    medic.slash("/diag", "app").await;
    let (root, posts) = medic.slack.wait_for_report(CHANNEL, LIMIT).await;
    let likely = format!("Likely cause: new image {image} on app, ");
    assert!(
        root.contains(&likely) && root.contains(&format!(" before the start of {web}")),
        "root: {root}\nthe report: {}",
        said(&posts)
    );
    // The thread's likely-cause message, with its evidence and next check.
    let cause = medic
        .slack
        .wait_for_message(CHANNEL, LIMIT, |t| t.contains("Likely cause ("))
        .await;
    assert!(cause.contains("Likely cause (deploy)"), "{cause}");
    assert!(
        cause.contains(&format!("{web} runs {image} (")) && cause.contains("a new image: built"),
        "the image is evidence: {cause}"
    );
    assert!(cause.contains("docker logs"), "the next check: {cause}");
    medic.stop().await.unwrap();
}

/// Removes the test's tag (its container is removed by [`Docker`]'s drop).
struct Untag<'a>(&'a Docker, String);

impl Drop for Untag<'_> {
    fn drop(&mut self) {
        // The container still uses it until Docker's own drop: untag only.
        let _ = self.0.try_cli(&["rmi", "--no-prune", &self.1]);
    }
}
