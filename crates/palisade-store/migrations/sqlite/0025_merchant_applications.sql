-- "Sell on Palisade": applications for a store. An application counts only once its address is confirmed (a link
-- mailed to it, kept as a hash); then an operator approves or declines it, or it opens at once when the platform
-- allows that. Approval creates the owner's account (unless the address already has a staff account) and the store
-- in one transaction. The password is kept only as the argon2 hash the account will get.
CREATE TABLE merchant_applications (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL,
    display_name TEXT NOT NULL,
    password_hash TEXT,
    store_name TEXT NOT NULL,
    slug TEXT NOT NULL,
    currency TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('unconfirmed', 'pending', 'approved', 'declined')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    decided_at BIGINT,
    decided_by TEXT,
    note TEXT,
    store_id TEXT
);
CREATE INDEX merchant_applications_status ON merchant_applications (status, created_at);
