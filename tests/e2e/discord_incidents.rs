//! Alert incidents on Discord, as far as Slack's go: a runbook's report
//! ends the incident's thread with the buttons of the actions it offers,
//! a PagerDuty incident's thread offers the PagerDuty built-ins, the
//! root's Acknowledge, Resolve and Reopen run the incident, and a storm
//! of new incidents becomes digest messages instead of a queue of
//! roots. Real signed webhooks in, real Ed25519-signed clicks, the fake
//! Discord and the fake PagerDuty recording what medic sent.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use medic_tests::fakes::discord::all_text;
use medic_tests::fakes::pagerduty::FakePagerDuty;
use medic_tests::signing::pagerduty_signature;
use medic_tests::{FakeDiscord, Options, TestMedic, services, spawn_medic};
use serde_json::{Value, json};

use crate::remediation::{audited_events, files};

const LIMIT: Duration = Duration::from_secs(40);
/// Where alerts are routed.
const ALERTS: &str = "1200000000000000555";
/// Another channel of the same server.
const ELSEWHERE: &str = "1200000000000000556";
const AM_TOKEN: &str = "am-discord-incidents";
/// In `group:sre`.
const ALICE: &str = "520000000000000001";
const BOB: &str = "520000000000000002";
/// In no group.
const MALLORY: &str = "520000000000000009";

fn groups() -> String {
    format!("[groups]\nsre = [\"{ALICE}\", \"{BOB}\"]\n")
}

fn fixture(path: &str) -> Vec<u8> {
    let full = format!(
        "{}/../integrations/tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// A fresh interaction token per click, as Discord gives each one.
fn token() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    format!("tok-incident-click-{}", NEXT.fetch_add(1, Ordering::SeqCst))
}

/// `user` clicks `custom_id` in `channel`, which is a thread of `parent`
/// when given (Discord then sends the thread as `channel_id` and names
/// its parent in `channel.parent_id`). The answer must be a deferred
/// update at once; returns the click's token.
async fn click(
    m: &TestMedic,
    user: &str,
    channel: &str,
    parent: Option<&str>,
    custom_id: &str,
) -> String {
    let token = token();
    m.discord().expect_interaction(&token, channel);
    let mut ch = json!({ "id": channel, "type": 0 });
    if let Some(p) = parent {
        ch = json!({ "id": channel, "type": 11, "parent_id": p });
    }
    let body = json!({
        "id": "1300000000000000200",
        "application_id": medic_tests::DISCORD_APP,
        "type": 3,
        "token": token,
        "version": 1,
        "guild_id": "1290000000000000001",
        "channel_id": channel,
        "channel": ch,
        "member": { "user": { "id": user, "username": user }, "roles": [] },
        "message": { "id": "1300000000000000201", "channel_id": channel },
        "data": { "custom_id": custom_id, "component_type": 2 },
    });
    let (status, answer) = m.interaction(&body).await;
    assert_eq!((status, answer), (200, json!({ "type": 6 })));
    token
}

/// The request buttons in the threads of [`ALERTS`]' roots, as
/// (custom_id, thread, label), once there are at least `n`.
async fn incident_buttons(d: &FakeDiscord, n: usize) -> Vec<(String, String, String)> {
    let found = |d: &FakeDiscord| -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for (root, _) in d.messages_in(ALERTS) {
            for (_, m) in d.messages_in(&root) {
                for row in m["components"].as_array().into_iter().flatten() {
                    for b in row["components"].as_array().into_iter().flatten() {
                        let id = b["custom_id"].as_str().unwrap_or_default();
                        if id.starts_with("medic.request:") {
                            let label = b["label"].as_str().unwrap_or_default().to_string();
                            out.push((id.to_string(), root.clone(), label));
                        }
                    }
                }
            }
        }
        out
    };
    d.wait_until("request buttons in an incident thread", LIMIT, |d| {
        found(d).len() >= n
    })
    .await;
    found(d)
}

