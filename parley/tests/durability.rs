//! Invariants 4 and 7 against the real binary: nothing accepted is lost when
//! the process is killed with SIGKILL, and `parley audit verify` catches
//! tampering with the audit log by someone with access to the database.
//! Each runs on SQLite and on PostgreSQL (a throwaway server:
//! `scripts/test-postgres`).

mod common;
#[path = "../../testing/postgres.rs"]
mod postgres;

use chrono::Duration as TimeDelta;
use common::{Api, Output, Server, first_entry_named, id, parse_intact, read_admin_token};
use serde_json::{Value, json};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use std::path::{Path, PathBuf};

/// Where a test's store lives: SQLite in its data directory, or a
/// PostgreSQL database named in a copy of the demo deployment.
enum Store {
    Sqlite,
    Postgres { url: String, config: PathBuf },
}

impl Store {
    /// A new PostgreSQL database and a deployment file naming it, in `data`.
    async fn postgres(data: &Path) -> Store {
        let url = postgres::fresh_database().await;
        let config = data.join("deployment.toml");
        write_deployment(&config, &url);
        Store::Postgres { url, config }
    }

    fn start(&self, data: &Path) -> Server {
        match self {
            Store::Sqlite => Server::start(data),
            Store::Postgres { config, .. } => Server::start_up(config, data),
        }
    }

    fn audit_verify(&self, data: &Path) -> Output {
        match self {
            Store::Sqlite => common::audit_verify(data),
            Store::Postgres { url, .. } => common::parley([
                std::ffi::OsStr::new("audit"),
                "verify".as_ref(),
                "--store".as_ref(),
                url.as_ref(),
            ]),
        }
    }

    /// The files a SQLite store leaves in the data directory.
    fn files(&self) -> &'static [&'static str] {
        match self {
            Store::Sqlite => &["parley.db", "admin-token", "join-token.key"],
            Store::Postgres { .. } => &["admin-token", "join-token.key"],
        }
    }

    /// A copy of the store to tamper with, and how to reach it.
    async fn copy(&self, data: &Path) -> (tempfile::TempDir, Store) {
        let copy = tempfile::TempDir::new().unwrap();
        match self {
            Store::Sqlite => {
                copy_db(data, copy.path());
                (copy, Store::Sqlite)
            }
            Store::Postgres { url, .. } => {
                let url = postgres::copy_database(url).await;
                let config = copy.path().join("deployment.toml");
                write_deployment(&config, &url);
                (copy, Store::Postgres { url, config })
            }
        }
    }

    /// Runs `sql` as an attacker with access to the database could, after
    /// lifting the append-only rule when `lift` (SQLite: dropping its
    /// triggers; PostgreSQL: a superuser disabling them).
    async fn tamper(&self, data: &Path, lift: bool, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            Store::Sqlite => {
                let lifted = if lift {
                    "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete; "
                } else {
                    ""
                };
                tamper(data, &format!("{lifted}{sql}")).await
            }
            Store::Postgres { url, .. } => {
                let mut conn = PgConnection::connect(url).await?;
                let lifted = if lift {
                    "ALTER TABLE audit_log DISABLE TRIGGER USER; "
                } else {
                    ""
                };
                let result = sqlx::raw_sql(&format!("{lifted}{sql}"))
                    .execute(&mut conn)
                    .await
                    .map(|_| ());
                conn.close().await?;
                result
            }
        }
    }
}

/// The demo deployment with its store in PostgreSQL at `url`, written to
/// `path` (the jurisdictions directory made absolute).
fn write_deployment(path: &Path, url: &str) {
    let demo = std::fs::read_to_string(common::demo_config()).unwrap();
    let jurisdictions = common::config_dir().join("jurisdictions");
    let text = demo.replace(
        "jurisdictions_dir = \"jurisdictions\"",
        &format!(
            "jurisdictions_dir = {:?}",
            jurisdictions.display().to_string()
        ),
    );
    assert_ne!(
        text, demo,
        "config/demo.toml no longer names its jurisdictions_dir so"
    );
    std::fs::write(path, format!("{text}\n[store]\nurl = {url:?}\n")).unwrap();
}

