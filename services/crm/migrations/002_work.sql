-- Work: cases (gestiones) and their history, attachments, tickets and actions, calls, callbacks.

CREATE TABLE crm.cases (
    id              text PRIMARY KEY,
    campaign_id     text NOT NULL,
    contact_id      text NOT NULL REFERENCES crm.contacts (id) ON DELETE CASCADE,
    account_id      text REFERENCES crm.accounts (id) ON DELETE SET NULL,
    conversation_id text,
    title           text NOT NULL DEFAULT '',
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'in_progress', 'closed')),
    priority        smallint NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 2),
    assigned_user   text,
    result          text,
    fields          jsonb NOT NULL DEFAULT '{}'::jsonb,
    attempts        int NOT NULL DEFAULT 0,
    import_job_id   text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    attended_at     timestamptz,
    attended_by     text,
    closed_at       timestamptz,
    closed_by       text
);
-- The operator panel: open items of a campaign, highest priority first, then oldest.
CREATE INDEX cases_panel_idx ON crm.cases (campaign_id, priority DESC, created_at, id) WHERE status <> 'closed';
CREATE INDEX cases_contact_idx ON crm.cases (contact_id, created_at DESC);
CREATE INDEX cases_assigned_idx ON crm.cases (assigned_user, status);

CREATE TABLE crm.case_events (
    id      bigserial PRIMARY KEY,
    case_id text NOT NULL REFERENCES crm.cases (id) ON DELETE CASCADE,
    kind    text NOT NULL,
    actor   text NOT NULL,
    body    text,
    data    jsonb NOT NULL DEFAULT '{}'::jsonb,
    at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_events_case_idx ON crm.case_events (case_id, id);

CREATE TABLE crm.attachments (
    id          text PRIMARY KEY,
    owner_kind  text NOT NULL CHECK (owner_kind IN ('case', 'ticket', 'call')),
    owner_id    text NOT NULL,
    filename    text NOT NULL,
    mime_type   text NOT NULL,
    size        bigint NOT NULL,
    sha256      text NOT NULL,
    blob_key    text NOT NULL,
    uploaded_by text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attachments_owner_idx ON crm.attachments (owner_kind, owner_id);

CREATE TABLE crm.tickets (
    id          text PRIMARY KEY,
    contact_id  text NOT NULL REFERENCES crm.contacts (id) ON DELETE CASCADE,
    subject     text NOT NULL,
    description text NOT NULL DEFAULT '',
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    priority    smallint NOT NULL DEFAULT 1 CHECK (priority BETWEEN 0 AND 2),
    agent_id    text,
    group_name  text,
    forms       jsonb NOT NULL DEFAULT '{}'::jsonb,
    call_id     text,
    case_id     text,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    closed_at   timestamptz
);
CREATE INDEX tickets_created_idx ON crm.tickets (created_at DESC, id DESC);
CREATE INDEX tickets_contact_idx ON crm.tickets (contact_id);

CREATE TABLE crm.ticket_actions (
    id         text PRIMARY KEY,
    ticket_id  text NOT NULL REFERENCES crm.tickets (id) ON DELETE CASCADE,
    kind       text NOT NULL,
    subject    text NOT NULL DEFAULT '',
    status     text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'cancelled')),
    priority   smallint NOT NULL DEFAULT 1 CHECK (priority BETWEEN 0 AND 2),
    agent_id   text,
    group_name text,
    forms      jsonb NOT NULL DEFAULT '{}'::jsonb,
    due_at     timestamptz,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    done_at    timestamptz
);
CREATE INDEX ticket_actions_ticket_idx ON crm.ticket_actions (ticket_id);
CREATE INDEX ticket_actions_created_idx ON crm.ticket_actions (created_at DESC, id DESC);
CREATE INDEX ticket_actions_pending_idx ON crm.ticket_actions (ticket_id) WHERE status = 'pending';

CREATE TABLE crm.calls (
    id              text PRIMARY KEY,
    direction       text NOT NULL CHECK (direction IN ('in', 'out')),
    started_at      timestamptz NOT NULL,
    duration_s      int NOT NULL DEFAULT 0 CHECK (duration_s >= 0),
    agent_id        text,
    contact_id      text REFERENCES crm.contacts (id) ON DELETE SET NULL,
    phone           text,
    phone_raw       text,
    disposition     text,
    comment         text,
    campaign_id     text,
    list_id         text,
    conversation_id text UNIQUE,
    classified_at   timestamptz,
    classified_by   text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX calls_started_idx ON crm.calls (started_at DESC, id DESC);
CREATE INDEX calls_contact_idx ON crm.calls (contact_id, started_at DESC);
CREATE INDEX calls_agent_idx ON crm.calls (agent_id, started_at DESC);
CREATE INDEX calls_list_idx ON crm.calls (list_id, contact_id);

CREATE TABLE crm.callbacks (
    id          text PRIMARY KEY,
    owner_id    text NOT NULL,
    due_at      timestamptz NOT NULL,
    contact_id  text REFERENCES crm.contacts (id) ON DELETE CASCADE,
    case_id     text REFERENCES crm.cases (id) ON DELETE CASCADE,
    campaign_id text,
    note        text NOT NULL DEFAULT '',
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'due', 'done', 'cancelled')),
    work_case_id text,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (contact_id IS NOT NULL OR case_id IS NOT NULL)
);
CREATE INDEX callbacks_owner_due_idx ON crm.callbacks (owner_id, due_at);
