-- Phishing simulation (palisade-store::phishing, issue #22 item 2). Opt-in per store by its owner; campaigns use
-- built-in templates only (the template id is stored, never merchant-written text). A recipient's link token is
-- kept only as its SHA-256; a visit keeps the engine's JSON (palisade-awareness::phish::Visit) with the client
-- address truncated (/24, /48), and is classified when read.
CREATE TABLE phishing_settings (
    store_id TEXT PRIMARY KEY NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    enabled INTEGER NOT NULL DEFAULT 0,
    changed_at BIGINT NOT NULL,
    changed_by TEXT NOT NULL
);

CREATE TABLE phishing_campaigns (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    template TEXT NOT NULL,
    launched_by TEXT NOT NULL,
    launched_at BIGINT NOT NULL
);
CREATE INDEX phishing_campaigns_store ON phishing_campaigns (store_id, launched_at);

CREATE TABLE phishing_recipients (
    id TEXT PRIMARY KEY NOT NULL,
    campaign_id TEXT NOT NULL REFERENCES phishing_campaigns (id) ON DELETE CASCADE,
    store_id TEXT NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    token_hash TEXT NOT NULL UNIQUE,
    outbox_id TEXT NOT NULL,
    queued_at BIGINT NOT NULL,
    reported_at BIGINT,
    -- The first counted click, frozen when the campaign's visits are pruned (before that it is computed from them).
    clicked_at BIGINT
);
CREATE INDEX phishing_recipients_campaign ON phishing_recipients (store_id, campaign_id);

CREATE TABLE phishing_visits (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    recipient_id TEXT NOT NULL REFERENCES phishing_recipients (id) ON DELETE CASCADE,
    nonce_hash TEXT NOT NULL UNIQUE,
    landing TEXT NOT NULL,
    confirmation TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX phishing_visits_recipient ON phishing_visits (recipient_id, at);

-- A member's report of a suspicious mail that was not their own simulation link: for the owner.
CREATE TABLE phishing_reports (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    excerpt TEXT NOT NULL,
    reported_at BIGINT NOT NULL
);
CREATE INDEX phishing_reports_store ON phishing_reports (store_id, reported_at);
