//! Fair use of booked time: a visit's outage runs from the media server's
//! report that someone's media was lost until it has answered a new offer
//! from everyone it lost; the jurisdiction's `[fair_use]` rule
//! ([`parley_policy::FairUse`]) says how much of it the visit gets back, as
//! a later end or as a credit towards another visit.

use super::*;

/// A visit's media outage under way, and what was given back so far.
#[derive(Debug, Clone, Default)]
pub(super) struct Outage {
    /// When the first of `lost` lost their media.
    since: Option<DateTime<Utc>>,
    /// Participants whose media was lost and is not back yet.
    lost: BTreeSet<i64>,
    /// Time given back to this visit in all.
    given: Duration,
}

impl LiveSession {
    /// The media of `who` was lost at `now`: an outage begins, or goes on,
    /// for a visit under way whose jurisdiction gives lost time back.
    pub(super) fn media_went(&mut self, who: &[i64], now: DateTime<Utc>) {
        if !self.kind.is_visit()
            || self.ended
            || now < self.starts_at
            || self.jurisdiction.fair_use.mode == FairUseMode::Off
        {
            return;
        }
        for id in who {
            if self.state_of(*id) == Some(ParticipantState::Admitted) {
                self.outage.lost.insert(*id);
            }
        }
        if !self.outage.lost.is_empty() && self.outage.since.is_none() {
            self.outage.since = Some(now);
        }
    }

    /// `from`'s media is back at `now` (the media server answered their
    /// offer): if that ends the outage, the visit gets its time back
    /// (audited, persisted, told to everyone).
    pub(super) fn media_came_back(&mut self, from: i64, now: DateTime<Utc>) -> Vec<Effect> {
        if !self.outage.lost.remove(&from) || !self.outage.lost.is_empty() {
            return Vec::new();
        }
        let Some(since) = self.outage.since.take() else {
            return Vec::new();
        };
        let lost = now - since;
        let give = self
            .jurisdiction
            .fair_use
            .given_back(lost, self.outage.given);
        if give <= Duration::zero() {
            return Vec::new();
        }
        self.outage.given += give;
        let seconds = u32::try_from(give.num_seconds()).unwrap_or(u32::MAX);
        if self.jurisdiction.fair_use.mode == FairUseMode::Credit {
            let mut effects = vec![Effect::Audit(
                self.audit(
                    "system",
                    "session.fair_use",
                    "credited",
                    vec![self.rule("fair_use/credit")],
                )
                .details(serde_json::json!({
                    "lost_seconds": lost.num_seconds(),
                    "given_seconds": give.num_seconds(),
                })),
            )];
            effects.push(Effect::PersistCredit(seconds));
            effects.extend(self.to_all(&ServerMessage::TimeCredited { seconds }));
            return effects;
        }
        let (old_end, new_end) = (self.ends_at, self.ends_at + give);
        let mut effects = vec![Effect::Audit(
            self.audit(
                "system",
                "session.fair_use",
                "clock paused",
                vec![self.rule("fair_use/pause_clock")],
            )
            .details(serde_json::json!({
                "lost_seconds": lost.num_seconds(),
                "given_seconds": give.num_seconds(),
                "old_end": old_end,
                "new_end": new_end,
            })),
        )];
        self.move_end(new_end, now);
        effects.push(Effect::PersistEnd(new_end));
        effects.extend(self.to_all(&ServerMessage::Extended {
            ends_at: new_end,
            lost_seconds: Some(seconds),
        }));
        effects
    }

    /// After a restart: time already given back to this visit (from its
    /// `session.fair_use` entries) counts against the cap.
    pub(super) fn restore_given(&mut self, seconds: i64) {
        self.outage.given += Duration::seconds(seconds.max(0));
    }
}
