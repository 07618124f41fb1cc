//! End-to-end encryption of privileged media: who a participant's media is
//! encrypted for, and the relay of their public and wrapped sender keys.
//!
//! The server holds no key that opens the media: it passes on P-256 public
//! keys and sender keys wrapped under keys the clients agree between
//! themselves (docs/security.md). A member's media is encrypted for the
//! other admitted, visible members of a legal visit, or of the consultation
//! they are in, under the jurisdiction's `[e2ee]` rule. Hidden members
//! (monitors, observers) are never covered: privileged sessions have none,
//! and they never join a consultation.

use super::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parley_policy::E2eeMode;
use parley_protocol::PeerKey;

/// Bytes of an uncompressed P-256 point: 0x04, then x and y.
pub const PUBLIC_KEY_BYTES: usize = 65;
/// Fewest bytes a wrapped sender key can take (a 12-byte nonce and a
/// 16-byte tag around at least nothing).
pub const MIN_WRAPPED_BYTES: usize = 28;
/// Most bytes a wrapped sender key may take.
pub const MAX_WRAPPED_BYTES: usize = 256;

impl LiveSession {
    /// The end-to-end mode of `id`'s media now: off unless they are
    /// connected, admitted and visible, in a legal visit or a consultation.
    pub(super) fn e2ee_mode(&self, id: i64) -> E2eeMode {
        let Some(m) = self.members.get(&id) else {
            return E2eeMode::Off;
        };
        if !m.connected || m.state != ParticipantState::Admitted || m.hidden {
            return E2eeMode::Off;
        }
        let kind = match m.consultation {
            Some(_) => SessionKind::Consultation,
            None => self.kind,
        };
        E2eeMode::for_kind(self.jurisdiction.e2ee, kind)
    }

    /// The others `id`'s media is encrypted for (empty when it is not).
    fn e2ee_peers(&self, id: i64) -> Vec<(i64, &Member)> {
        if self.e2ee_mode(id) == E2eeMode::Off {
            return Vec::new();
        }
        let consultation = self.members.get(&id).and_then(|m| m.consultation);
        self.members
            .iter()
            .filter(|(other, m)| {
                **other != id
                    && m.connected
                    && m.state == ParticipantState::Admitted
                    && !m.hidden
                    && m.consultation == consultation
            })
            .map(|(other, m)| (*other, m))
            .collect()
    }

    /// The `e2ee` message `id` should hold now, or `None` if they need
    /// none (never covered, or gone).
    fn e2ee_message(&self, id: i64) -> Option<ServerMessage> {
        let mode = self.e2ee_mode(id);
        if mode == E2eeMode::Off && !self.e2ee_sent.contains_key(&id) {
            return None;
        }
        let peers = self.e2ee_peers(id);
        let keys = peers
            .iter()
            .filter_map(|(other, m)| {
                m.e2ee_key.as_ref().map(|k| PeerKey {
                    participant_id: *other,
                    public_key: k.clone(),
                })
            })
            .collect();
        let without_key = peers
            .iter()
            .filter(|(_, m)| m.e2ee_key.is_none())
            .map(|(other, _)| *other)
            .collect();
        Some(ServerMessage::E2ee {
            mode,
            keys,
            without_key,
        })
    }

    /// An `e2ee` message to every connected member whose coverage or
    /// peers' keys changed since the last one they were sent.
    pub(super) fn e2ee_updates(&mut self) -> Vec<Effect> {
        let ids = self.connected_ids();
        let mut effects = Vec::new();
        for id in ids {
            let Some(message) = self.e2ee_message(id) else {
                continue;
            };
            if self.e2ee_sent.get(&id) != Some(&message) {
                self.e2ee_sent.insert(id, message.clone());
                effects.push(Effect::Send(id, message));
            }
        }
        effects
    }

    /// The roster, and end-to-end keys where they changed: after anyone
    /// joins, leaves, is admitted or steps into or out of a consultation.
    pub(super) fn shown(&mut self) -> Vec<Effect> {
        let mut effects = self.rosters();
        effects.extend(self.e2ee_updates());
        effects
    }

    /// `from` gives their public key (a new one replaces the old).
    pub(super) fn e2ee_key(
        &mut self,
        from: i64,
        public_key: String,
    ) -> Result<Vec<Effect>, Refused> {
        self.e2ee_covered(from)?;
        let bytes = URL_SAFE_NO_PAD.decode(public_key.as_bytes()).ok();
        if bytes
            .as_ref()
            .is_none_or(|b| b.len() != PUBLIC_KEY_BYTES || b[0] != 0x04)
        {
            return Err(refused(
                ErrorCode::BadMessage,
                format!(
                    "public_key must be base64url (no padding) of an uncompressed P-256 point: {PUBLIC_KEY_BYTES} bytes starting 0x04"
                ),
            ));
        }
        if let Some(m) = self.members.get_mut(&from) {
            m.e2ee_key = Some(public_key);
        }
        Ok(self.e2ee_updates())
    }

    /// `from` passes their wrapped sender key to `to`, who must be among
    /// those `from`'s media is encrypted for.
    pub(super) fn e2ee_sender_key(
        &mut self,
        from: i64,
        to: i64,
        wrapped: String,
    ) -> Result<Vec<Effect>, Refused> {
        self.e2ee_covered(from)?;
        let len = URL_SAFE_NO_PAD
            .decode(wrapped.as_bytes())
            .map(|b| b.len())
            .unwrap_or(0);
        if !(MIN_WRAPPED_BYTES..=MAX_WRAPPED_BYTES).contains(&len) {
            return Err(refused(
                ErrorCode::BadMessage,
                format!(
                    "wrapped must be base64url (no padding) of {MIN_WRAPPED_BYTES} to {MAX_WRAPPED_BYTES} bytes"
                ),
            ));
        }
        if !self.e2ee_peers(from).iter().any(|(id, _)| *id == to) {
            return Err(refused(
                ErrorCode::UnknownParticipant,
                format!("participant {to} is not among those your media is encrypted for"),
            ));
        }
        Ok(vec![Effect::Send(
            to,
            ServerMessage::E2eeSenderKey { from, wrapped },
        )])
    }

    fn e2ee_covered(&self, from: i64) -> Result<(), Refused> {
        if self.e2ee_mode(from) == E2eeMode::Off {
            return Err(refused(
                ErrorCode::Forbidden,
                "your media is not encrypted end to end here: only legal visits and consultations are, under the jurisdiction's [e2ee] rule, once you are admitted",
            ));
        }
        Ok(())
    }
}
