//! The hash-chained audit log: `audit_log` and its head record
//! `audit_head`, written in the caller's transaction.

use crate::store::audit::{
    AuditEntry, AuditRecord, ChainBreak, ChainSummary, GENESIS, RawEntry, VerifyError, entry_hash,
};
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::{AnyConnection, Row};

/// Appends `record` inside the caller's transaction and returns its seq.
/// The caller commits the audited change in the same transaction.
/// `head_for_update` reads the head, locking it where the engine needs it.
pub async fn append(
    conn: &mut AnyConnection,
    head_for_update: &str,
    record: &AuditRecord,
    at: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    let head = sqlx::query(head_for_update)
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
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2)
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
fn raw_from_row(row: &sqlx::any::AnyRow) -> Result<RawEntry, sqlx::Error> {
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

/// Entries after `after_seq`, optionally of one session, oldest first.
pub async fn list(
    conn: &mut AnyConnection,
    session_id: Option<i64>,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<AuditEntry>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT * FROM audit_log WHERE seq > $1 AND ($2 IS NULL OR session_id = $3) ORDER BY seq LIMIT $4",
    )
    .bind(after_seq)
    .bind(session_id)
    .bind(session_id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    entries(&rows)
}

/// Stored rows as the API shows them.
fn entries(rows: &[sqlx::any::AnyRow]) -> Result<Vec<AuditEntry>, sqlx::Error> {
    rows.iter()
        .map(|r| raw_from_row(r).map(AuditEntry::from))
        .collect()
}

/// Walks the whole chain and checks every link and the head.
pub async fn verify(conn: &mut AnyConnection) -> Result<ChainSummary, VerifyError> {
    use futures_util::TryStreamExt;
    let mut rows = sqlx::query("SELECT * FROM audit_log ORDER BY seq").fetch(&mut *conn);
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
        .fetch_optional(&mut *conn)
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

/// Entries of `facility_id`'s sessions after `after_seq`, oldest first.
pub async fn of_facility(
    conn: &mut AnyConnection,
    facility_id: i64,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<AuditEntry>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT a.* FROM audit_log a JOIN sessions s ON s.id = a.session_id
         WHERE a.seq > $1 AND s.facility_id = $2 ORDER BY a.seq LIMIT $3",
    )
    .bind(after_seq)
    .bind(facility_id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    entries(&rows)
}

/// The newest entry's sequence number, 0 for an empty log.
pub async fn head_seq(conn: &mut AnyConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(seq), 0) FROM audit_log")
        .fetch_one(conn)
        .await
}
