-- Every outbound command is recorded as pending before its provider is called, with the idempotency key the
-- call carries. A command found pending when it comes back (the sender died between the provider's answer
-- and the record) is sent again with the same key, so a provider that honours the key creates nothing new;
-- ``attempts`` counts the calls that may have reached the provider.
CREATE TABLE channels.outbound_send (
    outbound_id     text PRIMARY KEY,
    channel_id      text NOT NULL,
    idempotency_key text NOT NULL,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent')),
    attempts        integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX outbound_send_pending ON channels.outbound_send (created_at) WHERE state = 'pending';
