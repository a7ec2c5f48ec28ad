-- Imports write hundreds of thousands of addresses, accounts, memberships and outcome lines at a time, and a
-- foreign key checks every row with its own lookup of the parent: a third of an import's database time.
-- These tables keep their integrity without them:
-- * rows of a contact are written only while the contact is locked: created in the same transaction, read
--   FOR UPDATE, or locked FOR KEY SHARE first (imports lock a chunk's contacts in one statement), so a
--   concurrent delete either waits for the writer or is seen by it;
-- * deleting contacts deletes their rows (the trigger below does what ON DELETE CASCADE did);
-- * jobs, batches and lists are never deleted; outcome lines are written by the runner holding the job's
--   row lock, memberships only after the batch or list was found.
ALTER TABLE crm.contact_addresses DROP CONSTRAINT IF EXISTS contact_addresses_contact_id_fkey;
ALTER TABLE crm.accounts DROP CONSTRAINT IF EXISTS accounts_contact_id_fkey;
ALTER TABLE crm.batch_members DROP CONSTRAINT IF EXISTS batch_members_contact_id_fkey,
                              DROP CONSTRAINT IF EXISTS batch_members_batch_id_fkey;
ALTER TABLE crm.list_members DROP CONSTRAINT IF EXISTS list_members_contact_id_fkey,
                             DROP CONSTRAINT IF EXISTS list_members_list_id_fkey;
ALTER TABLE crm.job_rows DROP CONSTRAINT IF EXISTS job_rows_job_id_fkey;

CREATE FUNCTION crm.contacts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM crm.contact_addresses a USING gone g WHERE a.contact_id = g.id;
    DELETE FROM crm.accounts a USING gone g WHERE a.contact_id = g.id;
    DELETE FROM crm.batch_members m USING gone g WHERE m.contact_id = g.id;
    DELETE FROM crm.list_members m USING gone g WHERE m.contact_id = g.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER contacts_deleted AFTER DELETE ON crm.contacts REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION crm.contacts_deleted();

-- The in-file duplicate check of an import keeps its keys in memory (rebuilt from crm.job_rows when a job
-- resumes): the key table cost a write and a lookup per row.
DROP TABLE IF EXISTS crm.job_keys;
