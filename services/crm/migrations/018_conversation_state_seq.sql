-- A conversation's state (status) follows its state events (opened, queued, offered, assigned, closed) in their
-- own order: a message event carries no state, so handled before a state event of lower seq (a redelivery,
-- replicas sharing the consumer) it must not make that state look old. last_seq stays the newest event seen.
ALTER TABLE crm.conversations ADD COLUMN IF NOT EXISTS state_seq int NOT NULL DEFAULT 0;
UPDATE crm.conversations SET state_seq = last_seq WHERE state_seq = 0 AND last_seq > 0;
