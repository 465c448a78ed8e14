-- Fraud-scoring hardening (issue #20 review findings 2 and 3; palisade-commerce::fraud).
--
-- `orders.email_key`: a keyed hash (HMAC under a key derived from the master key, made by the web layer) of the
-- buyer's normalised email (lower case, no `+tag`, Gmail's dots dropped), so `Bob+1@x.com` and `bob@x.com` count
-- as one buyer for the email velocity. Orders placed before this migration have none.
ALTER TABLE orders ADD COLUMN email_key TEXT;
CREATE INDEX orders_store_email_key ON orders (store_id, email_key, created_at);

-- `payment_declines.email_hash` becomes that same keyed hash. The unkeyed SHA-256 kept until now could be
-- reversed by guessing addresses, so the old values are dropped (the rows are kept a day only; their card
-- fingerprints stay). The column may now be empty: a caller that makes no email key records none.
ALTER TABLE payment_declines ALTER COLUMN email_hash DROP NOT NULL;
UPDATE payment_declines SET email_hash = NULL;

-- A held order that was refunded or cancelled is no longer waiting for a review: its review is closed.
UPDATE orders SET review_state = 'closed', reviewed_at = updated_at
    WHERE review_state = 'held' AND status IN ('refunded', 'cancelled');
