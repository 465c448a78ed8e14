-- Commerce core: catalog, inventory and the escrow ledger (double entry). Money is BIGINT minor units + currency.

CREATE TABLE categories (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    slug TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (store_id, slug)
);

CREATE TABLE products (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    category_id TEXT REFERENCES categories (id) ON DELETE SET NULL,
    slug TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'published', 'archived')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (store_id, slug)
);
CREATE INDEX products_store_status ON products (store_id, status);

CREATE TABLE variants (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    product_id TEXT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    sku TEXT NOT NULL,
    options TEXT NOT NULL,
    price_minor BIGINT NOT NULL CHECK (price_minor >= 0),
    currency TEXT NOT NULL,
    stock BIGINT NOT NULL CHECK (stock >= 0),
    created_at BIGINT NOT NULL,
    UNIQUE (store_id, sku)
);
CREATE INDEX variants_product ON variants (product_id);

-- Ledger accounts: per-order escrow, per-store balance, and external (gateway, bank) counterparts, which alone
-- may go negative. The balance column is kept in step with the entries inside each transfer's transaction.
CREATE TABLE ledger_accounts (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    store_id TEXT,
    currency TEXT NOT NULL,
    balance BIGINT NOT NULL,
    allow_negative INTEGER NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE ledger_transfers (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    store_id TEXT,
    reference TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
    created_at BIGINT NOT NULL
);
CREATE INDEX ledger_transfers_store ON ledger_transfers (store_id, created_at);

CREATE TABLE ledger_entries (
    id TEXT PRIMARY KEY NOT NULL,
    transfer_id TEXT NOT NULL REFERENCES ledger_transfers (id),
    account_id TEXT NOT NULL REFERENCES ledger_accounts (id),
    amount BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX ledger_entries_account ON ledger_entries (account_id);

CREATE TABLE store_commerce (
    store_id TEXT PRIMARY KEY NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    flat_shipping_minor BIGINT NOT NULL CHECK (flat_shipping_minor >= 0),
    updated_at BIGINT NOT NULL
);

CREATE TABLE orders (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores (id),
    buyer_id TEXT REFERENCES accounts (id),
    buyer_email TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('placed', 'paid', 'shipped', 'delivered', 'completed', 'refunded', 'disputed', 'cancelled')),
    currency TEXT NOT NULL,
    subtotal_minor BIGINT NOT NULL,
    shipping_minor BIGINT NOT NULL,
    total_minor BIGINT NOT NULL,
    refunded_minor BIGINT NOT NULL DEFAULT 0,
    address TEXT NOT NULL,
    tracking_no TEXT,
    card_brand TEXT,
    card_last4 TEXT,
    payment_ref TEXT,
    idempotency_key TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (store_id, idempotency_key)
);
CREATE INDEX orders_store_status ON orders (store_id, status);
CREATE INDEX orders_buyer ON orders (buyer_id);

CREATE TABLE order_items (
    id TEXT PRIMARY KEY NOT NULL,
    order_id TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    store_id TEXT NOT NULL,
    variant_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    title TEXT NOT NULL,
    unit_price_minor BIGINT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0)
);
CREATE INDEX order_items_order ON order_items (order_id);

CREATE TABLE order_events (
    id TEXT PRIMARY KEY NOT NULL,
    order_id TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    store_id TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    note TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX order_events_order ON order_events (order_id, at);
