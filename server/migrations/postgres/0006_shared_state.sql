-- State that every instance of a deployment must share: failure and
-- request throttles, and built certificate packages awaiting their one
-- download (sealed with a key only the download URL carries).

CREATE TABLE throttles (
    scope            TEXT NOT NULL,
    key              TEXT NOT NULL,
    failures         BIGINT NOT NULL,
    first_failure_at BIGINT NOT NULL,
    locked_until     BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);

CREATE TABLE sealed_packages (
    -- SHA-256 of the download token, like download_links.token_hash.
    token_hash BYTEA PRIMARY KEY,
    -- Nonce followed by the AES-256-GCM ciphertext and tag.
    sealed     BYTEA NOT NULL,
    file_name  TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
