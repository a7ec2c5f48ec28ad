-- Bulk processes (issue 7): uploads, saved mappings, background jobs with a resumable cursor and a
-- per-row outcome, and the script objects the field usage finder searches.

CREATE TABLE crm.uploads (
    id         text PRIMARY KEY,
    filename   text NOT NULL,
    format     text NOT NULL CHECK (format IN ('csv', 'xlsx')),
    encoding   text,
    delimiter  text,
    columns    jsonb NOT NULL,
    size       bigint NOT NULL,
    sha256     text NOT NULL,
    blob_key   text NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE crm.import_mappings (
    id         text PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    kind       text NOT NULL,
    mapping    jsonb NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE crm.jobs (
    id               text PRIMARY KEY,
    kind             text NOT NULL,
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    dry_run          boolean NOT NULL DEFAULT false,
    params           jsonb NOT NULL DEFAULT '{}'::jsonb,
    upload_id        text REFERENCES crm.uploads (id),
    total            bigint,
    done             bigint NOT NULL DEFAULT 0,
    counts           jsonb NOT NULL DEFAULT '{}'::jsonb,
    cursor           jsonb NOT NULL DEFAULT '{}'::jsonb,
    cancel_requested boolean NOT NULL DEFAULT false,
    lease_owner      text,
    lease_until      timestamptz,
    attempts         int NOT NULL DEFAULT 0,
    error            text,
    created_by       text NOT NULL,
    created_role     text NOT NULL DEFAULT 'system',
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz
);
CREATE INDEX jobs_runnable_idx ON crm.jobs (created_at) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_created_idx ON crm.jobs (created_at DESC, id DESC);

-- One line per input row (or per affected record): what happened, and why if it failed.
CREATE TABLE crm.job_rows (
    job_id  text NOT NULL REFERENCES crm.jobs (id) ON DELETE CASCADE,
    row_no  int NOT NULL,
    outcome text NOT NULL,
    reason  text,
    ref     text,
    key     text,
    PRIMARY KEY (job_id, row_no)
);

-- Keys already seen in a job's file: a duplicate inside the same file is found without memory growth.
CREATE TABLE crm.job_keys (
    job_id text NOT NULL REFERENCES crm.jobs (id) ON DELETE CASCADE,
    key    text NOT NULL,
    row_no int NOT NULL,
    PRIMARY KEY (job_id, key)
);

-- Script objects of a campaign (guion, pestañas, forms): what the field usage finder searches.
CREATE TABLE crm.scripts (
    id          text PRIMARY KEY,
    campaign_id text,
    kind        text NOT NULL CHECK (kind IN ('script', 'tab', 'form')),
    name        text NOT NULL,
    screen      text NOT NULL DEFAULT '',
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX scripts_campaign_idx ON crm.scripts (campaign_id);
