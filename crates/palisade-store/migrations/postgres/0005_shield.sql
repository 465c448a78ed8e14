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
