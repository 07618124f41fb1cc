//! A room's membership and its forwarding table: who may join, who may
//! publish, and who receives whose media.
//!
//! Invariant 1: a privileged room (legal visit, consultation) has only
//! participants among its members (never a recorder, monitor or observer), so
//! no receiver list ever names anyone else. The room enforces this itself, whatever the control plane asks: the
//! policy is fixed when the room opens and a privileged room refuses to
//! enable recording or monitoring later.
//!
//! A hearing adds three forwarding rules, each enforced here:
//! - **Consultations.** Participants moved into a consultation (a defendant
//!   and counsel, perhaps an interpreter) exchange media only with each
//!   other: nobody outside it (no other participant, observer, monitor or
//!   recorder) receives a packet of theirs, and they receive nothing from
//!   the hearing. A consultation is privileged whatever the room is.
//! - **Closed to observers.** While the court has closed the hearing to the
//!   public, observers receive nothing.
//! - **Witness protection.** A protected participant's video reaches no
//!   observer and no monitor, nor the members the court names (say, the
//!   defendant); their audio still reaches everyone.

use std::collections::{BTreeMap, BTreeSet};

pub use parley_control::{ConsultationId, MediaKind, MemberId, RoomPolicy};

/// What a member is to the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MemberKind {
    /// Sends and receives media.
    Participant,
    /// Receives only, visible to the court: observers, the public gallery.
    Observer,
    /// Receives only, hidden: an officer monitoring a visit.
    Monitor,
    /// Receives only: the recorder taking the official record.
    Recorder,
}

impl MemberKind {
    /// Members that may send media.
    pub fn may_publish(self) -> bool {
        self == MemberKind::Participant
    }
}

/// A control request the room refused; nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    #[error("this room is privileged: a {0:?} may never join it")]
    Privileged(MemberKind),
    #[error("this room is not being recorded: a recorder may not join it")]
    NotRecorded,
    #[error("monitoring is not allowed in this room")]
    MonitoringNotAllowed,
    #[error("a privileged room can never be recorded or monitored")]
    PrivilegedPolicy,
    #[error("member {0} is already in the room")]
    AlreadyMember(MemberId),
    #[error("member {0} is not in the room")]
    UnknownMember(MemberId),
    #[error("member {0} receives only and cannot publish")]
    ReceiveOnly(MemberId),
    #[error("the room is closed")]
    Closed,
    #[error("member {0} is not a participant; only participants consult")]
    NotAParticipant(MemberId),
    #[error("member {0} is already in a consultation")]
    AlreadyConsulting(MemberId),
    #[error("consultation {0} already exists")]
    ConsultationExists(ConsultationId),
    #[error("no consultation {0}")]
    UnknownConsultation(ConsultationId),
    #[error("a consultation needs at least two participants")]
    ConsultationTooSmall,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Member {
    kind: MemberKind,
    muted_audio: bool,
    muted_video: bool,
    /// The consultation this participant is in, if any.
    consultation: Option<ConsultationId>,
    /// Witness protection: the video goes to no observer or monitor, nor
    /// to these members.
    protected_from: Option<BTreeSet<MemberId>>,
}

/// One room: its policy and members.
#[derive(Debug, Clone)]
pub struct Room {
    policy: RoomPolicy,
    members: BTreeMap<MemberId, Member>,
    closed: bool,
    /// Observers receive media (the hearing is open to the public).
    observers_admitted: bool,
}

impl Room {
    /// Opens a room. A privileged policy that asks for recording or
    /// monitoring is corrected, not trusted: both are forced off.
    pub fn open(policy: RoomPolicy) -> Self {
        let policy = if policy.privileged {
            RoomPolicy {
                privileged: true,
                recorded: false,
                monitoring_allowed: false,
            }
        } else {
            policy
        };
        Self {
            policy,
            members: BTreeMap::new(),
            closed: false,
            observers_admitted: true,
        }
    }

    pub fn policy(&self) -> RoomPolicy {
        self.policy
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Members and their kinds, in id order.
    pub fn members(&self) -> impl Iterator<Item = (MemberId, MemberKind)> + '_ {
        self.members.iter().map(|(id, m)| (*id, m.kind))
    }

    pub fn kind_of(&self, id: MemberId) -> Option<MemberKind> {
        self.members.get(&id).map(|m| m.kind)
    }

