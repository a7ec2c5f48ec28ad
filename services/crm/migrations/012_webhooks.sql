-- Issue 13, seed 004 "Valor": per-campaign signed webhooks to an external CRM, and their delivery queue. A
-- delivery row is written in the transaction that records its event (an outbox): nothing is sent that was not
-- recorded, nothing recorded is lost. Rows that ran out of attempts stay as the dead-letter list ('dead').
CREATE TABLE IF NOT EXISTS crm.webhooks (
    id            text PRIMARY KEY,
    campaign_id   text NOT NULL,
    url           text NOT NULL,
    secret_sealed text NOT NULL,
    events        text[] NOT NULL,
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    created_by    text
);
CREATE INDEX IF NOT EXISTS webhooks_campaign_idx ON crm.webhooks (campaign_id) WHERE active;

CREATE TABLE IF NOT EXISTS crm.webhook_deliveries (
    id           bigserial PRIMARY KEY,
    webhook_id   text NOT NULL REFERENCES crm.webhooks (id) ON DELETE CASCADE,
    event_id     text NOT NULL,
    event_type   text NOT NULL,
    payload      jsonb NOT NULL,
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts     int NOT NULL DEFAULT 0,
    next_at      timestamptz NOT NULL DEFAULT now(),
    last_status  int,
    last_error   text,
    delivered_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due_idx ON crm.webhook_deliveries (next_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS webhook_deliveries_hook_idx ON crm.webhook_deliveries (webhook_id, status, id DESC);
