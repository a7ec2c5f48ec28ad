-- What we sent: provider message ids of each outbound command, so a redelivered command is not sent twice
-- and a provider status callback can name the conversation and agent it concerns.
CREATE TABLE channels.delivery (
    channel_id          text NOT NULL,
    provider_message_id text NOT NULL,
    outbound_id         text NOT NULL,
    conversation_id     text,
    agent_id            text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel_id, provider_message_id)
);
CREATE INDEX delivery_outbound ON channels.delivery (outbound_id);
