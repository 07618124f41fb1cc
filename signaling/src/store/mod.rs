//! The signaling store: bookings, hearings, people, API users and the audit
//! log, behind one trait per aggregate ([`sessions`], [`people`],
//! [`users`], [`audit`]). The backend today is one SQLite file
//! ([`sqlite`]: WAL, `synchronous=FULL`); another plugs in beside it by
//! implementing [`Backend`] and the aggregates' traits.
//!
//! Invariants, for every backend:
//! - every write goes through [`Store::write`], which serializes writers and
//!   wraps the change in one transaction, so an audit entry and the change it
//!   authorizes commit together or not at all (invariant 4);
//! - a commit is durable before the API answers, so `kill -9` loses nothing
//!   that was accepted.

pub mod audit;
pub mod people;
pub mod sessions;
pub mod sqlite;
pub mod users;

pub use audit::{AuditReads, AuditWrites};
pub use people::{PeopleReads, PeopleWrites};
pub use sessions::{SessionReads, SessionWrites};
pub use users::{UserReads, UserWrites};

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// File name of the SQLite database inside the data directory.
pub const DB_FILE: &str = "parley.db";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the database {path}: {source}")]
    Open { path: PathBuf, source: sqlx::Error },
    #[error("cannot bring the database {path} up to date: {source}")]
    Migrate {
        path: PathBuf,
        source: sqlx::migrate::MigrateError,
    },
}

/// Everything the store reads, outside a write or inside one.
pub trait Read: SessionReads + PeopleReads + UserReads + AuditReads {}

impl<T: SessionReads + PeopleReads + UserReads + AuditReads> Read for T {}

/// One write transaction: the only writer while it lives; dropped without
/// [`Write::commit`], nothing of it is kept.
#[async_trait::async_trait]
pub trait Write: Read + SessionWrites + PeopleWrites + UserWrites + AuditWrites {
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
    /// Opens (creating if needed) the SQLite database in `data_dir` and
    /// applies migrations.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Ok(Self(Arc::new(sqlite::SqliteStore::open(data_dir).await?)))
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

    /// Where the data lives, e.g. `data/parley.db (SQLite)`.
    pub fn describe(&self) -> String {
        self.0.describe()
    }

    pub async fn close(&self) {
        self.0.close().await;
    }
}
