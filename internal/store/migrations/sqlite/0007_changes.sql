-- The change log (see the PostgreSQL migration): with SQLite one node
-- uses the database, so nothing reads it, but it is kept the same way.
CREATE TABLE changes (
	seq    INTEGER PRIMARY KEY AUTOINCREMENT,
	kind   TEXT    NOT NULL,
	entity TEXT    NOT NULL,
	origin TEXT    NOT NULL,
	at     INTEGER NOT NULL
);
CREATE INDEX changes_at ON changes(at);

CREATE TABLE nodes (
	id         TEXT PRIMARY KEY,
	name       TEXT    NOT NULL,
	version    TEXT    NOT NULL,
	started_at INTEGER NOT NULL,
	last_seen  INTEGER NOT NULL,
	last_seq   INTEGER NOT NULL
);
