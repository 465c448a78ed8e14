-- Seller verification before payouts (issue #20 item 1; palisade-commerce::verification).
--
-- One row per store that has started verification (a store without a row is unverified). `state` moves
-- unverified → submitted → verified | rejected (with `reason`) | reverify_needed (the payout bank account changed
-- after approval). A business is identified by its UEN (public registry data, kept as typed); an individual by
-- the keyed hash (HMAC under a master-key-derived key) and masked form (`S****567D`) of the NRIC/FIN only: the
-- full number is never stored. `registry_status` is what the government-records check said on submission.
CREATE TABLE store_verifications (
    store_id TEXT PRIMARY KEY NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    state TEXT NOT NULL CHECK (state IN ('unverified', 'submitted', 'verified', 'rejected', 'reverify_needed')),
    kind TEXT CHECK (kind IN ('business', 'individual')),
    uen TEXT,
    nric_hash TEXT,
    nric_masked TEXT,
    legal_name TEXT,
    registry_status TEXT,
    reason TEXT,
    submitted_at BIGINT,
    submitted_by TEXT,
    decided_at BIGINT,
    decided_by TEXT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX store_verifications_state ON store_verifications (state, submitted_at);

-- The bank account payouts go to: a keyed hash of the account number (to tell a change from a re-entry) and its
-- masked form (last four digits). Changing it sends a verified store back to `reverify_needed`.
CREATE TABLE store_payout_accounts (
    store_id TEXT PRIMARY KEY NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    bank_name TEXT NOT NULL,
    account_hash TEXT NOT NULL,
    account_masked TEXT NOT NULL,
    holder_name TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);

-- Documents a seller uploads for the operator's review, sealed (AEAD, hex) under a master-key-derived key with
-- the store id and document id bound as associated data. Content types are allow-listed by magic bytes.
CREATE TABLE verification_documents (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL CHECK (content_type IN ('application/pdf', 'image/png', 'image/jpeg')),
    size_bytes BIGINT NOT NULL,
    sealed TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    uploaded_by TEXT NOT NULL
);
CREATE INDEX verification_documents_store ON verification_documents (store_id, uploaded_at);
