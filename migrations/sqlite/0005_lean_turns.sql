-- Why: see migrations/postgres/0005_lean_turns.sql. SQLite cannot drop a column that has a
-- foreign key, so the table is rebuilt with the same rows and ids. Nothing references `turns`,
-- so dropping the old table under foreign_keys = ON deletes nothing elsewhere.

CREATE INDEX conversations_user ON conversations (user_id, id);

CREATE TABLE turns_lean (
    id               INTEGER PRIMARY KEY,
    conversation_id  INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
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
INSERT INTO turns_lean (id, conversation_id, command, command_at, reply, action, data, source,
                        answered_by, status, replied_at, calculation)
SELECT id, conversation_id, command, command_at, reply, action, data, source,
       answered_by, status, replied_at, calculation
FROM turns ORDER BY id;
DROP TABLE turns;
ALTER TABLE turns_lean RENAME TO turns;
CREATE INDEX turns_conversation ON turns (conversation_id, id);
