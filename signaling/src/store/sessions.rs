//! Sessions (booked visits and scheduled hearings) and their participants.

use crate::model::{Participant, Session, SessionStatus, VisitCredit};
use chrono::{DateTime, Utc};
use parley_policy::{BookedInterval, Role, SessionKind};

/// A session to insert. Times in Unix seconds.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub kind: SessionKind,
    pub facility_id: i64,
    pub jurisdiction: &'a str,
    pub title: &'a str,
    pub detainee_id: Option<i64>,
    pub device_id: Option<i64>,
    pub join_opens_at: i64,
    pub starts_at: i64,
    pub ends_at: i64,
    pub created_by: i64,
    pub now: i64,
    /// The overturned review whose replacement visit this is.
    pub replaces_review: Option<i64>,
    /// The visit credit it is booked with.
    pub replaces_credit: Option<i64>,
}

/// A participant to insert.
#[derive(Debug, Clone)]
pub struct NewParticipant<'a> {
    pub role: Role,
    pub name: &'a str,
    pub contact_id: Option<i64>,
    pub detainee_id: Option<i64>,
    pub consented_to_recording: bool,
}

/// Which sessions to list; `None` fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    pub facility_id: Option<i64>,
    pub detainee_id: Option<i64>,
    /// Sessions where this contact is a participant.
    pub contact_id: Option<i64>,
    pub kind: Option<SessionKind>,
    pub status: Option<SessionStatus>,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// Reading sessions, in or outside a write transaction.
#[async_trait::async_trait]
pub trait SessionReads: Send {
    /// A session with its participants.
    async fn session(&mut self, id: i64) -> Result<Option<Session>, sqlx::Error>;
    /// Sessions matching `filter`, earliest first, at most `limit`.
    async fn sessions(
        &mut self,
        filter: &SessionFilter,
        limit: i64,
    ) -> Result<Vec<Session>, sqlx::Error>;
    async fn participants(&mut self, session_id: i64) -> Result<Vec<Participant>, sqlx::Error>;
    /// Sessions scheduled, live or ended overlapping `[from, to)` of a
    /// detainee or a device, as the booking rules want them (cancelled ones
    /// left out). Read inside the write
    /// transaction so that two concurrent bookings cannot both pass.
    async fn live_intervals(
        &mut self,
        detainee_id: Option<i64>,
        device_id: Option<i64>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<BookedInterval>, sqlx::Error>;
    /// Ids of sessions still scheduled or live whose end (Unix seconds)
    /// has passed `now`.
    async fn overdue(&mut self, now: i64) -> Result<Vec<i64>, sqlx::Error>;
    /// A detainee's visit credits, newest first.
    async fn visit_credits(&mut self, detainee_id: i64) -> Result<Vec<VisitCredit>, sqlx::Error>;
    async fn visit_credit(&mut self, id: i64) -> Result<Option<VisitCredit>, sqlx::Error>;
}

/// Changing sessions, inside a write transaction.
#[async_trait::async_trait]
pub trait SessionWrites: SessionReads {
    async fn insert_session(&mut self, s: &NewSession<'_>) -> Result<i64, sqlx::Error>;
    async fn insert_participant(
        &mut self,
        session_id: i64,
        p: &NewParticipant<'_>,
    ) -> Result<i64, sqlx::Error>;
    async fn set_status(
        &mut self,
        id: i64,
        status: SessionStatus,
        reason: Option<&str>,
    ) -> Result<(), sqlx::Error>;
    async fn mark_live(&mut self, id: i64) -> Result<(), sqlx::Error>;
    /// `at`: Unix seconds.
    async fn mark_removed(&mut self, participant_id: i64, at: i64) -> Result<(), sqlx::Error>;
    /// `ends_at`: Unix seconds.
    async fn set_end(&mut self, id: i64, ends_at: i64) -> Result<(), sqlx::Error>;
    /// Credits `session_id`'s detainee with `seconds` of another visit.
    /// `now`: Unix seconds.
    async fn credit_visit(
        &mut self,
        session_id: i64,
        seconds: i64,
        now: i64,
    ) -> Result<(), sqlx::Error>;
    /// The credit `id` is booked as `session_id`.
    async fn use_visit_credit(&mut self, id: i64, session_id: i64) -> Result<(), sqlx::Error>;
}
