-- Passkeys (WebAuthn credentials). credential is the credential record
-- (public key, flags, transports) sealed with the key ring, bound to the
-- row id; credential_id, the authenticator's public handle, finds it at
-- login. sign_count is kept apart so that a login advances it with a
-- conditional update: a counter that goes back is a cloned credential.
CREATE TABLE passkeys (
	id            TEXT PRIMARY KEY,
	user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name          TEXT NOT NULL,
	credential_id TEXT NOT NULL UNIQUE,
	credential    TEXT NOT NULL,
	sign_count    INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER NOT NULL,
	last_used_at  INTEGER
);
CREATE INDEX passkeys_user_id ON passkeys(user_id);

-- The state of a WebAuthn ceremony between its two requests, found by
-- the hash of the random id in the browser's cookie and deleted when it
-- is used: a challenge answers once.
CREATE TABLE passkey_challenges (
	id         TEXT PRIMARY KEY,
	purpose    TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	session_id TEXT NOT NULL,
	data       TEXT NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX passkey_challenges_expires_at ON passkey_challenges(expires_at);
