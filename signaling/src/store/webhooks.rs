//! Webhooks of facilities, how far each has delivered, and what it gave up
//! on ([`crate::webhooks`]).

use crate::store::audit::AuditEntry;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// A facility's webhook, as the API shows it (never its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Webhook {
    pub id: i64,
    pub facility_id: i64,
    pub url: String,
    pub created_at: DateTime<Utc>,
    /// The audit sequence number up to which events were delivered or
    /// dead-lettered.
    pub delivered_seq: i64,
    pub active: bool,
}

/// An event a webhook gave up on after its retries.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeadLetter {
    pub id: i64,
    pub webhook_id: i64,
    /// The event's id: its audit entry's sequence number.
    pub seq: i64,
    /// The event type.
    pub event: String,
    pub attempts: i64,
    /// What the last attempt met (a status or a connection error).
    pub last_error: String,
    pub failed_at: DateTime<Utc>,
}

/// An event given up on, to record. `failed_at`: Unix seconds.
#[derive(Debug, Clone)]
pub struct NewDeadLetter<'a> {
    pub webhook_id: i64,
    /// The event's id: its audit entry's sequence number.
    pub seq: i64,
    /// The event type.
    pub event: &'a str,
    pub attempts: i64,
    pub last_error: &'a str,
    pub failed_at: i64,
}

/// A webhook to insert. Times in Unix seconds.
#[derive(Debug, Clone)]
pub struct NewWebhook<'a> {
    pub facility_id: i64,
    pub url: &'a str,
    pub secret: &'a str,
    pub created_by: i64,
    pub now: i64,
    /// Events after this audit sequence number are sent (the log's head
    /// when it is made: no history).
    pub from_seq: i64,
}

/// Reading webhooks, in or outside a write transaction.
#[async_trait::async_trait]
pub trait WebhookReads: Send {
    /// Webhooks of `facility_id` (all facilities when `None`), active ones
    /// only if asked, with their secrets (hex).
    async fn webhooks(
        &mut self,
        facility_id: Option<i64>,
        active_only: bool,
    ) -> Result<Vec<(Webhook, String)>, sqlx::Error>;
    async fn webhook(&mut self, id: i64) -> Result<Option<Webhook>, sqlx::Error>;
    async fn dead_letters(&mut self, webhook_id: i64) -> Result<Vec<DeadLetter>, sqlx::Error>;
    /// Audit entries of `facility_id`'s sessions after `after_seq`, oldest
    /// first, at most `limit`.
    async fn facility_audit(
        &mut self,
        facility_id: i64,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, sqlx::Error>;
    /// The newest audit entry's sequence number (0 for an empty log).
    async fn audit_head_seq(&mut self) -> Result<i64, sqlx::Error>;
}

/// Changing webhooks, inside a write transaction.
#[async_trait::async_trait]
pub trait WebhookWrites: WebhookReads {
    async fn insert_webhook(&mut self, w: &NewWebhook<'_>) -> Result<i64, sqlx::Error>;
    /// Records that events up to `seq` are done; never moves backwards.
    async fn webhook_delivered(&mut self, id: i64, seq: i64) -> Result<(), sqlx::Error>;
    /// Gives up on the event `letter` names, and moves on past it.
    async fn dead_letter(&mut self, letter: &NewDeadLetter<'_>) -> Result<(), sqlx::Error>;
    async fn deactivate_webhook(&mut self, id: i64) -> Result<(), sqlx::Error>;
}
