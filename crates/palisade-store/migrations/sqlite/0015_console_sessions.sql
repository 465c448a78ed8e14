-- Console sessions opened with an operator token. The console's cookie holds a random session secret (its SHA-256
-- here), never the token itself: signing out ends the session without touching the token, a stolen cookie is worth
-- eight hours at most, and revoking or expiring the token ends every session opened with it (checked on each use).
CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    token_id TEXT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ip TEXT,
    revoked_at BIGINT
);
CREATE INDEX console_sessions_token ON console_sessions (token_id);