    /// Admits a member of `kind`, if the room's policy allows it.
    pub fn join(&mut self, id: MemberId, kind: MemberKind) -> Result<(), RoomError> {
        if self.closed {
            return Err(RoomError::Closed);
        }
        if self.members.contains_key(&id) {
            return Err(RoomError::AlreadyMember(id));
        }
        match kind {
            MemberKind::Recorder | MemberKind::Monitor | MemberKind::Observer
                if self.policy.privileged =>
            {
                return Err(RoomError::Privileged(kind));
            }
            MemberKind::Recorder if !self.policy.recorded => return Err(RoomError::NotRecorded),
            MemberKind::Monitor if !self.policy.monitoring_allowed => {
                return Err(RoomError::MonitoringNotAllowed);
            }
            _ => {}
        }
        self.members.insert(
            id,
            Member {
                kind,
                muted_audio: false,
                muted_video: false,
                consultation: None,
                protected_from: None,
            },
        );
        Ok(())
    }

    /// Removes a member; their media stops at once.
    pub fn remove(&mut self, id: MemberId) -> Result<MemberKind, RoomError> {
        self.members
            .remove(&id)
            .map(|m| m.kind)
            .ok_or(RoomError::UnknownMember(id))
    }

    /// Mutes or unmutes what a member publishes (a judge's mute).
    pub fn set_muted(
        &mut self,
        id: MemberId,
        media: MediaKind,
        muted: bool,
    ) -> Result<(), RoomError> {
        let m = self
            .members
            .get_mut(&id)
            .ok_or(RoomError::UnknownMember(id))?;
        if !m.kind.may_publish() {
            return Err(RoomError::ReceiveOnly(id));
        }
        match media {
            MediaKind::Audio => m.muted_audio = muted,
            MediaKind::Video => m.muted_video = muted,
        }
        Ok(())
    }

    /// Starts or stops recording (a lawful stop, or a start after the
    /// announcement). Stopping evicts the recorders; returns who was evicted.
    pub fn set_recorded(&mut self, recorded: bool) -> Result<Vec<MemberId>, RoomError> {
        if recorded && self.policy.privileged {
            return Err(RoomError::PrivilegedPolicy);
        }
        self.policy.recorded = recorded;
        Ok(if recorded {
            Vec::new()
        } else {
            self.evict(MemberKind::Recorder)
        })
    }

    /// Allows or forbids monitoring; forbidding evicts the monitors.
    pub fn set_monitoring(&mut self, allowed: bool) -> Result<Vec<MemberId>, RoomError> {
        if allowed && self.policy.privileged {
            return Err(RoomError::PrivilegedPolicy);
        }
        self.policy.monitoring_allowed = allowed;
        Ok(if allowed {
            Vec::new()
        } else {
            self.evict(MemberKind::Monitor)
        })
    }

    fn evict(&mut self, kind: MemberKind) -> Vec<MemberId> {
        let gone: Vec<MemberId> = self
            .members
            .iter()
            .filter(|(_, m)| m.kind == kind)
            .map(|(id, _)| *id)
            .collect();
        for id in &gone {
            self.members.remove(id);
        }
        gone
    }

    /// Moves `members` (participants, none already consulting) into
    /// consultation `id`: from now on they exchange media only with each
    /// other. Members not in the room yet are skipped: they join into the
    /// consultation ([`Room::place_in_consultation`]). Refused as a whole,
    /// changing nothing, if any one present cannot go.
    pub fn open_consultation(
        &mut self,
        id: ConsultationId,
        members: &[MemberId],
    ) -> Result<(), RoomError> {
        let distinct: BTreeSet<MemberId> = members.iter().copied().collect();
        if distinct.len() < 2 {
            return Err(RoomError::ConsultationTooSmall);
        }
        if self.members.values().any(|m| m.consultation == Some(id)) {
            return Err(RoomError::ConsultationExists(id));
        }
        for member in &distinct {
            let Some(m) = self.members.get(member) else {
                continue;
            };
            if m.kind != MemberKind::Participant {
                return Err(RoomError::NotAParticipant(*member));
            }
            if m.consultation.is_some() {
                return Err(RoomError::AlreadyConsulting(*member));
            }
        }
        for member in &distinct {
            if let Some(m) = self.members.get_mut(member) {
                m.consultation = Some(id);
            }
        }
        Ok(())
    }

