-- Issue 13: a user's e-mail address (seed 002 "Notificación de Transferencia" e-mails the receiving agent).
ALTER TABLE gateway.users ADD COLUMN IF NOT EXISTS email text;
