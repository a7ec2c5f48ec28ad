-- Issue 13 item 6, click-to-call: a call the agent placed through the voice adapter keeps its channel, the
-- provider's call id, and its state as the phone system's events arrive (dialing, ringing, answered, ended,
-- missed), so the events link back to the call record.
ALTER TABLE crm.calls ADD COLUMN IF NOT EXISTS channel_id text;
ALTER TABLE crm.calls ADD COLUMN IF NOT EXISTS provider_call_id text;
ALTER TABLE crm.calls ADD COLUMN IF NOT EXISTS status text;
ALTER TABLE crm.calls ADD COLUMN IF NOT EXISTS answered_at timestamptz;
ALTER TABLE crm.calls ADD COLUMN IF NOT EXISTS ended_at timestamptz;
