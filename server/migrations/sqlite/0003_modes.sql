-- Modes (personas) the desktop offers: what to ask which provider, how.

CREATE TABLE modes (
    id            INTEGER PRIMARY KEY,
    -- Stable identifier clients remember (e.g. "explain-screen").
    slug          TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL UNIQUE COLLATE NOCASE,
    description   TEXT NOT NULL DEFAULT '',
    kind          TEXT NOT NULL CHECK (kind IN ('chat', 'ocr', 'rewrite')),
    system_prompt TEXT NOT NULL DEFAULT '',
    -- The `id` of a [[providers]] entry in config.toml.
    provider      TEXT NOT NULL,
    model         TEXT,
    -- JSON object: temperature, max_tokens.
    options       TEXT NOT NULL DEFAULT '{}',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
