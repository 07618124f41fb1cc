//! Sessions (visits, hearings, consultations) and their participants in
//! SQLite.

use crate::model::{Participant, Session, SessionStatus, VisitCredit};
use crate::store::sessions::{NewParticipant, NewSession, SessionFilter};
use crate::time::from_unix;
use chrono::{DateTime, Utc};
use parley_policy::{BookedInterval, SessionKind};
use sqlx::{AnyConnection, Row};

pub async fn insert(conn: &mut AnyConnection, s: &NewSession<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar::<_, i64>(
        "INSERT INTO sessions (kind, facility_id, jurisdiction, title, detainee_id, device_id, join_opens_at, starts_at, ends_at, status, created_by, created_at, replaces_review, replaces_credit)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'scheduled', $10, $11, $12, $13) RETURNING id",
    )
    .bind(s.kind.as_str())
    .bind(s.facility_id)
    .bind(s.jurisdiction)
    .bind(s.title)
    .bind(s.detainee_id)
    .bind(s.device_id)
    .bind(s.join_opens_at)
    .bind(s.starts_at)
    .bind(s.ends_at)
    .bind(s.created_by)
    .bind(s.now)
    .bind(s.replaces_review)
    .bind(s.replaces_credit)
    .fetch_one(conn)
    .await
}

pub async fn insert_participant(
    conn: &mut AnyConnection,
    session_id: i64,
    p: &NewParticipant<'_>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar::<_, i64>(
        "INSERT INTO participants (session_id, role, name, contact_id, detainee_id, consented_to_recording) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(session_id)
    .bind(p.role.as_str())
    .bind(p.name)
    .bind(p.contact_id)
    .bind(p.detainee_id)
    .bind(i64::from(p.consented_to_recording))
    .fetch_one(conn)
    .await
}

fn participant_from_row(row: &sqlx::any::AnyRow) -> Option<Participant> {
    Some(Participant {
        id: row.get("id"),
        role: row.get::<&str, _>("role").parse().ok()?,
        name: row.get("name"),
        contact_id: row.get("contact_id"),
        detainee_id: row.get("detainee_id"),
        consented_to_recording: row.get::<i64, _>("consented_to_recording") != 0,
        removed: row.get::<Option<i64>, _>("removed_at").is_some(),
    })
}

fn session_from_row(row: &sqlx::any::AnyRow) -> Option<Session> {
    let kind: SessionKind = row.get::<&str, _>("kind").parse().ok()?;
    Some(Session {
        id: row.get("id"),
        kind,
        privileged: kind.is_privileged(),
        facility_id: row.get("facility_id"),
        jurisdiction: row.get("jurisdiction"),
        title: Some(row.get("title")),
        detainee_id: row.get("detainee_id"),
        device_id: row.get("device_id"),
        starts_at: from_unix(row.get("starts_at")),
        ends_at: from_unix(row.get("ends_at")),
        join_opens_at: from_unix(row.get("join_opens_at")),
        status: SessionStatus::parse(row.get::<&str, _>("status"))?,
        status_reason: row.get("status_reason"),
        participants: Vec::new(),
    })
}

pub async fn participants(
    conn: &mut AnyConnection,
    session_id: i64,
) -> Result<Vec<Participant>, sqlx::Error> {
    let rows = sqlx::query("SELECT * FROM participants WHERE session_id = $1 ORDER BY id")
        .bind(session_id)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows.iter().filter_map(participant_from_row).collect())
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<Session>, sqlx::Error> {
    let row = sqlx::query("SELECT * FROM sessions WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(mut s) = row.as_ref().and_then(session_from_row) else {
        return Ok(None);
    };
    s.participants = participants(&mut *conn, id).await?;
    Ok(Some(s))
}

pub async fn list(
    conn: &mut AnyConnection,
    f: &SessionFilter,
    limit: i64,
) -> Result<Vec<Session>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT * FROM sessions s WHERE ($1 IS NULL OR facility_id = $1) AND ($2 IS NULL OR detainee_id = $2)
           AND ($3 IS NULL OR EXISTS (SELECT 1 FROM participants p WHERE p.session_id = s.id AND p.contact_id = $3))
           AND ($4 IS NULL OR kind = $4) AND ($5 IS NULL OR status = $5)
           AND ($6 IS NULL OR ends_at > $6) AND ($7 IS NULL OR starts_at < $7)
         ORDER BY starts_at, id LIMIT $8",
    )
    .bind(f.facility_id)
    .bind(f.detainee_id)
    .bind(f.contact_id)
    .bind(f.kind.map(|k| k.as_str()))
    .bind(f.status.map(|s| s.as_str()))
    .bind(f.from)
    .bind(f.to)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        if let Some(mut s) = session_from_row(row) {
            s.participants = participants(&mut *conn, s.id).await?;
            out.push(s);
        }
    }
    Ok(out)
}

