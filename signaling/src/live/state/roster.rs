//! Who sees whom: the roster each participant is sent (hidden members only
//! for the court, a protected witness under their pseudonym), and messages
//! to everyone.

use super::*;

impl LiveSession {
    /// The roster as `viewer` may see it: hidden members only for judge
    /// and clerk; a protected witness under their pseudonym for everyone
    /// but the court and the witness.
    pub(super) fn roster_for(&self, viewer_id: i64, viewer: Role) -> ServerMessage {
        let participants = self
            .members
            .iter()
            .filter(|(_, m)| {
                m.connected
                    && (!m.hidden
                        || rights::grant(viewer, self.kind, LiveAction::SeeHiddenMembers)
                            == Grant::Yes)
                    && m.role != Role::Officer
            })
            .map(|(id, m)| {
                let sees_name = rights::grant(viewer, self.kind, LiveAction::SeeProtectedNames)
                    == Grant::Yes
                    || *id == viewer_id;
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

    pub(super) fn rosters(&self) -> Vec<Effect> {
        self.members
            .iter()
            .filter(|(_, m)| m.connected)
            .map(|(id, m)| Effect::Send(*id, self.roster_for(*id, m.role)))
            .collect()
    }

    /// Who a protected witness's video is hidden from, besides observers
    /// and monitors: every defendant who has connected, if so ordered.
    pub(super) fn hidden_from(&self, protection: &Protection) -> Vec<i64> {
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
    pub(super) fn protections_hiding_from_defendants(&self) -> Vec<Effect> {
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

    pub(super) fn to_all(&self, message: &ServerMessage) -> Vec<Effect> {
        self.connected_ids()
            .into_iter()
            .map(|id| Effect::Send(id, message.clone()))
            .collect()
    }

    /// Who is connected now, by participant id.
    pub(super) fn connected_ids(&self) -> Vec<i64> {
        self.members
            .iter()
            .filter(|(_, m)| m.connected)
            .map(|(id, _)| *id)
            .collect()
    }
}
