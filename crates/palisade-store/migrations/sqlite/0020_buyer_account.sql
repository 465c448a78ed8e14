-- Buyers stay in the shop (issue #18).
-- A store's time zone (an IANA name, checked by the settings page and the import): buyers and staff see the
-- store's times in it. Existing stores get the platform's default.
ALTER TABLE store_commerce ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'Asia/Singapore';

-- A buyer's saved shipping addresses (the same six fields checkout takes), at most a few per account.
CREATE TABLE buyer_addresses (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    line1 TEXT NOT NULL,
    line2 TEXT NOT NULL,
    city TEXT NOT NULL,
    postcode TEXT NOT NULL,
    country TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX buyer_addresses_account ON buyer_addresses (account_id, created_at);

-- One cart per signed-in buyer: the cart follows the account, and a guest's cart is merged into it at sign-in.
CREATE UNIQUE INDEX carts_buyer ON carts (buyer_id) WHERE buyer_id IS NOT NULL;
