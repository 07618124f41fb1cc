//! The SQLite backend: one file in the data directory (WAL,
//! `synchronous=FULL`, foreign keys on), one writer at a time behind a lock
//! so that each write is one transaction, fsynced at commit.

pub mod audit;
pub mod people;
pub mod sessions;
pub mod users;

use super::audit::{AuditEntry, AuditReads, AuditRecord, AuditWrites, ChainSummary, VerifyError};
use super::people::{PeopleReads, PeopleWrites};
use super::sessions::{NewParticipant, NewSession, SessionFilter, SessionReads, SessionWrites};
use super::users::{UserReads, UserWrites};
use super::{Backend, DB_FILE, Read, StoreError, Write};
use crate::model::{
    ApiUser, ApprovedContact, CallerRole, Contact, Detainee, Device, DeviceKind, Facility,
    FacilityKind, Participant, Session, SessionStatus,
};
use chrono::{DateTime, Utc};
use parley_policy::BookedInterval;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::{Mutex, MutexGuard};

/// The SQLite store of one data directory.
#[derive(Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    writer: Mutex<()>,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) the database in `data_dir` and applies
    /// migrations.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join(DB_FILE);
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|source| StoreError::Open {
                path: path.clone(),
                source,
            })?
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: path.clone(),
                source,
            })?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                path: path.clone(),
                source,
            })?;
        Ok(Self {
            pool,
            writer: Mutex::new(()),
            path,
        })
    }
}

#[async_trait::async_trait]
impl Backend for SqliteStore {
    fn read(&self) -> Box<dyn Read + '_> {
        Box::new(Statements(Pooled {
            pool: &self.pool,
            conn: None,
        }))
    }

    async fn write(&self) -> Result<Box<dyn Write + '_>, sqlx::Error> {
        let writer = self.writer.lock().await;
        let tx = self.pool.begin().await?;
        Ok(Box::new(Statements(Tx {
            _writer: writer,
            tx,
        })))
    }

    async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(drop)
    }

    fn describe(&self) -> String {
        format!("{} (SQLite)", self.path.display())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

/// Where a [`Statements`] runs its statements.
#[async_trait::async_trait]
pub trait Conn: Send {
    async fn conn(&mut self) -> Result<&mut SqliteConnection, sqlx::Error>;
}

/// A connection from the pool, taken on first use.
pub struct Pooled<'a> {
    pool: &'a SqlitePool,
    conn: Option<PoolConnection<Sqlite>>,
}

#[async_trait::async_trait]
impl Conn for Pooled<'_> {
    async fn conn(&mut self) -> Result<&mut SqliteConnection, sqlx::Error> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => self.pool.acquire().await?,
        };
        Ok(&mut **self.conn.insert(conn))
    }
}

/// The write transaction, holding the writer lock until commit or drop
/// (drop rolls back).
pub struct Tx<'a> {
    _writer: MutexGuard<'a, ()>,
    tx: Transaction<'static, Sqlite>,
}

#[async_trait::async_trait]
impl Conn for Tx<'_> {
    async fn conn(&mut self) -> Result<&mut SqliteConnection, sqlx::Error> {
        Ok(&mut self.tx)
    }
}

/// The aggregates' traits over SQLite statements, read from the pool
/// ([`Pooled`]) or inside the write transaction ([`Tx`]).
pub struct Statements<C>(C);

#[async_trait::async_trait]
impl<C: Conn> SessionReads for Statements<C> {
    async fn session(&mut self, id: i64) -> Result<Option<Session>, sqlx::Error> {
        sessions::get(self.0.conn().await?, id).await
    }
    async fn sessions(
        &mut self,
        filter: &SessionFilter,
        limit: i64,
    ) -> Result<Vec<Session>, sqlx::Error> {
        sessions::list(self.0.conn().await?, filter, limit).await
    }
    async fn participants(&mut self, session_id: i64) -> Result<Vec<Participant>, sqlx::Error> {
        sessions::participants(self.0.conn().await?, session_id).await
    }
    async fn live_intervals(
        &mut self,
        detainee_id: Option<i64>,
        device_id: Option<i64>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<BookedInterval>, sqlx::Error> {
        sessions::live_intervals(self.0.conn().await?, detainee_id, device_id, from, to).await
    }
    async fn overdue(&mut self, now: i64) -> Result<Vec<i64>, sqlx::Error> {
        sessions::overdue(self.0.conn().await?, now).await
    }
}

#[async_trait::async_trait]
impl SessionWrites for Statements<Tx<'_>> {
    async fn insert_session(&mut self, s: &NewSession<'_>) -> Result<i64, sqlx::Error> {
        sessions::insert(&mut self.0.tx, s).await
    }
    async fn insert_participant(
        &mut self,
        session_id: i64,
        p: &NewParticipant<'_>,
    ) -> Result<i64, sqlx::Error> {
        sessions::insert_participant(&mut self.0.tx, session_id, p).await
    }
    async fn set_status(
        &mut self,
        id: i64,
        status: SessionStatus,
        reason: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        sessions::set_status(&mut self.0.tx, id, status, reason).await
    }
    async fn mark_live(&mut self, id: i64) -> Result<(), sqlx::Error> {
        sessions::mark_live(&mut self.0.tx, id).await
    }
    async fn mark_removed(&mut self, participant_id: i64, at: i64) -> Result<(), sqlx::Error> {
        sessions::mark_removed(&mut self.0.tx, participant_id, at).await
    }
    async fn set_end(&mut self, id: i64, ends_at: i64) -> Result<(), sqlx::Error> {
        sessions::set_end(&mut self.0.tx, id, ends_at).await
    }
}

