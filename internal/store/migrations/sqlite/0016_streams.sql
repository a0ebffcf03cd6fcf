-- Managed TCP/UDP streams: a JSON spec like routes, the listen address
-- (network/host:port) for the port checks, and their history.
CREATE TABLE streams (
	id         TEXT PRIMARY KEY,
	spec       TEXT NOT NULL,
	version    INTEGER NOT NULL,
	enabled    INTEGER NOT NULL,
	listen     TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);

CREATE TABLE stream_versions (
	stream_id TEXT NOT NULL,
	version   INTEGER NOT NULL,
	action    TEXT NOT NULL,
	spec      TEXT NOT NULL,
	actor     TEXT NOT NULL,
	at        INTEGER NOT NULL,
	PRIMARY KEY (stream_id, version)
);
