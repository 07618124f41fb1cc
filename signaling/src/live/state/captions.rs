//! Captions: lines of text from the court or an interpreter to everyone
//! admitted, kept nowhere.

use super::*;

impl LiveSession {
    /// A line of captions: from an admitted judge, clerk or interpreter, to
    /// every admitted participant. Not audited and not stored: captions
    /// decide nothing, and are kept nowhere.
    pub(super) fn caption(
        &mut self,
        from: i64,
        role: Role,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Effect>, Refused> {
        self.may(role, LiveAction::Caption, false)?;
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
}
