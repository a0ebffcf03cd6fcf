-- Logins at an OpenID provider in flight: found by the hash of their
-- state, used once, bound to the browser by a cookie holding the state.
-- data is sealed with the key ring (nonce, PKCE verifier, return URL and
-- handoff state). network is the client's (an IPv4 address or IPv6 /64),
-- net56 and net48 its IPv6 /56 and /48 ('' for IPv4), for the bounds on
-- logins in flight per network.
CREATE TABLE oidc_logins (
	state_hash TEXT PRIMARY KEY,
	provider   TEXT NOT NULL,
	network    TEXT NOT NULL,
	net56      TEXT NOT NULL DEFAULT '',
	net48      TEXT NOT NULL DEFAULT '',
	data       TEXT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX oidc_logins_expires_at ON oidc_logins(expires_at);
CREATE INDEX oidc_logins_network ON oidc_logins(network);
CREATE INDEX oidc_logins_net48 ON oidc_logins(net48);

-- The account each subject of a provider logs in to, so a changed email
-- at the provider still finds the account.
CREATE TABLE oidc_identities (
	provider      TEXT NOT NULL,
	subject       TEXT NOT NULL,
	user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	email         TEXT NOT NULL,
	created_at    BIGINT NOT NULL,
	last_login_at BIGINT NOT NULL,
	PRIMARY KEY (provider, subject)
);
CREATE INDEX oidc_identities_user_id ON oidc_identities(user_id);
