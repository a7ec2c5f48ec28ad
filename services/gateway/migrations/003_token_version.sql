-- Issue 11: a user's token version. A deactivation, a role change or a new password bumps it; tokens issued
-- with an older version stop working at once (checked on every request, services/gateway/sessions.py).
ALTER TABLE gateway.users ADD COLUMN IF NOT EXISTS token_version integer NOT NULL DEFAULT 0;
