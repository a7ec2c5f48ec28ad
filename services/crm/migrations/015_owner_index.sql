-- The owner index (seed 002 "Asignación de cuentas"): every contact address whose owners may have changed waits
-- here until the CRM has published its entry in the `owners` KV bucket, which the router reads when a
-- conversation opens. Statement-level triggers (transition tables) keep bulk imports to one INSERT per statement.
CREATE TABLE crm.owner_outbox (
    kind      text NOT NULL,
    network   text NOT NULL,
    value     text NOT NULL,
    queued_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, network, value)
);

-- Accounts and contacts: the addresses of every contact whose assigned user is set, or was. TG_ARGV[0] names the
-- column holding the contact's id (accounts.contact_id, contacts.id); the transition tables are the statement's
-- new and old rows.
CREATE FUNCTION crm.owner_outbox_owners() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    source text;
BEGIN
    FOREACH source IN ARRAY CASE TG_OP WHEN 'INSERT' THEN ARRAY['new_rows'] WHEN 'DELETE' THEN ARRAY['old_rows']
                                       ELSE ARRAY['new_rows', 'old_rows'] END LOOP
        EXECUTE format('INSERT INTO crm.owner_outbox (kind, network, value)
                        SELECT DISTINCT ca.kind, ca.network, ca.value
                        FROM %I r JOIN crm.contact_addresses ca ON ca.contact_id = r.%I
                        WHERE r.assigned_user IS NOT NULL
                        ON CONFLICT DO NOTHING', source, TG_ARGV[0]);
    END LOOP;
    RETURN NULL;
END $$;

CREATE TRIGGER accounts_owner_ins AFTER INSERT ON crm.accounts REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crm.owner_outbox_owners('contact_id');
CREATE TRIGGER accounts_owner_upd AFTER UPDATE ON crm.accounts REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crm.owner_outbox_owners('contact_id');
CREATE TRIGGER accounts_owner_del AFTER DELETE ON crm.accounts REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crm.owner_outbox_owners('contact_id');
CREATE TRIGGER contacts_owner_ins AFTER INSERT ON crm.contacts REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crm.owner_outbox_owners('id');
CREATE TRIGGER contacts_owner_upd AFTER UPDATE ON crm.contacts REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crm.owner_outbox_owners('id');

-- Addresses: a new one of a contact with an owner; every removed one (its entry may have to go).
CREATE FUNCTION crm.owner_outbox_addresses() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO crm.owner_outbox (kind, network, value)
        SELECT DISTINCT n.kind, n.network, n.value FROM new_rows n
        WHERE EXISTS (SELECT 1 FROM crm.contacts c WHERE c.id = n.contact_id AND c.assigned_user IS NOT NULL)
           OR EXISTS (SELECT 1 FROM crm.accounts a WHERE a.contact_id = n.contact_id AND a.assigned_user IS NOT NULL)
        ON CONFLICT DO NOTHING;
    ELSE
        INSERT INTO crm.owner_outbox (kind, network, value)
        SELECT DISTINCT o.kind, o.network, o.value FROM old_rows o
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER addresses_owner_ins AFTER INSERT ON crm.contact_addresses REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crm.owner_outbox_addresses();
CREATE TRIGGER addresses_owner_del AFTER DELETE ON crm.contact_addresses REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crm.owner_outbox_addresses();

-- Accounts assigned before this migration: publish them once.
INSERT INTO crm.owner_outbox (kind, network, value)
SELECT DISTINCT ca.kind, ca.network, ca.value FROM crm.contact_addresses ca
WHERE EXISTS (SELECT 1 FROM crm.contacts c WHERE c.id = ca.contact_id AND c.assigned_user IS NOT NULL)
   OR EXISTS (SELECT 1 FROM crm.accounts a WHERE a.contact_id = ca.contact_id AND a.assigned_user IS NOT NULL)
ON CONFLICT DO NOTHING;
