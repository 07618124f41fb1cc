//! The signaling store: one SQLite file (WAL, `synchronous=FULL`) holding
//! bookings, hearings, people and the audit log.
//!
//! Invariants:
//! - every write goes through [`Store::write`], which serializes writers and
//!   wraps the change in one transaction, so an audit entry and the change it
//!   authorizes commit together or not at all (invariant 4);
//! - a commit is fsynced before the API answers, so `kill -9` loses nothing
//!   that was accepted.

pub mod audit;
pub mod people;
pub mod sessions;
pub mod users;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::{Mutex, MutexGuard};

/// File name of the database inside the data directory.
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

/// Handle to the store; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    writer: std::sync::Arc<Mutex<()>>,
    path: PathBuf,
}

/// One write transaction, holding the writer lock until commit or drop
/// (drop rolls back).
pub struct WriteTx<'a> {
    _writer: MutexGuard<'a, ()>,
    pub tx: Transaction<'static, Sqlite>,
}

impl WriteTx<'_> {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl Store {
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
            writer: std::sync::Arc::new(Mutex::new(())),
            path,
        })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts the one write transaction allowed at a time.
    pub async fn write(&self) -> Result<WriteTx<'_>, sqlx::Error> {
        let guard = self.writer.lock().await;
        let tx = self.pool.begin().await?;
        Ok(WriteTx { _writer: guard, tx })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
