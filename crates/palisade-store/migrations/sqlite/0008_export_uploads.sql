-- Merchants may upload an archive they keep (kind 'upload') to test-restore, preview and import it. SQLite cannot
-- change a CHECK constraint in place: the table is rebuilt with the same columns and index.
CREATE TABLE store_exports_next (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('export', 'restore-test', 'import', 'upload')),
    trigger_kind TEXT NOT NULL CHECK (trigger_kind IN ('manual', 'schedule')),
    created_at BIGINT NOT NULL,
    finished_at BIGINT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'failed')),
    detail TEXT NOT NULL,
    object_key TEXT,
    size BIGINT NOT NULL DEFAULT 0,
    sha256 TEXT,
    expires_at BIGINT
);
INSERT INTO store_exports_next (id, store_id, kind, trigger_kind, created_at, finished_at, outcome, detail,
                                object_key, size, sha256, expires_at)
SELECT id, store_id, kind, trigger_kind, created_at, finished_at, outcome, detail, object_key, size, sha256, expires_at
FROM store_exports;
DROP TABLE store_exports;
ALTER TABLE store_exports_next RENAME TO store_exports;
CREATE INDEX store_exports_store ON store_exports (store_id, created_at);
