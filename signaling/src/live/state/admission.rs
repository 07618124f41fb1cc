//! Who is in: joining (straight in, or the lobby), the court admitting and
//! removing, and leaving.

use super::*;

impl LiveSession {
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
            ParticipantState::Admitted
                if rights::grant(role, self.kind, LiveAction::EnterWithoutAdmission)
                    == Grant::Yes =>
            {
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
                // A new connection may be a new page with a new key pair.
                e2ee_key: None,
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
        self.e2ee_sent.remove(&participant_id);
        effects.extend(self.shown());
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

    pub(super) fn initial_state(&self, role: Role, now: DateTime<Utc>) -> ParticipantState {
        let admitted = rights::grant(role, self.kind, LiveAction::EnterWithoutAdmission)
            == Grant::Yes
            || (self.kind.is_visit() && now >= self.starts_at);
        if admitted {
            ParticipantState::Admitted
        } else {
            ParticipantState::Lobby
        }
    }

    /// The participant's socket closed or they left.
    pub fn disconnect(&mut self, participant_id: i64) -> Vec<Effect> {
        match self.members.get_mut(&participant_id) {
            Some(m) if m.connected => m.connected = false,
            _ => return Vec::new(),
        }
        self.e2ee_sent.remove(&participant_id);
        self.shown()
    }

    /// The court lets a participant in from the lobby.
    pub(super) fn admit(
        &mut self,
        actor: &str,
        role: Role,
        participant_id: i64,
    ) -> Result<Vec<Effect>, Refused> {
        self.may(role, LiveAction::Admit, false)?;
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
                actor,
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
        effects.extend(self.shown());
        Ok(effects)
    }

    /// The court removes a participant, with a reason they are shown; they
    /// cannot rejoin.
    pub(super) fn remove(
        &mut self,
        actor: &str,
        role: Role,
        participant_id: i64,
        reason: &str,
    ) -> Result<Vec<Effect>, Refused> {
        self.may(role, LiveAction::Remove, false)?;
        let reason = checked_reason(reason)?;
        if !self.members.contains_key(&participant_id) {
            return Err(refused(
                ErrorCode::UnknownParticipant,
                format!("participant {participant_id} is not in this session"),
            ));
        }
        let mut effects = vec![Effect::Audit(
            self.audit(
                actor,
                "session.remove",
                "removed",
                vec![self.rule("hearing/removed-by-court")],
            )
            .details(serde_json::json!({"participant_id": participant_id, "reason": reason})),
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
}
