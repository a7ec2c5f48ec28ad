-- An attempt cap for background jobs: a job that keeps failing (its runner's process dies, or its handler raises an
-- unexpected or transient error) ends as failed with the reason instead of being retried by every replica forever.
-- `failures` counts the failed attempts since the job last committed progress; `last_error` says why the last one
-- failed.
ALTER TABLE crm.jobs ADD COLUMN IF NOT EXISTS failures int NOT NULL DEFAULT 0,
                     ADD COLUMN IF NOT EXISTS last_error text;
