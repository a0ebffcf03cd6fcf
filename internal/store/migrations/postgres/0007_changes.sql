-- The change log of cluster mode: every change that nodes keep in memory
-- (a route, a user, a session, an API key) adds a row in the transaction
-- of the change, and NOTIFY proxyos_changes announces its seq. Writers
-- take an advisory lock before they add a row, so seqs are committed in
-- order and a node that read up to seq n has seen every change up to n.
CREATE TABLE changes (
	seq    BIGSERIAL PRIMARY KEY,
	kind   TEXT   NOT NULL,
	entity TEXT   NOT NULL,
	origin TEXT   NOT NULL,
	at     BIGINT NOT NULL
);
CREATE INDEX changes_at ON changes(at);

-- The nodes of a cluster, as each reports itself every few seconds.
CREATE TABLE nodes (
	id         TEXT PRIMARY KEY,
	name       TEXT   NOT NULL,
	version    TEXT   NOT NULL,
	started_at BIGINT NOT NULL,
	last_seen  BIGINT NOT NULL,
	last_seq   BIGINT NOT NULL
);
