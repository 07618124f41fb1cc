//! The signaling store: bookings, hearings, people, API users and the audit
//! log and requests for review, behind one trait per aggregate
//! ([`sessions`], [`people`], [`users`], [`audit`], [`reviews`],
//! [`webhooks`]). One backend, [`sql`], speaks to either engine:
//! a SQLite file in the data directory (the default) or a PostgreSQL
//! database ([`StoreLocation`]). Another plugs in beside it by implementing
//! [`Backend`] and the aggregates' traits.
//!
//! Invariants, for every backend:
//! - every write goes through [`Store::write`], which serializes writers and
//!   wraps the change in one transaction, so an audit entry and the change it
//!   authorizes commit together or not at all (invariant 4);
//! - a commit is durable before the API answers, so `kill -9` loses nothing
//!   that was accepted.

pub mod audit;
pub mod people;
pub mod reviews;
pub mod sessions;
pub mod sql;
pub mod users;
pub mod webhooks;

pub use audit::{AuditReads, AuditWrites};
pub use people::{PeopleReads, PeopleWrites};
pub use reviews::{ReviewReads, ReviewWrites};
pub use sessions::{SessionReads, SessionWrites};
pub use users::{UserReads, UserWrites};
pub use webhooks::{WebhookReads, WebhookWrites};

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// File name of the SQLite database inside the data directory.
pub const DB_FILE: &str = "parley.db";

/// Where the store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// [`DB_FILE`] in this data directory: one process, no server.
    SqliteIn(PathBuf),
    /// A PostgreSQL database URL, e.g. `postgres://parley@db.example/parley`
    /// or `postgres://parley@localhost/parley?host=/run/postgresql` for a
    /// Unix socket. Several signaling instances may share it.
    Postgres(String),
}

impl StoreLocation {
    /// The deployment's choice: a `postgres://` (or `postgresql://`) URL
    /// when given, otherwise SQLite in `data_dir`.
    pub fn from_config(url: Option<&str>, data_dir: &Path) -> Result<Self, StoreError> {
        match url {
            None => Ok(Self::SqliteIn(data_dir.to_path_buf())),
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                Ok(Self::Postgres(u.to_owned()))
            }
            Some(u) => Err(StoreError::Url(
                u.split("://").next().unwrap_or(u).to_owned(),
            )),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot write in the data directory {path} ({source}): Parley keeps its database there; make it writable, or free space on its disk"
    )]
    DataDirNotWritable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "store url scheme `{0}` is not supported: give a postgres:// URL, or no url for SQLite in the data directory"
    )]
    Url(String),
    #[error("cannot open the database {store}: {source}")]
    Open { store: String, source: sqlx::Error },
    #[error("cannot bring the database {store} up to date: {source}")]
    Migrate {
        store: String,
        source: sqlx::migrate::MigrateError,
    },
}

/// Everything the store reads, outside a write or inside one.
pub trait Read:
    SessionReads + PeopleReads + UserReads + AuditReads + ReviewReads + WebhookReads
{
}

impl<T: SessionReads + PeopleReads + UserReads + AuditReads + ReviewReads + WebhookReads> Read
    for T
{
}

/// One write transaction: the only writer while it lives; dropped without
/// [`Write::commit`], nothing of it is kept.
#[async_trait::async_trait]
pub trait Write:
    Read + SessionWrites + PeopleWrites + UserWrites + AuditWrites + ReviewWrites + WebhookWrites
{
    async fn commit(self: Box<Self>) -> Result<(), sqlx::Error>;
}

/// A storage engine.
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// Reads outside any write transaction.
    fn read(&self) -> Box<dyn Read + '_>;
    /// Starts the one write transaction allowed at a time (waits for it).
    async fn write(&self) -> Result<Box<dyn Write + '_>, sqlx::Error>;
    /// The store answers.
    async fn ping(&self) -> Result<(), sqlx::Error>;
    /// Where the data lives, for the operator.
    fn describe(&self) -> String;
    async fn close(&self);
}

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store(Arc<dyn Backend>);

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Store").field(&self.0.describe()).finish()
    }
}

impl Store {
    /// Opens the store at `location` (creating a SQLite file if needed)
    /// and applies migrations.
    pub async fn open(location: &StoreLocation) -> Result<Self, StoreError> {
        Ok(Self(Arc::new(sql::SqlStore::open(location).await?)))
    }

    /// Reads outside any write transaction. The reader holds one pooled
    /// connection from its first read until it is dropped: keep it short,
    /// and drop it before [`Store::write`] (writers wait for each other,
    /// and a writer needs a connection too).
    pub fn read(&self) -> Box<dyn Read + '_> {
        self.0.read()
    }

    /// Starts the one write transaction allowed at a time.
    pub async fn write(&self) -> Result<Box<dyn Write + '_>, sqlx::Error> {
        self.0.write().await
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        self.0.ping().await
    }

    /// Where the data lives, e.g. `data/parley.db (SQLite)`; never a password.
    pub fn describe(&self) -> String {
        self.0.describe()
    }

    pub async fn close(&self) {
        self.0.close().await;
    }
}
