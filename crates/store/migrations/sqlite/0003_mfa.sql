-- Multi-factor login: each token records whether its login proved a second factor; each user
-- may have one TOTP secret (pending until the first code confirms it) and one-time recovery
-- codes. The TOTP secret must be usable to verify codes, so it is stored as is (hex): protect
-- the database like any other credential store. Recovery codes are stored only as SHA-256.

ALTER TABLE tokens ADD COLUMN mfa BIGINT NOT NULL DEFAULT 0;

CREATE TABLE user_totp (
    user_id      TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    -- NULL while enrolment is pending.
    confirmed_at BIGINT,
    -- The last accepted TOTP time step: a code is never accepted twice.
    last_step    BIGINT
);

CREATE TABLE recovery_codes (
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at   BIGINT,
    PRIMARY KEY (user_id, code_hash)
);
