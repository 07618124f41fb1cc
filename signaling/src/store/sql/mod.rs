//! The SQL backend, one set of statements for both engines through sqlx's
//! `Any` driver (placeholders `$1`, integers for times and flags, `RETURNING
//! id`):
//! - **SQLite**, the embedded default: one file in the data directory (WAL,
//!   `synchronous=FULL`, foreign keys on);
//! - **PostgreSQL**, for several signaling instances sharing one database.
//!
//! One writer at a time per process behind a lock, so that each write is one
//! transaction, durable at commit. A write that fails or is abandoned is
//! rolled back before the next writer starts, and its connection is closed
//! rather than pooled if the rollback fails too. The transactions are the
//! store's own (`BEGIN`, `COMMIT`, `ROLLBACK`), not sqlx's: after a full
//! disk, a connection that sqlx had rolled back on drop could go back to
//! the pool with its idea of the transaction no longer SQLite's, and a
//! later write on it was answered as committed yet gone after a restart
//! (found by `parley/tests/full_disk.rs`). Across processes (PostgreSQL) the audit
//! chain's head row is locked (`SELECT … FOR UPDATE`) before it is read, so
//! concurrent appenders take turns and the chain never forks.
//!
//! Each engine has its own migrations (`migrations/sqlite`,
//! `migrations/postgres`), kept in step by `tests/store_schema.rs`.

pub mod audit;
pub mod people;
pub mod reviews;
pub mod sessions;
pub mod users;
pub mod webhooks;

use super::audit::{AuditEntry, AuditReads, AuditRecord, AuditWrites, ChainSummary, VerifyError};
use super::people::{PeopleReads, PeopleWrites};
use super::reviews::{NewReview, ReviewReads, ReviewWrites};
use super::sessions::{NewParticipant, NewSession, SessionFilter, SessionReads, SessionWrites};
use super::users::{UserReads, UserWrites};
use super::webhooks::{
    DeadLetter, NewDeadLetter, NewWebhook, Webhook, WebhookReads, WebhookWrites,
};
use super::{Backend, DB_FILE, Read, StoreError, StoreLocation, Write};
use crate::model::{
    ApiUser, ApprovedContact, CallerRole, Contact, Detainee, Device, DeviceKind, Facility,
    FacilityKind, Participant, Session, SessionStatus, VisitCredit,
};
use crate::review::{Outcome, Review};
use chrono::{DateTime, Utc};
use parley_policy::BookedInterval;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Executor};
use std::str::FromStr;
use std::sync::Arc;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// Which engine a [`SqlStore`] talks to; the few statements that differ
/// ask it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    /// Reads the audit chain's head inside a write, locking it against
    /// other processes' appenders where the engine has several.
    fn head_for_update(self) -> &'static str {
        match self {
            // One process writes a SQLite file; its writer lock suffices.
            Engine::Sqlite => "SELECT seq, hash FROM audit_head WHERE id = 1",
            Engine::Postgres => "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
        }
    }
}

/// The store in one SQLite file or one PostgreSQL database.
#[derive(Debug)]
pub struct SqlStore {
    pool: AnyPool,
    writer: Arc<Mutex<()>>,
    engine: Engine,
    /// For the operator: the file, or the URL without its password.
    shown: String,
}

/// Per-connection settings of a SQLite file: durability and integrity
/// before speed.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
    PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;";

/// Whether a file can be created, written, synced and removed in `dir`.
fn writable(dir: &std::path::Path) -> std::io::Result<()> {
    use std::io::Write;
    let probe = dir.join(".parley-write-check");
    let written = std::fs::File::create(&probe).and_then(|mut f| {
        f.write_all(b"parley")?;
        f.sync_all()
    });
    let removed = std::fs::remove_file(&probe);
    written.and(removed)
}

impl SqlStore {
    /// Opens (creating a SQLite file if needed) the store at `location` and
    /// applies its engine's migrations.
    pub async fn open(location: &StoreLocation) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let (url, engine, shown) = match location {
            StoreLocation::SqliteIn(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
                    path: dir.clone(),
                    source,
                })?;
                // SQLite cannot say so itself: on a read-only directory the
                // pool retries "unable to open database file" for ever.
                writable(dir).map_err(|source| StoreError::DataDirNotWritable {
                    path: dir.clone(),
                    source,
                })?;
                let path = dir.join(DB_FILE);
                let shown = format!("{} (SQLite)", path.display());
                (
                    format!("sqlite://{}?mode=rwc", url_path(&path)),
                    Engine::Sqlite,
                    shown,
                )
            }
            StoreLocation::Postgres(url) => (
                url.clone(),
                Engine::Postgres,
                format!("{} (PostgreSQL)", redact(url)),
            ),
        };
        let failed = |source| StoreError::Open {
            store: shown.clone(),
            source,
        };
        let options = AnyConnectOptions::from_str(&url).map_err(failed)?;
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if engine == Engine::Sqlite {
                        conn.execute(SQLITE_PRAGMAS).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(failed)?;
        let migrated = match engine {
            Engine::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await,
            Engine::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await,
        };
        migrated.map_err(|source| StoreError::Migrate {
            store: shown.clone(),
            source,
        })?;
        Ok(Self {
            pool,
            writer: Arc::new(Mutex::new(())),
            engine,
            shown,
        })
    }
}

