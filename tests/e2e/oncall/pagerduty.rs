//! A rotation read from a PagerDuty schedule on the fake PagerDuty REST
//! API: `/oncall` names who PagerDuty says, matched to people by email or
//! PagerDuty id; with PagerDuty down, it says the schedule could not be
//! read and shows the last known answer with its age.

use std::time::Duration;

use jiff::{Timestamp, ToSpan};
use medic_tests::fakes::pagerduty::{FakeOncall, FakePagerDuty};
use medic_tests::fakes::vendor::Trouble;
use medic_tests::{Options, ephemeral_text, spawn_medic};

use super::{LIMIT, ONCALL};

const TOKEN: &str = "pd-rest-token";

#[tokio::test]
async fn oncall_reads_a_pagerduty_schedule_and_says_when_it_cannot() {
    let pd = FakePagerDuty::start(TOKEN).await;
    let now = Timestamp::now();
    let (a, b, c) = (now - 2.hours(), now + 5.hours(), now + 29.hours());
    pd.set_oncalls(
        "PSCHED1",
        vec![
            FakeOncall::new(
                "PALICE",
                "Alice A.",
                "alice@example.com",
                &a.to_string(),
                &b.to_string(),
            ),
            FakeOncall::new(
                "PBOB",
                "Bob B.",
                "bob@pd.example.com",
                &b.to_string(),
                &c.to_string(),
            ),
            // The escalation policy's second level: not the rotation.
            FakeOncall::new(
                "PLEAD",
                "Lead",
                "lead@example.com",
                &a.to_string(),
                &c.to_string(),
            )
            .level(2),
        ],
    );
    let m = spawn_medic(Options {
        extra: format!(
            "[pagerduty]\nwebhook_secrets = [\"whsec\"]\napi_url = \"{}\"\napi_token = \"{TOKEN}\"\n\
             [oncall.people.alice]\nslack = \"U0ALICE\"\nemail = \"Alice@Example.com\"\n\
             [oncall.people.bob]\nslack = \"U0BOB\"\npagerduty = \"PBOB\"\n\
             [[oncall.rotations]]\nname = \"db\"\npagerduty_schedule = \"PSCHED1\"\ntime_zone = \"UTC\"\n\
             slack_channel = \"{ONCALL}\"\n",
            pd.api_url()
        ),
        ..Default::default()
    })
    .await;
    medic_tests::wait::eventually("the schedule read", LIMIT, || async {
        let answer = ephemeral_text(m.slash("/oncall", "db").await).await;
        if answer.starts_with("*db*: <@U0ALICE> until") {
            Ok(answer)
        } else {
            Err(answer)
        }
    })
    .await;
    let answer = ephemeral_text(m.slash("/oncall", "db").await).await;
    assert!(answer.contains("next <@U0BOB> until"), "{answer}");
    assert!(!answer.contains("could not be read"), "{answer}");
    let call = &pd.oncalls_calls()[0];
    assert_eq!(call.params("schedule_ids[]"), vec!["PSCHED1"]);

    // PagerDuty fails the next read (five minutes on): the last known
    // answer stays, and says how old it is.
    pd.then(Trouble::Status(500));
    m.state.clock.advance(Duration::from_secs(5 * 60));
    medic_tests::wait::eventually("the failed read", LIMIT, || async {
        let n = pd.oncalls_calls().len();
        if n >= 2 {
            Ok(())
        } else {
            Err(format!("{n} read(s)"))
        }
    })
    .await;
    let answer = medic_tests::wait::eventually("the warning", LIMIT, || async {
        let answer = ephemeral_text(m.slash("/oncall", "").await).await;
        if answer.contains("could not be read") {
            Ok(answer)
        } else {
            Err(answer)
        }
    })
    .await;
    assert!(answer.starts_with("*db*: <@U0ALICE> until"), "{answer}");
    assert!(
        answer.contains("PagerDuty schedule PSCHED1 could not be read"),
        "{answer}"
    );
    assert!(
        answer.contains("the last known, read 5 min ago"),
        "{answer}"
    );
    m.stop().await.unwrap();
}
