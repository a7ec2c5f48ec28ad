-- Who replayed which dead letter of the DEADLETTER stream, when, and through what (api or cli).
CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS ops.dead_letter_replays (
    id                 bigserial PRIMARY KEY,
    dlq_sequence       bigint      NOT NULL,
    stream             text        NOT NULL,
    consumer           text        NOT NULL,
    subject            text        NOT NULL,
    reason             text        NOT NULL DEFAULT '',
    actor              text        NOT NULL,
    via                text        NOT NULL CHECK (via IN ('api', 'cli')),
    published_sequence bigint      NOT NULL,
    duplicate          boolean     NOT NULL,
    replayed_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS dead_letter_replays_sequence ON ops.dead_letter_replays (dlq_sequence);
