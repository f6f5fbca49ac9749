-- One row per exchange; see migrations/postgres/0002_turns.sql for the reasons. Same tables and
-- columns as the PostgreSQL flavour (a test compares them).

CREATE TABLE turns (
    id               INTEGER PRIMARY KEY,
    conversation_id  INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    command          TEXT NOT NULL,
    command_at       TEXT NOT NULL,
    reply            TEXT NOT NULL,
    action           TEXT,
    data             TEXT,
    source           TEXT NOT NULL CHECK (source IN ('rule', 'gemini', 'offline', 'budget', 'fallback', 'live')),
    answered_by      TEXT,
    status           TEXT NOT NULL CHECK (status IN ('complete', 'truncated', 'interrupted', 'cut_off', 'refused', 'failed')),
    replied_at       TEXT NOT NULL,
    calculation      TEXT
);
CREATE INDEX turns_conversation ON turns (conversation_id, id);
CREATE INDEX turns_user ON turns (user_id, id);
CREATE INDEX turns_calculation ON turns (conversation_id, id) WHERE calculation IS NOT NULL;

INSERT INTO turns (conversation_id, user_id, command, command_at, reply, action, data, source,
                   answered_by, status, replied_at)
SELECT a.conversation_id, a.user_id,
       COALESCE((SELECT m.content FROM messages m
                 WHERE m.conversation_id = a.conversation_id AND m.role = 'user' AND m.id < a.id
                 ORDER BY m.id DESC LIMIT 1), ''),
       COALESCE((SELECT m.created_at FROM messages m
                 WHERE m.conversation_id = a.conversation_id AND m.role = 'user' AND m.id < a.id
                 ORDER BY m.id DESC LIMIT 1), a.created_at),
       a.content, a.action, a.data, COALESCE(a.source, 'rule'), a.model,
       CASE WHEN a.status = 'failed' AND COALESCE(a.source, '') <> 'fallback' THEN 'cut_off'
            ELSE a.status END,
       a.created_at
FROM messages a
WHERE a.role = 'assistant'
ORDER BY a.id;

UPDATE turns SET calculation = (
    SELECT cs.last_result FROM calculator_state cs WHERE cs.user_id = turns.user_id)
WHERE id IN (
    SELECT max(t.id) FROM turns t
    JOIN conversations c ON c.id = t.conversation_id AND c.ended_at IS NULL
    JOIN calculator_state cs ON cs.user_id = t.user_id
    WHERE t.answered_by = 'math'
    GROUP BY t.user_id);

DROP TABLE messages;
DROP TABLE command_history;
DROP TABLE calculator_state;

-- SQLite cannot add a NOT NULL column without a constant default; '' is never read as a date
-- because every row gets its creation time here and every new session is written with one.
ALTER TABLE sessions ADD COLUMN last_used_at TEXT NOT NULL DEFAULT '';
UPDATE sessions SET last_used_at = created_at;
CREATE INDEX sessions_last_used ON sessions (last_used_at);
CREATE INDEX users_created ON users (created_at);

ALTER TABLE settings ADD COLUMN speak_replies TEXT NOT NULL DEFAULT 'voice'
    CHECK (speak_replies IN ('voice', 'always', 'never'));
