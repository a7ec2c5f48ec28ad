-- Issue 13: the catalogs admins keep in the CRM: a campaign's dispositions (with their follow-up rule), ticket
-- forms (typed fields) and the action types they attach to. One table: (kind, scope, id), scope = the campaign
-- of a disposition, '' for the others.
CREATE TABLE IF NOT EXISTS crm.catalog_items (
    kind       text NOT NULL CHECK (kind IN ('disposition', 'ticket_form', 'action_type')),
    scope      text NOT NULL DEFAULT '',
    id         text NOT NULL,
    name       text NOT NULL,
    position   int NOT NULL DEFAULT 0,
    data       jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    created_by text,
    updated_by text,
    PRIMARY KEY (kind, scope, id)
);
CREATE UNIQUE INDEX IF NOT EXISTS catalog_items_name_key ON crm.catalog_items (kind, scope, lower(name));
