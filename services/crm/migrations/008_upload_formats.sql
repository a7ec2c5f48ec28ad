-- Uploads may also be Excel 97-2003 (.xls), binary (.xlsb) or OpenDocument (.ods) workbooks, read by python-calamine.
ALTER TABLE crm.uploads DROP CONSTRAINT IF EXISTS uploads_format_check;
ALTER TABLE crm.uploads ADD CONSTRAINT uploads_format_check CHECK (format IN ('csv', 'xlsx', 'xls', 'xlsb', 'ods'));
