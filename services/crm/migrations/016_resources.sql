-- Issue 13 item 8, seed 004 "Galería de recursos": a campaign's files and quick replies that agents insert in
-- their replies. A file is kept content-addressed (media/<sha[:2]>/<sha> in the shared blob store), so a reply
-- carries it as a blob:<sha> reference channels can send.
CREATE TABLE IF NOT EXISTS crm.resources (
    id          text PRIMARY KEY,
    campaign_id text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('file', 'quick_reply')),
    name        text NOT NULL,
    text        text,
    sha256      text,
    mime_type   text,
    size        bigint,
    filename    text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text
);
CREATE UNIQUE INDEX IF NOT EXISTS resources_name_key ON crm.resources (campaign_id, kind, lower(name));
