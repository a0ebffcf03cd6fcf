-- Route tokens: bearer tokens and basic-auth users that a route's gate
-- accepts instead of a session. hash is the argon2id hash of the token;
-- the token itself is never stored.
CREATE TABLE route_tokens (
	id           TEXT PRIMARY KEY,
	route_id     TEXT NOT NULL REFERENCES routes(id) ON DELETE CASCADE,
	name         TEXT NOT NULL,
	username     TEXT NOT NULL DEFAULT '',
	hash         TEXT NOT NULL,
	created_by   TEXT NOT NULL DEFAULT '',
	created_at   BIGINT NOT NULL,
	last_used_at BIGINT,
	revoked_at   BIGINT
);
CREATE INDEX route_tokens_route_id ON route_tokens(route_id);
