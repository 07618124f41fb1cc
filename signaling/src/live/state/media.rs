//! The session's side of media: offers to the media server, and what the
//! media server reports (active speaker, lost media, layers, paused video,
//! connection strength).

use super::*;
use parley_control::MediaEvent;

impl LiveSession {
    /// What the media server reported about a member of this session, at
    /// `now`.
    pub fn on_media(&mut self, event: MediaEvent, now: DateTime<Utc>) -> Vec<Effect> {
        match &event {
            MediaEvent::MediaLost { member, .. } => self.media_went(&[*member], now),
            MediaEvent::PlaneDown | MediaEvent::PlaneRestarted => {
                let everyone: Vec<i64> = self.admitted_and_connected().collect();
                self.media_went(&everyone, now);
            }
            _ => {}
        }
        match event {
            MediaEvent::ActiveSpeaker { member, .. } => self.active_speaker(member),
            MediaEvent::MediaLost { member, .. } => self.media_lost(member),
            MediaEvent::PublishLayers { member, rids, .. } => self.publish_layers(member, rids),
            MediaEvent::VideoPaused {
                member,
                source,
                paused,
                ..
            } => self.video_paused(member, source, paused),
            MediaEvent::ConnectionStrength { member, weak, .. } => {
                self.connection_strength(member, weak)
            }
            MediaEvent::RecordingInterrupted { reason, .. } => self.recording_broke_off(reason),
            MediaEvent::RecordingResumed { .. } => self.recording_resumed(),
            MediaEvent::PlaneDown => self.media_server_gone(
                "lost",
                "the media server stopped answering; your call resumes as soon as it is back",
            ),
            MediaEvent::PlaneRestarted => self.media_server_gone(
                "restarted",
                "the media server restarted; reconnecting your media",
            ),
        }
    }

    /// The media server this session's media ran on went away (`decision`:
    /// `lost`) or came back as a new process (`restarted`), taking every
    /// peer connection with it: audited, and everyone admitted and
    /// connected is asked to offer again, which opens the room anew.
    pub fn media_server_gone(&self, decision: &str, message: &str) -> Vec<Effect> {
        let mut effects = vec![Effect::Audit(self.audit(
            "system",
            "session.media",
            decision,
            vec![RuleId::core("media/server-gone").to_string()],
        ))];
        effects.extend(self.admitted_and_connected().map(|id| {
            Effect::Send(
                id,
                ServerMessage::MediaLost {
                    message: message.into(),
                },
            )
        }));
        effects
    }

    /// The session's recording broke off (`reason`: what broke it) while
    /// its media goes on: audited, and everyone admitted and connected is
    /// told, since they were told the session is recorded.
    pub fn recording_broke_off(&self, reason: String) -> Vec<Effect> {
        self.recording_changed(
            "interrupted",
            serde_json::json!({ "reason": reason }),
            true,
            "the recording has stopped; your call goes on, and the recording resumes as soon as the recorder takes it again",
        )
    }

    /// The session's recording goes on again after it broke off.
    pub fn recording_resumed(&self) -> Vec<Effect> {
        self.recording_changed(
            "resumed",
            serde_json::json!({}),
            false,
            "the recording goes on again; the gap is kept in the recording",
        )
    }

    fn recording_changed(
        &self,
        decision: &str,
        details: serde_json::Value,
        interrupted: bool,
        message: &str,
    ) -> Vec<Effect> {
        let mut effects = vec![Effect::Audit(
            self.audit(
                "system",
                "session.recording",
                decision,
                vec![RuleId::core("recording/link").to_string()],
            )
            .details(details),
        )];
        effects.extend(self.admitted_and_connected().map(|id| {
            Effect::Send(
                id,
                ServerMessage::Recording {
                    interrupted,
                    message: message.into(),
                },
            )
        }));
        effects
    }

