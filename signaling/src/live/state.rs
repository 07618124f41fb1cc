//! The pure state machine of one live session: who is connected, who waits
//! in the lobby, which warnings have been given, and when it ends.
//!
//! Every method takes the current time and returns [`Effect`]s for the shell
//! to carry out in order. An [`Effect::Audit`] always precedes the effects it
//! authorizes, and the shell stops at the first audit it cannot write, so no
//! decision with legal weight takes effect unlogged (invariant 4).
//!
//! Invariants:
//! - a late joiner never moves the end: only a judge's `extend` does;
//! - at `ends_at` every participant gets `ended` and is disconnected;
//! - a participant removed from the session cannot rejoin it.

use crate::store::audit::AuditRecord;
use chrono::{DateTime, Duration, Utc};
use parley_policy::{Jurisdiction, Role, RuleId, SessionKind, warning_instants};
use parley_protocol::{
    ClientMessage, CloseCode, EndReason, ErrorCode, LiveParticipant, MediaKind, ParticipantState,
    ServerMessage,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Longest reason text accepted for an end or a removal, in bytes.
pub const MAX_REASON_BYTES: usize = 500;
/// Longest line of captions, in bytes.
pub const MAX_CAPTION_BYTES: usize = 500;
/// Shortest time between two caption lines from one participant, in ms.
pub const CAPTION_INTERVAL_MS: i64 = 200;
/// Longest single extension of a hearing, in minutes.
pub const MAX_EXTEND_MINUTES: u32 = 240;

/// What the shell must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Append to the audit log before doing anything that follows.
    Audit(AuditRecord),
    /// Send a message to one connected participant.
    Send(i64, ServerMessage),
    /// Disconnect a participant (after the messages already queued), with
    /// the close frame's code.
    Close(i64, CloseCode),
    /// Persist a new scheduled end.
    PersistEnd(DateTime<Utc>),
    /// Persist that the session is live (if it is still only scheduled).
    PersistLive,
    /// Hand this admitted participant's SDP offer to the media server and
    /// send them its answer.
    MediaOffer {
        participant_id: i64,
        sdp: String,
        /// The current scheduled end: the media grant expires then.
        ends_at: DateTime<Utc>,
        /// Mutes the media server applies as soon as the participant joins.
        muted: Muted,
        /// The consultation they join straight into.
        consultation: Option<u32>,
        /// Witness protection: video hidden from these (and every observer
        /// and monitor) from the first packet.
        protected_from: Option<Vec<i64>>,
    },
    /// A court's change to the hearing's forwarding.
    MediaHearing(parley_control::HearingChange),
    /// Stop (or restore) forwarding one kind of a participant's media.
    MediaMute {
        participant_id: i64,
        media: MediaKind,
        muted: bool,
    },
    /// Persist that a participant was removed, so that no restart or new
    /// token lets them back in.
    PersistRemoval(i64),
    /// Persist that the session was cancelled, with the reason, before
    /// anyone is told; the task stops after these effects.
    Cancelled(String),
    /// Persist that the session is over, with the reason, before anyone is
    /// told; the task stops after these effects.
    Finish(String),
}

/// A refusal of a participant's request; changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub code: ErrorCode,
    pub message: String,
}

fn refused(code: ErrorCode, message: impl Into<String>) -> Refused {
    Refused {
        code,
        message: message.into(),
    }
}

#[derive(Debug, Clone)]
struct Member {
    name: String,
    role: Role,
    state: ParticipantState,
    connected: bool,
    /// Monitors and observers: never shown to ordinary participants.
    hidden: bool,
    /// What the court muted; kept across reconnections.
    muted: Muted,
    /// The consultation they are in, out of the hearing.
    consultation: Option<u32>,
    /// Witness protection ordered by the judge.
    protection: Option<Protection>,
    /// The media server says their connection is weak.
    weak_connection: bool,
}

/// A judge's witness-protection order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protection {
    /// Shown instead of the name to everyone but the court and the witness.
    pub pseudonym: String,
    /// Their video is hidden from defendants too (always from observers).
    pub hide_from_defendant: bool,
}

/// Longest pseudonym, bytes.
pub const MAX_PSEUDONYM_BYTES: usize = 100;

