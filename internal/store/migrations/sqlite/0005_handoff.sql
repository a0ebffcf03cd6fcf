-- Sessions made by a login handoff to a host on another registrable
-- domain: bound to that host and ended with the session they came from.
ALTER TABLE sessions ADD COLUMN parent_id TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN host TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_parent_id ON sessions(parent_id);

-- One-time codes of handoffs in flight (only their hashes), each bound to
-- the state cookie of the browser that asked for it.
CREATE TABLE handoff_codes (
	code_hash  TEXT PRIMARY KEY,
	session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
	host       TEXT NOT NULL,
	state_hash TEXT NOT NULL,
	expires_at INTEGER NOT NULL
);
