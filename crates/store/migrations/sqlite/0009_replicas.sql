-- The wicketd processes on this database and when each was last seen alive. A session's row
-- names the replica relaying it; when a replica stops being seen, another ends its sessions'
-- rows (crates/store/src/replicas.rs), which would otherwise stay live forever.

CREATE TABLE replicas (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    seen_at    BIGINT NOT NULL
);

ALTER TABLE sessions ADD COLUMN replica TEXT;

CREATE INDEX sessions_live_by_replica ON sessions (replica) WHERE ended_at IS NULL;
