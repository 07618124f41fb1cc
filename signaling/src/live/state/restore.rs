//! A live session rebuilt after a restart of signaling: the court's
//! decisions that hold for the rest of the session (admissions, removals,
//! consultations, closing to the public, witness protection, mutes) are read
//! back from the session's audit entries, where each was written before it
//! took effect (invariant 4). Without this a restart would undo them: a
//! muted participant heard again, a protected witness shown under their
//! name and on video to the defendant, a closed hearing open to the public.

use super::*;
use serde_json::Value;

/// One audit entry of the session, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub action: String,
    pub decision: String,
    pub details: Value,
}

/// A participant booked in the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booked {
    pub id: i64,
    pub name: String,
    pub role: Role,
}

impl LiveSession {
    /// Replays the court's decisions in `entries` (the session's audit
    /// entries, oldest first) over a session nobody has joined yet, for
    /// the participants `booked`. Entries it does not know, or that name
    /// someone not booked, are skipped. Returns the media changes the room
    /// needs whenever it opens (closing it to observers); membership
    /// decisions travel with each member's join.
    pub fn restore(&mut self, booked: &[Booked], entries: &[Recorded]) -> Vec<Effect> {
        for entry in entries {
            let participant = entry.details["participant_id"].as_i64();
            match (entry.action.as_str(), entry.decision.as_str()) {
                ("session.admit", _) => {
                    if let Some(m) = participant.and_then(|id| self.restored(booked, id)) {
                        m.state = ParticipantState::Admitted;
                    }
                }
                ("session.remove", _) => {
                    if let Some(id) = participant {
                        self.removed.insert(id);
                    }
                }
                ("session.consult", open) => {
                    let Some(consultation) = entry.details["consultation_id"]
                        .as_u64()
                        .and_then(|c| u32::try_from(c).ok())
                    else {
                        continue;
                    };
                    let ids = entry.details["participant_ids"]
                        .as_array()
                        .map(|ids| ids.iter().filter_map(Value::as_i64).collect::<Vec<_>>())
                        .unwrap_or_default();
                    for id in ids {
                        if let Some(m) = self.restored(booked, id) {
                            m.consultation = (open == "opened").then_some(consultation);
                        }
                    }
                    self.next_consultation = self.next_consultation.max(consultation + 1);
                }
                ("session.fair_use", _) => {
                    self.restore_given(entry.details["given_seconds"].as_i64().unwrap_or(0));
                }
                ("session.observers", decision) => {
                    self.observers_admitted = decision == "opened";
                }
                ("session.protect", _) => {
                    let pseudonym = entry.details["pseudonym"]
                        .as_str()
                        .unwrap_or("Protected witness");
                    let hide_from_defendant = entry.details["hide_from_defendant"]
                        .as_bool()
                        .unwrap_or(true);
                    if let Some(m) = participant.and_then(|id| self.restored(booked, id)) {
                        m.protection = Some(Protection {
                            pseudonym: pseudonym.to_string(),
                            hide_from_defendant,
                        });
                    }
                }
                ("session.mute", _) => {
                    let muted = entry.details["muted"].as_bool();
                    let media = entry.details["media"].as_str();
                    if let (Some(m), Some(muted)) =
                        (participant.and_then(|id| self.restored(booked, id)), muted)
                    {
                        match media {
                            Some("audio") => m.muted.audio = muted,
                            Some("video") => m.muted.video = muted,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        if self.observers_admitted {
            Vec::new()
        } else {
            vec![Effect::MediaHearing(
                parley_control::HearingChange::Observers { admitted: false },
            )]
        }
    }

    /// The member `id` as restored so far (not connected), added from the
    /// booking if new; `None` for someone not booked.
    fn restored(&mut self, booked: &[Booked], id: i64) -> Option<&mut Member> {
        let person = booked.iter().find(|b| b.id == id)?;
        Some(self.members.entry(id).or_insert_with(|| Member {
            name: person.name.clone(),
            role: person.role,
            state: ParticipantState::Lobby,
            connected: false,
            hidden: matches!(person.role, Role::Officer | Role::Observer),
            muted: Muted::default(),
            consultation: None,
            protection: None,
            weak_connection: false,
            e2ee_key: None,
        }))
    }
}
