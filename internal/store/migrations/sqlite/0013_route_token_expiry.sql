-- Route tokens may expire: expires_at (unix milliseconds), NULL for never.
ALTER TABLE route_tokens ADD COLUMN expires_at INTEGER;
