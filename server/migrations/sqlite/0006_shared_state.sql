-- State that every instance of a deployment must share: failure and
-- request throttles, and built certificate packages awaiting their one
-- download (sealed with a key only the download URL carries).

CREATE TABLE throttles (
    scope            TEXT NOT NULL,
    key              TEXT NOT NULL,
    failures         INTEGER NOT NULL,
    first_failure_at INTEGER NOT NULL,
    locked_until     INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);

CREATE TABLE sealed_packages (
    -- SHA-256 of the download token, like download_links.token_hash.
    token_hash BLOB PRIMARY KEY,
    -- Nonce followed by the AES-256-GCM ciphertext and tag.
    sealed     BLOB NOT NULL,
    file_name  TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
