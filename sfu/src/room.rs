//! A room's membership and its forwarding table: who may join, who may
//! publish, and who receives whose media.
//!
//! Invariant 1: a privileged room (legal visit, consultation) has only
//! participants among its members (never a recorder, monitor or observer), so
//! no receiver list ever names anyone else. The room enforces this itself, whatever the control plane asks: the
//! policy is fixed when the room opens and a privileged room refuses to
//! enable recording or monitoring later.

use std::collections::BTreeMap;

/// Identifies a member of a room (the signaling participant id; recorders and
/// monitors get ids from the same space).
pub type MemberId = i64;

/// The room's policy flags, from the signaling service's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomPolicy {
    /// Legal visit or consultation: never recorded, never monitored.
    pub privileged: bool,
    /// The official record is being taken.
    pub recorded: bool,
    /// Staff may watch and listen live.
    pub monitoring_allowed: bool,
}

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

/// Kinds of media a member publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MediaKind {
    Audio,
    Video,
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Member {
    kind: MemberKind,
    muted_audio: bool,
    muted_video: bool,
}

/// One room: its policy and members.
#[derive(Debug, Clone)]
pub struct Room {
    policy: RoomPolicy,
    members: BTreeMap<MemberId, Member>,
    closed: bool,
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

    /// Everyone who receives `publisher`'s `media`: every other member, or
    /// nobody when the publisher may not publish it (unknown, receive-only,
    /// muted) or the room is closed.
    /// Borrowing, not allocating: this runs for every forwarded packet.
    pub fn receivers_of(
        &self,
        publisher: MemberId,
        media: MediaKind,
    ) -> impl Iterator<Item = MemberId> + '_ {
        let open = !self.closed && self.may_publish(publisher, media);
        self.members
            .keys()
            .copied()
            .filter(move |id| open && *id != publisher)
    }
}

#[cfg(test)]
mod tests;
