-- Issue 13, seed 002 case options: combined cases, transcripts e-mailed at close, transfer notifications.
ALTER TABLE crm.cases ADD COLUMN IF NOT EXISTS combined_into text;

-- One transcript per conversation: sent (with the outbound id) or skipped (with the reason).
CREATE TABLE IF NOT EXISTS crm.transcripts (
    conversation_id text PRIMARY KEY,
    campaign_id     text,
    status          text NOT NULL CHECK (status IN ('sent', 'skipped')),
    reason          text,
    outbound_id     text,
    recipient       text,
    at              timestamptz NOT NULL DEFAULT now()
);

-- One notification per fact (a transfer event, a case reassignment): sent or skipped, with the reason.
CREATE TABLE IF NOT EXISTS crm.notifications (
    id          text PRIMARY KEY,
    kind        text NOT NULL,
    user_id     text NOT NULL,
    status      text NOT NULL CHECK (status IN ('sent', 'skipped')),
    reason      text,
    outbound_id text,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS notifications_user_idx ON crm.notifications (user_id, at DESC);
