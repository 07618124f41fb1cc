-- Webhooks for case-management systems, per facility. Their events are the
-- facility's audit entries; `delivered_seq` is the audit sequence number up
-- to which this webhook's events were delivered or dead-lettered, so a
-- restart resumes there.
CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    facility_id INTEGER NOT NULL REFERENCES facilities(id),
    url TEXT NOT NULL,
    -- the HMAC-SHA256 key deliveries are signed with (its text's bytes)
    secret TEXT NOT NULL,
    created_by INTEGER NOT NULL REFERENCES api_users(id),
    created_at INTEGER NOT NULL,
    delivered_seq INTEGER NOT NULL,
    -- 0 once removed: nothing more is sent
    active INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX webhooks_facility ON webhooks (facility_id);

-- Events a webhook gave up on after its retries.
CREATE TABLE webhook_dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id INTEGER NOT NULL REFERENCES webhooks(id),
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    failed_at INTEGER NOT NULL
);
CREATE INDEX webhook_dead_letters_webhook ON webhook_dead_letters (webhook_id, seq);
