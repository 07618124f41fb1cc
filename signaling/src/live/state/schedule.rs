//! When things happen: the deadlines, the countdown warnings, the scheduled
//! end, and a hearing extended or a session ended early.

use super::*;

impl LiveSession {
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

    pub(super) fn went_live(&mut self) -> Vec<Effect> {
        if self.went_live {
            return Vec::new();
        }
        self.went_live = true;
        vec![Effect::PersistLive]
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
                effects.extend(self.shown());
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

    pub(super) fn finish(
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
    pub(super) fn close_all(&mut self, reason: EndReason, message: &str) -> Vec<Effect> {
        let ended = ServerMessage::Ended {
            reason,
            message: message.to_string(),
        };
        let mut effects = self.to_all(&ended);
        let ids = self.connected_ids();
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

    /// The judge moves a hearing's end later; warnings still ahead fire
    /// again before the new end.
    pub(super) fn extend(
        &mut self,
        actor: &str,
        role: Role,
        minutes: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<Effect>, Refused> {
        self.may(role, LiveAction::Extend, false)?;
        if minutes == 0 || minutes > MAX_EXTEND_MINUTES {
            return Err(refused(
                ErrorCode::BadMessage,
                format!("extend by 1 to {MAX_EXTEND_MINUTES} minutes, not {minutes}"),
            ));
        }
        let new_end = self.ends_at + Duration::minutes(i64::from(minutes));
        let mut effects = vec![Effect::Audit(
            self.audit(actor, "session.extend", "extended", vec![self.rule("hearing/extended-by-judge")])
                .details(serde_json::json!({"minutes": minutes, "old_end": self.ends_at, "new_end": new_end})),
        )];
        self.move_end(new_end, now);
        effects.push(Effect::PersistEnd(new_end));
        effects.extend(self.to_all(&ServerMessage::Extended {
            ends_at: new_end,
            lost_seconds: None,
        }));
        Ok(effects)
    }

    /// The end moves to `new_end` at `now`: countdown warnings still ahead
    /// fire again before it.
    pub(super) fn move_end(&mut self, new_end: DateTime<Utc>, now: DateTime<Utc>) {
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
    }

    /// The court ends a hearing, or an officer a visit, for everyone.
    pub(super) fn end(
        &mut self,
        actor: &str,
        role: Role,
        reason: &str,
    ) -> Result<Vec<Effect>, Refused> {
        self.may(role, LiveAction::End, false)?;
        let reason = checked_reason(reason)?;
        Ok(self.finish(
            actor,
            EndReason::EndedByStaff,
            reason,
            self.rule("session/ended-by-staff"),
        ))
    }
}
