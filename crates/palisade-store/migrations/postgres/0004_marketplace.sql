-- Marketplace: images, carts, reviews, disputes, payouts, merchant themes, payment-page monitoring, search.

ALTER TABLE store_commerce ADD COLUMN tagline TEXT NOT NULL DEFAULT '';

-- Image bytes live in object storage under `object_key` (content-addressed); this row is the catalog's view.
CREATE TABLE product_images (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    product_id TEXT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    object_key TEXT NOT NULL,
    content_type TEXT NOT NULL,
    width BIGINT NOT NULL,
    height BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    position BIGINT NOT NULL,
    alt TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX product_images_product ON product_images (product_id, position);

-- A cart is found by the hash of a random cookie token; items may come from several stores (one order each).
CREATE TABLE carts (
    id TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    buyer_id TEXT REFERENCES accounts (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE cart_items (
    cart_id TEXT NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    store_id TEXT NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    variant_id TEXT NOT NULL REFERENCES variants (id) ON DELETE CASCADE,
    quantity BIGINT NOT NULL CHECK (quantity > 0 AND quantity <= 99),
    added_at BIGINT NOT NULL,
    PRIMARY KEY (cart_id, variant_id)
);

CREATE TABLE reviews (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    order_id TEXT NOT NULL UNIQUE REFERENCES orders (id) ON DELETE CASCADE,
    buyer_email TEXT NOT NULL,
    rating BIGINT NOT NULL CHECK (rating BETWEEN 1 AND 5),
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX reviews_store ON reviews (store_id, created_at);

-- Buyer opens, merchant answers, an operator decides (refund to the buyer or release to the store).
CREATE TABLE disputes (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    order_id TEXT NOT NULL UNIQUE REFERENCES orders (id) ON DELETE CASCADE,
    reason TEXT NOT NULL,
    buyer_statement TEXT NOT NULL,
    merchant_response TEXT,
    status TEXT NOT NULL CHECK (status IN ('open', 'answered', 'decided')),
    outcome TEXT CHECK (outcome IN ('buyer', 'merchant')),
    decision_note TEXT,
    decided_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX disputes_status ON disputes (status, created_at);

CREATE TABLE payouts (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    currency TEXT NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    transfer_id TEXT NOT NULL REFERENCES ledger_transfers (id),
    requested_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX payouts_store ON payouts (store_id, created_at);

-- Merchant theme templates, one row per saved version. `good` is set once a version has rendered; a version that
-- fails carries its error and the shop falls back to the newest good version (or the default theme).
CREATE TABLE theme_templates (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    version BIGINT NOT NULL,
    source TEXT NOT NULL,
    good INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    error_at BIGINT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (store_id, name, version)
);

-- Each run of the payment-page monitor (PCI DSS 11.6.1): what scripts and security headers the page served.
CREATE TABLE payment_page_checks (
    id TEXT PRIMARY KEY NOT NULL,
    checked_at BIGINT NOT NULL,
    url TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('match', 'changed', 'unreachable')),
    fingerprint TEXT NOT NULL,
    observed TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX payment_page_checks_at ON payment_page_checks (checked_at);

-- Marketplace search: a stored tsvector kept by PostgreSQL itself, with a GIN index (see commerce::listing). The
-- shared schema listing leaves tsvector columns out, as it leaves out SQLite's FTS5 tables.
ALTER TABLE products ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (to_tsvector('english', title || ' ' || description)) STORED;
CREATE INDEX products_search ON products USING GIN (search_vector);
