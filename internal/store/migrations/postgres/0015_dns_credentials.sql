-- DNS provider credentials for DNS-01 challenges: the config of a
-- dns.providers module (its JSON, with API tokens), sealed with the key
-- ring like TOTP secrets. Routes name a credential (dns_credential).
CREATE TABLE dns_credentials (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	provider   TEXT NOT NULL,
	config     TEXT NOT NULL,
	created_by TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
