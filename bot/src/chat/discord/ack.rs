//! Whether an interaction's first response has reached Discord yet.
//!
//! Discord accepts follow-ups and edits of `@original` through an
//! interaction's token only once the interaction has been answered. Over
//! HTTP the answer is the response body, on its way before any background
//! job can start; over the gateway it is a separate call
//! (`POST /interactions/{id}/{token}/callback`), and a report of a healthy
//! Redis can be ready in milliseconds — before that call has landed. So
//! the work an interaction starts holds an [`Acked`] and waits on it just
//! before it first uses the token; the transport resolves it.

use tokio::sync::watch;

/// Waits for an interaction's first response (cheap to clone).
#[derive(Debug, Clone)]
pub struct Acked(watch::Receiver<Option<bool>>);

/// Resolves the [`Acked`] handles of one interaction.
#[derive(Debug)]
pub struct Acknowledge(watch::Sender<Option<bool>>);

impl Acked {
    /// Already answered: HTTP interactions, whose answer is the response
    /// itself.
    pub fn already() -> Acked {
        let (_tx, rx) = watch::channel(Some(true));
        Acked(rx)
    }

    /// Not answered yet: the transport calls [`Acknowledge::done`].
    pub fn pending() -> (Acknowledge, Acked) {
        let (tx, rx) = watch::channel(None);
        (Acknowledge(tx), Acked(rx))
    }

    /// Whether the response reached Discord; `false` when it failed or the
    /// transport gave up without saying (then the token is of no use).
    pub async fn wait(&self) -> bool {
        let mut rx = self.0.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(v) => v.unwrap_or(false),
            Err(_) => false,
        }
    }
}

impl Acknowledge {
    /// Says whether the response reached Discord.
    pub fn done(self, delivered: bool) {
        let _ = self.0.send(Some(delivered));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_learn_the_outcome_and_a_dropped_transport_means_not_answered() {
        assert!(Acked::already().wait().await);

        let (ack, acked) = Acked::pending();
        let waiter = tokio::spawn({
            let acked = acked.clone();
            async move { acked.wait().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "it waits for the transport");
        ack.done(true);
        assert!(waiter.await.unwrap());
        assert!(acked.wait().await, "later waiters see it too");

        let (ack, acked) = Acked::pending();
        ack.done(false);
        assert!(!acked.wait().await);
        let (ack, acked) = Acked::pending();
        drop(ack);
        assert!(!acked.wait().await);
    }
}
