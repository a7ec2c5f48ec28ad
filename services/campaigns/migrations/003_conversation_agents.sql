-- Issue 13 item 12: who holds each open conversation, so an agent holding some is not removed from the campaign.
ALTER TABLE campaigns.open_conversations ADD COLUMN IF NOT EXISTS agent_id text;
CREATE INDEX IF NOT EXISTS open_conversations_agent_idx ON campaigns.open_conversations (campaign_id, agent_id)
    WHERE NOT closed;
