//! The store a test runs on, shared by the signaling and operator tests
//! (`#[path]`-included): SQLite in the test's data directory, or, with
//! `PARLEY_TEST_STORE=postgres`, a new database on the PostgreSQL server
//! named by `PARLEY_TEST_POSTGRES` (scripts/test starts a throwaway one).
//! A test asked to run on PostgreSQL never falls back to SQLite: without a
//! server it fails and names the command that starts one.

#![allow(dead_code)]

use sqlx::{Connection, Executor, PgConnection};

/// What starts a server for these tests.
pub const START: &str = "eval \"$(scripts/test-postgres start)\"";

/// `Some(url)` of a new, empty PostgreSQL database when the run is on
/// PostgreSQL; `None` for SQLite.
pub async fn store_url() -> Option<String> {
    if on_postgres() {
        Some(fresh_database().await)
    } else {
        None
    }
}

/// This run's store is PostgreSQL (`PARLEY_TEST_STORE=postgres`).
pub fn on_postgres() -> bool {
    match std::env::var("PARLEY_TEST_STORE").as_deref() {
        Err(_) | Ok("sqlite") => false,
        Ok("postgres") => true,
        Ok(other) => panic!("PARLEY_TEST_STORE is `{other}`; give `sqlite` or `postgres`"),
    }
}

/// The server's URL (its `postgres` database).
pub fn server_url() -> String {
    std::env::var("PARLEY_TEST_POSTGRES").unwrap_or_else(|_| {
        panic!(
            "PARLEY_TEST_POSTGRES is not set: this test needs a PostgreSQL server. \
             Start a throwaway one with: {START}"
        )
    })
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let (scheme, rest) = base.split_once("://").expect("a postgres:// URL");
    let host = rest.split('/').next().unwrap_or(rest);
    match query {
        Some(q) => format!("{scheme}://{host}/{name}?{q}"),
        None => format!("{scheme}://{host}/{name}"),
    }
}

/// Creates a database with a unique name and returns its URL.
pub async fn fresh_database() -> String {
    let server = server_url();
    let name = format!("parley_test_{:016x}", rand_u64());
    let mut conn = PgConnection::connect(&server).await.unwrap_or_else(|e| {
        panic!("cannot reach the PostgreSQL server at {server} ({e}); start one with: {START}")
    });
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
    conn.close().await.ok();
    with_database(&server, &name)
}

/// A copy of the database at `url` (which nobody may be connected to),
/// for tampering with it; returns the copy's URL.
pub async fn copy_database(url: &str) -> String {
    let source = url
        .split('?')
        .next()
        .and_then(|b| b.rsplit('/').next())
        .expect("a database name")
        .to_owned();
    let name = format!("parley_copy_{:016x}", rand_u64());
    let mut conn = PgConnection::connect(&server_url()).await.expect("server");
    conn.execute(format!("CREATE DATABASE {name} TEMPLATE {source}").as_str())
        .await
        .unwrap_or_else(|e| panic!("cannot copy database {source}: {e}"));
    conn.close().await.ok();
    with_database(url, &name)
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}
