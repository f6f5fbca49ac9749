-- Gemini Live voice sessions; see migrations/postgres/0004_live.sql for the reasons. Same
-- tables and columns as the PostgreSQL flavour (a test compares them).

CREATE TABLE live_sessions (
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL,
    handle      TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX live_sessions_updated ON live_sessions (updated_at);
