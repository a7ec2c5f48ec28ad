-- The contact search matches names by substring (LIKE '%q%'), which a text_pattern_ops index cannot serve;
-- it only slowed every insert down (imports above all).
DROP INDEX IF EXISTS crm.contacts_name_idx;
