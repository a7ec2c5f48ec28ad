-- Agents' status changes from the router (AGENTS stream), kept for the reports' occupancy: logged-in time is any
-- state but offline. Keyed by the event id: a redelivery changes nothing.
CREATE TABLE crm.agent_events (
    event_id    text PRIMARY KEY,
    agent_id    text NOT NULL,
    status      text NOT NULL,
    reason      text,
    occurred_at timestamptz NOT NULL
);
CREATE INDEX agent_events_agent_idx ON crm.agent_events (agent_id, occurred_at);
-- The reports read a day's conversations by when they opened.
CREATE INDEX conversations_opened_idx ON crm.conversations (opened_at);
