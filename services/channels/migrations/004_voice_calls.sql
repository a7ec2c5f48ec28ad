-- Calls in progress per channel and caller, so an assigned call can be connected to the agent's extension.
CREATE TABLE channels.voice_call (
    channel_id      text NOT NULL,
    call_id         text NOT NULL,
    contact_address text NOT NULL,
    stage           text NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel_id, call_id)
);
CREATE INDEX voice_call_contact ON channels.voice_call (channel_id, contact_address, updated_at DESC);
