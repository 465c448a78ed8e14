-- A products CSV kept between its check (the preview) and its apply, so the apply reads what was checked and
-- nothing a form could post but the import's id. Only the SHA-256 of the random id is kept. The file lives an hour
-- and is deleted by the apply that uses it (single use), in the same transaction as the products it writes.
CREATE TABLE product_imports (
    id_hash TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    content TEXT NOT NULL
);
CREATE INDEX product_imports_store ON product_imports (store_id, created_by, created_at);
