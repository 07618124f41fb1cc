//! Keeping a room's recording going when its stream breaks off: the
//! recorder was killed or restarted, the link between them failed, or the
//! recorder stopped storing. The SFU lets go of the broken stream, says so
//! (`RecordingInterrupted`), and opens the recording again, sooner at
//! first and then less often, until the recorder takes it
//! (`RecordingResumed`; the recorder writes the gap and its cause into the
//! manifest) or the recording is stopped or refused. A recorder that cannot
//! be reached when a recording is to start is waited for the same way.

use super::recording::{RecorderConnection, RoomRecording};
use crate::engine::Sfu;
use parley_control::{MediaEvent, RoomId};
use parley_recorder_link::link::{Breakage, LinkError};
use parley_recorder_link::protocol::Start;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// A recorded room's state in the media plane.
pub enum Recorded {
    /// The room's media goes to this stream.
    Streaming(RoomRecording),
    /// The stream broke off; the SFU is opening the recording again.
    Reconnecting,
}

/// The rooms being recorded, shared by the plane and the keepers.
pub type Recordings = Arc<Mutex<HashMap<RoomId, Recorded>>>;

/// The rooms being recorded, locked.
pub fn locked(recordings: &Recordings) -> MutexGuard<'_, HashMap<RoomId, Recorded>> {
    recordings
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How long to wait before the `attempt`-th try (from 0) to open a broken
/// recording again, in ms: 500 ms, doubling, at most 30 s.
pub fn retry_delay_ms(attempt: u32) -> u64 {
    (500u64 << attempt.min(6)).min(30_000)
}

/// What a keeper needs of the plane.
#[derive(Clone)]
pub struct Keeper {
    pub sfu: Arc<Sfu>,
    pub recorder: Arc<RecorderConnection>,
    pub recordings: Recordings,
}

impl Keeper {
    /// Watches the room's stream (opened with `start`) until the recording
    /// is over; each time it breaks off, opens it again.
    pub async fn keep(self, room: RoomId, start: Start, mut breakage: Breakage) {
        while let Some(cause) = breakage.wait().await {
            {
                let mut recordings = locked(&self.recordings);
                if !matches!(recordings.get(&room), Some(Recorded::Streaming(_))) {
                    return;
                }
                recordings.insert(room, Recorded::Reconnecting);
            }
            tracing::warn!(
                room,
                cause,
                "the room's recording broke off; opening it again"
            );
            // The worker lets go of the broken stream.
            self.blocking(move |sfu| sfu.stop_recording(room)).await;
            self.sfu.report(MediaEvent::RecordingInterrupted {
                room,
                reason: cause,
            });
            match self.reopen(room, &start, Vec::new()).await {
                Some(next) => breakage = next,
                None => return,
            }
        }
    }

    /// The recorder could not be reached (`cause`) when the room's
    /// recording was to start; the room is marked [`Recorded::Reconnecting`].
    /// Tells, opens the recording once the recorder answers (the spoken
    /// `notice` plays first, as at any start), then keeps it.
    pub async fn start_later(
        self,
        room: RoomId,
        start: Start,
        notice: Vec<bytes::Bytes>,
        cause: String,
    ) {
        tracing::warn!(
            room,
            cause,
            "the recorder cannot be reached; the recording starts when it can"
        );
        self.sfu.report(MediaEvent::RecordingInterrupted {
            room,
            reason: cause,
        });
        if let Some(breakage) = self.reopen(room, &start, notice).await {
            self.keep(room, start, breakage).await;
        }
    }

    /// Opens the room's recording, sooner at first and then less often,
    /// until the recorder takes it. The new stream's breakage, or `None`
    /// when the recording is over (stopped, refused or its room closed).
    async fn reopen(
        &self,
        room: RoomId,
        start: &Start,
        notice: Vec<bytes::Bytes>,
    ) -> Option<Breakage> {
        for attempt in 0.. {
            tokio::time::sleep(Duration::from_millis(retry_delay_ms(attempt))).await;
            if !matches!(
                locked(&self.recordings).get(&room),
                Some(Recorded::Reconnecting)
            ) {
                return None;
            }
            match self.recorder.open(start).await {
                Ok(stream) => return self.resumed(room, stream, notice).await,
                Err(LinkError::Refused(why)) => {
                    tracing::error!(
                        room,
                        why,
                        "the recorder refused to go on with the recording"
                    );
                    self.forget_reconnecting(room);
                    return None;
                }
                Err(e) => tracing::warn!(room, error = %e, attempt, "the recorder is not back yet"),
            }
        }
        None
    }

    /// The recorder took the recording again on `stream`: the worker sends
    /// to it unless the recording was stopped (or its room closed) meanwhile.
    async fn resumed(
        &self,
        room: RoomId,
        stream: RoomRecording,
        notice: Vec<bytes::Bytes>,
    ) -> Option<Breakage> {
        let tap = stream.clone();
        let taken = self
            .blocking(move |sfu| sfu.start_recording_after(room, Box::new(tap), notice))
            .await;
        let kept = taken && {
            let mut recordings = locked(&self.recordings);
            let reconnecting = matches!(recordings.get(&room), Some(Recorded::Reconnecting));
            if reconnecting {
                recordings.insert(room, Recorded::Streaming(stream.clone()));
            }
            reconnecting
        };
        if kept {
            self.sfu.report(MediaEvent::RecordingResumed { room });
            return Some(stream.breakage());
        }
        if taken {
            self.blocking(move |sfu| sfu.stop_recording(room)).await;
        } else {
            self.forget_reconnecting(room);
        }
        if let Err(e) = stream.end("the recording was stopped").await {
            tracing::warn!(room, error = %e, "the reopened recording did not end cleanly");
        }
        None
    }

    /// The room is no longer being recorded, unless it was started again.
    fn forget_reconnecting(&self, room: RoomId) {
        let mut recordings = locked(&self.recordings);
        if matches!(recordings.get(&room), Some(Recorded::Reconnecting)) {
            recordings.remove(&room);
        }
    }

    /// Runs a control call of the SFU on tokio's blocking pool; whether it
    /// succeeded (a failure is logged).
    async fn blocking(
        &self,
        f: impl FnOnce(&Sfu) -> Result<(), crate::engine::SfuError> + Send + 'static,
    ) -> bool {
        let sfu = self.sfu.clone();
        match tokio::task::spawn_blocking(move || f(&sfu)).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the SFU refused a recording change");
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "the SFU's recording change failed");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_come_sooner_at_first_then_every_30_s() {
        let delays: Vec<u64> = (0..9).map(retry_delay_ms).collect();
        assert_eq!(
            delays,
            [
                500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000
            ]
        );
        assert_eq!(retry_delay_ms(u32::MAX), 30_000);
    }
}