    /// Everyone admitted whose socket is connected.
    fn admitted_and_connected(&self) -> impl Iterator<Item = i64> + '_ {
        self.members
            .iter()
            .filter(|(_, m)| m.connected && m.state == ParticipantState::Admitted)
            .map(|(id, _)| *id)
    }

    /// The media server names the active speaker, if they are a visible,
    /// admitted participant: those who hear them are told (admitted and
    /// connected; in the same consultation, or both in the hearing; an
    /// observer only while the hearing is open to observers). Nobody in
    /// the lobby learns who speaks.
    pub fn active_speaker(&self, participant_id: i64) -> Vec<Effect> {
        let Some(speaker) = self
            .members
            .get(&participant_id)
            .filter(|m| m.connected && !m.hidden && m.state == ParticipantState::Admitted)
        else {
            return Vec::new();
        };
        let message = ServerMessage::ActiveSpeaker { participant_id };
        self.members
            .iter()
            .filter(|(_, m)| {
                m.connected
                    && m.state == ParticipantState::Admitted
                    && m.consultation == speaker.consultation
                    && (m.role != Role::Observer || self.observers_admitted)
            })
            .map(|(id, _)| Effect::Send(*id, message.clone()))
            .collect()
    }

    /// The media server dropped a participant's connection: they are asked
    /// to offer again.
    pub fn media_lost(&self, participant_id: i64) -> Vec<Effect> {
        match self.members.get(&participant_id) {
            Some(m) if m.connected => vec![Effect::Send(
                participant_id,
                ServerMessage::MediaLost {
                    message: "your media connection was lost; reconnecting".into(),
                },
            )],
            _ => Vec::new(),
        }
    }

    /// The media server asks this participant's client to send only these
    /// simulcast layers.
    pub fn publish_layers(&self, participant_id: i64, rids: Vec<String>) -> Vec<Effect> {
        match self.members.get(&participant_id) {
            Some(m) if m.connected => vec![Effect::Send(
                participant_id,
                ServerMessage::PublishLayers { rids },
            )],
            _ => Vec::new(),
        }
    }

    /// The media server says this participant's connection became weak
    /// (or good again): everyone's roster shows it.
    pub fn connection_strength(&mut self, participant_id: i64, weak: bool) -> Vec<Effect> {
        match self.members.get_mut(&participant_id) {
            Some(m) if m.weak_connection != weak => {
                m.weak_connection = weak;
                self.rosters()
            }
            _ => Vec::new(),
        }
    }

    /// The media server paused (or resumed) `source`'s video to this
    /// participant because their connection cannot carry it with the audio.
    pub fn video_paused(&self, participant_id: i64, source: i64, paused: bool) -> Vec<Effect> {
        match self.members.get(&participant_id) {
            Some(m) if m.connected => vec![Effect::Send(
                participant_id,
                ServerMessage::VideoPaused {
                    participant_id: source,
                    paused,
                    reason: "weak_connection".into(),
                },
            )],
            _ => Vec::new(),
        }
    }

    /// A participant's SDP offer, once admitted and at most one a second:
    /// the media server answers it with the court's decisions about them
    /// holding from the first packet.
    pub(super) fn offer(
        &mut self,
        from: i64,
        sdp: String,
        now: DateTime<Utc>,
    ) -> Result<Vec<Effect>, Refused> {
        if self.state_of(from) != Some(ParticipantState::Admitted) {
            return Err(refused(
                ErrorCode::Forbidden,
                "no media before you are admitted; wait for `admitted`",
            ));
        }
        if self
            .last_offer
            .get(&from)
            .is_some_and(|t| now - *t < Duration::seconds(1))
        {
            return Err(refused(
                ErrorCode::BadMessage,
                "one offer per second at most; wait for the answer",
            ));
        }
        self.last_offer.insert(from, now);
        let member = self.members.get(&from);
        let effects = vec![Effect::MediaOffer {
            participant_id: from,
            sdp,
            ends_at: self.ends_at,
            muted: member.map(|m| m.muted).unwrap_or_default(),
            consultation: member.and_then(|m| m.consultation),
            protected_from: member
                .and_then(|m| m.protection.as_ref())
                .map(|p| self.hidden_from(p)),
        }];
        Ok(effects)
    }

    /// The media server answered `participant_id`'s offer at `now`: their
    /// media is back (the end of an outage, [`fair_use`](super::fair_use)).
    pub fn media_answered(&mut self, participant_id: i64, now: DateTime<Utc>) -> Vec<Effect> {
        self.media_came_back(participant_id, now)
    }
}
