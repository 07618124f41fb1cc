//! Recording decisions with legal weight — a recording started, refused,
//! stopped or interrupted — handed to the deployment's audit log
//! (invariant 4). The recorder writes the entry before the decision takes
//! effect: no file is created before `Started` is recorded, and a Start
//! whose entry cannot be written is refused.

use crate::protocol::Start;
use std::future::Future;
use std::pin::Pin;

/// One decision to audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordingEvent {
    /// Admitted: media of this room will be stored for `retention_days`.
    Started { start: Start, retention_days: u32 },
    /// Admitted again after its stream broke off for `reason`: the
    /// recording goes on in a new segment, with the gap in its manifest.
    Resumed {
        start: Start,
        retention_days: u32,
        reason: String,
    },
    /// Refused (privileged kind, policy, storage): nothing is stored.
    Refused { start: Start, reason: String },
    /// Stopped lawfully with `reason`; the recording is closed.
    Stopped {
        start: Start,
        reason: String,
        segments: usize,
    },
    /// The stream ended without a lawful stop (SFU or network failure);
    /// the recording stays open for a reconnect.
    Interrupted { start: Start, segments: usize },
    /// Storing failed (a full or read-only disk): the media of the open
    /// segment is lost and the stream is closed; the segments already
    /// listed stand, and a reconnect continues the recording.
    Failed { start: Start, reason: String },
}

/// Where recording decisions are written.
pub trait AuditSink: Send + Sync + 'static {
    /// Appends the event durably; an error stops the decision.
    fn record<'a>(
        &'a self,
        event: &'a RecordingEvent,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
}
