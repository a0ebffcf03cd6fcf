-- certmagic's storage (caddy.storage.proxyos): Caddy's certificates, keys,
-- ACME accounts and challenge tokens as '/'-separated keys. COLLATE "C"
-- orders keys byte by byte, so that the keys under "a/" are exactly the
-- range ["a/", "a0") whatever the database's collation.
CREATE TABLE certmagic_data (
	key      TEXT COLLATE "C" PRIMARY KEY,
	value    BYTEA NOT NULL,
	modified TIMESTAMPTZ NOT NULL,
	size     BIGINT NOT NULL
);

-- certmagic's locks: one row per held lock, owned by the random token of
-- the Lock call that took it, free again once expires_at has passed (the
-- holder refreshes it while it works). Times are the database's clock, the
-- one clock every node shares.
CREATE TABLE certmagic_locks (
	name       TEXT PRIMARY KEY,
	owner      TEXT NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL
);
