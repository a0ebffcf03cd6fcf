CREATE TABLE routes (
	id         TEXT PRIMARY KEY,
	spec       TEXT NOT NULL,
	version    INTEGER NOT NULL,
	enabled    INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);

CREATE TABLE route_hosts (
	host     TEXT PRIMARY KEY,
	route_id TEXT NOT NULL REFERENCES routes(id) ON DELETE CASCADE
);
CREATE INDEX route_hosts_route_id ON route_hosts(route_id);

CREATE TABLE route_versions (
	route_id TEXT NOT NULL,
	version  INTEGER NOT NULL,
	action   TEXT NOT NULL,
	spec     TEXT NOT NULL,
	actor    TEXT NOT NULL,
	at       INTEGER NOT NULL,
	PRIMARY KEY (route_id, version)
);
