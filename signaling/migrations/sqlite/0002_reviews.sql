-- Human review of a decision that ended someone's contact: a session ended
-- by staff, a participant removed, a booking cancelled. One request per
-- participant and session; the decision under review is an audit entry.
CREATE TABLE reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    participant_id INTEGER NOT NULL REFERENCES participants(id),
    -- termination, removal or cancellation
    decision TEXT NOT NULL,
    -- the audit entry of that decision, its actor and the reason it gave
    decision_seq INTEGER NOT NULL,
    decision_actor TEXT NOT NULL,
    stated_reason TEXT NOT NULL,
    -- what the requester wrote, if anything
    statement TEXT,
    requested_at INTEGER NOT NULL,
    -- upheld or overturned, once a reviewer decides
    outcome TEXT,
    outcome_reason TEXT,
    reviewer_id INTEGER REFERENCES api_users(id),
    reviewed_at INTEGER,
    -- an overturned visit's replacement, once booked
    replacement_session_id INTEGER REFERENCES sessions(id),
    UNIQUE (session_id, participant_id)
);
CREATE INDEX reviews_requested ON reviews (requested_at);

-- A visit booked as the replacement an overturned review granted: it does
-- not count against the weekly quota.
ALTER TABLE sessions ADD COLUMN replaces_review INTEGER REFERENCES reviews(id);
