//! A live session's calls to the media server, carried out in order on a
//! task of their own, so that a media server that is slow or stalls (a
//! worker waits out its 10 s control timeout) never holds up the session:
//! its lobby, admissions, captions, warnings and scheduled end go on, and
//! only the media calls queue behind the slow one.
//!
//! The lane owns what the session knows of its media room: whether it is
//! open and whether it records. Calls keep the order the session made them
//! in (a mute before an unmute, a join after the room opened, the close
//! last). An offer's answer, or why there is none, goes straight to the
//! participant's socket.

use super::hub::{Outgoing, SessionSpec};
use crate::metrics::Metrics;
use crate::store::Store;
use parley_control::{FailureCode, HearingChange, JoinRequest, MediaKind, MediaPlane};
use parley_control::{MediaFailure, MemberId, RecordingOrder};
use parley_protocol::{ErrorCode, RequestId, ServerMessage};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Where an offer's answer goes: the participant's socket, with the id of
/// the request it answers.
pub struct ReplyTo {
    pub outbox: mpsc::Sender<Outgoing>,
    pub id: Option<RequestId>,
}

/// One call to the media server.
pub enum MediaCall {
    /// Opens the room (and starts its recording) if it is not open, then
    /// hands the SFU the participant's offer and media token.
    Offer {
        request: JoinRequest,
        reply: ReplyTo,
        /// Whose offer: the lane reports it answered ([`Answered`]).
        participant_id: i64,
    },
    Mute {
        member: MemberId,
        media: MediaKind,
        muted: bool,
    },
    /// A court's change; if the SFU cannot apply it, the media of those it
    /// concerns stops (privacy fails closed) and they are told to offer
    /// again.
    Hearing {
        change: HearingChange,
        /// Each member the change concerns, and their socket if connected.
        concerned: Vec<(MemberId, Option<mpsc::Sender<Outgoing>>)>,
    },
    Remove(MemberId),
    /// The media server went away or restarted: it holds this session's
    /// room and recording no more.
    PlaneGone,
    /// Stops the recording and closes the room.
    Close,
}

/// Told that a participant's offer was answered: their media is back.
pub type Answered = Box<dyn Fn(i64) + Send + Sync>;

/// The sending end of a session's lane; the lane's task ends once this is
/// dropped and every queued call is done.
pub struct MediaLane {
    calls: mpsc::UnboundedSender<MediaCall>,
}

impl MediaLane {
    /// Starts the lane of the session `spec` on its own task.
    pub fn start(
        media: Option<Arc<dyn MediaPlane>>,
        store: Store,
        metrics: Metrics,
        spec: SessionSpec,
        answered: Answered,
    ) -> Self {
        let (calls, queue) = mpsc::unbounded_channel();
        let lane = Lane {
            media,
            store,
            metrics,
            spec,
            answered,
            room_open: false,
            recording: false,
            observers_admitted: true,
        };
        tokio::spawn(lane.run(queue));
        Self { calls }
    }

    /// Queues a call; never waits for the media server.
    pub fn call(&self, call: MediaCall) {
        // The lane's task ends only after this sender is dropped.
        let _ = self.calls.send(call);
    }
}

struct Lane {
    media: Option<Arc<dyn MediaPlane>>,
    answered: Answered,
    store: Store,
    metrics: Metrics,
    spec: SessionSpec,
    /// Whether the SFU has this session's room open.
    room_open: bool,
    /// The media server records this session.
    recording: bool,
    /// The court's last word on observers (they are admitted until it
    /// closes the hearing), applied to the room whenever it opens.
    observers_admitted: bool,
}

impl Lane {
    async fn run(mut self, mut queue: mpsc::UnboundedReceiver<MediaCall>) {
        while let Some(call) = queue.recv().await {
            self.carry_out(call).await;
        }
    }

