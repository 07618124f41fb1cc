//! Facilities, devices, detainees, contacts and approved-contact lists in
//! SQLite.

use crate::model::{
    ApprovedContact, Contact, Detainee, Device, DeviceKind, Facility, FacilityKind,
};
use crate::time::from_unix;
use sqlx::{AnyConnection, Row};

fn facility_from_row(row: &sqlx::any::AnyRow) -> Facility {
    Facility {
        id: row.get("id"),
        name: row.get("name"),
        kind: FacilityKind::parse(row.get::<&str, _>("kind")).unwrap_or(FacilityKind::Prison),
        jurisdiction: row.get("jurisdiction"),
        devices: Vec::new(),
    }
}

fn device_from_row(row: &sqlx::any::AnyRow) -> Device {
    Device {
        id: row.get("id"),
        facility_id: row.get("facility_id"),
        name: row.get("name"),
        kind: DeviceKind::parse(row.get::<&str, _>("kind")).unwrap_or(DeviceKind::Kiosk),
    }
}

pub async fn insert_facility(
    conn: &mut AnyConnection,
    name: &str,
    kind: FacilityKind,
    jurisdiction: &str,
    now: i64,
) -> Result<Facility, sqlx::Error> {
    let id = sqlx::query_scalar::<_, i64>(
        "INSERT INTO facilities (name, kind, jurisdiction, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(name)
    .bind(kind.as_str())
    .bind(jurisdiction)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(Facility {
        id,
        name: name.into(),
        kind,
        jurisdiction: jurisdiction.into(),
        devices: Vec::new(),
    })
}

pub async fn facility(conn: &mut AnyConnection, id: i64) -> Result<Option<Facility>, sqlx::Error> {
    let Some(row) = sqlx::query("SELECT * FROM facilities WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let mut f = facility_from_row(&row);
    f.devices = devices(&mut *conn, id).await?;
    Ok(Some(f))
}

pub async fn facilities(conn: &mut AnyConnection) -> Result<Vec<Facility>, sqlx::Error> {
    let rows = sqlx::query("SELECT * FROM facilities ORDER BY id")
        .fetch_all(&mut *conn)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut f = facility_from_row(row);
        f.devices = devices(&mut *conn, f.id).await?;
        out.push(f);
    }
    Ok(out)
}

pub async fn devices(
    conn: &mut AnyConnection,
    facility_id: i64,
) -> Result<Vec<Device>, sqlx::Error> {
    let rows = sqlx::query("SELECT * FROM devices WHERE facility_id = $1 ORDER BY id")
        .bind(facility_id)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows.iter().map(device_from_row).collect())
}

