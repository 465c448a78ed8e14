-- The firewall's fourth decision: a suspicious request below the block threshold is challenged (proof of work
-- in the browser) rather than let through. SQLite cannot change a CHECK in place, so the table is rebuilt.
CREATE TABLE shield_events_new (
    id TEXT PRIMARY KEY NOT NULL,
    at BIGINT NOT NULL,
    store_id TEXT REFERENCES stores (id) ON DELETE CASCADE,
    client_ip TEXT,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('block', 'challenge', 'log')),
    score BIGINT NOT NULL,
    rules TEXT NOT NULL,
    findings TEXT NOT NULL
);
INSERT INTO shield_events_new (id, at, store_id, client_ip, method, path, action, score, rules, findings)
    SELECT id, at, store_id, client_ip, method, path, action, score, rules, findings FROM shield_events;
DROP TABLE shield_events;
ALTER TABLE shield_events_new RENAME TO shield_events;
CREATE INDEX shield_events_at ON shield_events (at);
CREATE INDEX shield_events_store ON shield_events (store_id, at);
