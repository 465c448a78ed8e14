-- Buyer–seller messaging and scam reports (issue #20 items 5 and 6; palisade-commerce::messages, ::scam_reports).
--
-- A thread is one buyer's conversation with one store, optionally about one of the buyer's orders (`order_key` is
-- the order's id or '' for the store's general thread, so the pair is unique on both backends). Every message keeps
-- the classifier's verdict and finding codes as judged when it was sent; a blocked message's text is kept for the
-- operator's review but never shown to the buyer.
CREATE TABLE message_threads (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    buyer_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    order_key TEXT NOT NULL DEFAULT '',
    product_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX message_threads_pair ON message_threads (store_id, buyer_id, order_key);
CREATE INDEX message_threads_buyer ON message_threads (buyer_id, updated_at);
CREATE INDEX message_threads_store ON message_threads (store_id, updated_at);

CREATE TABLE messages (
    id TEXT PRIMARY KEY NOT NULL,
    thread_id TEXT NOT NULL REFERENCES message_threads (id) ON DELETE CASCADE,
    store_id TEXT NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    sender TEXT NOT NULL CHECK (sender IN ('buyer', 'store')),
    author_id TEXT NOT NULL,
    body TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('ok', 'warn', 'block')),
    findings TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX messages_thread ON messages (thread_id, created_at);
CREATE INDEX messages_rate ON messages (store_id, author_id, created_at);

-- A buyer's report about a store, one of its listings or a message in the buyer's own thread. `severity` follows
-- from the category (the operator's table in code); `due_at` is the triage target (high 1 h, others 24 h).
-- `reporter_id` is never shown to the store.
CREATE TABLE scam_reports (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    reporter_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    subject_kind TEXT NOT NULL CHECK (subject_kind IN ('store', 'listing', 'message')),
    subject_id TEXT NOT NULL,
    category TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('high', 'normal')),
    details TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'upheld', 'dismissed')),
    action TEXT,
    outcome TEXT,
    decided_by TEXT,
    created_at BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    decided_at BIGINT
);
CREATE INDEX scam_reports_queue ON scam_reports (status, due_at);
CREATE INDEX scam_reports_reporter ON scam_reports (reporter_id, created_at);
CREATE INDEX scam_reports_store ON scam_reports (store_id, status);

-- A store whose payouts are held: `payouts::request` refuses while a row exists. Placed by a high-severity report
-- (in the report's own transaction) or by an operator; lifted by an operator.
CREATE TABLE payout_holds (
    store_id TEXT PRIMARY KEY NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    reason TEXT NOT NULL,
    report_id TEXT,
    placed_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
