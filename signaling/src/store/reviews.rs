//! Requests for review of a decision that ended someone's contact, and
//! reviewers' outcomes ([`crate::review`]).

use crate::review::{Outcome, Review, ReviewableDecision};

/// A request to insert. `now`: Unix seconds.
#[derive(Debug, Clone)]
pub struct NewReview<'a> {
    pub session_id: i64,
    pub participant_id: i64,
    pub decision: &'a ReviewableDecision,
    pub statement: Option<&'a str>,
    pub now: i64,
}

/// Reading reviews, in or outside a write transaction.
#[async_trait::async_trait]
pub trait ReviewReads: Send {
    async fn review(&mut self, id: i64) -> Result<Option<Review>, sqlx::Error>;
    /// The request `participant_id` made about `session_id`, if any.
    async fn review_of(
        &mut self,
        session_id: i64,
        participant_id: i64,
    ) -> Result<Option<Review>, sqlx::Error>;
    /// Requests about sessions of `facility_id` (all facilities when
    /// `None`), pending ones only if asked, oldest first, at most `limit`.
    async fn reviews(
        &mut self,
        facility_id: Option<i64>,
        pending_only: bool,
        limit: i64,
    ) -> Result<Vec<Review>, sqlx::Error>;
}

/// Changing reviews, inside a write transaction.
#[async_trait::async_trait]
pub trait ReviewWrites: ReviewReads {
    /// Fails on the unique `(session_id, participant_id)`: nobody asks twice.
    async fn insert_review(&mut self, r: &NewReview<'_>) -> Result<i64, sqlx::Error>;
    /// Records the outcome of a pending review. `at`: Unix seconds.
    async fn decide_review(
        &mut self,
        id: i64,
        outcome: Outcome,
        reason: &str,
        reviewer_id: i64,
        at: i64,
    ) -> Result<(), sqlx::Error>;
    /// The replacement an overturned review granted is booked as `session_id`.
    async fn use_replacement(&mut self, review_id: i64, session_id: i64)
    -> Result<(), sqlx::Error>;
}
