-- Shield (WAF) decisions worth keeping: every blocked or logged request, with what matched, where, the score.
CREATE TABLE shield_events (
    id TEXT PRIMARY KEY NOT NULL,
    at BIGINT NOT NULL,
    store_id TEXT REFERENCES stores (id) ON DELETE CASCADE,
    client_ip TEXT,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('block', 'log')),
    score BIGINT NOT NULL,
    rules TEXT NOT NULL,
    findings TEXT NOT NULL
);
CREATE INDEX shield_events_at ON shield_events (at);
CREATE INDEX shield_events_store ON shield_events (store_id, at);

-- A store's own firewall layers: an admin IP allow-list (JSON list of CIDRs; empty = any address) and
-- "under attack" mode (a proof-of-work challenge before the storefront) until a time.
CREATE TABLE store_firewall (
    store_id TEXT PRIMARY KEY NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    admin_allowlist TEXT NOT NULL DEFAULT '[]',
    attack_mode_until BIGINT,
    updated_at BIGINT NOT NULL
);

-- A store's custom firewall rules (palisade_shield::rules syntax), in evaluation order; added disabled so the
-- merchant can test-run them against recent traffic first.
CREATE TABLE store_rules (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    source TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX store_rules_store ON store_rules (store_id, position);
