-- Accounts, their certificates, login sessions and the audit trail.
-- Times are Unix seconds (UTC).

CREATE TABLE users (
    id                  INTEGER PRIMARY KEY,
    username            TEXT NOT NULL UNIQUE COLLATE NOCASE,
    email               TEXT NOT NULL UNIQUE COLLATE NOCASE,
    -- argon2id PHC string; NULL until the user has set a password.
    password_hash       TEXT,
    is_admin            INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
    disabled            INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    -- Active TOTP secret (base32) once enrolment has been confirmed.
    totp_secret         TEXT,
    -- Secret offered at the latest login of a user who is not enrolled yet.
    totp_pending_secret TEXT,
    -- The last time step accepted: each step is accepted once.
    totp_last_step      INTEGER,
    totp_failures       INTEGER NOT NULL DEFAULT 0,
    totp_lockouts       INTEGER NOT NULL DEFAULT 0,
    totp_locked_until   INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL
);

CREATE TABLE recovery_codes (
    id        INTEGER PRIMARY KEY,
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash BLOB NOT NULL,
    used_at   INTEGER
);
CREATE INDEX recovery_codes_user ON recovery_codes(user_id);

CREATE TABLE certificates (
    -- Lower-case hex without leading zero bytes.
    serial            TEXT PRIMARY KEY,
    user_id           INTEGER NOT NULL REFERENCES users(id),
    -- SHA-256 of the DER encoding.
    thumbprint        BLOB NOT NULL UNIQUE,
    not_before        INTEGER NOT NULL,
    not_after         INTEGER NOT NULL,
    issued_at         INTEGER NOT NULL,
    revoked_at        INTEGER,
    revocation_reason TEXT
);
CREATE INDEX certificates_user ON certificates(user_id);

-- A password-verified login waiting for its second factor.
CREATE TABLE login_challenges (
    challenge_hash  BLOB PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    cert_thumbprint BLOB NOT NULL,
    expires_at      INTEGER NOT NULL,
    used_at         INTEGER
);

-- One login session: the chain of refresh tokens that rotated from it.
CREATE TABLE token_families (
    id              TEXT PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    cert_thumbprint BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    revoked_at      INTEGER,
    revoked_reason  TEXT
);
CREATE INDEX token_families_user ON token_families(user_id);

CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY,
    family_id  TEXT NOT NULL REFERENCES token_families(id) ON DELETE CASCADE,
    issued_at  INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);

CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    subject     TEXT,
    client_addr TEXT,
    detail      TEXT
);
CREATE INDEX audit_events_at ON audit_events(at);
