-- PDPA access and correction requests (palisade-commerce::data_requests, issue #21 item 3).
--
-- A buyer asking in their account makes one batch, which reaches every store they have an order with (the
-- platform is those stores' data intermediary): one `data_requests` row per store, written in one transaction.
-- A request received by email is logged by the merchant as a row without a batch. Each row carries its own
-- 30-day clock (palisade-privacy::request): received_at is day 0.
CREATE TABLE data_request_batches (
    id TEXT PRIMARY KEY NOT NULL,
    buyer_id TEXT NOT NULL REFERENCES accounts (id),
    kind TEXT NOT NULL CHECK (kind IN ('access', 'correction')),
    details TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX data_request_batches_buyer ON data_request_batches (buyer_id, created_at);

CREATE TABLE data_requests (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    batch_id TEXT REFERENCES data_request_batches (id),
    -- The requester: the buyer's account (channel 'account'), or only the email the request came from ('email').
    buyer_id TEXT REFERENCES accounts (id),
    buyer_email TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('access', 'correction')),
    channel TEXT NOT NULL CHECK (channel IN ('account', 'email')),
    details TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    -- The last instant of day 30 (Singapore), kept so the matrix counts overdue and late answers in SQL.
    due_at BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'answered', 'refused')),
    -- When it was answered or refused.
    closed_at BIGINT,
    -- 'export' (an access answer) or 'correction'.
    answer TEXT CHECK (answer IN ('export', 'correction')),
    -- The merchant's note on a correction, or the reason for a refusal.
    answer_note TEXT,
    -- A refusal keeps the data concerned until the end of this instant (30 Singapore days).
    keep_until BIGINT,
    -- Reminder stages already sent, comma-separated (day7,day21,day28), and whether the overdue event was raised.
    reminders_done TEXT NOT NULL DEFAULT '',
    overdue_raised INTEGER NOT NULL DEFAULT 0,
    -- The generated export (JSON) the buyer downloads; only for an access request answered with one.
    export_json TEXT,
    CHECK ((status = 'open') = (closed_at IS NULL))
);
CREATE INDEX data_requests_store ON data_requests (store_id, status, received_at);
CREATE INDEX data_requests_due ON data_requests (status, due_at);
CREATE INDEX data_requests_batch ON data_requests (batch_id);
CREATE INDEX data_requests_buyer ON data_requests (buyer_id);
