-- The channel registry: one row per configured endpoint, with its provider credentials.
CREATE SCHEMA IF NOT EXISTS channels;

CREATE TABLE channels.channel (
    id              text PRIMARY KEY,
    type            text NOT NULL CHECK (type IN ('whatsapp', 'instagram', 'sms', 'email', 'voice')),
    name            text NOT NULL DEFAULT '',
    address         text NOT NULL DEFAULT '',
    config          jsonb NOT NULL DEFAULT '{}'::jsonb,
    active          boolean NOT NULL DEFAULT true,
    phone_number_id text,
    account_sid     text,
    base_url        text,
    app_secret      text,
    verify_token    text,
    access_token    text,
    auth_token      text,
    smtp_password   text,
    revision        integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- An e-mail arriving over SMTP is matched to its channel by the recipient address.
CREATE UNIQUE INDEX channel_email_address ON channels.channel (lower(address)) WHERE type = 'email';
