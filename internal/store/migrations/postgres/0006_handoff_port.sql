-- A handoff code is bound to the scheme and port of the callback URL it
-- was issued for, not only to the host: a return URL naming another port
-- of the host (anyone's listener) must not carry a code that works on the
-- route's real port. Codes issued before have neither and are refused.
ALTER TABLE handoff_codes ADD COLUMN scheme TEXT NOT NULL DEFAULT '';
ALTER TABLE handoff_codes ADD COLUMN port INTEGER NOT NULL DEFAULT 0;

-- One active handoff session per parent session and host: another handoff
-- to the same host gives that row a new token instead of adding one.
-- Duplicates from before are revoked, the newest kept.
UPDATE sessions SET revoked_at = (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT
WHERE parent_id <> '' AND revoked_at IS NULL AND EXISTS (
	SELECT 1 FROM sessions n
	WHERE n.parent_id = sessions.parent_id AND n.host = sessions.host AND n.revoked_at IS NULL
		AND (n.created_at > sessions.created_at OR (n.created_at = sessions.created_at AND n.id > sessions.id))
);
CREATE UNIQUE INDEX sessions_parent_host ON sessions(parent_id, host) WHERE parent_id <> '' AND revoked_at IS NULL;
