-- Managed TCP/UDP streams: a JSON spec like routes, the listen address
-- (network/host:port) for the port checks, and their history.
CREATE TABLE streams (
	id         TEXT PRIMARY KEY,
	spec       TEXT NOT NULL,
	version    BIGINT NOT NULL,
	enabled    BOOLEAN NOT NULL,
	listen     TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE TABLE stream_versions (
	stream_id TEXT NOT NULL,
	version   BIGINT NOT NULL,
	action    TEXT NOT NULL,
	spec      TEXT NOT NULL,
	actor     TEXT NOT NULL,
	at        BIGINT NOT NULL,
	PRIMARY KEY (stream_id, version)
);
