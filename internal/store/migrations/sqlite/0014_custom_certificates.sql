-- Custom certificates: a chain (PEM, public) and its private key, sealed
-- with the key ring (context "certificate:<id>"), served for the hosts
-- of routes with tls custom that select them.
CREATE TABLE custom_certificates (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	chain      TEXT NOT NULL,
	key        TEXT NOT NULL,
	created_by TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
