//! The store on its two engines: the SQLite and PostgreSQL migrations
//! describe the same tables, and on PostgreSQL the audit chain stays whole
//! when several instances append at once and refuses changes. Needs a
//! PostgreSQL server (`PARLEY_TEST_POSTGRES`; scripts/test starts one):
//! without it these tests fail, naming the command that starts one.

#[path = "../../testing/postgres.rs"]
mod postgres;

use parley_signaling::store::audit::AuditRecord;
use parley_signaling::store::{Store, StoreLocation};
use sqlx::{Connection, PgConnection, Row, SqliteConnection};
use std::collections::BTreeMap;

/// Table → column → nullable, as the engine describes its schema (sqlx's
/// own bookkeeping table left out).
type Schema = BTreeMap<String, BTreeMap<String, bool>>;

async fn sqlite_schema(dir: &std::path::Path) -> Schema {
    let url = format!("sqlite://{}", dir.join("parley.db").display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    let rows = sqlx::query(
        "SELECT m.name AS t, p.name AS c, p.\"notnull\" AS nn, p.pk AS pk
         FROM sqlite_master m JOIN pragma_table_info(m.name) p
         WHERE m.type = 'table' AND m.name NOT LIKE '\\_sqlx%' ESCAPE '\\' AND m.name <> 'sqlite_sequence'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut schema = Schema::new();
    for r in rows {
        // SQLite lets an INTEGER PRIMARY KEY be declared without NOT NULL.
        let nullable = r.get::<i64, _>("nn") == 0 && r.get::<i64, _>("pk") == 0;
        schema
            .entry(r.get("t"))
            .or_default()
            .insert(r.get("c"), nullable);
    }
    schema
}

async fn postgres_schema(url: &str) -> Schema {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let rows = sqlx::query(
        "SELECT table_name::text AS t, column_name::text AS c, is_nullable::text = 'YES' AS nullable
         FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut schema = Schema::new();
    for r in rows {
        schema
            .entry(r.get("t"))
            .or_default()
            .insert(r.get("c"), r.get("nullable"));
    }
    schema
}

#[tokio::test]
async fn both_engines_have_the_same_tables_and_columns() {
    let dir = tempfile::TempDir::new().unwrap();
    let sqlite = Store::open(&StoreLocation::SqliteIn(dir.path().to_path_buf()))
        .await
        .unwrap();
    sqlite.close().await;
    let url = postgres::fresh_database().await;
    let pg = Store::open(&StoreLocation::Postgres(url.clone()))
        .await
        .unwrap();
    pg.close().await;
    let (a, b) = (sqlite_schema(dir.path()).await, postgres_schema(&url).await);
    assert!(a.contains_key("audit_log") && a.len() >= 9, "{a:?}");
    assert_eq!(
        a, b,
        "migrations/sqlite and migrations/postgres describe different tables"
    );
}

/// Two instances (two stores, two pools) on one database append at once:
/// the chain takes every entry once, in one line, and verifies.
#[tokio::test]
async fn concurrent_instances_never_fork_the_audit_chain() {
    let url = postgres::fresh_database().await;
    let location = StoreLocation::Postgres(url);
    let a = Store::open(&location).await.unwrap();
    let b = Store::open(&location).await.unwrap();
    let append = |store: Store, who: &'static str| async move {
        let mut seqs = Vec::new();
        for i in 0..40 {
            let mut w = store.write().await.unwrap();
            let seq = w
                .append_audit(
                    &AuditRecord::new(who, "test.append", format!("{i}")),
                    chrono::Utc::now(),
                )
                .await
                .unwrap();
            w.commit().await.unwrap();
            seqs.push(seq);
        }
        seqs
    };
    let (sa, sb) = tokio::join!(
        tokio::spawn(append(a.clone(), "instance-a")),
        tokio::spawn(append(b.clone(), "instance-b"))
    );
    let mut all: Vec<i64> = sa.unwrap().into_iter().chain(sb.unwrap()).collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=80).collect::<Vec<_>>(),
        "a seq was taken twice or skipped"
    );
    let summary = a.read().verify_audit_chain().await.unwrap();
    assert_eq!(summary.entries, 80);
    let entries = b.read().audit_entries(None, 0, 1000).await.unwrap();
    for pair in entries.windows(2) {
        assert_eq!(
            pair[1].prev_hash, pair[0].hash,
            "the chain forked at {}",
            pair[1].seq
        );
    }
    a.close().await;
    b.close().await;
}

/// PostgreSQL refuses UPDATE, DELETE and TRUNCATE of the audit log, and an
/// empty store verifies.
#[tokio::test]
async fn the_audit_log_is_append_only_on_postgres() {
    let url = postgres::fresh_database().await;
    let store = Store::open(&StoreLocation::Postgres(url.clone()))
        .await
        .unwrap();
    let empty = store.read().verify_audit_chain().await.unwrap();
    assert_eq!(empty.entries, 0);
    let mut w = store.write().await.unwrap();
    w.append_audit(
        &AuditRecord::new("test", "test.append", "allowed"),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    w.commit().await.unwrap();
    store.close().await;
    let mut conn = PgConnection::connect(&url).await.unwrap();
    for sql in [
        "UPDATE audit_log SET decision = 'refused' WHERE seq = 1",
        "DELETE FROM audit_log WHERE seq = 1",
        "TRUNCATE audit_log",
    ] {
        let err = sqlx::query(sql).execute(&mut conn).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(n, 1);
}
