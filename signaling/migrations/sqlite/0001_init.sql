-- Parley signaling store. Times are Unix seconds (UTC) unless named *_text.

CREATE TABLE api_users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    facility_id INTEGER REFERENCES facilities(id),
    contact_id INTEGER REFERENCES contacts(id),
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE facilities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    jurisdiction TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE devices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    facility_id INTEGER NOT NULL REFERENCES facilities(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE detainees (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    facility_id INTEGER NOT NULL REFERENCES facilities(id),
    name TEXT NOT NULL,
    number TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (facility_id, number)
);

CREATE TABLE contacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    bar_number TEXT,
    bar_verified INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE approvals (
    detainee_id INTEGER NOT NULL REFERENCES detainees(id),
    contact_id INTEGER NOT NULL REFERENCES contacts(id),
    relationship TEXT NOT NULL,
    approved_at INTEGER NOT NULL,
    revoked_at INTEGER,
    PRIMARY KEY (detainee_id, contact_id)
);

CREATE TABLE sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    facility_id INTEGER NOT NULL REFERENCES facilities(id),
    jurisdiction TEXT NOT NULL,
    title TEXT NOT NULL,
    detainee_id INTEGER REFERENCES detainees(id),
    device_id INTEGER REFERENCES devices(id),
    join_opens_at INTEGER NOT NULL,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT,
    created_by INTEGER NOT NULL REFERENCES api_users(id),
    created_at INTEGER NOT NULL
);
CREATE INDEX sessions_detainee ON sessions (detainee_id, starts_at);
CREATE INDEX sessions_device ON sessions (device_id, starts_at);
CREATE INDEX sessions_facility ON sessions (facility_id, starts_at);

CREATE TABLE participants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    contact_id INTEGER REFERENCES contacts(id),
    detainee_id INTEGER REFERENCES detainees(id),
    consented_to_recording INTEGER NOT NULL DEFAULT 0,
    removed_at INTEGER
);
CREATE INDEX participants_session ON participants (session_id);

-- Append-only, hash-chained audit log (invariant 4). Never updated or
-- deleted by Parley; `parley audit verify` detects any change.
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    at_text TEXT NOT NULL,
    actor TEXT NOT NULL,
    session_id INTEGER,
    action TEXT NOT NULL,
    decision TEXT NOT NULL,
    rules TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_session ON audit_log (session_id, seq);

-- The last entry of the chain, written in the same transaction as each
-- append, so that deleting the newest entries is detected too.
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
