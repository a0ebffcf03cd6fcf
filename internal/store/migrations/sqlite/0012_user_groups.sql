-- The groups a user's latest sign-in with an OpenID provider brought,
-- one per line ('' for none: password and passkey users have none).
-- Routes may admit users by group (auth.groups).
ALTER TABLE users ADD COLUMN oidc_groups TEXT NOT NULL DEFAULT '';
