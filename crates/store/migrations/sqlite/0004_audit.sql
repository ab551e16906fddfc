-- The hash-chained audit log (docs/AUDIT.md). Each event row keeps what was hashed, the hash of
-- the event before it and its own hash: hash = SHA-256(prev_hash || canonical(event)).
-- `audit_head` is a single row holding the last sequence number and hash; every append updates
-- it first, inside the append transaction, which serializes appends on both databases (the
-- SQLite write lock, the PostgreSQL row lock) so the chain never forks, even with several
-- servers on one database.

CREATE TABLE audit_events (
    seq       BIGINT PRIMARY KEY NOT NULL,
    time      BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    source    TEXT NOT NULL,
    action    TEXT NOT NULL,
    resource  TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    -- JSON text, hashed byte for byte.
    details   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);

CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_actor ON audit_events (actor);

CREATE TABLE audit_head (
    id   BIGINT PRIMARY KEY NOT NULL,
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);

INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Signed statements that event `seq` had hash `head`.
CREATE TABLE audit_checkpoints (
    seq       BIGINT PRIMARY KEY NOT NULL,
    head      TEXT NOT NULL,
    time      BIGINT NOT NULL,
    signature TEXT NOT NULL
);
