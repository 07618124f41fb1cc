-- Time a visit lost to a media failure, credited to its detainee as
-- another visit booked outside the weekly quota, where the jurisdiction's
-- fair-use rule credits rather than extends.
CREATE TABLE visit_credits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    detainee_id INTEGER NOT NULL REFERENCES detainees(id),
    seconds INTEGER NOT NULL,
    granted_at INTEGER NOT NULL,
    -- the visit booked with it, once it is
    used_session_id INTEGER REFERENCES sessions(id)
);
CREATE INDEX visit_credits_detainee ON visit_credits (detainee_id, granted_at);

-- A visit booked with a credit: like a replacement, it does not count
-- against the weekly quota.
ALTER TABLE sessions ADD COLUMN replaces_credit INTEGER REFERENCES visit_credits(id);
