//! The lease against the real Redis: one holder at a time, a lapsed
//! holder can neither renew nor delete what another took, and a released
//! key is free at once.

use std::time::Duration;

use medic::lease::Lease;
use medic_tests::require_redis;
use medic_tests::services::redis_cmd;
use medic_tests::wait::eventually;

#[tokio::test]
async fn one_holder_at_a_time_and_a_lapsed_holder_cannot_touch_its_successor() {
    let redis = require_redis!();
    let key = format!("medic:test:lease:{}", std::process::id());
    let ttl = Duration::from_millis(400);
    let mut a = Lease::connect(&redis, &key, ttl).await.unwrap();
    let mut b = Lease::connect(&redis, &key, ttl).await.unwrap();
    assert_ne!(a.holder(), b.holder());

    assert!(a.try_acquire().await.unwrap());
    assert!(!b.try_acquire().await.unwrap(), "held");
    // Renewed, it outlives its first TTL. These two sleeps are the
    // subject, not a wait: the renewal must come late in the first TTL,
    // and the check after that TTL has run out, which only the clock
    // tells (nothing happens in Redis when a TTL does *not* expire).
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(a.renew().await.unwrap());
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(!b.try_acquire().await.unwrap(), "still held after renewal");

    // Not renewed, it lapses (Redis drops the key) and the other takes it.
    eventually(
        "the lease's key expiring",
        Duration::from_secs(10),
        || async {
            match redis_cmd(&redis, &["EXISTS", &key]).await {
                Ok(redis::Value::Int(0)) => Ok(()),
                other => Err(format!("EXISTS: {other:?}")),
            }
        },
    )
    .await;
    assert!(b.try_acquire().await.unwrap(), "lapsed");
    assert!(
        !a.renew().await.unwrap(),
        "a lapsed holder cannot extend it"
    );
    assert!(!a.release().await.unwrap(), "nor delete it");
    assert!(!a.try_acquire().await.unwrap());

    // Released, it is free at once.
    assert!(b.release().await.unwrap());
    assert!(a.try_acquire().await.unwrap());
    assert!(a.release().await.unwrap());
}