/// Which of a participant's media the court stopped forwarding.
pub use parley_control::Muted;

/// One live session.
#[derive(Debug, Clone)]
pub struct LiveSession {
    session_id: i64,
    kind: SessionKind,
    jurisdiction: Arc<Jurisdiction>,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    warned: BTreeSet<u32>,
    members: BTreeMap<i64, Member>,
    removed: BTreeSet<i64>,
    /// When each participant last offered media (offers cost the SFU work).
    last_offer: BTreeMap<i64, DateTime<Utc>>,
    /// When each captioner last sent a line.
    last_caption: BTreeMap<i64, DateTime<Utc>>,
    went_live: bool,
    ended: bool,
    /// The hearing is open to observers.
    observers_admitted: bool,
    /// The id the next consultation gets.
    next_consultation: u32,
}

fn is_staff(role: Role) -> bool {
    matches!(role, Role::Judge | Role::Clerk)
}

impl LiveSession {
    pub fn new(
        session_id: i64,
        kind: SessionKind,
        jurisdiction: Arc<Jurisdiction>,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
    ) -> Self {
        Self {
            session_id,
            kind,
            jurisdiction,
            starts_at,
            ends_at,
            warned: BTreeSet::new(),
            members: BTreeMap::new(),
            removed: BTreeSet::new(),
            last_offer: BTreeMap::new(),
            last_caption: BTreeMap::new(),
            went_live: false,
            ended: false,
            observers_admitted: true,
            next_consultation: 1,
        }
    }

    pub fn session_id(&self) -> i64 {
        self.session_id
    }

