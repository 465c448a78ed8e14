-- Self-service password resets: a single-use link mailed to the account's address, valid for 30 minutes. Only a
-- hash of the link's token is kept. Using one sets the password, ends every session of the account and voids the
-- account's other links, in one transaction.
CREATE TABLE password_resets (
    id_hash TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    ip TEXT
);
CREATE INDEX password_resets_account ON password_resets (account_id);