#[async_trait::async_trait]
impl<C: Conn> PeopleReads for Statements<C> {
    async fn facility(&mut self, id: i64) -> Result<Option<Facility>, sqlx::Error> {
        people::facility(self.0.conn().await?, id).await
    }
    async fn facilities(&mut self) -> Result<Vec<Facility>, sqlx::Error> {
        people::facilities(self.0.conn().await?).await
    }
    async fn devices(&mut self, facility_id: i64) -> Result<Vec<Device>, sqlx::Error> {
        people::devices(self.0.conn().await?, facility_id).await
    }
    async fn device(&mut self, id: i64) -> Result<Option<Device>, sqlx::Error> {
        people::device(self.0.conn().await?, id).await
    }
    async fn detainee(&mut self, id: i64) -> Result<Option<Detainee>, sqlx::Error> {
        people::detainee(self.0.conn().await?, id).await
    }
    async fn detainee_by_number(
        &mut self,
        facility_id: i64,
        number: &str,
    ) -> Result<Option<Detainee>, sqlx::Error> {
        people::detainee_by_number(self.0.conn().await?, facility_id, number).await
    }
    async fn detainees(&mut self, facility_id: Option<i64>) -> Result<Vec<Detainee>, sqlx::Error> {
        people::detainees(self.0.conn().await?, facility_id).await
    }
    async fn contact(&mut self, id: i64) -> Result<Option<Contact>, sqlx::Error> {
        people::contact(self.0.conn().await?, id).await
    }
    async fn approved_contacts(
        &mut self,
        detainee_id: i64,
    ) -> Result<Vec<ApprovedContact>, sqlx::Error> {
        people::approved_contacts(self.0.conn().await?, detainee_id).await
    }
    async fn is_approved(
        &mut self,
        detainee_id: i64,
        contact_id: i64,
    ) -> Result<bool, sqlx::Error> {
        people::is_approved(self.0.conn().await?, detainee_id, contact_id).await
    }
}

#[async_trait::async_trait]
impl PeopleWrites for Statements<Tx<'_>> {
    async fn insert_facility(
        &mut self,
        name: &str,
        kind: FacilityKind,
        jurisdiction: &str,
        now: i64,
    ) -> Result<Facility, sqlx::Error> {
        people::insert_facility(&mut self.0.tx, name, kind, jurisdiction, now).await
    }
    async fn insert_device(
        &mut self,
        facility_id: i64,
        name: &str,
        kind: DeviceKind,
        now: i64,
    ) -> Result<Device, sqlx::Error> {
        people::insert_device(&mut self.0.tx, facility_id, name, kind, now).await
    }
    async fn insert_detainee(
        &mut self,
        facility_id: i64,
        name: &str,
        number: &str,
        now: i64,
    ) -> Result<Detainee, sqlx::Error> {
        people::insert_detainee(&mut self.0.tx, facility_id, name, number, now).await
    }
    async fn insert_contact(
        &mut self,
        name: &str,
        bar_number: Option<&str>,
        now: i64,
    ) -> Result<Contact, sqlx::Error> {
        people::insert_contact(&mut self.0.tx, name, bar_number, now).await
    }
    async fn set_bar_verified(&mut self, id: i64, bar_number: &str) -> Result<(), sqlx::Error> {
        people::set_bar_verified(&mut self.0.tx, id, bar_number).await
    }
    async fn approve(
        &mut self,
        detainee_id: i64,
        contact_id: i64,
        relationship: &str,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        people::approve(&mut self.0.tx, detainee_id, contact_id, relationship, now).await
    }
    async fn revoke(
        &mut self,
        detainee_id: i64,
        contact_id: i64,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        people::revoke(&mut self.0.tx, detainee_id, contact_id, now).await
    }
}

#[async_trait::async_trait]
impl<C: Conn> UserReads for Statements<C> {
    async fn user_by_token(&mut self, token: &str) -> Result<Option<ApiUser>, sqlx::Error> {
        users::by_token(self.0.conn().await?, token).await
    }
    async fn any_admin(&mut self) -> Result<bool, sqlx::Error> {
        users::any_admin(self.0.conn().await?).await
    }
    async fn users(&mut self) -> Result<Vec<ApiUser>, sqlx::Error> {
        users::list(self.0.conn().await?).await
    }
}

#[async_trait::async_trait]
impl UserWrites for Statements<Tx<'_>> {
    async fn insert_user(
        &mut self,
        name: &str,
        role: CallerRole,
        facility_id: Option<i64>,
        contact_id: Option<i64>,
        token: &str,
        now: i64,
    ) -> Result<ApiUser, sqlx::Error> {
        users::insert(
            &mut self.0.tx,
            name,
            role,
            facility_id,
            contact_id,
            token,
            now,
        )
        .await
    }
}

#[async_trait::async_trait]
impl<C: Conn> AuditReads for Statements<C> {
    async fn audit_entries(
        &mut self,
        session_id: Option<i64>,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, sqlx::Error> {
        audit::list(self.0.conn().await?, session_id, after_seq, limit).await
    }
    async fn verify_audit_chain(&mut self) -> Result<ChainSummary, VerifyError> {
        audit::verify(self.0.conn().await?).await
    }
}

#[async_trait::async_trait]
impl AuditWrites for Statements<Tx<'_>> {
    async fn append_audit(
        &mut self,
        record: &AuditRecord,
        at: DateTime<Utc>,
    ) -> Result<i64, sqlx::Error> {
        audit::append(&mut self.0.tx, record, at).await
    }
}

#[async_trait::async_trait]
impl Write for Statements<Tx<'_>> {
    async fn commit(self: Box<Self>) -> Result<(), sqlx::Error> {
        self.0.tx.commit().await
    }
}
