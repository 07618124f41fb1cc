//! The record: the recorder joins a room as a member, and each packet
//! meant for it is handed to the tap as plain RTP.

use super::*;

impl Worker {
    /// Starts (`Some`) or stops (`None`) recording a room: the recorder
    /// joins or leaves as a member, so the room's rules decide what it
    /// receives (never a privileged room, never a consultation).
    pub(super) fn record(
        &mut self,
        room: RoomId,
        tap: Option<Box<dyn RecordingTap>>,
        announcement: Vec<bytes::Bytes>,
        now: Instant,
    ) -> Result<(), SfuError> {
        let state = self
            .rooms
            .get_mut(&room)
            .ok_or(SfuError::UnknownRoom(room))?;
        match tap {
            Some(tap) if !announcement.is_empty() => {
                // Refused now if the room may never be recorded; otherwise
                // the recorder joins once the notice has been played.
                let policy = state.room.policy();
                if policy.privileged {
                    return Err(crate::room::RoomError::Privileged(
                        crate::room::MemberKind::Recorder,
                    )
                    .into());
                }
                if !policy.recorded {
                    return Err(crate::room::RoomError::NotRecorded.into());
                }
                state.announcement = Some(Announcement {
                    frames: announcement,
                    next: 0,
                    next_at: now,
                    then_record: tap,
                });
            }
            Some(tap) => {
                if state.recording.is_none() {
                    state
                        .room
                        .join(RECORDER_MEMBER, crate::room::MemberKind::Recorder)?;
                }
                state.recording = Some(Recording {
                    tap,
                    layers: HashMap::new(),
                });
            }
            None => {
                state.announcement = None;
                if state.recording.take().is_some() {
                    let _ = state.room.remove(RECORDER_MEMBER);
                }
            }
        }
        Ok(())
    }

    /// Hands one packet to the room's recorder (the best simulcast layer
    /// only), marshalled as plain RTP. `None`: not for the record (another
    /// layer); otherwise whether the tap took it.
    pub(super) fn record_packet(
        recording: &mut Recording,
        f: &Forward,
        now_us: u64,
    ) -> Option<bool> {
        let media = media_kind(f.kind);
        let track_id = recording_track_id(f.publisher, media)?;
        if let Some(layer) = f.layer {
            let selector = recording.layers.entry(f.publisher).or_insert_with(|| {
                // The record takes the best layer the publisher sends.
                let mut best = crate::media::simulcast::LayerSelector::default();
                best.set_estimate(u64::MAX, now_us);
                best
            });
            if selector.on_packet(layer, f.keyframe, now_us) == Decision::Drop {
                return None;
            }
        }
        let Ok(bytes) = rtc::shared::marshal::Marshal::marshal(&f.packet) else {
            return Some(false);
        };
        let received_at_us = u64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_micros(),
        )
        .unwrap_or(0);
        Some(recording.tap.send_rtp(track_id, received_at_us, &bytes))
    }
}