/// A file path as the path of a `sqlite://` URL: every byte but letters,
/// digits, `/`, `-`, `.` and `_` percent-encoded, so that a directory named
/// with `?`, `#`, `%` or a space still names that directory.
fn url_path(path: &std::path::Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A database URL with its password, if any, replaced by `***`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[async_trait::async_trait]
impl Backend for SqlStore {
    fn read(&self) -> Box<dyn Read + '_> {
        Box::new(Statements(Pooled {
            pool: &self.pool,
            conn: None,
        }))
    }

    async fn write(&self) -> Result<Box<dyn Write + '_>, sqlx::Error> {
        let writer = self.writer.clone().lock_owned().await;
        let mut conn = self.pool.acquire().await?;
        conn.execute("BEGIN").await?;
        Ok(Box::new(Statements(Tx {
            tx: OpenTx(Some((writer, conn))),
            engine: self.engine,
            _store: std::marker::PhantomData,
        })))
    }

    async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(drop)
    }

    fn describe(&self) -> String {
        self.shown.clone()
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

/// Where a [`Statements`] runs its statements.
#[async_trait::async_trait]
pub trait Conn: Send {
    async fn conn(&mut self) -> Result<&mut AnyConnection, sqlx::Error>;
}

/// A connection from the pool, taken on first use.
pub struct Pooled<'a> {
    pool: &'a AnyPool,
    conn: Option<PoolConnection<Any>>,
}

#[async_trait::async_trait]
impl Conn for Pooled<'_> {
    async fn conn(&mut self) -> Result<&mut AnyConnection, sqlx::Error> {
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
    tx: OpenTx,
    engine: Engine,
    _store: std::marker::PhantomData<&'a SqlStore>,
}

/// The connection of an open transaction and the writer lock; `None` once
/// committed or handed to the rollback.
pub struct OpenTx(Option<(OwnedMutexGuard<()>, PoolConnection<Any>)>);

const HELD: &str = "a write transaction holds its connection until commit or drop";

impl std::ops::Deref for OpenTx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.0.as_ref().expect(HELD).1
    }
}

impl std::ops::DerefMut for OpenTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.0.as_mut().expect(HELD).1
    }
}

impl OpenTx {
    async fn commit(mut self) -> Result<(), sqlx::Error> {
        let Some((writer, mut conn)) = self.0.take() else {
            return Ok(());
        };
        match conn.execute("COMMIT").await {
            Ok(_) => Ok(()),
            Err(e) => {
                roll_back(writer, conn).await;
                Err(e)
            }
        }
    }
}

/// Rolls back, then lets the next writer in; a connection that cannot roll
/// back is closed, never pooled.
async fn roll_back(writer: OwnedMutexGuard<()>, mut conn: PoolConnection<Any>) {
    if let Err(e) = conn.execute("ROLLBACK").await {
        tracing::warn!(error = %e, "a failed write could not be rolled back; its connection is closed");
        drop(conn.detach());
    }
    drop(writer);
}

impl Drop for OpenTx {
    fn drop(&mut self) {
        if let Some((writer, conn)) = self.0.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(roll_back(writer, conn));
                }
                // Closing the connection ends its transaction.
                Err(_) => drop(conn.detach()),
            }
        }
    }
}

#[async_trait::async_trait]
impl Conn for Tx<'_> {
    async fn conn(&mut self) -> Result<&mut AnyConnection, sqlx::Error> {
        Ok(&mut self.tx)
    }
}

/// The aggregates' traits over SQL statements, read from the pool
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
    async fn visit_credits(&mut self, detainee_id: i64) -> Result<Vec<VisitCredit>, sqlx::Error> {
        sessions::visit_credits(self.0.conn().await?, detainee_id).await
    }
    async fn visit_credit(&mut self, id: i64) -> Result<Option<VisitCredit>, sqlx::Error> {
        sessions::visit_credit(self.0.conn().await?, id).await
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
    async fn credit_visit(
        &mut self,
        session_id: i64,
        seconds: i64,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        sessions::credit_visit(&mut self.0.tx, session_id, seconds, now).await
    }
    async fn use_visit_credit(&mut self, id: i64, session_id: i64) -> Result<(), sqlx::Error> {
        sessions::use_visit_credit(&mut self.0.tx, id, session_id).await
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
        audit::append(&mut self.0.tx, self.0.engine.head_for_update(), record, at).await
    }
}

