-- Gemini Live voice sessions: the newest session-resumption handle of each open Live socket,
-- kept in the database rather than in process memory so that a socket reopened on another
-- instance (a Cloud Run instance change, a restart) resumes the same Gemini session. Google
-- keeps a handle valid for two hours after its session ends; older rows are never used and
-- are removed as the same user saves new ones.
CREATE TABLE live_sessions (
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The page's tab id (/ws/live/{client_id}): one Live session per tab.
    client_id   TEXT NOT NULL,
    handle      TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX live_sessions_updated ON live_sessions (updated_at);