pub async fn device(conn: &mut AnyConnection, id: i64) -> Result<Option<Device>, sqlx::Error> {
    let row = sqlx::query("SELECT * FROM devices WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.as_ref().map(device_from_row))
}

pub async fn insert_device(
    conn: &mut AnyConnection,
    facility_id: i64,
    name: &str,
    kind: DeviceKind,
    now: i64,
) -> Result<Device, sqlx::Error> {
    let id = sqlx::query_scalar::<_, i64>(
        "INSERT INTO devices (facility_id, name, kind, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(facility_id)
    .bind(name)
    .bind(kind.as_str())
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(Device {
        id,
        facility_id,
        name: name.into(),
        kind,
    })
}

fn detainee_from_row(row: &sqlx::any::AnyRow) -> Detainee {
    Detainee {
        id: row.get("id"),
        facility_id: row.get("facility_id"),
        name: row.get("name"),
        number: row.get("number"),
    }
}

pub async fn insert_detainee(
    conn: &mut AnyConnection,
    facility_id: i64,
    name: &str,
    number: &str,
    now: i64,
) -> Result<Detainee, sqlx::Error> {
    let id = sqlx::query_scalar::<_, i64>(
        "INSERT INTO detainees (facility_id, name, number, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(facility_id)
    .bind(name)
    .bind(number)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(Detainee {
        id,
        facility_id,
        name: name.into(),
        number: number.into(),
    })
}

pub async fn detainee(conn: &mut AnyConnection, id: i64) -> Result<Option<Detainee>, sqlx::Error> {
    let row = sqlx::query("SELECT * FROM detainees WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.as_ref().map(detainee_from_row))
}

pub async fn detainee_by_number(
    conn: &mut AnyConnection,
    facility_id: i64,
    number: &str,
) -> Result<Option<Detainee>, sqlx::Error> {
    let row = sqlx::query("SELECT * FROM detainees WHERE facility_id = $1 AND number = $2")
        .bind(facility_id)
        .bind(number)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.as_ref().map(detainee_from_row))
}

pub async fn detainees(
    conn: &mut AnyConnection,
    facility_id: Option<i64>,
) -> Result<Vec<Detainee>, sqlx::Error> {
    let rows =
        sqlx::query("SELECT * FROM detainees WHERE ($1 IS NULL OR facility_id = $2) ORDER BY id")
            .bind(facility_id)
            .bind(facility_id)
            .fetch_all(&mut *conn)
            .await?;
    Ok(rows.iter().map(detainee_from_row).collect())
}

fn contact_from_row(row: &sqlx::any::AnyRow) -> Contact {
    Contact {
        id: row.get("id"),
        name: row.get("name"),
        bar_number: row.get("bar_number"),
        bar_verified: row.get::<i64, _>("bar_verified") != 0,
    }
}

pub async fn insert_contact(
    conn: &mut AnyConnection,
    name: &str,
    bar_number: Option<&str>,
    now: i64,
) -> Result<Contact, sqlx::Error> {
    let id = sqlx::query_scalar::<_, i64>(
        "INSERT INTO contacts (name, bar_number, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(name)
    .bind(bar_number)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(Contact {
        id,
        name: name.into(),
        bar_number: bar_number.map(str::to_string),
        bar_verified: false,
    })
}

pub async fn contact(conn: &mut AnyConnection, id: i64) -> Result<Option<Contact>, sqlx::Error> {
    let row = sqlx::query("SELECT * FROM contacts WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.as_ref().map(contact_from_row))
}

pub async fn set_bar_verified(
    conn: &mut AnyConnection,
    id: i64,
    bar_number: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE contacts SET bar_number = $1, bar_verified = 1 WHERE id = $2")
        .bind(bar_number)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Approves (or re-approves) `contact_id` for `detainee_id`.
pub async fn approve(
    conn: &mut AnyConnection,
    detainee_id: i64,
    contact_id: i64,
    relationship: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO approvals (detainee_id, contact_id, relationship, approved_at, revoked_at) VALUES ($1, $2, $3, $4, NULL)
         ON CONFLICT (detainee_id, contact_id) DO UPDATE SET relationship = excluded.relationship, approved_at = excluded.approved_at, revoked_at = NULL",
    )
    .bind(detainee_id)
    .bind(contact_id)
    .bind(relationship)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Revokes an approval; returns whether one was in force.
pub async fn revoke(
    conn: &mut AnyConnection,
    detainee_id: i64,
    contact_id: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE approvals SET revoked_at = $1 WHERE detainee_id = $2 AND contact_id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(detainee_id)
    .bind(contact_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Contacts currently approved for a detainee.
pub async fn approved_contacts(
    conn: &mut AnyConnection,
    detainee_id: i64,
) -> Result<Vec<ApprovedContact>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT c.*, a.relationship, a.approved_at FROM approvals a JOIN contacts c ON c.id = a.contact_id
         WHERE a.detainee_id = $1 AND a.revoked_at IS NULL ORDER BY c.id",
    )
    .bind(detainee_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .iter()
        .map(|row| ApprovedContact {
            detainee_id,
            contact: contact_from_row(row),
            relationship: row.get("relationship"),
            approved_at: from_unix(row.get("approved_at")),
        })
        .collect())
}

/// Whether `contact_id` is currently approved by `detainee_id`.
pub async fn is_approved(
    conn: &mut AnyConnection,
    detainee_id: i64,
    contact_id: i64,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM approvals WHERE detainee_id = $1 AND contact_id = $2 AND revoked_at IS NULL",
    )
    .bind(detainee_id)
    .bind(contact_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n > 0)
}
