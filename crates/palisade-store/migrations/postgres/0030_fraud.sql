-- Fraud scoring, the merchant review queue and the inputs of the velocity features (issue #20 items 2, 4, 9;
-- palisade-commerce::fraud). Each order keeps its score (0-100), its top reasons (JSON: [{code, points}]) and the
-- rule that decided (`platform:N` / `store:N`, N the rule's index as written; null when no rule matched). An order
-- a rule sent to review is `held` until the merchant approves it (shippable) or cancels it (refunded from escrow);
-- a held order cannot ship, be delivered or complete. Orders placed before this migration have no score.
ALTER TABLE orders ADD COLUMN risk_score INTEGER;
ALTER TABLE orders ADD COLUMN risk_reasons TEXT;
ALTER TABLE orders ADD COLUMN risk_rule TEXT;
ALTER TABLE orders ADD COLUMN review_state TEXT NOT NULL DEFAULT 'none';
ALTER TABLE orders ADD COLUMN reviewed_at BIGINT;
-- Keyed hashes (HMAC under a key derived from the master key, made by the web layer): the card's and the
-- normalised shipping address's, so velocity can be counted without keeping either in clear.
ALTER TABLE orders ADD COLUMN card_fingerprint TEXT;
ALTER TABLE orders ADD COLUMN ship_key TEXT;
CREATE INDEX orders_store_card ON orders (store_id, card_fingerprint, created_at);
CREATE INDEX orders_store_email ON orders (store_id, buyer_email, created_at);
CREATE INDEX orders_store_ship ON orders (store_id, ship_key, created_at);
CREATE INDEX orders_store_review ON orders (store_id, review_state, created_at);

-- Declined payment attempts (the order itself is removed on a decline): what the `failed_attempts` and
-- `store.failed_1h` features count. Only keyed hashes of the card and the email are kept.
CREATE TABLE payment_declines (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores(id),
    card_fingerprint TEXT,
    email_hash TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX payment_declines_store ON payment_declines (store_id, at);
CREATE INDEX payment_declines_card ON payment_declines (store_id, card_fingerprint, at);
CREATE INDEX payment_declines_email ON payment_declines (store_id, email_hash, at);

-- A store's own fraud rules (the rule language of palisade-trust), layered over the platform's: they can only
-- tighten them. Saved only when the whole text parses.
CREATE TABLE store_fraud_rules (
    store_id TEXT PRIMARY KEY NOT NULL REFERENCES stores(id),
    rules TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT
);