/// Scheduled or live sessions overlapping `[from, to)` of a detainee or a
/// device, as the booking rules want them. Read inside the write
/// transaction so that two concurrent bookings cannot both pass.
pub async fn live_intervals(
    conn: &mut AnyConnection,
    detainee_id: Option<i64>,
    device_id: Option<i64>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<BookedInterval>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT kind, starts_at, ends_at, status, replaces_review, replaces_credit FROM sessions
         WHERE status IN ('scheduled', 'live', 'ended') AND ends_at > $1 AND starts_at < $2
           AND (($3 IS NOT NULL AND detainee_id = $4) OR ($5 IS NOT NULL AND device_id = $6))
         ORDER BY starts_at",
    )
    .bind(from.timestamp())
    .bind(to.timestamp())
    .bind(detainee_id)
    .bind(detainee_id)
    .bind(device_id)
    .bind(device_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(BookedInterval {
                kind: r.get::<&str, _>("kind").parse().ok()?,
                start: from_unix(r.get("starts_at")),
                end: from_unix(r.get("ends_at")),
                over: r.get::<&str, _>("status") == SessionStatus::Ended.as_str(),
                replacement: r.get::<Option<i64>, _>("replaces_review").is_some()
                    || r.get::<Option<i64>, _>("replaces_credit").is_some(),
            })
        })
        .collect())
}

pub async fn set_status(
    conn: &mut AnyConnection,
    id: i64,
    status: SessionStatus,
    reason: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET status = $1, status_reason = $2 WHERE id = $3")
        .bind(status.as_str())
        .bind(reason)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks a scheduled session live; a cancelled or ended one stays as it is.
pub async fn mark_live(conn: &mut AnyConnection, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET status = 'live' WHERE id = $1 AND status = 'scheduled'")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records that a participant was removed; they get no new token and cannot
/// rejoin, across restarts.
pub async fn mark_removed(
    conn: &mut AnyConnection,
    participant_id: i64,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE participants SET removed_at = $1 WHERE id = $2 AND removed_at IS NULL")
        .bind(at)
        .bind(participant_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_end(conn: &mut AnyConnection, id: i64, ends_at: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET ends_at = $1 WHERE id = $2")
        .bind(ends_at)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Sessions whose scheduled end has passed but which were never closed
/// (the service was down at their end): closed at startup.
pub async fn overdue(conn: &mut AnyConnection, now: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM sessions WHERE status IN ('scheduled', 'live') AND ends_at <= $1 ORDER BY id",
    )
    .bind(now)
    .fetch_all(&mut *conn)
    .await
}

fn credit_from_row(r: &sqlx::any::AnyRow) -> VisitCredit {
    VisitCredit {
        id: r.get("id"),
        session_id: r.get("session_id"),
        detainee_id: r.get("detainee_id"),
        seconds: r.get("seconds"),
        granted_at: from_unix(r.get("granted_at")),
        used_session_id: r.get("used_session_id"),
    }
}

pub async fn visit_credits(
    conn: &mut AnyConnection,
    detainee_id: i64,
) -> Result<Vec<VisitCredit>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT * FROM visit_credits WHERE detainee_id = $1 ORDER BY granted_at DESC, id DESC",
    )
    .bind(detainee_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.iter().map(credit_from_row).collect())
}

pub async fn visit_credit(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<VisitCredit>, sqlx::Error> {
    let row = sqlx::query("SELECT * FROM visit_credits WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(credit_from_row))
}

/// Credits the session's detainee (a session without one is left as it is).
pub async fn credit_visit(
    conn: &mut AnyConnection,
    session_id: i64,
    seconds: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO visit_credits (session_id, detainee_id, seconds, granted_at)
         SELECT id, detainee_id, $1, $2 FROM sessions WHERE id = $3 AND detainee_id IS NOT NULL",
    )
    .bind(seconds)
    .bind(now)
    .bind(session_id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn use_visit_credit(
    conn: &mut AnyConnection,
    id: i64,
    session_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE visit_credits SET used_session_id = $1 WHERE id = $2 AND used_session_id IS NULL",
    )
    .bind(session_id)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}
