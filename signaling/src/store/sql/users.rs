//! API users in SQLite (tokens stored as SHA-256 digests).

use crate::model::{ApiUser, CallerRole};
use crate::store::users::token_digest;
use sqlx::{AnyConnection, Row};

fn from_row(row: &sqlx::any::AnyRow) -> Option<ApiUser> {
    Some(ApiUser {
        id: row.get("id"),
        name: row.get("name"),
        role: CallerRole::parse(row.get::<&str, _>("role"))?,
        facility_id: row.get("facility_id"),
        contact_id: row.get("contact_id"),
    })
}

pub async fn by_token(
    conn: &mut AnyConnection,
    token: &str,
) -> Result<Option<ApiUser>, sqlx::Error> {
    let row = sqlx::query("SELECT * FROM api_users WHERE token_sha256 = $1")
        .bind(token_digest(token))
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.as_ref().and_then(from_row))
}

pub async fn any_admin(conn: &mut AnyConnection) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_users WHERE role = 'admin'")
        .fetch_one(&mut *conn)
        .await?;
    Ok(n > 0)
}

/// Inserts a user with `token` and returns it.
pub async fn insert(
    conn: &mut AnyConnection,
    name: &str,
    role: CallerRole,
    facility_id: Option<i64>,
    contact_id: Option<i64>,
    token: &str,
    now: i64,
) -> Result<ApiUser, sqlx::Error> {
    let id = sqlx::query_scalar::<_, i64>(
        "INSERT INTO api_users (name, role, facility_id, contact_id, token_sha256, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(name)
    .bind(role.as_str())
    .bind(facility_id)
    .bind(contact_id)
    .bind(token_digest(token))
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(ApiUser {
        id,
        name: name.into(),
        role,
        facility_id,
        contact_id,
    })
}

pub async fn list(conn: &mut AnyConnection) -> Result<Vec<ApiUser>, sqlx::Error> {
    let rows = sqlx::query("SELECT * FROM api_users ORDER BY id")
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows.iter().filter_map(from_row).collect())
}