    /// Puts one participant (re)joining the room into consultation `id`,
    /// which others of it may already be in.
    pub fn place_in_consultation(
        &mut self,
        member: MemberId,
        id: ConsultationId,
    ) -> Result<(), RoomError> {
        let m = self
            .members
            .get_mut(&member)
            .ok_or(RoomError::UnknownMember(member))?;
        if m.kind != MemberKind::Participant {
            return Err(RoomError::NotAParticipant(member));
        }
        if m.consultation.is_some_and(|c| c != id) {
            return Err(RoomError::AlreadyConsulting(member));
        }
        m.consultation = Some(id);
        Ok(())
    }

    /// Ends consultation `id`: its members return to the hearing. Returns
    /// who they are.
    pub fn close_consultation(&mut self, id: ConsultationId) -> Result<Vec<MemberId>, RoomError> {
        let back: Vec<MemberId> = self
            .members
            .iter()
            .filter(|(_, m)| m.consultation == Some(id))
            .map(|(member, _)| *member)
            .collect();
        if back.is_empty() {
            return Err(RoomError::UnknownConsultation(id));
        }
        for member in &back {
            if let Some(m) = self.members.get_mut(member) {
                m.consultation = None;
            }
        }
        Ok(back)
    }

    /// The consultation `member` is in.
    pub fn consultation_of(&self, member: MemberId) -> Option<ConsultationId> {
        self.members.get(&member).and_then(|m| m.consultation)
    }

    /// Opens or closes the hearing to observers; closed, they receive
    /// nothing from the next packet on.
    pub fn set_observers_admitted(&mut self, admitted: bool) {
        self.observers_admitted = admitted;
    }

    pub fn observers_admitted(&self) -> bool {
        self.observers_admitted
    }

    /// Protects `member`'s video from observers, monitors and `hidden_from`
    /// (`None` lifts the protection).
    pub fn set_protection(
        &mut self,
        member: MemberId,
        hidden_from: Option<BTreeSet<MemberId>>,
    ) -> Result<(), RoomError> {
        let m = self
            .members
            .get_mut(&member)
            .ok_or(RoomError::UnknownMember(member))?;
        if !m.kind.may_publish() {
            return Err(RoomError::ReceiveOnly(member));
        }
        m.protected_from = hidden_from;
        Ok(())
    }

    /// Closes the room: every member leaves, nothing more is forwarded.
    pub fn close(&mut self) -> Vec<MemberId> {
        self.closed = true;
        std::mem::take(&mut self.members).into_keys().collect()
    }

    /// Whether `publisher` may send `media` into the room now.
    pub fn may_publish(&self, publisher: MemberId, media: MediaKind) -> bool {
        self.members.get(&publisher).is_some_and(|m| {
            m.kind.may_publish()
                && match media {
                    MediaKind::Audio => !m.muted_audio,
                    MediaKind::Video => !m.muted_video,
                }
        })
    }

    /// Everyone who receives `publisher`'s `media`: nobody when the
    /// publisher may not publish it (unknown, receive-only, muted) or the
    /// room is closed; the other members of their consultation when they
    /// are in one; otherwise every other member outside consultations,
    /// less observers while the hearing is closed to them, and less those
    /// a protected witness's video is hidden from.
    /// Borrowing, not allocating: this runs for every forwarded packet.
    pub fn receivers_of(
        &self,
        publisher: MemberId,
        media: MediaKind,
    ) -> impl Iterator<Item = MemberId> + '_ {
        let source = self
            .members
            .get(&publisher)
            .filter(|_| !self.closed && self.may_publish(publisher, media));
        let group = source.and_then(|m| m.consultation);
        let shielded_from = source
            .filter(|_| media == MediaKind::Video)
            .and_then(|m| m.protected_from.as_ref());
        let observers_admitted = self.observers_admitted;
        self.members
            .iter()
            .filter(move |(id, m)| {
                source.is_some()
                    && **id != publisher
                    && m.consultation == group
                    && (m.kind != MemberKind::Observer || observers_admitted)
                    && shielded_from.is_none_or(|hidden| {
                        !matches!(m.kind, MemberKind::Observer | MemberKind::Monitor)
                            && !hidden.contains(id)
                    })
            })
            .map(|(id, _)| *id)
    }
}

#[cfg(test)]
mod tests;
