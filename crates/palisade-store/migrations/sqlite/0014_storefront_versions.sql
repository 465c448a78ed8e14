-- Storefront content versions, for the page cache (`palisade_store::storefront`). Every write that changes what
-- a store's storefront pages show (catalog, prices, stock, images, reviews, theme, store settings, imports) adds
-- one to the store's row in the same transaction, and to one marketplace shard (marketplace pages list every
-- store; sixteen shards, so checkouts in different stores do not all queue on one row). A rendered page is kept
-- under the version read before its data, so a page is never served after a commit that changed it, on any node.
-- A missing row is version 0.
CREATE TABLE storefront_versions (
    store_id TEXT PRIMARY KEY NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    version BIGINT NOT NULL
);

CREATE TABLE marketplace_versions (
    shard BIGINT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL
);
