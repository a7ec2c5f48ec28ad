-- The campaigns service's own schema: clients, projects, schedules, catalogs and campaigns.
CREATE SCHEMA IF NOT EXISTS campaigns;

CREATE TABLE campaigns.clients (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    version     int NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text,
    updated_by  text
);
CREATE UNIQUE INDEX clients_name_key ON campaigns.clients (lower(name));

CREATE TABLE campaigns.projects (
    id          text PRIMARY KEY,
    client_id   text NOT NULL REFERENCES campaigns.clients (id) ON DELETE RESTRICT,
    name        text NOT NULL,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    version     int NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text,
    updated_by  text
);
CREATE UNIQUE INDEX projects_client_name_key ON campaigns.projects (client_id, lower(name));

CREATE TABLE campaigns.schedules (
    id           text PRIMARY KEY,
    name         text NOT NULL,
    timezone     text NOT NULL,
    always_open  boolean NOT NULL DEFAULT false,
    weekly       jsonb NOT NULL DEFAULT '{}'::jsonb,
    exceptions   jsonb NOT NULL DEFAULT '[]'::jsonb,
    valid_from   date,
    valid_until  date,
    version      int NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text,
    updated_by   text
);
CREATE UNIQUE INDEX schedules_name_key ON campaigns.schedules (lower(name));

-- Hierarchical typifications: a category, then an optional subcategory.
CREATE TABLE campaigns.typifications (
    id          text PRIMARY KEY,
    category    text NOT NULL,
    subcategory text,
    label       text NOT NULL DEFAULT '',
    version     int NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text,
    updated_by  text
);
CREATE UNIQUE INDEX typifications_path_key ON campaigns.typifications (lower(category), lower(coalesce(subcategory, '')));

-- The catalog of custom fields a campaign can pick from.
CREATE TABLE campaigns.fields (
    key         text PRIMARY KEY,
    label       text NOT NULL,
    type        text NOT NULL CHECK (type IN ('text', 'number', 'date', 'select', 'boolean')),
    options     jsonb NOT NULL DEFAULT '[]'::jsonb,
    version     int NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text,
    updated_by  text
);

CREATE TABLE campaigns.campaigns (
    id                          text PRIMARY KEY,
    client_id                   text NOT NULL REFERENCES campaigns.clients (id) ON DELETE RESTRICT,
    project_id                  text NOT NULL REFERENCES campaigns.projects (id) ON DELETE RESTRICT,
    name                        text NOT NULL,
    status                      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'archived')),
    schedule_id                 text REFERENCES campaigns.schedules (id) ON DELETE RESTRICT,
    out_of_hours                jsonb NOT NULL DEFAULT '{}'::jsonb,
    inactivity_typification     text REFERENCES campaigns.typifications (id) ON DELETE RESTRICT,
    inactivity_timeout_s        double precision,
    transfer_typification       text REFERENCES campaigns.typifications (id) ON DELETE RESTRICT,
    ignore_comment_typification text REFERENCES campaigns.typifications (id) ON DELETE RESTRICT,
    permissions                 jsonb NOT NULL DEFAULT '{}'::jsonb,
    routing                     jsonb NOT NULL DEFAULT '{}'::jsonb,
    case_options                jsonb NOT NULL DEFAULT '{}'::jsonb,
    script                      text,
    version                     int NOT NULL DEFAULT 1,
    -- The outbox mark: the version last written to the KV bucket. Behind ``version`` means "publish me".
    published_version           int NOT NULL DEFAULT 0,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    created_by                  text,
    updated_by                  text
);
CREATE INDEX campaigns_project_idx ON campaigns.campaigns (project_id);
CREATE INDEX campaigns_client_idx ON campaigns.campaigns (client_id);
CREATE INDEX campaigns_schedule_idx ON campaigns.campaigns (schedule_id);
CREATE INDEX campaigns_unpublished_idx ON campaigns.campaigns (id) WHERE published_version < version;

-- A channel serves at most one active campaign: ``campaign_active`` mirrors the campaign's status so a
-- partial unique index can hold the rule even under concurrent writers.
CREATE TABLE campaigns.campaign_channels (
    campaign_id     text NOT NULL REFERENCES campaigns.campaigns (id) ON DELETE CASCADE,
    channel_id      text NOT NULL,
    channel_type    text NOT NULL CHECK (channel_type IN ('whatsapp', 'instagram', 'sms', 'email', 'voice')),
    position        int NOT NULL DEFAULT 0,
    campaign_active boolean NOT NULL DEFAULT true,
    PRIMARY KEY (campaign_id, channel_id)
);
CREATE UNIQUE INDEX campaign_channels_one_active ON campaigns.campaign_channels (channel_id) WHERE campaign_active;

CREATE TABLE campaigns.campaign_typifications (
    campaign_id     text NOT NULL REFERENCES campaigns.campaigns (id) ON DELETE CASCADE,
    typification_id text NOT NULL REFERENCES campaigns.typifications (id) ON DELETE RESTRICT,
    position        int NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, typification_id)
);

CREATE TABLE campaigns.campaign_fields (
    campaign_id     text NOT NULL REFERENCES campaigns.campaigns (id) ON DELETE CASCADE,
    field_key       text NOT NULL REFERENCES campaigns.fields (key) ON DELETE RESTRICT,
    required        boolean NOT NULL DEFAULT false,
    label           text,
    integration_key text,
    position        int NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, field_key)
);

CREATE TABLE campaigns.campaign_members (
    campaign_id text NOT NULL REFERENCES campaigns.campaigns (id) ON DELETE CASCADE,
    user_id     text NOT NULL,
    role        text NOT NULL CHECK (role IN ('agent', 'supervisor')),
    position    int NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, role, user_id)
);
CREATE INDEX campaign_members_user_idx ON campaigns.campaign_members (user_id);

CREATE TABLE campaigns.campaign_tabs (
    campaign_id  text NOT NULL REFERENCES campaigns.campaigns (id) ON DELETE CASCADE,
    position     int NOT NULL,
    name         text NOT NULL,
    url_template text NOT NULL,
    PRIMARY KEY (campaign_id, position)
);

-- Linked queues (seed 002): agents of this campaign also serve the linked ones.
CREATE TABLE campaigns.campaign_links (
    campaign_id        text NOT NULL REFERENCES campaigns.campaigns (id) ON DELETE CASCADE,
    linked_campaign_id text NOT NULL REFERENCES campaigns.campaigns (id) ON DELETE RESTRICT,
    position           int NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, linked_campaign_id),
    CHECK (campaign_id <> linked_campaign_id)
);

-- Who changed what, when: one row per versioned change of any entity.
CREATE TABLE campaigns.changes (
    seq         bigserial PRIMARY KEY,
    entity      text NOT NULL,
    entity_id   text NOT NULL,
    version     int NOT NULL,
    action      text NOT NULL,
    actor       text,
    at          timestamptz NOT NULL DEFAULT now(),
    diff        jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX changes_entity_idx ON campaigns.changes (entity, entity_id, seq);

-- Open conversations per campaign, folded from the router's conversation events; deactivation checks it.
CREATE TABLE campaigns.open_conversations (
    conversation_id text PRIMARY KEY,
    campaign_id     text,
    seq             int NOT NULL DEFAULT 0,
    closed          boolean NOT NULL DEFAULT false,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX open_conversations_campaign_idx ON campaigns.open_conversations (campaign_id) WHERE NOT closed;
