//! The append-only, hash-chained audit log (invariant 4).
//!
//! Entry `n` stores `hash_n = SHA-256(canonical(entry_n) || hash_{n-1})`,
//! with `hash_0` sixty-four zeros. `audit_head` holds the newest `(seq, hash)`
//! and is written in the same transaction, so changing, deleting or
//! reordering any entry, or cutting off the newest ones, breaks verification.
//! Anchor the head elsewhere (`parley audit verify` prints it) to detect a
//! rewrite of the whole chain.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What to append. `rules` are the policy rule ids that produced the decision.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub actor: String,
    pub session_id: Option<i64>,
    pub action: String,
    pub decision: String,
    pub rules: Vec<String>,
    pub details: serde_json::Value,
}

impl AuditRecord {
    pub fn new(actor: impl Into<String>, action: &str, decision: impl Into<String>) -> Self {
        Self {
            actor: actor.into(),
            session_id: None,
            action: action.into(),
            decision: decision.into(),
            rules: Vec::new(),
            details: serde_json::Value::Null,
        }
    }
    pub fn session(mut self, id: i64) -> Self {
        self.session_id = Some(id);
        self
    }
    pub fn rules<I: IntoIterator<Item = S>, S: ToString>(mut self, rules: I) -> Self {
        self.rules = rules.into_iter().map(|r| r.to_string()).collect();
        self
    }
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// A stored entry, as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub session_id: Option<i64>,
    pub action: String,
    pub decision: String,
    pub rules: Vec<String>,
    /// What the decision concerned (ids, reasons); `null` when nothing more.
    #[schema(value_type = Option<Object>)]
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

/// Stored columns, text exactly as written, so hashing is reproducible.
pub(crate) struct RawEntry {
    pub(crate) seq: i64,
    pub(crate) at: String,
    pub(crate) actor: String,
    pub(crate) session_id: Option<i64>,
    pub(crate) action: String,
    pub(crate) decision: String,
    pub(crate) rules: String,
    pub(crate) details: String,
    pub(crate) prev_hash: String,
    pub(crate) hash: String,
}

impl RawEntry {
    pub(crate) fn computed_hash(&self) -> String {
        entry_hash(
            self.seq,
            &self.at,
            &self.actor,
            self.session_id,
            &self.action,
            &self.decision,
            &self.rules,
            &self.details,
            &self.prev_hash,
        )
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn entry_hash(
    seq: i64,
    at: &str,
    actor: &str,
    session_id: Option<i64>,
    action: &str,
    decision: &str,
    rules: &str,
    details: &str,
    prev_hash: &str,
) -> String {
    let mut h = Sha256::new();
    // Length-prefixed fields: no two different entries share a canonical form.
    for field in [
        seq.to_string().as_str(),
        at,
        actor,
        session_id.map(|s| s.to_string()).as_deref().unwrap_or("-"),
        action,
        decision,
        rules,
        details,
        prev_hash,
    ] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    hex::encode(h.finalize())
}

impl From<RawEntry> for AuditEntry {
    fn from(r: RawEntry) -> Self {
        Self {
            seq: r.seq,
            at: r.at,
            actor: r.actor,
            session_id: r.session_id,
            action: r.action,
            decision: r.decision,
            rules: serde_json::from_str(&r.rules).unwrap_or_default(),
            details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

/// A verified chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ChainSummary {
    pub entries: i64,
    pub head_hash: String,
}

/// Where and why the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, ToSchema)]
#[error("audit log broken at entry {seq}: {reason}")]
pub struct ChainBreak {
    pub seq: i64,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Broken(#[from] ChainBreak),
    #[error("cannot read the audit log: {0}")]
    Store(#[from] sqlx::Error),
}

/// Reading the audit log.
#[async_trait::async_trait]
pub trait AuditReads: Send {
    /// Entries after `after_seq`, optionally of one session, oldest first.
    async fn audit_entries(
        &mut self,
        session_id: Option<i64>,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, sqlx::Error>;
    /// Walks the whole chain and checks every link and the head.
    async fn verify_audit_chain(&mut self) -> Result<ChainSummary, VerifyError>;
}

/// Appending to the audit log, in the transaction of the change it
/// authorizes (invariant 4).
#[async_trait::async_trait]
pub trait AuditWrites: AuditReads {
    /// Appends `record` at `at`; its sequence number.
    async fn append_audit(
        &mut self,
        record: &AuditRecord,
        at: DateTime<Utc>,
    ) -> Result<i64, sqlx::Error>;
}
