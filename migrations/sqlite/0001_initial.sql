-- Ballsy schema, SQLite flavour: the same tables and columns as migrations/postgres (a test
-- compares them). Timestamps are RFC 3339 text, booleans are integers.

CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    created_at  TEXT NOT NULL
);

CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE conversations (
    id          INTEGER PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    started_at  TEXT NOT NULL,
    ended_at    TEXT
);
CREATE UNIQUE INDEX conversations_one_open_per_user ON conversations (user_id) WHERE ended_at IS NULL;

CREATE TABLE messages (
    id               INTEGER PRIMARY KEY,
    conversation_id  INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role             TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content          TEXT NOT NULL,
    action           TEXT,
    data             TEXT,
    source           TEXT,
    model            TEXT,
    status           TEXT NOT NULL DEFAULT 'complete' CHECK (status IN ('complete', 'interrupted', 'failed')),
    created_at       TEXT NOT NULL
);
CREATE INDEX messages_conversation ON messages (conversation_id, id);

CREATE TABLE settings (
    user_id      TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    voice        TEXT NOT NULL DEFAULT '',
    voice_speed  INTEGER NOT NULL DEFAULT 175,
    theme        TEXT NOT NULL DEFAULT 'system',
    auto_listen  INTEGER NOT NULL DEFAULT 0,
    language     TEXT NOT NULL DEFAULT 'en-US',
    updated_at   TEXT NOT NULL
);

CREATE TABLE command_history (
    id          INTEGER PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    command     TEXT NOT NULL,
    result      TEXT NOT NULL,
    action      TEXT,
    source      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX command_history_user ON command_history (user_id, id);

CREATE TABLE calculator_state (
    user_id      TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    last_result  TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);

CREATE TABLE rate_limits (
    key     TEXT PRIMARY KEY,
    tat_ms  INTEGER NOT NULL
);

CREATE TABLE ai_usage (
    key    TEXT NOT NULL,
    day    TEXT NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (key, day)
);
