-- A session lives in the memory of the wicketd that relays it. `wicket sessions terminate`
-- may reach another replica: that one records the request here, and the replica relaying the
-- session finds it within a second or two and ends the session with this reason.

ALTER TABLE sessions ADD COLUMN terminate_requested TEXT;

CREATE INDEX sessions_terminate_requested ON sessions (id)
    WHERE terminate_requested IS NOT NULL AND ended_at IS NULL;
