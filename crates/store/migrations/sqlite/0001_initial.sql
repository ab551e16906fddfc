-- Initial schema (SQLite). Ids are TEXT, times BIGINT unix milliseconds, JSON as TEXT,
-- booleans as BIGINT 0/1 and hashes/keys as lowercase hex TEXT, so the same queries and the
-- same Rust types work through sqlx::Any on SQLite and PostgreSQL alike.

CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    is_admin      BIGINT NOT NULL DEFAULT 0,
    disabled      BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL
);

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id),
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE INDEX tokens_user_id ON tokens (user_id);

CREATE TABLE activations (
    id                TEXT PRIMARY KEY NOT NULL,
    code_hash         TEXT NOT NULL,
    tags              TEXT NOT NULL,
    expires_at        BIGINT NOT NULL,
    max_registrations BIGINT NOT NULL,
    registrations     BIGINT NOT NULL DEFAULT 0,
    created_by        TEXT NOT NULL,
    created_at        BIGINT NOT NULL
);

CREATE TABLE targets (
    id            TEXT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL UNIQUE,
    public_key    TEXT NOT NULL,
    tags          TEXT NOT NULL,
    activation_id TEXT NOT NULL REFERENCES activations (id),
    created_at    BIGINT NOT NULL,
    last_seen     BIGINT,
    inventory     TEXT,
    revoked_at    BIGINT
);

CREATE INDEX targets_activation_id ON targets (activation_id);
