-- Fraud-scoring hardening (issue #20 review findings 2 and 3; palisade-commerce::fraud).
--
-- `orders.email_key`: a keyed hash (HMAC under a key derived from the master key, made by the web layer) of the
-- buyer's normalised email (lower case, no `+tag`, Gmail's dots dropped), so `Bob+1@x.com` and `bob@x.com` count
-- as one buyer for the email velocity. Orders placed before this migration have none.
ALTER TABLE orders ADD COLUMN email_key TEXT;
CREATE INDEX orders_store_email_key ON orders (store_id, email_key, created_at);

-- `payment_declines.email_hash` becomes that same keyed hash. The unkeyed SHA-256 kept until now could be
-- reversed by guessing addresses, so the old values are dropped (the rows are kept a day only; their card
-- fingerprints stay). The column may now be empty: a caller that makes no email key records none. SQLite cannot
-- drop a NOT NULL, so the table is rebuilt.
CREATE TABLE payment_declines_0032 (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores(id),
    card_fingerprint TEXT,
    email_hash TEXT,
    at BIGINT NOT NULL
);
INSERT INTO payment_declines_0032 (id, store_id, card_fingerprint, email_hash, at)
    SELECT id, store_id, card_fingerprint, NULL, at FROM payment_declines;
DROP TABLE payment_declines;
ALTER TABLE payment_declines_0032 RENAME TO payment_declines;
CREATE INDEX payment_declines_store ON payment_declines (store_id, at);
CREATE INDEX payment_declines_card ON payment_declines (store_id, card_fingerprint, at);
CREATE INDEX payment_declines_email ON payment_declines (store_id, email_hash, at);

-- A held order that was refunded or cancelled is no longer waiting for a review: its review is closed.
UPDATE orders SET review_state = 'closed', reviewed_at = updated_at
    WHERE review_state = 'held' AND status IN ('refunded', 'cancelled');
