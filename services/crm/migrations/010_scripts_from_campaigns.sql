-- Issue 13: the field-usage finder searches the campaigns' real scripts and tabs (their snapshots) and the ticket
-- forms; the free-standing script table nothing filled is gone.
DROP TABLE IF EXISTS crm.scripts;
