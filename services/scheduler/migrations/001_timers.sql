CREATE TABLE IF NOT EXISTS scheduler_timers (
    owner       text        NOT NULL,
    timer_id    text        NOT NULL,
    purpose     text        NOT NULL,
    fire_at     timestamptz NOT NULL,
    data        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    state       text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'fired', 'cancelled')),
    fired_at    timestamptz,
    fired_by    text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner, timer_id)
);
CREATE INDEX IF NOT EXISTS scheduler_timers_due ON scheduler_timers (fire_at) WHERE state = 'pending';
