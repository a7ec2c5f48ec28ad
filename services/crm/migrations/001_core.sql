-- Core CRM: contacts and their addresses, accounts, lists and batches, the audit log,
-- and conversations persisted from the router's events.
CREATE SCHEMA IF NOT EXISTS crm;

CREATE TABLE crm.contacts (
    id               text PRIMARY KEY,
    name             text NOT NULL DEFAULT '',
    document         text,
    company          text,
    assigned_user    text,
    custom           jsonb NOT NULL DEFAULT '{}'::jsonb,
    tags             text[] NOT NULL DEFAULT '{}',
    disposition      text,
    last_activity_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contacts_created_idx ON crm.contacts (created_at DESC, id DESC);
CREATE INDEX contacts_document_idx ON crm.contacts (document) WHERE document IS NOT NULL;
CREATE INDEX contacts_company_idx ON crm.contacts (lower(company));
CREATE INDEX contacts_assigned_idx ON crm.contacts (assigned_user);
CREATE INDEX contacts_tags_idx ON crm.contacts USING gin (tags);
CREATE INDEX contacts_name_idx ON crm.contacts (lower(name) text_pattern_ops);

-- Phones (E.164), e-mails (lower case) and social handles (network + lower case), one table so a
-- conversation's address is matched with one indexed lookup.
CREATE TABLE crm.contact_addresses (
    contact_id text NOT NULL REFERENCES crm.contacts (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('phone', 'email', 'handle')),
    network    text NOT NULL DEFAULT '',
    value      text NOT NULL,
    raw        text NOT NULL,
    label      text,
    position   int NOT NULL DEFAULT 0,
    PRIMARY KEY (contact_id, kind, network, value)
);
CREATE INDEX contact_addresses_lookup_idx ON crm.contact_addresses (kind, value, network);

CREATE TABLE crm.accounts (
    id            text PRIMARY KEY,
    contact_id    text NOT NULL REFERENCES crm.contacts (id) ON DELETE CASCADE,
    campaign_id   text NOT NULL,
    number        text NOT NULL,
    product       text,
    fields        jsonb NOT NULL DEFAULT '{}'::jsonb,
    assigned_user text,
    import_job_id text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, number)
);
CREATE INDEX accounts_contact_idx ON crm.accounts (contact_id);

CREATE TABLE crm.lists (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    campaign_id text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE crm.batches (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    campaign_id text,
    job_id      text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE crm.batch_members (
    batch_id   text NOT NULL REFERENCES crm.batches (id) ON DELETE CASCADE,
    contact_id text NOT NULL REFERENCES crm.contacts (id) ON DELETE CASCADE,
    PRIMARY KEY (batch_id, contact_id)
);
CREATE INDEX batch_members_contact_idx ON crm.batch_members (contact_id);

-- A contact's membership in a list is also its dialing / working state in that list.
CREATE TABLE crm.list_members (
    list_id          text NOT NULL REFERENCES crm.lists (id) ON DELETE CASCADE,
    contact_id       text NOT NULL REFERENCES crm.contacts (id) ON DELETE CASCADE,
    batch_id         text,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'worked')),
    attempts         int NOT NULL DEFAULT 0,
    last_contact_at  timestamptz,
    last_user        text,
    last_typification text,
    added_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (list_id, contact_id)
);
CREATE INDEX list_members_contact_idx ON crm.list_members (contact_id);

-- Who changed what: one row per change of any CRM entity.
CREATE TABLE crm.audit_log (
    id        bigserial PRIMARY KEY,
    entity    text NOT NULL,
    entity_id text NOT NULL,
    action    text NOT NULL,
    actor     text NOT NULL,
    changes   jsonb NOT NULL DEFAULT '{}'::jsonb,
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_entity_idx ON crm.audit_log (entity, entity_id, id);

CREATE TABLE crm.conversations (
    id              text PRIMARY KEY,
    campaign_id     text,
    channel_id      text NOT NULL,
    channel_type    text NOT NULL,
    contact_address text NOT NULL,
    contact_id      text REFERENCES crm.contacts (id) ON DELETE SET NULL,
    match_state     text NOT NULL DEFAULT 'none' CHECK (match_state IN ('linked', 'several', 'none')),
    agent_id        text,
    status          text NOT NULL DEFAULT 'opened',
    last_seq        int NOT NULL DEFAULT 0,
    opened_at       timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    closed_at       timestamptz
);
CREATE INDEX conversations_contact_idx ON crm.conversations (contact_id, opened_at DESC);
CREATE INDEX conversations_campaign_idx ON crm.conversations (campaign_id, opened_at DESC);
CREATE INDEX conversations_agent_idx ON crm.conversations (agent_id, opened_at DESC);

-- Every consumed event, keyed by its id: a redelivery finds its row and changes nothing.
CREATE TABLE crm.conversation_events (
    event_id        text PRIMARY KEY,
    conversation_id text NOT NULL,
    type            text NOT NULL,
    seq             int NOT NULL,
    occurred_at     timestamptz NOT NULL,
    agent_id        text,
    payload         jsonb NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversation_events_conv_idx ON crm.conversation_events (conversation_id, occurred_at);

CREATE TABLE crm.messages (
    id                  text PRIMARY KEY,
    conversation_id     text NOT NULL REFERENCES crm.conversations (id) ON DELETE CASCADE,
    event_id            text NOT NULL UNIQUE,
    direction           text NOT NULL,
    kind                text NOT NULL DEFAULT 'message',
    text                text,
    media               jsonb NOT NULL DEFAULT '[]'::jsonb,
    provider_message_id text,
    seq                 int NOT NULL,
    occurred_at         timestamptz NOT NULL
);
CREATE INDEX messages_conversation_idx ON crm.messages (conversation_id, seq, occurred_at);

-- One closure per conversation: typification, fields, who and when.
CREATE TABLE crm.closures (
    conversation_id text PRIMARY KEY REFERENCES crm.conversations (id) ON DELETE CASCADE,
    campaign_id     text,
    typification_id text,
    fields          jsonb NOT NULL DEFAULT '{}'::jsonb,
    reason          text NOT NULL,
    closed_by       text,
    closed_at       timestamptz NOT NULL,
    source          text NOT NULL,
    event_id        text
);
