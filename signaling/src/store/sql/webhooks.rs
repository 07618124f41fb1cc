//! Webhooks and their dead letters.

use crate::store::webhooks::{DeadLetter, NewDeadLetter, NewWebhook, Webhook};
use crate::time::from_unix;
use sqlx::{AnyConnection, Row};

fn from_row(r: &sqlx::any::AnyRow) -> Webhook {
    Webhook {
        id: r.get("id"),
        facility_id: r.get("facility_id"),
        url: r.get("url"),
        created_at: from_unix(r.get("created_at")),
        delivered_seq: r.get("delivered_seq"),
        active: r.get::<i64, _>("active") != 0,
    }
}

pub async fn list(
    conn: &mut AnyConnection,
    facility_id: Option<i64>,
    active_only: bool,
) -> Result<Vec<(Webhook, String)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT * FROM webhooks WHERE ($1 IS NULL OR facility_id = $2) AND ($3 = 0 OR active = 1) ORDER BY id",
    )
    .bind(facility_id)
    .bind(facility_id)
    .bind(i64::from(active_only))
    .fetch_all(conn)
    .await?;
    Ok(rows
        .iter()
        .map(|r| (from_row(r), r.get::<String, _>("secret")))
        .collect())
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<Webhook>, sqlx::Error> {
    let row = sqlx::query("SELECT * FROM webhooks WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(from_row))
}

pub async fn dead_letters(
    conn: &mut AnyConnection,
    webhook_id: i64,
) -> Result<Vec<DeadLetter>, sqlx::Error> {
    let rows =
        sqlx::query("SELECT * FROM webhook_dead_letters WHERE webhook_id = $1 ORDER BY seq, id")
            .bind(webhook_id)
            .fetch_all(conn)
            .await?;
    Ok(rows
        .iter()
        .map(|r| DeadLetter {
            id: r.get("id"),
            webhook_id: r.get("webhook_id"),
            seq: r.get("seq"),
            event: r.get("event"),
            attempts: r.get("attempts"),
            last_error: r.get("last_error"),
            failed_at: from_unix(r.get("failed_at")),
        })
        .collect())
}

pub async fn insert(conn: &mut AnyConnection, w: &NewWebhook<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar::<_, i64>(
        "INSERT INTO webhooks (facility_id, url, secret, created_by, created_at, delivered_seq)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(w.facility_id)
    .bind(w.url)
    .bind(w.secret)
    .bind(w.created_by)
    .bind(w.now)
    .bind(w.from_seq)
    .fetch_one(conn)
    .await
}

pub async fn delivered(conn: &mut AnyConnection, id: i64, seq: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE webhooks SET delivered_seq = $1 WHERE id = $2 AND delivered_seq < $3")
        .bind(seq)
        .bind(id)
        .bind(seq)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn dead_letter(
    conn: &mut AnyConnection,
    letter: &NewDeadLetter<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_dead_letters (webhook_id, seq, event, attempts, last_error, failed_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(letter.webhook_id)
    .bind(letter.seq)
    .bind(letter.event)
    .bind(letter.attempts)
    .bind(letter.last_error)
    .bind(letter.failed_at)
    .execute(&mut *conn)
    .await?;
    delivered(conn, letter.webhook_id, letter.seq).await
}

pub async fn deactivate(conn: &mut AnyConnection, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE webhooks SET active = 0 WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
