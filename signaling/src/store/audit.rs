//! The append-only, hash-chained audit log (invariant 4).
//!
//! Entry `n` stores `hash_n = SHA-256(canonical(entry_n) || hash_{n-1})`,
//! with `hash_0` sixty-four zeros. `audit_head` holds the newest `(seq, hash)`
//! and is written in the same transaction, so changing, deleting or
//! reordering any entry, or cutting off the newest ones, breaks verification.
//! Anchor the head elsewhere (`parley audit verify` prints it) to detect a
//! rewrite of the whole chain.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{Row, SqliteConnection, SqlitePool};
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
struct RawEntry {
    seq: i64,
    at: String,
    actor: String,
    session_id: Option<i64>,
    action: String,
    decision: String,
    rules: String,
    details: String,
    prev_hash: String,
    hash: String,
}

impl RawEntry {
    fn computed_hash(&self) -> String {
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
fn entry_hash(
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

/// Appends `record` inside the caller's transaction and returns its seq.
/// The caller commits the audited change in the same transaction.
pub async fn append(
    conn: &mut SqliteConnection,
    record: &AuditRecord,
    at: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_optional(&mut *conn)
        .await?;
    let (prev_seq, prev_hash) = match head {
        Some(row) => (row.try_get::<i64, _>(0)?, row.try_get::<String, _>(1)?),
        None => (0, GENESIS.to_string()),
    };
    let seq = prev_seq + 1;
    let at = at.to_rfc3339_opts(SecondsFormat::Millis, true);
    let rules = serde_json::to_string(&record.rules).unwrap_or_else(|_| "[]".into());
    let details = record.details.to_string();
    let hash = entry_hash(
        seq,
        &at,
        &record.actor,
        record.session_id,
        &record.action,
        &record.decision,
        &rules,
        &details,
        &prev_hash,
    );
    sqlx::query(
        "INSERT INTO audit_log (seq, at_text, actor, session_id, action, decision, rules, details, prev_hash, hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(seq)
    .bind(&at)
    .bind(&record.actor)
    .bind(record.session_id)
    .bind(&record.action)
    .bind(&record.decision)
    .bind(&rules)
    .bind(&details)
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?)
         ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
    )
    .bind(seq)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    Ok(seq)
}

/// Decodes a stored row. A column of the wrong type (possible in SQLite for
/// anyone with write access to the file) is an error, never a panic.
fn raw_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<RawEntry, sqlx::Error> {
    Ok(RawEntry {
        seq: row.try_get("seq")?,
        at: row.try_get("at_text")?,
        actor: row.try_get("actor")?,
        session_id: row.try_get("session_id")?,
        action: row.try_get("action")?,
        decision: row.try_get("decision")?,
        rules: row.try_get("rules")?,
        details: row.try_get("details")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
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

/// Entries after `after_seq`, optionally of one session, oldest first.
pub async fn list(
    pool: &SqlitePool,
    session_id: Option<i64>,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<AuditEntry>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT * FROM audit_log WHERE seq > ? AND (? IS NULL OR session_id = ?) ORDER BY seq LIMIT ?",
    )
    .bind(after_seq)
    .bind(session_id)
    .bind(session_id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| raw_from_row(r).map(AuditEntry::from))
        .collect()
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

/// Walks the whole chain and checks every link and the head.
pub async fn verify(pool: &SqlitePool) -> Result<ChainSummary, VerifyError> {
    use futures_util::TryStreamExt;
    let mut rows = sqlx::query("SELECT * FROM audit_log ORDER BY seq").fetch(pool);
    let mut expected_seq = 1;
    let mut prev_hash = GENESIS.to_string();
    while let Some(row) = rows.try_next().await? {
        let e = raw_from_row(&row).map_err(|e| ChainBreak {
            seq: expected_seq,
            reason: format!(
                "the entry at this position cannot be read ({e}): a column was altered"
            ),
        })?;
        if e.seq != expected_seq {
            return Err(ChainBreak {
                seq: expected_seq,
                reason: format!(
                    "entry {expected_seq} is missing (next entry found is {})",
                    e.seq
                ),
            }
            .into());
        }
        if e.prev_hash != prev_hash {
            return Err(ChainBreak {
                seq: e.seq,
                reason: "its link to the previous entry does not match (an earlier entry was changed or removed)".into(),
            }
            .into());
        }
        if e.computed_hash() != e.hash {
            return Err(ChainBreak {
                seq: e.seq,
                reason: "its contents do not match its hash (the entry was changed)".into(),
            }
            .into());
        }
        prev_hash = e.hash;
        expected_seq += 1;
    }
    drop(rows);
    let last_seq = expected_seq - 1;
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_optional(pool)
        .await?;
    match head {
        None if last_seq == 0 => {}
        None => {
            return Err(ChainBreak {
                seq: last_seq,
                reason: "the chain head record is missing".into(),
            }
            .into());
        }
        Some(row) => {
            let (seq, hash): (i64, String) = match (row.try_get(0), row.try_get(1)) {
                (Ok(seq), Ok(hash)) => (seq, hash),
                _ => {
                    return Err(ChainBreak {
                        seq: last_seq + 1,
                        reason: "the chain head record cannot be read: it was altered".into(),
                    }
                    .into());
                }
            };
            if seq != last_seq || hash != prev_hash {
                return Err(ChainBreak {
                    seq: last_seq + 1,
                    reason: format!(
                        "the log ends at entry {last_seq} but the head records entry {seq}: newest entries were removed or the head was changed"
                    ),
                }
                .into());
            }
        }
    }
    Ok(ChainSummary {
        entries: last_seq,
        head_hash: prev_hash,
    })
}
