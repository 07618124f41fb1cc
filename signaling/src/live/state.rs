//! The pure state machine of one live session: who is connected, who waits
//! in the lobby, which warnings have been given, and when it ends.
//!
//! Every method takes the current time and returns [`Effect`]s for the shell
//! to carry out in order. An [`Effect::Audit`] always precedes the effects it
//! authorizes, and the shell stops at the first audit it cannot write, so no
//! decision with legal weight takes effect unlogged (invariant 4).
//!
//! Invariants:
//! - a late joiner never moves the end: only a judge's `extend` does, or a
//!   visit's media outage under the jurisdiction's fair-use rule;
//! - at `ends_at` every participant gets `ended` and is disconnected;
//! - a participant removed from the session cannot rejoin it.

use crate::store::audit::AuditRecord;
use chrono::{DateTime, Duration, Utc};
use parley_policy::rights::{self, Grant, LiveAction};
use parley_policy::{FairUseMode, Jurisdiction, Role, RuleId, SessionKind, warning_instants};
use parley_protocol::{
    ClientMessage, CloseCode, EndReason, ErrorCode, LiveParticipant, MediaKind, ParticipantState,
    ServerMessage,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

mod admission;
mod captions;
mod e2ee;
mod fair_use;
mod hearing;
mod media;
mod restore;
mod roster;
mod schedule;

pub use restore::{Booked, Recorded};

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
    /// Credit the session's detainee with this many seconds of another
    /// visit, booked outside the weekly quota (the fair-use rule).
    PersistCredit(u32),
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
    /// Their public key for end-to-end encryption, from this connection.
    e2ee_key: Option<String>,
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
    /// A visit's media outage and the time given back for it.
    outage: fair_use::Outage,
    /// The last `e2ee` message each connected member was sent.
    e2ee_sent: BTreeMap<i64, ServerMessage>,
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
            outage: fair_use::Outage::default(),
            e2ee_sent: BTreeMap::new(),
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
            ClientMessage::Offer { sdp } => self.offer(from, sdp, now),
            ClientMessage::Caption { text } => self.caption(from, role, &text, now),
            ClientMessage::E2eeKey { public_key } => self.e2ee_key(from, public_key),
            ClientMessage::E2eeSenderKey { to, wrapped } => self.e2ee_sender_key(from, to, wrapped),
            ClientMessage::Leave => {
                let mut effects = vec![Effect::Close(from, CloseCode::Left)];
                effects.extend(self.disconnect(from));
                Ok(effects)
            }
            ClientMessage::Admit { participant_id } => self.admit(&actor, role, participant_id),
            ClientMessage::Remove {
                participant_id,
                reason,
            } => self.remove(&actor, role, participant_id, &reason),
            ClientMessage::Mute {
                participant_id,
                media,
                muted,
            } => self.mute(&actor, role, participant_id, media, muted),
            ClientMessage::Consult { participant_ids } => {
                self.consult(&actor, from, role, participant_ids)
            }
            ClientMessage::EndConsultation { consultation_id } => {
                self.end_consultation(&actor, from, role, consultation_id)
            }
            ClientMessage::Observers { admitted } => self.set_observers(&actor, role, admitted),
            ClientMessage::Protect {
                participant_id,
                pseudonym,
                hide_from_defendant,
            } => self.protect(
                &actor,
                role,
                participant_id,
                &pseudonym,
                hide_from_defendant,
            ),
            ClientMessage::Extend { minutes } => self.extend(&actor, role, minutes, now),
            ClientMessage::End { reason } => self.end(&actor, role, &reason),
        }
    }
    /// Whether `role` may do `action` here ([`rights`]); `taking_part`:
    /// the participant is among those it concerns.
    fn may(&self, role: Role, action: LiveAction, taking_part: bool) -> Result<(), Refused> {
        rights::check(role, self.kind, action, taking_part)
            .map_err(|who| refused(ErrorCode::Forbidden, who))
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
