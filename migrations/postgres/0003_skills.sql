-- Everyday skills: timers, alarms and reminders kept server-side (they survive reloads,
-- restarts and a change of Cloud Run instance), and the settings the weather needs.

CREATE TABLE timers (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('timer', 'alarm', 'reminder')),
    -- "pasta", or a reminder's task ("call mom"); empty when none was said.
    label         TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL,
    due_at        TIMESTAMPTZ NOT NULL,
    -- The length asked for (timers), or the time until due when it was set (alarms).
    duration_s    BIGINT NOT NULL,
    -- pending until due; fired when an instance claimed it (exactly once: one atomic update);
    -- missed when it fired while no page of the user was open; cancelled by the user.
    status        TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'fired', 'cancelled', 'missed')),
    fired_at      TIMESTAMPTZ,
    -- When a page received it; a fired timer without this is reported as missed on the next visit.
    delivered_at  TIMESTAMPTZ
);
-- The due sweep reads only the pending ones, soonest first.
CREATE INDEX timers_pending_due ON timers (due_at) WHERE status = 'pending';
CREATE INDEX timers_user ON timers (user_id, status);

-- The weather skill's defaults: a home city for "what's the weather", and units (auto: from the
-- page's language, imperial for en-US).
ALTER TABLE settings ADD COLUMN home_city TEXT NOT NULL DEFAULT '';
ALTER TABLE settings ADD COLUMN units TEXT NOT NULL DEFAULT 'auto'
    CHECK (units IN ('auto', 'metric', 'imperial'));
