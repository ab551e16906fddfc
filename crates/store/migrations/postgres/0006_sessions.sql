-- Every brokered session, live or ended: what `wicket sessions` lists, and where a recording's
-- sealed hash is kept beside the audit event that also carries it. Names are copied (not only
-- ids) so the history still reads after a user or target is deleted.

CREATE TABLE sessions (
    id               TEXT PRIMARY KEY NOT NULL,
    user_id          TEXT NOT NULL,
    user_name        TEXT NOT NULL,
    target_id        TEXT NOT NULL,
    target_name      TEXT NOT NULL,
    -- connect (a shell) or exec (a command)
    action           TEXT NOT NULL,
    run_as           TEXT,
    command          TEXT,
    tty              BIGINT NOT NULL DEFAULT 0,
    source_ip        TEXT,
    started_at       BIGINT NOT NULL,
    -- NULL while the session is live (or its server died before it could end it).
    ended_at         BIGINT,
    end_reason       TEXT,
    exit_status      TEXT,
    bytes_in         BIGINT NOT NULL DEFAULT 0,
    bytes_out        BIGINT NOT NULL DEFAULT 0,
    -- recorded | unrecorded (fail-open) | failed
    recording        TEXT NOT NULL,
    recording_sha256 TEXT,
    recording_bytes  BIGINT
);

CREATE INDEX sessions_by_start ON sessions (started_at);