    async fn carry_out(&mut self, call: MediaCall) {
        let room = self.spec.session_id;
        match call {
            MediaCall::Offer {
                request,
                reply,
                participant_id,
            } => {
                let message = match self.offer(request).await {
                    Ok(sdp) => {
                        (self.answered)(participant_id);
                        ServerMessage::Answer { sdp }
                    }
                    Err(message) => {
                        self.metrics
                            .ws_rejected
                            .with_label_values(&["MediaRefused"])
                            .inc();
                        ServerMessage::Error {
                            code: ErrorCode::MediaRefused,
                            message,
                        }
                    }
                };
                if reply
                    .outbox
                    .try_send(Outgoing::Message(message, reply.id))
                    .is_err()
                {
                    tracing::debug!(session = room, "an answer found its socket gone or full");
                }
            }
            MediaCall::Mute {
                member,
                media,
                muted,
            } => {
                let Some(sfu) = self.open_room() else { return };
                // Not yet in the room (no offer yet): the mute goes with
                // their join instead.
                if let Err(e) = sfu.set_muted(room, member, media, muted).await
                    && e.code != FailureCode::RoomRefused
                {
                    tracing::warn!(session = room, member, error = %e, "mute not applied by the media server");
                }
            }
            MediaCall::Hearing { change, concerned } => {
                if let HearingChange::Observers { admitted } = change {
                    self.observers_admitted = admitted;
                }
                // Before anyone's offer the room is not open: later joins
                // carry the court's decisions about members, and the room
                // is closed to observers as it opens.
                let Some(sfu) = self.open_room() else { return };
                if let Err(e) = sfu.change_hearing(room, change).await {
                    tracing::warn!(session = room, error = %e, "hearing change not applied by the media server; dropping the media of those it concerns");
                    for (member, outbox) in concerned {
                        if let Err(e) = sfu.remove(room, member).await {
                            tracing::debug!(session = room, member, error = %e, "media removal");
                        }
                        if let Some(outbox) = outbox {
                            let _ = outbox.try_send(Outgoing::Message(
                                ServerMessage::MediaLost {
                                    message:
                                        "the court changed the hearing; reconnecting your media"
                                            .into(),
                                },
                                None,
                            ));
                        }
                    }
                }
            }
            MediaCall::Remove(member) => {
                let Some(sfu) = self.open_room() else { return };
                if let Err(e) = sfu.remove(room, member).await {
                    tracing::debug!(session = room, member, error = %e, "media removal");
                }
            }
            MediaCall::PlaneGone => {
                self.room_open = false;
                self.recording = false;
            }
            MediaCall::Close => {
                let Some(sfu) = self.open_room() else { return };
                self.room_open = false;
                if std::mem::take(&mut self.recording)
                    && let Err(e) = sfu.stop_recording(room, "the session ended").await
                {
                    tracing::warn!(session = room, error = %e, "recording did not end cleanly; its finished segments stand");
                }
                if let Err(e) = sfu.close_room(room).await {
                    tracing::debug!(session = room, error = %e, "media room close");
                }
            }
        }
    }

    /// The media server, when this session's room is open on it.
    fn open_room(&self) -> Option<Arc<dyn MediaPlane>> {
        self.media.clone().filter(|_| self.room_open)
    }

    /// Opens the room on first use, then joins; the answer SDP or what went
    /// wrong. A media server that no longer knows the room (it restarted
    /// before signaling noticed) gets it opened again, once.
    async fn offer(&mut self, request: JoinRequest) -> Result<String, String> {
        let sfu = self
            .media
            .clone()
            .ok_or_else(|| "this Parley runs without a media server".to_string())?;
        self.ensure_room(&sfu).await.map_err(failure_text)?;
        match sfu.join(request.clone()).await {
            Err(e) if e.code == FailureCode::UnknownRoom => {
                tracing::warn!(
                    session = self.spec.session_id,
                    "the media server no longer knows this room; opening it again"
                );
                self.room_open = false;
                self.recording = false;
                self.ensure_room(&sfu).await.map_err(failure_text)?;
                sfu.join(request).await.map_err(failure_text)
            }
            other => other.map_err(failure_text),
        }
    }

    /// Opens the room (and starts its recording) unless it is open.
    async fn ensure_room(&mut self, sfu: &Arc<dyn MediaPlane>) -> Result<(), MediaFailure> {
        if self.room_open {
            return Ok(());
        }
        match sfu.open_room(self.spec.session_id, self.spec.policy).await {
            Ok(()) => {}
            Err(e) if e.is_room_exists() => {}
            Err(e) => return Err(e),
        }
        if !self.observers_admitted {
            // Fails closed: no join into a room open to observers that the
            // court closed.
            sfu.change_hearing(
                self.spec.session_id,
                HearingChange::Observers { admitted: false },
            )
            .await?;
        }
        self.room_open = true;
        self.start_recording(sfu).await;
        Ok(())
    }

    /// Asks the media server to record the session when its policy
    /// records it (never a privileged session: the SFU and the recorder
    /// both refuse one). A failure is logged; the session goes on, and the
    /// recorder's audit log shows a refusal.
    async fn start_recording(&mut self, sfu: &Arc<dyn MediaPlane>) {
        let policy = self.spec.policy;
        if !policy.recorded || policy.privileged || self.recording {
            return;
        }
        let room = self.spec.session_id;
        let publishers: Vec<i64> = match self.store.read().session(room).await {
            Ok(Some(session)) => session
                .participants
                .iter()
                .filter(|p| !p.removed && !p.role.is_receive_only())
                .map(|p| p.id)
                .collect(),
            Ok(None) => return,
            Err(e) => {
                tracing::error!(session = room, error = %e, "cannot read the session to record it");
                return;
            }
        };
        let jurisdiction = &self.spec.jurisdiction;
        let order = RecordingOrder {
            room,
            session_kind: self.spec.kind,
            jurisdiction: jurisdiction.id.clone(),
            languages: jurisdiction.languages.clone(),
            publishers,
        };
        match sfu.start_recording(order).await {
            Ok(()) => self.recording = true,
            Err(e) if e.code == FailureCode::NoRecorder => {
                tracing::warn!(session = room, error = %e, "the policy records this session but no recorder runs");
            }
            Err(e) => {
                tracing::error!(session = room, error = %e, "recording not started");
            }
        }
    }
}

/// What a participant is told when the media server refused or failed
/// their offer: its own message, except that an unreachable media server
/// is said plainly (the technical cause goes to the log).
fn failure_text(failure: MediaFailure) -> String {
    if failure.code == FailureCode::Unreachable {
        tracing::warn!(error = %failure, "the media server cannot be reached");
        "the media server cannot be reached; your call resumes as soon as it is back".into()
    } else {
        failure.message
    }
}