#[async_trait::async_trait]
impl<C: Conn> ReviewReads for Statements<C> {
    async fn review(&mut self, id: i64) -> Result<Option<Review>, sqlx::Error> {
        reviews::get(self.0.conn().await?, id).await
    }
    async fn review_of(
        &mut self,
        session_id: i64,
        participant_id: i64,
    ) -> Result<Option<Review>, sqlx::Error> {
        reviews::of(self.0.conn().await?, session_id, participant_id).await
    }
    async fn reviews(
        &mut self,
        facility_id: Option<i64>,
        pending_only: bool,
        limit: i64,
    ) -> Result<Vec<Review>, sqlx::Error> {
        reviews::list(self.0.conn().await?, facility_id, pending_only, limit).await
    }
}

#[async_trait::async_trait]
impl ReviewWrites for Statements<Tx<'_>> {
    async fn insert_review(&mut self, r: &NewReview<'_>) -> Result<i64, sqlx::Error> {
        reviews::insert(&mut self.0.tx, r).await
    }
    async fn decide_review(
        &mut self,
        id: i64,
        outcome: Outcome,
        reason: &str,
        reviewer_id: i64,
        at: i64,
    ) -> Result<(), sqlx::Error> {
        reviews::decide(&mut self.0.tx, id, outcome, reason, reviewer_id, at).await
    }
    async fn use_replacement(
        &mut self,
        review_id: i64,
        session_id: i64,
    ) -> Result<(), sqlx::Error> {
        reviews::use_replacement(&mut self.0.tx, review_id, session_id).await
    }
}

#[async_trait::async_trait]
impl<C: Conn> WebhookReads for Statements<C> {
    async fn webhooks(
        &mut self,
        facility_id: Option<i64>,
        active_only: bool,
    ) -> Result<Vec<(Webhook, String)>, sqlx::Error> {
        webhooks::list(self.0.conn().await?, facility_id, active_only).await
    }
    async fn webhook(&mut self, id: i64) -> Result<Option<Webhook>, sqlx::Error> {
        webhooks::get(self.0.conn().await?, id).await
    }
    async fn dead_letters(&mut self, webhook_id: i64) -> Result<Vec<DeadLetter>, sqlx::Error> {
        webhooks::dead_letters(self.0.conn().await?, webhook_id).await
    }
    async fn facility_audit(
        &mut self,
        facility_id: i64,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, sqlx::Error> {
        audit::of_facility(self.0.conn().await?, facility_id, after_seq, limit).await
    }
    async fn audit_head_seq(&mut self) -> Result<i64, sqlx::Error> {
        audit::head_seq(self.0.conn().await?).await
    }
}

#[async_trait::async_trait]
impl WebhookWrites for Statements<Tx<'_>> {
    async fn insert_webhook(&mut self, w: &NewWebhook<'_>) -> Result<i64, sqlx::Error> {
        webhooks::insert(&mut self.0.tx, w).await
    }
    async fn webhook_delivered(&mut self, id: i64, seq: i64) -> Result<(), sqlx::Error> {
        webhooks::delivered(&mut self.0.tx, id, seq).await
    }
    async fn dead_letter(&mut self, letter: &NewDeadLetter<'_>) -> Result<(), sqlx::Error> {
        webhooks::dead_letter(&mut self.0.tx, letter).await
    }
    async fn deactivate_webhook(&mut self, id: i64) -> Result<(), sqlx::Error> {
        webhooks::deactivate(&mut self.0.tx, id).await
    }
}

#[async_trait::async_trait]
impl Write for Statements<Tx<'_>> {
    async fn commit(self: Box<Self>) -> Result<(), sqlx::Error> {
        let Statements(Tx { tx, .. }) = *self;
        tx.commit().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shown_url_never_carries_the_password() {
        assert_eq!(
            redact("postgres://parley:s3cret@db.example:5432/parley"),
            "postgres://parley:***@db.example:5432/parley"
        );
        assert_eq!(
            redact("postgres://parley@localhost/parley?host=/run/postgresql"),
            "postgres://parley@localhost/parley?host=/run/postgresql"
        );
        assert_eq!(redact("not a url"), "not a url");
    }

    #[tokio::test]
    async fn a_data_directory_with_url_characters_in_its_name_works() {
        let root = tempfile::TempDir::new().unwrap();
        let dir = root.path().join("visits #1 ?100% é");
        let store = SqlStore::open(&StoreLocation::SqliteIn(dir.clone()))
            .await
            .unwrap();
        store.close().await;
        assert!(dir.join(DB_FILE).is_file(), "{}", dir.display());
    }

    #[test]
    fn the_location_follows_the_url_scheme() {
        let dir = std::path::Path::new("data");
        assert_eq!(
            StoreLocation::from_config(None, dir).unwrap(),
            StoreLocation::SqliteIn(dir.to_path_buf())
        );
        for url in ["postgres://p@h/d", "postgresql://p@h/d"] {
            assert_eq!(
                StoreLocation::from_config(Some(url), dir).unwrap(),
                StoreLocation::Postgres(url.into())
            );
        }
        let err = StoreLocation::from_config(Some("mysql://p@h/d"), dir).unwrap_err();
        assert!(
            err.to_string().contains("`mysql` is not supported"),
            "{err}"
        );
    }
}