/// The text of a message in `thread` matching `pred`, once there is one.
async fn message_in(d: &FakeDiscord, thread: &str, pred: impl Fn(&str) -> bool) -> Value {
    let find = |d: &FakeDiscord| {
        d.messages_in(thread)
            .into_iter()
            .map(|(_, m)| m)
            .find(|m| pred(&all_text(m)))
    };
    d.wait_until("a message in the thread", LIMIT, |d| find(d).is_some())
        .await;
    find(d).unwrap()
}

#[tokio::test]
async fn an_alertmanager_incident_thread_offers_a_button_that_counts_only_there() {
    let dir = tempfile::tempdir().unwrap();
    // A closed port on 127.0.0.2: its trouble lasts until the run.
    let port = services::dead_port().await;
    let m = spawn_medic(Options {
        targets: format!(
            "[targets.svc]\nkind = \"tcp\"\naddress = \"127.0.0.2:{port}\"\ntimeout = \"2s\"\n"
        ),
        extra: format!(
            "[alertmanager]\ntoken = \"{AM_TOKEN}\"\n\n\
             [[routes]]\nmatch = {{ source = \"alertmanager\" }}\ndiscord_channel = \"{ALERTS}\"\n\n\
             [[runbooks]]\nmatch = {{ title = \"(?i)instancedown\" }}\nrun = [\"svc\"]\n\n{}\n\
             [actions.mark]\ntitle = \"Mark a run\"\nkind = \"command\"\nrun = [\"mktemp\", \"-p\", \"{}\"]\n\
             offered_on = [\"svc\"]\nmay_request = [\"group:sre\"]\nmay_approve = [\"group:sre\"]\napprovals = 1\n",
            groups(),
            dir.path().display()
        ),
        discord: true,
        ..Default::default()
    })
    .await;
    let (status, answer) = m
        .post_json(
            "/webhooks/alertmanager",
            &[("authorization", format!("Bearer {AM_TOKEN}"))],
            fixture("alertmanager/webhook_v4_firing_2alerts_captured.json"),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let d = m.discord();

    // Each of the two incidents' threads ends with the action's button.
    let buttons = incident_buttons(d, 2).await;
    let (offer, thread, label) = buttons[0].clone();
    assert_eq!(label, "Mark a run");
    assert_eq!(d.thread(&thread).map(|(p, _)| p).as_deref(), Some(ALERTS));
    let last = d.messages_in(&thread).pop().unwrap().1;
    assert!(
        all_text(&last).contains("Remediations for** `svc`"),
        "the thread ends with the offer: {last}"
    );

    // The same id from the parent channel or another channel: nothing.
    for (channel, parent) in [(ALERTS, None), (ELSEWHERE, None)] {
        let t = click(&m, ALICE, channel, parent, &offer).await;
        let said = d.wait_for_followups(&t, 1, LIMIT).await;
        assert!(said[0].contains("nothing was run"), "{channel}: {said:?}");
    }
    // Nor from the other incident's thread in the same channel.
    let other = buttons.iter().find(|b| b.1 != thread).unwrap().1.clone();
    let t = click(&m, ALICE, &other, Some(ALERTS), &offer).await;
    let said = d.wait_for_followups(&t, 1, LIMIT).await;
    assert!(said[0].contains("nothing was run"), "{said:?}");

    // From its thread: requested, approved by another, run once.
    let t = click(&m, ALICE, &thread, Some(ALERTS), &offer).await;
    let said = d.wait_for_followups(&t, 1, LIMIT).await;
    assert!(said[0].contains("Requested **Mark a run**"), "{said:?}");
    let (approve, _) = d
        .wait_for_buttons(&thread, "medic.approve:", LIMIT)
        .await
        .remove(0);
    assert!(files(dir.path()).is_empty(), "ran before approval");
    click(&m, BOB, &thread, Some(ALERTS), &approve).await;
    let status = message_in(d, &thread, |t| {
        t.contains("Mark a run") && t.contains("succeeded")
    })
    .await;
    assert!(all_text(&status).contains("Approved by"), "{status}");
    assert_eq!(status["components"], json!([]), "decided: no buttons");

    // The same button again: already used, nothing runs again.
    let t = click(&m, BOB, &thread, Some(ALERTS), &offer).await;
    let said = d.wait_for_followups(&t, 1, LIMIT).await;
    assert!(said[0].contains("already used"), "{said:?}");
    assert_eq!(files(dir.path()).len(), 1, "{:?}", files(dir.path()));

    let events = audited_events(&m).await;
    for e in ["offered", "refused", "requested", "approved", "succeeded"] {
        assert!(events.iter().any(|x| x == e), "{e} not audited: {events:?}");
    }
    assert_eq!(events.iter().filter(|e| *e == "refused").count(), 4);
    assert!(m.slack.calls().is_empty(), "nothing went to Slack");
    m.stop().await.unwrap();
}

#[tokio::test]
async fn a_pagerduty_incident_on_discord_acknowledges_once() {
    const PD_SECRET: &str = "pd-webhook-s3cret-discord";
    const PD_TOKEN: &str = "u+pdRestKeyDiscord0123456";
    let pd = FakePagerDuty::start(PD_TOKEN).await;
    let m = spawn_medic(Options {
        extra: format!(
            "[pagerduty]\nwebhook_secrets = [\"{PD_SECRET}\"]\napi_url = \"{}\"\n\
             api_token = \"{PD_TOKEN}\"\nfrom = \"oncall@example.com\"\n\n\
             [[routes]]\nmatch = {{}}\ndiscord_channel = \"{ALERTS}\"\n\n{}\n\
             [actions.pd-ack]\ntitle = \"Acknowledge\"\nkind = \"pagerduty.acknowledge\"\n\
             offered_on = [\"source:pagerduty\"]\nmay_request = [\"group:sre\"]\n",
            pd.api_url(),
            groups()
        ),
        discord: true,
        ..Default::default()
    })
    .await;
    let data: Value = serde_json::from_slice(&fixture(
        "pagerduty/webhook_v3_event_data_incident_docs.json",
    ))
    .unwrap();
    let incident = data["id"].as_str().unwrap().to_string();
    let body = serde_json::to_vec(&json!({"event": {
        "id": "01BUX6JVJWGM9Q9B0FXTXDYKWJ",
        "event_type": "incident.triggered",
        "resource_type": "incident",
        "occurred_at": "2020-04-09T15:16:27.000Z",
        "agent": null,
        "client": null,
        "data": data,
    }}))
    .unwrap();
    let sig = pagerduty_signature(PD_SECRET, &body);
    let (status, answer) = m
        .post_json(
            "/webhooks/pagerduty",
            &[
                ("x-pagerduty-signature", sig),
                ("x-webhook-id", "pd-discord-1".into()),
            ],
            body,
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let d = m.discord();
    let (offer, thread, label) = incident_buttons(d, 1).await.remove(0);
    assert_eq!(label, "Acknowledge");
    let offer_text = d
        .messages_in(&thread)
        .iter()
        .map(|(_, m)| all_text(m))
        .collect::<String>();
    assert!(
        offer_text.contains(&format!("PagerDuty incident {incident}")),
        "{offer_text}"
    );
    assert!(pd.calls().is_empty());

    click(&m, ALICE, &thread, Some(ALERTS), &offer).await;
    message_in(d, &thread, |t| {
        t.contains("Acknowledge") && t.contains("succeeded")
    })
    .await;
    let t = click(&m, BOB, &thread, Some(ALERTS), &offer).await;
    let said = d.wait_for_followups(&t, 1, LIMIT).await;
    assert!(said[0].contains("already used"), "{said:?}");
    let calls = pd.calls();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(calls[0].method, "PUT");
    assert_eq!(calls[0].path, format!("/incidents/{incident}"));
    assert_eq!(
        calls[0].body,
        json!({"incident": {"type": "incident_reference", "status": "acknowledged"}})
    );
    m.stop().await.unwrap();
}

/// The `custom_id`s of a message's buttons, in order.
fn custom_ids(m: &Value) -> Vec<String> {
    m["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["custom_id"].as_str().map(str::to_string))
        .collect()
}

/// The messages in `thread` whose text is `line`.
fn said_in(d: &FakeDiscord, thread: &str, line: &str) -> usize {
    d.messages_in(thread)
        .iter()
        .filter(|(_, m)| all_text(m) == line)
        .count()
}

/// The messages in `thread` whose text mentions `user`.
fn naming(d: &FakeDiscord, thread: &str, user: &str) -> usize {
    d.messages_in(thread)
        .iter()
        .filter(|(_, m)| all_text(m).contains(&format!("<@{user}>")))
        .count()
}

/// Waits until message `root` offers exactly the buttons `want`; returns
/// it as it reads then.
async fn offering(d: &FakeDiscord, root: &str, want: &[&str]) -> Value {
    let offers = |d: &FakeDiscord| d.message(root).is_some_and(|m| custom_ids(&m) == want);
    d.wait_until(&format!("the root offering {want:?}"), LIMIT, offers)
        .await;
    d.message(root).unwrap()
}

/// The same as on Slack (incident_response.rs), through Discord's
/// interactions: each press on the root edits it (its buttons follow the
/// incident's state) and says who did what once in its thread; someone
/// `may_respond` does not name is told privately and nothing changes;
/// every press is in the audit log.
#[tokio::test]
async fn a_discord_incident_is_acknowledged_resolved_and_reopened_from_its_root() {
    use medic_commands::model::alert::{Alert, AlertSource, AlertState, Severity};

    let m = spawn_medic(Options {
        extra: format!(
            "[[routes]]\nmatch = {{}}\ndiscord_channel = \"{ALERTS}\"\n\n{}\n\
             [incidents]\nmay_respond = [\"group:sre\"]\n",
            groups()
        ),
        discord: true,
        ..Default::default()
    })
    .await;
    m.deliver(
        "d1",
        Alert {
            source: AlertSource::Sentry,
            fingerprint: "9001".into(),
            state: AlertState::Firing,
            title: "DatabaseConnectionError: too many clients".into(),
            severity: Severity::Error,
            service: Some("api".into()),
            host: None,
            labels: vec![],
            occurred_at: None,
            link: None,
            details: vec![],
            chain: vec![],
        },
    )
    .await;
    let d = m.discord();
    let (first, root) = d
        .wait_for_buttons(ALERTS, "medic.ack:", LIMIT)
        .await
        .remove(0);
    let id = first.strip_prefix("medic.ack:").unwrap().to_string();
    let (ack, resolve, reopen) = (
        format!("medic.ack:{id}"),
        format!("medic.resolve:{id}"),
        format!("medic.reopen:{id}"),
    );
    let before = offering(d, &root, &[&ack, &resolve]).await;
    assert!(all_text(&before).starts_with("🔴 "), "{before}");

    // Not in group:sre: refused privately; the root and thread stay.
    let t = click(&m, MALLORY, ALERTS, None, &resolve).await;
    let said = d.wait_for_followups(&t, 1, LIMIT).await;
    assert!(said[0].contains("may not resolve"), "{said:?}");
    assert!(
        said[0].contains("may_respond = [\"group:sre\"]"),
        "{said:?}"
    );
    m.idle().await;
    assert_eq!(d.message(&root).unwrap(), before, "the root is unchanged");
    assert_eq!(naming(d, &root, MALLORY), 0);

    // alice acknowledges: the root says so and offers only Resolve.
    click(&m, ALICE, ALERTS, None, &ack).await;
    let now = offering(d, &root, &[&resolve]).await;
    assert!(
        all_text(&now).contains(&format!("acknowledged by <@{ALICE}>")),
        "{now}"
    );
    let acked = format!("👀 Acknowledged by <@{ALICE}>");
    d.wait_until("the acknowledgement in the thread", LIMIT, |d| {
        said_in(d, &root, &acked) == 1
    })
    .await;

    // alice resolves: the root reads resolved and offers Reopen.
    click(&m, ALICE, ALERTS, None, &resolve).await;
    let now = offering(d, &root, &[&reopen]).await;
    let text = all_text(&now);
    assert!(text.starts_with("✅ "), "{text}");
    assert!(text.contains("resolved"), "{text}");
    assert!(!text.contains("acknowledged by"), "{text}");
    let resolved = format!("✅ Resolved by <@{ALICE}>");
    d.wait_until("the resolve in the thread", LIMIT, |d| {
        said_in(d, &root, &resolved) == 1
    })
    .await;

    // bob reopens: open again, Acknowledge and Resolve offered again.
    click(&m, BOB, ALERTS, None, &reopen).await;
    let now = offering(d, &root, &[&ack, &resolve]).await;
    assert!(all_text(&now).starts_with("🔴 "), "{now}");
    let reopened = format!("↩️ Reopened by <@{BOB}>");
    d.wait_until("the reopening in the thread", LIMIT, |d| {
        said_in(d, &root, &reopened) == 1
    })
    .await;

    // Each press edited the root in place, with that state's buttons, and
    // said so once in the thread.
    m.idle().await;
    let mut edits: Vec<Vec<String>> = d
        .calls_to("edit_message")
        .into_iter()
        .filter(|c| c.path == format!("/channels/{ALERTS}/messages/{root}") && c.status == 200)
        .map(|c| custom_ids(&c.body))
        .collect();
    edits.dedup();
    assert_eq!(
        edits,
        [
            vec![resolve.clone()],
            vec![reopen.clone()],
            vec![ack.clone(), resolve.clone()]
        ]
    );
    let posted = d
        .calls_to("create_message")
        .into_iter()
        .filter(|c| c.path == format!("/channels/{ALERTS}/messages"))
        .count();
    assert_eq!(posted, 1, "one root in the channel, edited in place");
    for line in [&acked, &resolved, &reopened] {
        assert_eq!(said_in(d, &root, line), 1, "{line}");
    }
    assert_eq!(naming(d, &root, MALLORY), 0, "the refusal was private");

    // Every press is audited, refused or not, in the verified chain.
    audited_events(&m).await;
    let rows: Vec<(String, String, String)> = m
        .state
        .store
        .audit_rows()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "incident")
        .map(|r| (r.event, r.actor, r.target))
        .collect();
    let target = format!("incident #{id}");
    let row = |event: &str, actor: &str| (event.to_string(), actor.to_string(), target.clone());
    assert_eq!(
        rows,
        [
            row("refused", MALLORY),
            row("acknowledged", ALICE),
            row("resolved", ALICE),
            row("reopened", BOB),
        ]
    );
    assert!(m.slack.calls().is_empty(), "nothing went to Slack");
    m.stop().await.unwrap();
}

mod storm {
    use medic_commands::model::alert::{Alert, AlertSource, AlertState, Severity};

    use super::*;

    fn alert(i: usize, state: AlertState) -> Alert {
        Alert {
            source: AlertSource::Sentry,
            fingerprint: format!("storm-{i}"),
            state,
            title: format!("TimeoutError: upstream {i} timed out"),
            severity: Severity::Error,
            service: Some("api".into()),
            host: None,
            labels: vec![],
            occurred_at: None,
            link: Some(format!("https://sentry.io/organizations/acme/issues/{i}/")),
            details: vec![],
            chain: vec![],
        }
    }

    async fn deliver(m: &TestMedic, id: &str, alert: Alert) {
        m.deliver(id, alert).await;
    }

    /// The top-level messages of [`ALERTS`] as they read now.
    fn roots(d: &FakeDiscord) -> Vec<(String, String)> {
        d.messages_in(ALERTS)
            .into_iter()
            .map(|(id, m)| (id, all_text(&m)))
            .collect()
    }

    #[tokio::test]
    async fn a_storm_on_discord_becomes_digests_and_loses_nothing() {
        const N: usize = 30;
        let m = spawn_medic(Options {
            extra: format!(
                "[[routes]]\nmatch = {{ source = \"sentry\" }}\ndiscord_channel = \"{ALERTS}\"\n\n\
                 [incidents]\ndigest_after = 5\n"
            ),
            discord: true,
            ..Default::default()
        })
        .await;
        let d = m.discord();
        // Discord is busy once on the way: medic waits it out.
        d.rate_limit("create_message", 1, 0.5);
        for i in 0..N {
            deliver(&m, &format!("s{i}"), alert(i, AlertState::Firing)).await;
        }
        let title = |i: usize| format!("upstream {i} timed out");
        d.wait_until("every incident visible in the channel", LIMIT, |d| {
            let all: String = roots(d).into_iter().map(|(_, t)| t).collect();
            (0..N).all(|i| all.contains(&title(i)))
        })
        .await;
        let now = roots(d);
        let digests: Vec<&(String, String)> = now
            .iter()
            .filter(|(_, t)| t.contains("new incidents at once"))
            .collect();
        assert!(!digests.is_empty(), "{now:#?}");
        assert!(
            now.len() <= 6,
            "{} top-level messages for {N} incidents: {now:#?}",
            now.len()
        );
        // A digest has its thread, named for its incidents.
        let (digest, _) = digests[0];
        d.wait_until("the digest's thread", LIMIT, |d| d.thread(digest).is_some())
            .await;
        let (parent, name) = d.thread(digest).unwrap();
        assert_eq!(parent, ALERTS);
        assert!(name.contains("new incidents"), "{name}");

        // A repeat and a resolve of an incident in a digest edit its line
        // and note it in the digest's thread, headed by the incident.
        let i = (0..N)
            .rev()
            .find(|i| digests.iter().any(|(_, t)| t.contains(&title(*i))))
            .unwrap();
        deliver(&m, "again", alert(i, AlertState::Firing)).await;
        d.wait_until("seen 2× in the digest", LIMIT, |d| {
            roots(d)
                .iter()
                .any(|(_, t)| t.contains(&title(i)) && t.contains("api · error · seen 2×"))
        })
        .await;
        deliver(&m, "resolved", alert(i, AlertState::Resolved)).await;
        let holder = digests
            .iter()
            .find(|(_, t)| t.contains(&title(i)))
            .unwrap()
            .0
            .clone();
        d.wait_until("the resolve in the digest and its thread", LIMIT, |d| {
            let line = d.message(&holder).map(|m| all_text(&m)).unwrap_or_default();
            let note = d.messages_in(&holder).iter().any(|(_, m)| {
                let t = all_text(m);
                t.contains("✅ Resolved at") && t.contains(&title(i))
            });
            line.contains("1 resolved since") && line.contains("✅ #") && note
        })
        .await;

        // Nothing lost, nothing refused, every 429 waited out.
        let incidents = m.state.store.incidents().await.unwrap();
        assert_eq!(incidents.len(), N);
        assert!(
            incidents.iter().all(|i| i.root_ts.is_some()),
            "every incident has a thread"
        );
        assert_eq!(m.state.store.outbox_count("failed").await.unwrap(), 0);
        let calls = d.calls();
        assert!(
            calls.iter().all(|c| c.status == 200 || c.status == 429),
            "{calls:#?}"
        );
        let creates = d.calls_to("create_message");
        let first_429 = creates.iter().position(|c| c.status == 429).unwrap();
        let next = &creates[first_429 + 1];
        assert!(
            next.at.duration_since(creates[first_429].at) >= Duration::from_millis(500),
            "retry_after honoured"
        );
        assert_eq!(
            creates.iter().filter(|c| c.status == 429).count(),
            1,
            "paced within Discord's limit apart from the forced 429"
        );
        m.stop().await.unwrap();
    }
}

/// `user` types `/incident ACTION [DETAIL]` in `channel` (a thread of
/// `parent` when given); medic's immediate answer.
async fn incident_command(
    m: &TestMedic,
    user: &str,
    channel: &str,
    parent: Option<&str>,
    action: &str,
    detail: Option<&str>,
) -> Value {
    let mut ch = json!({ "id": channel, "type": 0 });
    if let Some(p) = parent {
        ch = json!({ "id": channel, "type": 11, "parent_id": p });
    }
    let mut options = vec![json!({ "name": "action", "type": 3, "value": action })];
    if let Some(d) = detail {
        options.push(json!({ "name": "detail", "type": 3, "value": d }));
    }
    let body = json!({
        "id": "1300000000000000300",
        "application_id": medic_tests::DISCORD_APP,
        "type": 2,
        "token": token(),
        "version": 1,
        "guild_id": "1290000000000000001",
        "channel_id": channel,
        "channel": ch,
        "member": { "user": { "id": user, "username": user }, "roles": [] },
        "data": { "id": "1300000000000000301", "name": "incident", "type": 1, "options": options },
    });
    let (status, answer) = m.interaction(&body).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// The text of an immediate answer.
fn content(answer: &Value) -> String {
    answer["data"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// `/incident` typed in an incident's Discord thread runs that incident
/// (the thread is the channel Discord names), as its buttons do; one
/// typed in the channel declares a new one there.
#[tokio::test]
async fn incident_commands_typed_in_a_discord_thread_run_its_incident() {
    let m = spawn_medic(Options {
        extra: format!(
            "[alertmanager]\ntoken = \"{AM_TOKEN}\"\n\n\
             [[routes]]\nmatch = {{ source = \"alertmanager\" }}\ndiscord_channel = \"{ALERTS}\"\n\n{}\n\
             [incidents]\nmay_respond = [\"group:sre\"]\n",
            groups()
        ),
        discord: true,
        ..Default::default()
    })
    .await;
    let (status, answer) = m
        .post_json(
            "/webhooks/alertmanager",
            &[("authorization", format!("Bearer {AM_TOKEN}"))],
            fixture("alertmanager/webhook_v4_firing_2alerts_captured.json"),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let d = m.discord();
    d.wait_until("two roots with threads", LIMIT, |d| {
        let roots = d.messages_in(ALERTS);
        roots.len() == 2 && roots.iter().all(|(id, _)| d.thread(id).is_some())
    })
    .await;
    let (root, _) = d.messages_in(ALERTS).remove(0);
    let other = d.messages_in(ALERTS).remove(1).0;

    // Not allowed: refused privately, and the root stays as it was.
    let said = incident_command(&m, MALLORY, &root, Some(ALERTS), "resolve", None).await;
    assert_eq!(said["data"]["flags"], 64, "private: {said}");
    assert!(content(&said).contains("you may not resolve"), "{said}");

    let said = incident_command(&m, ALICE, &root, Some(ALERTS), "ack", None).await;
    assert_eq!(said["data"]["flags"], 64, "private: {said}");
    message_in(d, &root, |t| {
        t.contains(&format!("Acknowledged by <@{ALICE}>"))
    })
    .await;
    d.wait_until("the root acknowledged", LIMIT, |d| {
        all_text(&d.message(&root).unwrap()).contains(&format!("acknowledged by <@{ALICE}>"))
    })
    .await;
    assert!(
        !all_text(&d.message(&other).unwrap()).contains("acknowledged by"),
        "only the incident of the thread it was typed in"
    );

    let said = incident_command(&m, ALICE, &root, Some(ALERTS), "sev", Some("P0")).await;
    assert!(content(&said).contains("is P0 now"), "{said}");
    let said = incident_command(&m, ALICE, &root, Some(ALERTS), "timeline", None).await;
    let text = content(&said);
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing from {text}"))
    };
    assert!(
        [
            at("Alert from Alertmanager"),
            at("Acknowledged —"),
            at("Severity P1 → P0")
        ]
        .is_sorted(),
        "{text}"
    );

    // Declared in the channel: a third root there, at its level.
    let said = incident_command(
        &m,
        BOB,
        ALERTS,
        None,
        "declare",
        Some("Payments failing P1"),
    )
    .await;
    assert!(
        content(&said).contains("Declared **Payments failing** as P1"),
        "{said}"
    );
    d.wait_until("the declared incident's root", LIMIT, |d| {
        d.messages_in(ALERTS)
            .iter()
            .any(|(_, m)| all_text(m).contains("Payments failing") && all_text(m).contains("P1"))
    })
    .await;
    m.stop().await.unwrap();
}
