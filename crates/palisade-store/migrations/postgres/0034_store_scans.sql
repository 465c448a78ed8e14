-- Store security scans (issue #19 item 5; palisade-store::scans).
--
-- One row per scan run. `finished_at` is NULL while the scan runs: at most one such row per store is the "one scan
-- at a time" guard (a row left by a crashed node stops counting after a few minutes). `report` is the engine's JSON
-- report, kept for audits (HTML and SARIF are rendered from it again on download).
CREATE TABLE store_scans (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    trigger_kind TEXT NOT NULL CHECK (trigger_kind IN ('manual', 'scheduled')),
    started_by TEXT NOT NULL,
    score INTEGER,
    grade TEXT,
    critical INTEGER NOT NULL DEFAULT 0,
    high INTEGER NOT NULL DEFAULT 0,
    medium INTEGER NOT NULL DEFAULT 0,
    low INTEGER NOT NULL DEFAULT 0,
    info INTEGER NOT NULL DEFAULT 0,
    report TEXT
);
CREATE INDEX store_scans_store ON store_scans (store_id, started_at);

-- A finding's life across scans, keyed by its stable fingerprint: open when seen, fixed when a later scan no longer
-- sees it, accepted (with a reason, by whom, until at most 90 days ahead) by staff with security settings.
CREATE TABLE scan_findings (
    store_id TEXT NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('info', 'low', 'medium', 'high', 'critical')),
    title TEXT NOT NULL,
    evidence TEXT NOT NULL,
    fix_link TEXT NOT NULL,
    location TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    -- The last scan that saw it: a scan marks fixed every finding it did not see (not by time, so two scans in
    -- the same millisecond cannot confuse it).
    last_scan TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'fixed', 'accepted')),
    accepted_reason TEXT,
    accepted_until BIGINT,
    accepted_by TEXT,
    PRIMARY KEY (store_id, fingerprint)
);
