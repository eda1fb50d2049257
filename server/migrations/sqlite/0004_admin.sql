-- Admin browser sessions, and what a login challenge is for.

ALTER TABLE login_challenges ADD COLUMN purpose TEXT NOT NULL DEFAULT 'native';

CREATE TABLE admin_sessions (
    -- SHA-256 of the cookie value.
    id_hash         BLOB PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- Every state-changing form carries this.
    csrf_token      TEXT NOT NULL,
    -- The certificate the session was opened with (empty without one).
    cert_thumbprint BLOB NOT NULL,
    client_addr     TEXT,
    created_at      INTEGER NOT NULL,
    last_seen_at    INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    ended_at        INTEGER
);
CREATE INDEX admin_sessions_user ON admin_sessions(user_id);
