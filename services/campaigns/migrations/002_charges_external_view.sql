-- Issue 13: the campaign's call charge rate (seed 001) and its external case view (seed 002).
ALTER TABLE campaigns.campaigns
    ADD COLUMN IF NOT EXISTS call_charges  jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN IF NOT EXISTS external_view jsonb NOT NULL DEFAULT '{}'::jsonb;
