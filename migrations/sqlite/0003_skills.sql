-- Everyday skills; see migrations/postgres/0003_skills.sql for the reasons. Same tables and
-- columns as the PostgreSQL flavour (a test compares them).

CREATE TABLE timers (
    id            INTEGER PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('timer', 'alarm', 'reminder')),
    label         TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    due_at        TEXT NOT NULL,
    duration_s    INTEGER NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'fired', 'cancelled', 'missed')),
    fired_at      TEXT,
    delivered_at  TEXT
);
CREATE INDEX timers_pending_due ON timers (due_at) WHERE status = 'pending';
CREATE INDEX timers_user ON timers (user_id, status);

ALTER TABLE settings ADD COLUMN home_city TEXT NOT NULL DEFAULT '';
ALTER TABLE settings ADD COLUMN units TEXT NOT NULL DEFAULT 'auto'
    CHECK (units IN ('auto', 'metric', 'imperial'));
