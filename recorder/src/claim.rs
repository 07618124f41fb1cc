//! Who writes each recording: one stream at a time. A second stream on the
//! same QUIC connection is refused. A stream on another connection takes
//! the recording over: the SFU that held it is presumed gone (killed, or
//! cut off: its connection would only time out after QUIC's idle timeout,
//! 30 s), since only an SFU holding the link's certificate can connect, and
//! a new SFU process asks for a recording only when the room was opened
//! again on it. The old stream is told to stop; it ends as interrupted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// How long a taking-over stream waits for the old one to let go.
const TAKEOVER_WAIT: Duration = Duration::from_secs(10);
/// How often it looks.
const TAKEOVER_POLL: Duration = Duration::from_millis(20);

/// The current writer of a recording.
struct Holder {
    /// `quinn::Connection::stable_id` of its connection.
    connection: usize,
    /// Woken to make it stop.
    stop: Arc<Notify>,
}

/// The recordings being written, by id. Cheap to clone.
#[derive(Clone, Default)]
pub struct Claims {
    held: Arc<Mutex<HashMap<String, Holder>>>,
}

/// The exclusive right to write one recording, until dropped.
pub struct Claim {
    claims: Claims,
    id: String,
    /// Notified when another connection takes the recording over.
    pub stop: Arc<Notify>,
}

/// Why a stream may not write a recording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimRefused {
    #[error("recording {0} is already being written by another stream")]
    SameConnection(String),
    #[error("recording {0} is still being written by an earlier connection that did not let go")]
    NotReleased(String),
}

impl Claims {
    /// Claims recording `id` for a stream of `connection`: at once if
    /// nobody writes it; refused if a stream of the same connection does;
    /// else once the other connection's stream has stopped (bounded wait).
    pub async fn take(&self, id: &str, connection: usize) -> Result<Claim, ClaimRefused> {
        self.take_within(id, connection, TAKEOVER_WAIT).await
    }

    /// [`Claims::take`], waiting at most `wait` for another connection's
    /// stream to let go.
    async fn take_within(
        &self,
        id: &str,
        connection: usize,
        wait: Duration,
    ) -> Result<Claim, ClaimRefused> {
        let mut waited = Duration::ZERO;
        loop {
            match self.try_take(id, connection) {
                Ok(claim) => return Ok(claim),
                Err(None) => return Err(ClaimRefused::SameConnection(id.to_string())),
                Err(Some(stop)) => {
                    if waited.is_zero() {
                        tracing::warn!(
                            recording = id,
                            "recorder: a new connection takes over a recording; stopping the old stream"
                        );
                    }
                    // A permit is kept if the old stream is not waiting yet.
                    stop.notify_one();
                    if waited >= wait {
                        return Err(ClaimRefused::NotReleased(id.to_string()));
                    }
                    tokio::time::sleep(TAKEOVER_POLL).await;
                    waited += TAKEOVER_POLL;
                }
            }
        }
    }

    /// The claim, or who holds it: `None` for the same connection, else
    /// the holder's stop signal.
    fn try_take(&self, id: &str, connection: usize) -> Result<Claim, Option<Arc<Notify>>> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(holder) = held.get(id) {
            return Err((holder.connection != connection).then(|| holder.stop.clone()));
        }
        let stop = Arc::new(Notify::new());
        held.insert(
            id.to_string(),
            Holder {
                connection,
                stop: stop.clone(),
            },
        );
        Ok(Claim {
            claims: self.clone(),
            id: id.to_string(),
            stop,
        })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut held = self.claims.held.lock().unwrap_or_else(|p| p.into_inner());
        held.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_writer_per_recording_and_a_new_connection_takes_over() {
        let claims = Claims::default();
        let first = claims.take("r", 1).await.expect("free");
        assert_eq!(
            claims.take("r", 1).await.err(),
            Some(ClaimRefused::SameConnection("r".into()))
        );
        assert!(claims.take("other", 1).await.is_ok(), "another recording");
        // The old stream stops when told, and lets go.
        let stop = first.stop.clone();
        let old = tokio::spawn(async move {
            stop.notified().await;
            drop(first);
        });
        let second = claims.take("r", 2).await.expect("taken over");
        old.await.expect("old stream stopped");
        drop(second);
        assert!(claims.take("r", 3).await.is_ok(), "free again");
    }

    #[tokio::test]
    async fn a_writer_that_never_lets_go_is_refused_after_a_bounded_wait() {
        let claims = Claims::default();
        let _stuck = claims.take("r", 1).await.expect("free");
        assert_eq!(
            claims
                .take_within("r", 2, Duration::from_millis(100))
                .await
                .err(),
            Some(ClaimRefused::NotReleased("r".into()))
        );
    }
}
