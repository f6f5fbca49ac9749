-- One row per exchange. Until now a turn wrote four rows (two `messages`, a `command_history`
-- row and a `calculator_state` upsert) that said the same thing three ways; `turns` is now the
-- one source of truth, and the conversation's messages, /api/history and the calculator's last
-- result are all read from it. Existing data is carried over, then the old tables go.

CREATE TABLE turns (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id  BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- What the user said or typed (validated at the edge: no control characters).
    command          TEXT NOT NULL,
    command_at       TIMESTAMPTZ NOT NULL,
    -- What the user was told, and the browser action that came with it (JSON text).
    reply            TEXT NOT NULL,
    action           TEXT,
    data             TEXT,
    source           TEXT NOT NULL CHECK (source IN ('rule', 'gemini', 'offline', 'budget', 'fallback', 'live')),
    -- The rule or model that answered.
    answered_by      TEXT,
    -- complete; truncated (the model hit its output cap); interrupted (the user barged in);
    -- cut_off (the answer broke off mid-way); refused (content filters); failed (no answer).
    status           TEXT NOT NULL CHECK (status IN ('complete', 'truncated', 'interrupted', 'cut_off', 'refused', 'failed')),
    replied_at       TIMESTAMPTZ NOT NULL,
    -- The calculator's exact result ("p" or "p/q") when the command was a calculation; chaining
    -- ("+ 6") continues the newest one of the open conversation.
    calculation      TEXT
);
CREATE INDEX turns_conversation ON turns (conversation_id, id);
CREATE INDEX turns_user ON turns (user_id, id);
CREATE INDEX turns_calculation ON turns (conversation_id, id) WHERE calculation IS NOT NULL;

-- Every assistant message with the user message before it: the writer stored them as a pair.
INSERT INTO turns (conversation_id, user_id, command, command_at, reply, action, data, source,
                   answered_by, status, replied_at)
SELECT a.conversation_id, a.user_id,
       COALESCE(u.content, ''), COALESCE(u.created_at, a.created_at),
       a.content, a.action, a.data, COALESCE(a.source, 'rule'), a.model,
       CASE WHEN a.status = 'failed' AND COALESCE(a.source, '') <> 'fallback' THEN 'cut_off'
            ELSE a.status END,
       a.created_at
FROM messages a
LEFT JOIN LATERAL (
    SELECT m.content, m.created_at FROM messages m
    WHERE m.conversation_id = a.conversation_id AND m.role = 'user' AND m.id < a.id
    ORDER BY m.id DESC LIMIT 1
) u ON TRUE
WHERE a.role = 'assistant'
ORDER BY a.id;

-- The calculator's last result belongs to the newest calculation of the open conversation.
UPDATE turns SET calculation = cs.last_result
FROM calculator_state cs
WHERE cs.user_id = turns.user_id
  AND turns.id = (
    SELECT max(t.id) FROM turns t
    JOIN conversations c ON c.id = t.conversation_id AND c.ended_at IS NULL
    WHERE t.user_id = cs.user_id AND t.answered_by = 'math');

DROP TABLE messages;
DROP TABLE command_history;
DROP TABLE calculator_state;

-- Sessions expire after SESSION_TTL_DAYS without use; the day of last use is enough.
ALTER TABLE sessions ADD COLUMN last_used_at TIMESTAMPTZ;
UPDATE sessions SET last_used_at = created_at;
ALTER TABLE sessions ALTER COLUMN last_used_at SET NOT NULL;
CREATE INDEX sessions_last_used ON sessions (last_used_at);
CREATE INDEX users_created ON users (created_at);

-- "Speak replies": only turns that began by voice (the default), always, or never.
ALTER TABLE settings ADD COLUMN speak_replies TEXT NOT NULL DEFAULT 'voice'
    CHECK (speak_replies IN ('voice', 'always', 'never'));