    pub fn ends_at(&self) -> DateTime<Utc> {
        self.ends_at
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    pub fn connected_count(&self) -> usize {
        self.members.values().filter(|m| m.connected).count()
    }

    pub fn state_of(&self, participant_id: i64) -> Option<ParticipantState> {
        self.members.get(&participant_id).map(|m| m.state)
    }

    fn rule(&self, path: &str) -> String {
        RuleId::of(&self.jurisdiction.id, path).to_string()
    }

    fn audit(&self, actor: &str, action: &str, decision: &str, rules: Vec<String>) -> AuditRecord {
        AuditRecord::new(actor, action, decision)
            .session(self.session_id)
            .rules(rules)
    }

    /// The earliest instant at which [`tick`](Self::tick) has something to do.
    /// In the past when something is already due (a waiting
    /// lobby after the start, an unfired warning whose time has passed).
    pub fn next_deadline(&self) -> DateTime<Utc> {
        let mut next = self.ends_at;
        if self.kind.is_visit()
            && self
                .members
                .values()
                .any(|m| m.state == ParticipantState::Lobby)
        {
            next = next.min(self.starts_at);
        }
        for (minutes, at) in warning_instants(&self.jurisdiction, self.starts_at, self.ends_at) {
            if !self.warned.contains(&minutes) {
                next = next.min(at);
            }
        }
        next
    }

    /// The roster as `viewer` may see it: hidden members only for judge
    /// and clerk; a protected witness under their pseudonym for everyone
    /// but the court and the witness.
    fn roster_for(&self, viewer_id: i64, viewer: Role) -> ServerMessage {
        let participants = self
            .members
            .iter()
            .filter(|(_, m)| {
                m.connected && (!m.hidden || is_staff(viewer)) && m.role != Role::Officer
            })
            .map(|(id, m)| {
                let sees_name = is_staff(viewer) || *id == viewer_id;
                let name = match &m.protection {
                    Some(p) if !sees_name => p.pseudonym.clone(),
                    _ => m.name.clone(),
                };
                LiveParticipant {
                    participant_id: *id,
                    name,
                    role: m.role,
                    state: m.state,
                    muted_audio: m.muted.audio,
                    muted_video: m.muted.video,
                    consultation_id: m.consultation,
                    protected: m.protection.is_some() && sees_name,
                    weak_connection: m.weak_connection,
                }
            })
            .collect();
        ServerMessage::Roster { participants }
    }

    fn rosters(&self) -> Vec<Effect> {
        self.members
            .iter()
            .filter(|(_, m)| m.connected)
            .map(|(id, m)| Effect::Send(*id, self.roster_for(*id, m.role)))
            .collect()
    }

    /// Who a protected witness's video is hidden from, besides observers
    /// and monitors: every defendant who has connected, if so ordered.
    fn hidden_from(&self, protection: &Protection) -> Vec<i64> {
        if !protection.hide_from_defendant {
            return Vec::new();
        }
        self.members
            .iter()
            .filter(|(_, m)| m.role == Role::Defendant)
            .map(|(id, _)| *id)
            .collect()
    }

    /// The media changes that keep every protection hiding from all
    /// defendants (after one connected for the first time).
    fn protections_hiding_from_defendants(&self) -> Vec<Effect> {
        self.members
            .iter()
            .filter_map(|(id, m)| {
                let p = m.protection.as_ref().filter(|p| p.hide_from_defendant)?;
                Some(Effect::MediaHearing(
                    parley_control::HearingChange::Protect {
                        member: *id,
                        hidden_from: Some(self.hidden_from(p)),
                    },
                ))
            })
            .collect()
    }

    fn to_all(&self, message: &ServerMessage) -> Vec<Effect> {
        self.members
            .iter()
            .filter(|(_, m)| m.connected)
            .map(|(id, _)| Effect::Send(*id, message.clone()))
            .collect()
    }

    fn went_live(&mut self) -> Vec<Effect> {
        if self.went_live {
            return Vec::new();
        }
        self.went_live = true;
        vec![Effect::PersistLive]
    }

    /// A participant connects (or reconnects). Returns their state; the shell
    /// sends `welcome` before the effects.
    pub fn connect(
        &mut self,
        participant_id: i64,
        name: &str,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<(ParticipantState, Vec<Effect>), Refused> {
        if self.ended || now >= self.ends_at {
            return Err(refused(ErrorCode::SessionOver, "this session is over"));
        }
        if self.removed.contains(&participant_id) {
            return Err(refused(
                ErrorCode::Forbidden,
                "you were removed from this session and cannot rejoin it",
            ));
        }
        let actor = format!("participant:{participant_id}:{}", role.as_str());
        let mut effects = Vec::new();
        let previous = self.members.get(&participant_id).map(|m| m.state);
        let state = match previous {
            Some(ParticipantState::Admitted) => ParticipantState::Admitted,
            _ => self.initial_state(role, now),
        };
        let (decision, rule) = match state {
            ParticipantState::Admitted if role == Role::Officer => (
                "admitted as hidden monitor",
                self.rule(&format!("monitoring/{}", self.kind)),
            ),
            ParticipantState::Admitted if is_staff(role) => {
                ("admitted", self.rule("hearing/staff-admitted-directly"))
            }
            ParticipantState::Admitted => ("admitted", self.rule("window/started")),
            ParticipantState::Lobby if self.kind.is_visit() => {
                ("waiting until start", self.rule("window/early-join"))
            }
            ParticipantState::Lobby => ("waiting for admission", self.rule("hearing/lobby")),
        };
        if previous.is_none() || previous != Some(state) {
            effects.push(Effect::Audit(self.audit(
                &actor,
                "session.join",
                decision,
                vec![rule],
            )));
        }
        let (muted, consultation, protection) = self
            .members
            .get(&participant_id)
            .map(|m| (m.muted, m.consultation, m.protection.clone()))
            .unwrap_or_default();
        let first_connection = !self.members.contains_key(&participant_id);
        self.members.insert(
            participant_id,
            Member {
                name: name.to_string(),
                role,
                state,
                connected: true,
                hidden: matches!(role, Role::Officer | Role::Observer),
                muted,
                consultation,
                protection,
                // A new connection is not known to be weak until the media
                // server says so.
                weak_connection: false,
            },
        );
        // A defendant new to the session must not see a witness whose video
        // the court hid from defendants.
        if first_connection && role == Role::Defendant {
            effects.extend(self.protections_hiding_from_defendants());
        }
        if state == ParticipantState::Admitted {
            effects.extend(self.went_live());
        }
        effects.extend(self.rosters());
        if let Some(minutes) = self.warned.iter().next().copied() {
            effects.push(Effect::Send(
                participant_id,
                ServerMessage::Warning {
                    minutes_left: minutes,
                    ends_at: self.ends_at,
                },
            ));
        }
        Ok((state, effects))
    }

    fn initial_state(&self, role: Role, now: DateTime<Utc>) -> ParticipantState {
        let admitted = if self.kind.is_visit() {
            role == Role::Officer || now >= self.starts_at
        } else {
            is_staff(role)
        };
        if admitted {
            ParticipantState::Admitted
        } else {
            ParticipantState::Lobby
        }
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

    /// The participant's socket closed or they left.
    pub fn disconnect(&mut self, participant_id: i64) -> Vec<Effect> {
        match self.members.get_mut(&participant_id) {
            Some(m) if m.connected => m.connected = false,
            _ => return Vec::new(),
        }
        self.rosters()
    }

    /// Time passes: start visits, give warnings, end at the scheduled end.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<Effect> {
        if self.ended {
            return Vec::new();
        }
        if now >= self.ends_at {
            return self.finish(
                "system",
                EndReason::ScheduledEnd,
                "The scheduled time for this session is over.",
                self.rule("session/scheduled-end"),
            );
        }
        let mut effects = Vec::new();
        if self.kind.is_visit() && now >= self.starts_at {
            let waiting: Vec<i64> = self
                .members
                .iter()
                .filter(|(_, m)| m.state == ParticipantState::Lobby)
                .map(|(id, _)| *id)
                .collect();
            if !waiting.is_empty() {
                let rule = self.rule("window/started");
                for id in &waiting {
                    effects.push(Effect::Audit(
                        self.audit(
                            "system",
                            "session.admit",
                            "admitted at start",
                            vec![rule.clone()],
                        )
                        .details(serde_json::json!({"participant_id": id})),
                    ));
                }
                effects.extend(self.went_live());
                for id in waiting {
                    if let Some(m) = self.members.get_mut(&id) {
                        m.state = ParticipantState::Admitted;
                        if m.connected {
                            effects.push(Effect::Send(id, ServerMessage::Admitted));
                        }
                    }
                }
                effects.extend(self.rosters());
            }
        }
        for (minutes, at) in warning_instants(&self.jurisdiction, self.starts_at, self.ends_at) {
            if at <= now && self.warned.insert(minutes) {
                effects.extend(self.to_all(&ServerMessage::Warning {
                    minutes_left: minutes,
                    ends_at: self.ends_at,
                }));
            }
        }
        effects
    }

    fn finish(
        &mut self,
        actor: &str,
        reason: EndReason,
        message: &str,
        rule: String,
    ) -> Vec<Effect> {
        let mut effects = vec![Effect::Audit(
            self.audit(
                actor,
                "session.terminate",
                &format!("{reason:?}"),
                vec![rule],
            )
            .details(serde_json::json!({"message": message})),
        )];
        effects.push(Effect::Finish(message.to_string()));
        effects.extend(self.close_all(reason, message));
        self.ended = true;
        effects
    }

    /// Staff cancel the session before it started; anyone waiting in the
    /// lobby is told why and disconnected.
    pub fn cancel(&mut self, actor: &str, reason: &str) -> Vec<Effect> {
        if self.ended {
            return Vec::new();
        }
        let mut effects = vec![
            Effect::Audit(
                self.audit(
                    actor,
                    "session.cancel",
                    "cancelled",
                    vec![self.rule("session/cancelled")],
                )
                .details(serde_json::json!({"message": reason})),
            ),
            Effect::Cancelled(reason.to_string()),
        ];
        effects.extend(self.close_all(EndReason::Cancelled, reason));
        self.ended = true;
        effects
    }

    /// Tells every connected participant the session is over and closes them.
    fn close_all(&mut self, reason: EndReason, message: &str) -> Vec<Effect> {
        let ended = ServerMessage::Ended {
            reason,
            message: message.to_string(),
        };
        let mut effects = self.to_all(&ended);
        let ids: Vec<i64> = self
            .members
            .iter()
            .filter(|(_, m)| m.connected)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            effects.push(Effect::Close(id, CloseCode::Ended(reason)));
            if let Some(m) = self.members.get_mut(&id) {
                m.connected = false;
            }
        }
        effects
    }

    /// Staff end the session through the API.
    pub fn end_by_staff(&mut self, actor: &str, reason: &str) -> Vec<Effect> {
        if self.ended {
            return Vec::new();
        }
        self.finish(
            actor,
            EndReason::EndedByStaff,
            reason,
            self.rule("session/ended-by-staff"),
        )
    }

    /// A message from a connected participant.
    pub fn client(
        &mut self,
        from: i64,
        message: ClientMessage,
        now: DateTime<Utc>,
    ) -> Result<Vec<Effect>, Refused> {
        if self.ended || now >= self.ends_at {
            return Err(refused(ErrorCode::SessionOver, "this session is over"));
        }
        let role = self
            .members
            .get(&from)
            .filter(|m| m.connected)
            .map(|m| m.role)
            .ok_or_else(|| refused(ErrorCode::NotJoined, "join first"))?;
        let actor = format!("participant:{from}:{}", role.as_str());
        match message {
            ClientMessage::Join { .. } => Err(refused(
                ErrorCode::AlreadyJoined,
                "this socket has already joined",
            )),
            ClientMessage::Ping => Ok(vec![Effect::Send(from, ServerMessage::Pong)]),
            ClientMessage::Offer { sdp } => {
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
                Ok(vec![Effect::MediaOffer {
                    participant_id: from,
                    sdp,
                    ends_at: self.ends_at,
                    muted: member.map(|m| m.muted).unwrap_or_default(),
                    consultation: member.and_then(|m| m.consultation),
                    protected_from: member
                        .and_then(|m| m.protection.as_ref())
                        .map(|p| self.hidden_from(p)),
                }])
            }
            ClientMessage::Caption { text } => self.caption(from, role, &text, now),
            ClientMessage::Leave => {
                let mut effects = vec![Effect::Close(from, CloseCode::Left)];
                effects.extend(self.disconnect(from));
                Ok(effects)
            }
            ClientMessage::Admit { participant_id } => {
                self.require_hearing_staff(role, "admit participants")?;
                let target = self.members.get(&participant_id).ok_or_else(|| {
                    refused(
                        ErrorCode::UnknownParticipant,
                        format!("participant {participant_id} is not connected to this session"),
                    )
                })?;
                if target.state == ParticipantState::Admitted {
                    return Ok(Vec::new());
                }
                let mut effects = vec![Effect::Audit(
                    self.audit(
                        &actor,
                        "session.admit",
                        "admitted",
                        vec![self.rule("hearing/admitted-by-court")],
                    )
                    .details(serde_json::json!({"participant_id": participant_id})),
                )];
                effects.extend(self.went_live());
                if let Some(m) = self.members.get_mut(&participant_id) {
                    m.state = ParticipantState::Admitted;
                    if m.connected {
                        effects.push(Effect::Send(participant_id, ServerMessage::Admitted));
                    }
                }
                effects.extend(self.rosters());
                Ok(effects)
            }
            ClientMessage::Remove {
                participant_id,
                reason,
            } => {
                self.require_hearing_staff(role, "remove participants")?;
                let reason = checked_reason(&reason)?;
                if !self.members.contains_key(&participant_id) {
                    return Err(refused(
                        ErrorCode::UnknownParticipant,
                        format!("participant {participant_id} is not in this session"),
                    ));
                }
                let mut effects = vec![Effect::Audit(
                    self.audit(
                        &actor,
                        "session.remove",
                        "removed",
                        vec![self.rule("hearing/removed-by-court")],
                    )
                    .details(
                        serde_json::json!({"participant_id": participant_id, "reason": reason}),
                    ),
                )];
                self.removed.insert(participant_id);
                effects.push(Effect::PersistRemoval(participant_id));
                effects.push(Effect::Send(
                    participant_id,
                    ServerMessage::Ended {
                        reason: EndReason::Removed,
                        message: reason.to_string(),
                    },
                ));
                effects.push(Effect::Close(
                    participant_id,
                    CloseCode::Ended(EndReason::Removed),
                ));
                effects.extend(self.disconnect(participant_id));
                Ok(effects)
            }
            ClientMessage::Mute {
                participant_id,
                media,
                muted,
            } => {
                self.require_hearing_staff(role, "mute participants")?;
                let member = self.publishing_member(participant_id, "mute")?;
                let current = match media {
                    MediaKind::Audio => member.muted.audio,
                    MediaKind::Video => member.muted.video,
                };
                if current == muted {
                    return Ok(Vec::new());
                }
                let decision = if muted { "muted" } else { "unmuted" };
                let mut effects = vec![Effect::Audit(
                    self.audit(
                        &actor,
                        "session.mute",
                        decision,
                        vec![self.rule("hearing/muted-by-court")],
                    )
                    .details(serde_json::json!({
                        "participant_id": participant_id,
                        "media": media,
                        "muted": muted,
                    })),
                )];
                if let Some(m) = self.members.get_mut(&participant_id) {
                    match media {
                        MediaKind::Audio => m.muted.audio = muted,
                        MediaKind::Video => m.muted.video = muted,
                    }
                }
                effects.push(Effect::MediaMute {
                    participant_id,
                    media,
                    muted,
                });
                effects.extend(self.rosters());
                Ok(effects)
            }
            ClientMessage::Consult { participant_ids } => {
                self.consult(&actor, from, role, participant_ids)
            }
            ClientMessage::EndConsultation { consultation_id } => {
                self.end_consultation(&actor, from, role, consultation_id)
            }
            ClientMessage::Observers { admitted } => {
                self.require_hearing_staff(role, "open or close the hearing to observers")?;
                if admitted == self.observers_admitted {
                    return Ok(Vec::new());
                }
                let decision = if admitted { "opened" } else { "closed" };
                let mut effects = vec![Effect::Audit(self.audit(
                    &actor,
                    "session.observers",
                    decision,
                    vec![self.rule("hearing/observers")],
                ))];
                self.observers_admitted = admitted;
                effects.push(Effect::MediaHearing(
                    parley_control::HearingChange::Observers { admitted },
                ));
                effects.extend(self.to_all(&ServerMessage::Observers { admitted }));
                Ok(effects)
            }
            ClientMessage::Protect {
                participant_id,
                pseudonym,
                hide_from_defendant,
            } => {
                if role != Role::Judge || self.kind != SessionKind::CourtHearing {
                    return Err(refused(
                        ErrorCode::Forbidden,
                        "only the judge of a hearing orders witness protection",
                    ));
                }
                let pseudonym = pseudonym.trim();
                if pseudonym.is_empty() || pseudonym.len() > MAX_PSEUDONYM_BYTES {
                    return Err(refused(
                        ErrorCode::BadMessage,
                        format!("give a pseudonym of 1 to {MAX_PSEUDONYM_BYTES} bytes"),
                    ));
                }
                self.publishing_member(participant_id, "protect")?;
                let protection = Protection {
                    pseudonym: pseudonym.to_string(),
                    hide_from_defendant,
                };
                let mut effects = vec![Effect::Audit(
                    self.audit(
                        &actor,
                        "session.protect",
                        "protected",
                        vec![self.rule("hearing/witness-protection")],
                    )
                    .details(serde_json::json!({
                        "participant_id": participant_id,
                        "hide_from_defendant": hide_from_defendant,
                    })),
                )];
                effects.push(Effect::MediaHearing(
                    parley_control::HearingChange::Protect {
                        member: participant_id,
                        hidden_from: Some(self.hidden_from(&protection)),
                    },
                ));
                if let Some(m) = self.members.get_mut(&participant_id) {
                    m.protection = Some(protection);
                }
                effects.extend(self.rosters());
                Ok(effects)
            }
            ClientMessage::Extend { minutes } => {
                if role != Role::Judge || self.kind != SessionKind::CourtHearing {
                    return Err(refused(
                        ErrorCode::Forbidden,
                        "only the judge can extend, and only a hearing; visits end at their booked time",
                    ));
                }
                if minutes == 0 || minutes > MAX_EXTEND_MINUTES {
                    return Err(refused(
                        ErrorCode::BadMessage,
                        format!("extend by 1 to {MAX_EXTEND_MINUTES} minutes, not {minutes}"),
                    ));
                }
                let new_end = self.ends_at + Duration::minutes(i64::from(minutes));
                let mut effects = vec![Effect::Audit(
                    self.audit(&actor, "session.extend", "extended", vec![self.rule("hearing/extended-by-judge")])
                        .details(serde_json::json!({"minutes": minutes, "old_end": self.ends_at, "new_end": new_end})),
                )];
                self.ends_at = new_end;
                let still_ahead: Vec<u32> =
                    warning_instants(&self.jurisdiction, self.starts_at, self.ends_at)
                        .into_iter()
                        .filter(|(_, at)| *at > now)
                        .map(|(m, _)| m)
                        .collect();
                for m in still_ahead {
                    self.warned.remove(&m);
                }
                effects.push(Effect::PersistEnd(new_end));
                effects.extend(self.to_all(&ServerMessage::Extended { ends_at: new_end }));
                Ok(effects)
            }
            ClientMessage::End { reason } => {
                let allowed = if self.kind == SessionKind::CourtHearing {
                    is_staff(role)
                } else {
                    role == Role::Officer
                };
                if !allowed {
                    return Err(refused(
                        ErrorCode::Forbidden,
                        "only the judge or clerk can end a hearing, and only an officer can end a visit early",
                    ));
                }
                let reason = checked_reason(&reason)?;
                Ok(self.finish(
                    &actor,
                    EndReason::EndedByStaff,
                    reason,
                    self.rule("session/ended-by-staff"),
                ))
            }
        }
    }

    /// A line of captions: from an admitted judge, clerk or interpreter, to
    /// every admitted participant. Not audited and not stored: captions
    /// decide nothing, and are kept nowhere.
    fn caption(
        &mut self,
        from: i64,
        role: Role,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Effect>, Refused> {
        if !matches!(role, Role::Judge | Role::Clerk | Role::Interpreter) {
            return Err(refused(
                ErrorCode::Forbidden,
                "only a judge, clerk or interpreter can send captions",
            ));
        }
        if self.state_of(from) != Some(ParticipantState::Admitted) {
            return Err(refused(
                ErrorCode::Forbidden,
                "no captions before you are admitted",
            ));
        }
        let text = text.trim();
        if text.is_empty() || text.len() > MAX_CAPTION_BYTES {
            return Err(refused(
                ErrorCode::BadMessage,
                format!("a caption is 1 to {MAX_CAPTION_BYTES} bytes of text"),
            ));
        }
        if self
            .last_caption
            .get(&from)
            .is_some_and(|t| now - *t < Duration::milliseconds(CAPTION_INTERVAL_MS))
        {
            return Err(refused(
                ErrorCode::BadMessage,
                "captions are sent a line at a time; wait a moment",
            ));
        }
        self.last_caption.insert(from, now);
        let message = ServerMessage::Caption {
            participant_id: from,
            role,
            text: text.to_string(),
        };
        Ok(self
            .members
            .iter()
            .filter(|(_, m)| m.connected && m.state == ParticipantState::Admitted)
            .map(|(id, _)| Effect::Send(*id, message.clone()))
            .collect())
    }

    /// Opens a consultation for `ids`: admitted defendants, counsel and
    /// interpreters, at least one defendant and one counsel, none already
    /// consulting. The judge, the clerk, or a counsel among them may.
    fn consult(
        &mut self,
        actor: &str,
        from: i64,
        role: Role,
        ids: Vec<i64>,
    ) -> Result<Vec<Effect>, Refused> {
        if self.kind != SessionKind::CourtHearing {
            return Err(refused(
                ErrorCode::Forbidden,
                "consultations are part of hearings",
            ));
        }
        let ids: BTreeSet<i64> = ids.into_iter().collect();
        if !(is_staff(role) || (role == Role::Counsel && ids.contains(&from))) {
            return Err(refused(
                ErrorCode::Forbidden,
                "only the judge, the clerk or a counsel taking part opens a consultation",
            ));
        }
        let mut roles = Vec::new();
        for id in &ids {
            let Some(m) = self.members.get(id) else {
                return Err(refused(
                    ErrorCode::UnknownParticipant,
                    format!("participant {id} is not in this session"),
                ));
            };
            if !matches!(m.role, Role::Defendant | Role::Counsel | Role::Interpreter)
                || m.state != ParticipantState::Admitted
            {
                return Err(refused(
                    ErrorCode::BadMessage,
                    format!(
                        "participant {id} cannot consult: only admitted defendants, counsel and interpreters do"
                    ),
                ));
            }
            if m.consultation.is_some() {
                return Err(refused(
                    ErrorCode::BadMessage,
                    format!("participant {id} is already in a consultation"),
                ));
            }
            roles.push(m.role);
        }
        if !roles.contains(&Role::Defendant) || !roles.contains(&Role::Counsel) {
            return Err(refused(
                ErrorCode::BadMessage,
                "a consultation is for a defendant and their counsel (and an interpreter if asked)",
            ));
        }
        let consultation_id = self.next_consultation;
        let members: Vec<i64> = ids.into_iter().collect();
        let mut effects = vec![Effect::Audit(
            self.audit(
                actor,
                "session.consult",
                "opened",
                vec![self.rule("hearing/consultation")],
            )
            .details(
                serde_json::json!({"consultation_id": consultation_id, "participant_ids": members}),
            ),
        )];
        self.next_consultation += 1;
        for id in &members {
            if let Some(m) = self.members.get_mut(id) {
                m.consultation = Some(consultation_id);
            }
        }
        effects.push(Effect::MediaHearing(
            parley_control::HearingChange::OpenConsultation {
                consultation: consultation_id,
                members: members.clone(),
            },
        ));
        effects.extend(self.to_all(&ServerMessage::Consultation {
            consultation_id,
            participant_ids: members,
            open: true,
        }));
        effects.extend(self.rosters());
        Ok(effects)
    }

    /// Ends a consultation: a member of it returning, or the judge or clerk
    /// recalling them.
    fn end_consultation(
        &mut self,
        actor: &str,
        from: i64,
        role: Role,
        consultation_id: u32,
    ) -> Result<Vec<Effect>, Refused> {
        let members: Vec<i64> = self
            .members
            .iter()
            .filter(|(_, m)| m.consultation == Some(consultation_id))
            .map(|(id, _)| *id)
            .collect();
        if members.is_empty() {
            return Err(refused(
                ErrorCode::BadMessage,
                format!("there is no consultation {consultation_id}"),
            ));
        }
        let court = is_staff(role) && self.kind == SessionKind::CourtHearing;
        if !court && !members.contains(&from) {
            return Err(refused(
                ErrorCode::Forbidden,
                "only its members or the judge or clerk end a consultation",
            ));
        }
        let mut effects = vec![Effect::Audit(
            self.audit(
                actor,
                "session.consult",
                "ended",
                vec![self.rule("hearing/consultation")],
            )
            .details(
                serde_json::json!({"consultation_id": consultation_id, "participant_ids": members}),
            ),
        )];
        for id in &members {
            if let Some(m) = self.members.get_mut(id) {
                m.consultation = None;
            }
        }
        effects.push(Effect::MediaHearing(
            parley_control::HearingChange::CloseConsultation {
                consultation: consultation_id,
            },
        ));
        effects.extend(self.to_all(&ServerMessage::Consultation {
            consultation_id,
            participant_ids: members,
            open: false,
        }));
        effects.extend(self.rosters());
        Ok(effects)
    }

    /// A member who sends media (not a hidden observer or monitor), for a
    /// court order that concerns their media (`what`: mute, protect).
    fn publishing_member(&self, participant_id: i64, what: &str) -> Result<&Member, Refused> {
        let member = self.members.get(&participant_id).ok_or_else(|| {
            refused(
                ErrorCode::UnknownParticipant,
                format!("participant {participant_id} is not in this session"),
            )
        })?;
        if member.hidden {
            return Err(refused(
                ErrorCode::BadMessage,
                format!("participant {participant_id} receives only; there is nothing to {what}"),
            ));
        }
        Ok(member)
    }

    fn require_hearing_staff(&self, role: Role, what: &str) -> Result<(), Refused> {
        if self.kind == SessionKind::CourtHearing && is_staff(role) {
            Ok(())
        } else {
            Err(refused(
                ErrorCode::Forbidden,
                format!("only the judge or clerk of a hearing can {what}"),
            ))
        }
    }
}

fn checked_reason(reason: &str) -> Result<&str, Refused> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(refused(
            ErrorCode::BadMessage,
            "give a reason: the participants are shown it",
        ));
    }
    if reason.len() > MAX_REASON_BYTES {
        return Err(refused(
            ErrorCode::BadMessage,
            format!("the reason is longer than {MAX_REASON_BYTES} bytes"),
        ));
    }
    Ok(reason)
}

#[cfg(test)]
mod tests;
