"""PostgreSQL repositories of the CRM (schema ``crm``): all SQL lives here."""
