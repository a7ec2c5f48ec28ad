-- Issue 13: a preview dialer hands agents the list's next contact to call; the member is held for the agent a
-- while (claimed_by, claimed_until) so two agents do not get the same one.
ALTER TABLE crm.list_members ADD COLUMN IF NOT EXISTS claimed_by text;
ALTER TABLE crm.list_members ADD COLUMN IF NOT EXISTS claimed_until timestamptz;
CREATE INDEX IF NOT EXISTS list_members_next_idx ON crm.list_members (list_id, attempts, last_contact_at)
    WHERE status = 'pending';
