//! A court's orders in a hearing: mutes, closing to observers, witness
//! protection, and private consultations for defendant and counsel.

use super::*;

impl LiveSession {
    /// Opens a consultation for `ids`: admitted defendants, counsel and
    /// interpreters, at least one defendant and one counsel, none already
    /// consulting. The judge, the clerk, or a counsel among them may.
    pub(super) fn consult(
        &mut self,
        actor: &str,
        from: i64,
        role: Role,
        ids: Vec<i64>,
    ) -> Result<Vec<Effect>, Refused> {
        let ids: BTreeSet<i64> = ids.into_iter().collect();
        self.may(role, LiveAction::OpenConsultation, ids.contains(&from))?;
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
        effects.extend(self.shown());
        Ok(effects)
    }

    /// Ends a consultation: a member of it returning, or the judge or clerk
    /// recalling them.
    pub(super) fn end_consultation(
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
        self.may(role, LiveAction::EndConsultation, members.contains(&from))?;
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
        effects.extend(self.shown());
        Ok(effects)
    }

    /// A member who sends media (not a hidden observer or monitor), for a
    /// court order that concerns their media (`what`: mute, protect).
    pub(super) fn publishing_member(
        &self,
        participant_id: i64,
        what: &str,
    ) -> Result<&Member, Refused> {
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

    /// The court mutes (or unmutes) a participant's audio or video.
    pub(super) fn mute(
        &mut self,
        actor: &str,
        role: Role,
        participant_id: i64,
        media: MediaKind,
        muted: bool,
    ) -> Result<Vec<Effect>, Refused> {
        self.may(role, LiveAction::Mute, false)?;
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
                actor,
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

    /// The court opens (or closes) the hearing to observers.
    pub(super) fn set_observers(
        &mut self,
        actor: &str,
        role: Role,
        admitted: bool,
    ) -> Result<Vec<Effect>, Refused> {
        self.may(role, LiveAction::Observers, false)?;
        if admitted == self.observers_admitted {
            return Ok(Vec::new());
        }
        let decision = if admitted { "opened" } else { "closed" };
        let mut effects = vec![Effect::Audit(self.audit(
            actor,
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

    /// The judge orders witness protection: a pseudonym for everyone but
    /// the court and the witness, and their video hidden from observers
    /// (and from defendants when asked).
    pub(super) fn protect(
        &mut self,
        actor: &str,
        role: Role,
        participant_id: i64,
        pseudonym: &str,
        hide_from_defendant: bool,
    ) -> Result<Vec<Effect>, Refused> {
        self.may(role, LiveAction::Protect, false)?;
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
                actor,
                "session.protect",
                "protected",
                vec![self.rule("hearing/witness-protection")],
            )
            .details(serde_json::json!({
                "participant_id": participant_id,
                "pseudonym": protection.pseudonym,
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
}
