-- Every e-mail seen or sent on a channel: its subject and references, so a reply carries the whole chain
-- in References and the right subject.
CREATE TABLE channels.email_message (
    channel_id  text NOT NULL,
    message_id  text NOT NULL,
    subject     text NOT NULL DEFAULT '',
    refs        text[] NOT NULL DEFAULT '{}',
    direction   text NOT NULL CHECK (direction IN ('in', 'out')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel_id, message_id)
);
