-- Access requests, one-time download links and the mail outbox.

CREATE TABLE access_requests (
    id          INTEGER PRIMARY KEY,
    email       TEXT NOT NULL COLLATE NOCASE,
    name        TEXT NOT NULL,
    reason      TEXT,
    state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'rejected')),
    created_at  INTEGER NOT NULL,
    client_addr TEXT,
    decided_at  INTEGER,
    decided_by  TEXT,
    note        TEXT,
    -- The account created or linked on approval.
    user_id     INTEGER REFERENCES users(id)
);
-- At most one pending request per address: a repeat does not duplicate it.
CREATE UNIQUE INDEX access_requests_one_pending ON access_requests(email) WHERE state = 'pending';
CREATE INDEX access_requests_state ON access_requests(state, created_at);

-- One-time links. Only the SHA-256 of the token is kept.
CREATE TABLE download_links (
    token_hash BLOB PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    request_id INTEGER REFERENCES access_requests(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX download_links_user ON download_links(user_id);

-- Every mail goes through here first, so a failed delivery is retried and
-- nothing is lost. The message is cleared once delivered.
CREATE TABLE mail_outbox (
    id              INTEGER PRIMARY KEY,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    message         BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    sent_at         INTEGER,
    last_error      TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox(sent_at, next_attempt_at);
