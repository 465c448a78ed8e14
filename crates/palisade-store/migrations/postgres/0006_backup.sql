-- Platform backup runs (snapshot, verify, drill, prune): what happened, where, when. The matrix reads these.
CREATE TABLE backup_runs (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('snapshot', 'verify', 'drill', 'prune')),
    target TEXT NOT NULL,
    off_machine BIGINT NOT NULL DEFAULT 0,
    snapshot_id TEXT,
    started_at BIGINT NOT NULL,
    finished_at BIGINT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'failed')),
    detail TEXT NOT NULL,
    bytes BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX backup_runs_kind ON backup_runs (kind, finished_at);

-- A store's own export schedule. Scheduled exports need the merchant's passphrase without the merchant, so it is
-- kept encrypted with the master key (like other secrets); on-demand exports never store theirs.
CREATE TABLE store_export_settings (
    store_id TEXT PRIMARY KEY NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    schedule TEXT NOT NULL CHECK (schedule IN ('off', 'daily', 'weekly')),
    passphrase_sealed TEXT,
    s3_url TEXT,
    -- The merchant's own S3 credentials (JSON), sealed like the passphrase; never the platform's.
    s3_credentials_sealed TEXT,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);

-- Every export, restore test and import of a store, with the archive kept for download for a while.
CREATE TABLE store_exports (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('export', 'restore-test', 'import')),
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
CREATE INDEX store_exports_store ON store_exports (store_id, created_at);
