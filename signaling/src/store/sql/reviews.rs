//! Requests for review and their outcomes.

use crate::review::{DecisionKind, Outcome, Review, grants_replacement};
use crate::store::reviews::NewReview;
use crate::time::from_unix;
use parley_policy::SessionKind;
use sqlx::{AnyConnection, Row};

/// The columns [`from_row`] reads, with the session's kind.
const COLUMNS: &str = "r.id, r.session_id, r.participant_id, r.decision, r.decision_seq, r.decision_actor, \
     r.stated_reason, r.statement, r.requested_at, r.outcome, r.outcome_reason, r.reviewed_at, \
     r.replacement_session_id, s.kind AS session_kind";

fn from_row(row: &sqlx::any::AnyRow) -> Option<Review> {
    let outcome = match row.get::<Option<String>, _>("outcome") {
        Some(o) => Some(Outcome::parse(&o)?),
        None => None,
    };
    let kind: SessionKind = row.get::<&str, _>("session_kind").parse().ok()?;
    let replacement_session_id: Option<i64> = row.get("replacement_session_id");
    Some(Review {
        id: row.get("id"),
        session_id: row.get("session_id"),
        participant_id: row.get("participant_id"),
        decision: DecisionKind::parse(row.get("decision"))?,
        decision_seq: row.get("decision_seq"),
        decision_actor: row.get("decision_actor"),
        stated_reason: row.get("stated_reason"),
        statement: row.get("statement"),
        requested_at: from_unix(row.get("requested_at")),
        outcome,
        outcome_reason: row.get("outcome_reason"),
        reviewed_at: row.get::<Option<i64>, _>("reviewed_at").map(from_unix),
        replacement_available: outcome.is_some_and(|o| grants_replacement(kind, o))
            && replacement_session_id.is_none(),
        replacement_session_id,
    })
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<Review>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM reviews r JOIN sessions s ON s.id = r.session_id WHERE r.id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(row.as_ref().and_then(from_row))
}

pub async fn of(
    conn: &mut AnyConnection,
    session_id: i64,
    participant_id: i64,
) -> Result<Option<Review>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM reviews r JOIN sessions s ON s.id = r.session_id
         WHERE r.session_id = $1 AND r.participant_id = $2"
    ))
    .bind(session_id)
    .bind(participant_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.as_ref().and_then(from_row))
}

pub async fn list(
    conn: &mut AnyConnection,
    facility_id: Option<i64>,
    pending_only: bool,
    limit: i64,
) -> Result<Vec<Review>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM reviews r JOIN sessions s ON s.id = r.session_id
         WHERE ($1 IS NULL OR s.facility_id = $2) AND ($3 = 0 OR r.outcome IS NULL)
         ORDER BY r.requested_at, r.id LIMIT $4"
    ))
    .bind(facility_id)
    .bind(facility_id)
    .bind(i64::from(pending_only))
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.iter().filter_map(from_row).collect())
}

pub async fn insert(conn: &mut AnyConnection, r: &NewReview<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar::<_, i64>(
        "INSERT INTO reviews (session_id, participant_id, decision, decision_seq, decision_actor, stated_reason, statement, requested_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(r.session_id)
    .bind(r.participant_id)
    .bind(r.decision.kind.as_str())
    .bind(r.decision.seq)
    .bind(&r.decision.actor)
    .bind(&r.decision.reason)
    .bind(r.statement)
    .bind(r.now)
    .fetch_one(conn)
    .await
}

pub async fn decide(
    conn: &mut AnyConnection,
    id: i64,
    outcome: Outcome,
    reason: &str,
    reviewer_id: i64,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE reviews SET outcome = $1, outcome_reason = $2, reviewer_id = $3, reviewed_at = $4
         WHERE id = $5 AND outcome IS NULL",
    )
    .bind(outcome.as_str())
    .bind(reason)
    .bind(reviewer_id)
    .bind(at)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn use_replacement(
    conn: &mut AnyConnection,
    review_id: i64,
    session_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE reviews SET replacement_session_id = $1 WHERE id = $2 AND replacement_session_id IS NULL",
    )
    .bind(session_id)
    .bind(review_id)
    .execute(conn)
    .await?;
    Ok(())
}
