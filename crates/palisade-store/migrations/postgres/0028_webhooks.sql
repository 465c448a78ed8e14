-- Webhook subscriptions of installed apps and the outbox of their deliveries (palisade-commerce::webhooks).
-- A subscription is one (store, extension, topic, url); its signing secret is sealed with the master-key sealer
-- (the server must read it back to sign), bound to the store and subscription id. `scopes` are the scopes the
-- store granted at install, space-separated: a topic is delivered only while its scope is among them.
CREATE TABLE webhook_subscriptions (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores(id),
    extension_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    url TEXT NOT NULL,
    scopes TEXT NOT NULL,
    secret_sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    removed_at BIGINT,
    UNIQUE (store_id, extension_id, topic, url)
);
CREATE INDEX webhook_subscriptions_topic ON webhook_subscriptions (store_id, topic);

-- One row per event per subscription. `status` pending → delivered, or failed after the last attempt; a pending
-- row is due at `next_attempt_at` (a sender claims it by moving that time forward: its lease). Neither the
-- response body nor the secret is kept; `last_error` is a short classification.
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores(id),
    subscription_id TEXT NOT NULL REFERENCES webhook_subscriptions(id),
    topic TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_status_code INTEGER,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_store ON webhook_deliveries (store_id, created_at);