/// `(seq, hash)` of every entry, for messages.
fn chain(entries: &[Value]) -> Vec<(i64, String)> {
    entries
        .iter()
        .map(|e| {
            (
                e["seq"].as_i64().unwrap(),
                e["hash"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn restart_after_kill_9_loses_nothing() {
    restart_after_kill_9_loses_nothing_on(Store::Sqlite, tempfile::TempDir::new().unwrap()).await;
}

#[tokio::test]
async fn restart_after_kill_9_loses_nothing_on_postgres() {
    let data = tempfile::TempDir::new().unwrap();
    let store = Store::postgres(data.path()).await;
    restart_after_kill_9_loses_nothing_on(store, data).await;
}

async fn restart_after_kill_9_loses_nothing_on(store: Store, data: tempfile::TempDir) {
    let server = store.start(data.path());
    let token = server.admin_token();
    assert!(!token.is_empty(), "empty admin token");
    assert!(
        server.stdout().contains(&token),
        "first start should show the new admin token once:\n{}",
        server.stdout()
    );
    for file in store.files() {
        assert!(data.path().join(file).is_file(), "{file} was not created");
    }

    // One booking with everything it needs.
    let api = server.api();
    let facility = api.facility("HMP Durability").await;
    let device = api.device(facility, "Landing A kiosk").await;
    let detainee = api.detainee(facility, "Alex Example", "A1001").await;
    let contact = api.contact("Sam Example").await;
    api.approve(detainee, contact, "sibling").await;
    // 30 minutes for this visit, then 20 back-to-back 5-minute visits below.
    let start = common::visit_slot();
    let session = api.book(detainee, device, contact, start, 30).await;
    let session_id = id(&session);
    assert_eq!(session["status"], "scheduled", "{session}");
    let session_before = api.get_ok(&format!("/v1/sessions/{session_id}")).await;
    let audit_before = api.audit().await;
    assert!(
        audit_before.iter().any(|e| e["action"] == "booking.decide"
            && e["decision"] == "accepted"
            && e["session_id"] == session_id),
        "no audit entry for the booking: {audit_before:?}"
    );

    let (out, _) = server.kill9();
    assert!(out.contains("Parley is running."), "{out}");

    // Restart on the same data directory.
    let server = store.start(data.path());
    assert_eq!(
        server.admin_token(),
        token,
        "the admin token file changed on restart"
    );
    assert!(
        !server.stdout().contains(&token),
        "a restart must not print the admin token again:\n{}",
        server.stdout()
    );
    let api = Api::new(&server.url, &token);
    let me = api.get_ok("/v1/me").await;
    assert_eq!(me["role"], "admin", "{me}");
    let session_after = api.get_ok(&format!("/v1/sessions/{session_id}")).await;
    assert_eq!(
        session_after, session_before,
        "the booking changed across kill -9"
    );
    let audit_after = api.audit().await;
    assert_eq!(
        chain(&audit_after),
        chain(&audit_before),
        "the audit chain changed across kill -9"
    );
    assert_eq!(audit_after, audit_before);
    let verify = api.get_ok("/v1/audit/verify").await;
    assert_eq!(verify["entries"], audit_before.len() as i64, "{verify}");

    // A burst of 20 bookings, then kill -9 right after the last 201.
    // One detainee (exactly the demo weekly quota of 20, or fewer in each
    // week when they straddle Monday 00:00 London), its own device,
    // back-to-back 5-minute visits: no overlaps.
    let burst_detainee = api.detainee(facility, "Bo Burst", "B2002").await;
    let burst_device = api.device(facility, "Landing B kiosk").await;
    api.approve(burst_detainee, contact, "friend").await;
    let burst_start = start + TimeDelta::minutes(30);
    let mut burst = Vec::new();
    for i in 0..20 {
        let s = api
            .book(
                burst_detainee,
                burst_device,
                contact,
                burst_start + TimeDelta::minutes(5 * i),
                5,
            )
            .await;
        burst.push(s);
    }
    server.kill9();

    // The database as the killed process left it: intact and complete.
    let verified = store.audit_verify(data.path());
    verified.assert_success();
    let (entries, head) = parse_intact(&verified);

    let server = store.start(data.path());
    let api = Api::new(&server.url, &token);
    for s in &burst {
        let sid = id(s);
        let got = api.get_ok(&format!("/v1/sessions/{sid}")).await;
        assert_eq!(&got, s, "burst booking {sid} changed or was lost");
    }
    let listed = api
        .get_ok(&format!("/v1/sessions?detainee_id={burst_detainee}"))
        .await;
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(20),
        "expected the 20 burst bookings: {listed}"
    );
    let audit = api.audit().await;
    assert_eq!(audit.len() as i64, entries, "audit verify count vs API");
    assert_eq!(audit.last().unwrap()["hash"], head.as_str());
    assert_eq!(
        &audit[..audit_before.len()],
        &audit_before[..],
        "earlier audit entries changed"
    );
    for s in &burst {
        let sid = id(s);
        assert!(
            audit.iter().any(|e| e["action"] == "booking.decide"
                && e["decision"] == "accepted"
                && e["session_id"] == sid),
            "no audit entry for burst booking {sid}"
        );
    }
    server.kill9();

    // `parley audit verify` reports the same chain.
    let again = store.audit_verify(data.path());
    again.assert_success();
    assert_eq!(parse_intact(&again), (entries, head));
}

/// Copies the database (and its WAL, if any) of `from` into `to`.
fn copy_db(from: &Path, to: &Path) {
    for name in ["parley.db", "parley.db-wal", "parley.db-shm"] {
        let src = from.join(name);
        if src.exists() {
            std::fs::copy(&src, to.join(name)).unwrap();
        }
    }
}

/// Runs `sql` on the database in `data`, as an attacker with file access could.
async fn tamper(data: &Path, sql: &str) -> Result<(), sqlx::Error> {
    let mut conn = SqliteConnectOptions::new()
        .filename(data.join("parley.db"))
        .create_if_missing(false)
        .connect()
        .await?;
    let result = sqlx::raw_sql(sql).execute(&mut conn).await.map(|_| ());
    sqlx::Connection::close(conn).await?;
    result
}

/// Tampers with a copy of the store and checks that verify fails naming `entry`.
async fn assert_tamper_detected(store: &Store, data: &Path, what: &str, sql: &str, entry: i64) {
    let (copy_dir, copy) = store.copy(data).await;
    copy.tamper(copy_dir.path(), true, sql)
        .await
        .unwrap_or_else(|e| panic!("{what}: tampering failed: {e}"));
    let out = copy.audit_verify(copy_dir.path());
    out.assert_failure();
    assert_eq!(
        first_entry_named(&out.stderr),
        Some(entry),
        "{what}: the error should name entry {entry} first:\n{}",
        out.stderr
    );
}

#[tokio::test]
async fn audit_verify_detects_tampering() {
    audit_verify_detects_tampering_on(Store::Sqlite, tempfile::TempDir::new().unwrap()).await;
}

#[tokio::test]
async fn audit_verify_detects_tampering_on_postgres() {
    let data = tempfile::TempDir::new().unwrap();
    let store = Store::postgres(data.path()).await;
    audit_verify_detects_tampering_on(store, data).await;
}

async fn audit_verify_detects_tampering_on(store: Store, data: tempfile::TempDir) {
    let server = store.start(data.path());
    let api = server.api();
    // 1: the first administrator (created at first start).
    let facility = api.facility("HMP Audit").await; // 2
    let device = api.device(facility, "Kiosk").await;
    let detainee = api.detainee(facility, "Chris Example", "C3003").await;
    let contact = api.contact("Dee Example").await;
    api.approve(detainee, contact, "parent").await; // 3
    let start = common::visit_slot();
    api.book(detainee, device, contact, start, 30).await; // 4
    api.book(
        detainee,
        device,
        contact,
        start + TimeDelta::minutes(30),
        30,
    )
    .await; // 5
    // 6: a refusal is audited too (this one overlaps the visit above).
    let (status, body) = api
        .post(
            "/v1/bookings",
            &Api::visit_request(detainee, device, contact, start, 30),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let audit = api.audit().await;
    let last = audit.len() as i64;
    assert!(
        last >= 6,
        "expected at least 6 audit entries, got {audit:?}"
    );
    assert_eq!(audit[1]["action"], "facility.create", "{:?}", audit[1]);
    assert_eq!(audit[2]["action"], "contact.approve", "{:?}", audit[2]);
    server.kill9();

    let intact = store.audit_verify(data.path());
    intact.assert_success();
    let (entries, head) = parse_intact(&intact);
    assert_eq!(entries, last);
    assert_eq!(audit.last().unwrap()["hash"], head.as_str());

    // The triggers refuse changes made without dropping them first.
    {
        let (copy_dir, copy) = store.copy(data.path()).await;
        let err = copy
            .tamper(
                copy_dir.path(),
                false,
                "UPDATE audit_log SET decision = 'refused' WHERE seq = 2",
            )
            .await
            .expect_err("an UPDATE of audit_log must be refused by its trigger");
        assert!(err.to_string().contains("append-only"), "{err}");
        let err = copy
            .tamper(
                copy_dir.path(),
                false,
                "DELETE FROM audit_log WHERE seq = 3",
            )
            .await
            .expect_err("a DELETE from audit_log must be refused by its trigger");
        assert!(err.to_string().contains("append-only"), "{err}");
        copy.audit_verify(copy_dir.path()).assert_success();
    }

    let tamperings = [
        (
            "(a) changed decision",
            "UPDATE audit_log SET decision = 'refused' WHERE seq = 2".to_string(),
            2,
        ),
        (
            "(b) deleted entry 3",
            "DELETE FROM audit_log WHERE seq = 3".to_string(),
            3,
        ),
        (
            "(c) deleted the newest entry",
            format!("DELETE FROM audit_log WHERE seq = {last}"),
            last,
        ),
        (
            "(d) changed details of the newest entry",
            format!(
                "UPDATE audit_log SET details = '{}' WHERE seq = {last}",
                json!({"forged": true})
            ),
            last,
        ),
    ];
    for (what, sql, entry) in tamperings {
        assert_tamper_detected(&store, data.path(), what, &sql, entry).await;
    }

    // The original was never touched.
    let still = store.audit_verify(data.path());
    still.assert_success();
    assert_eq!(parse_intact(&still), (entries, head));
    assert_eq!(read_admin_token(data.path()), api.token);
}

/// Tampering that changes a column's SQLite storage class (a BLOB where text
/// is stored, text where an integer is) must be reported like any other
/// change, naming the entry, not crash the verifier. (SQLite only: a
/// PostgreSQL column keeps its declared type.)
#[tokio::test]
async fn audit_verify_reports_retyped_columns_without_crashing() {
    let data = tempfile::TempDir::new().unwrap();
    let server = Server::start(data.path());
    let api = server.api();
    api.facility("HMP Types").await; // entry 2
    api.facility("HMP Types II").await; // entry 3
    server.kill9();
    common::audit_verify(data.path()).assert_success();
    for (what, sql) in [
        (
            "(e) details stored as a BLOB",
            "UPDATE audit_log SET details = x'7b7d' WHERE seq = 2",
        ),
        (
            "(f) session_id stored as text",
            "UPDATE audit_log SET session_id = 'none' WHERE seq = 2",
        ),
    ] {
        assert_tamper_detected(&Store::Sqlite, data.path(), what, sql, 2).await;
    }
}
