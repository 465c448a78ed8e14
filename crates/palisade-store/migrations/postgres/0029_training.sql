-- Security-awareness training (palisade-store::training; content and rules in palisade-awareness).
--
-- A quiz attempt is drawn on the server and kept here until it is submitted: the paper (question and choice ids in
-- display order, JSON) is never taken from the browser, and an attempt is single use (`submitted_at`), so a member
-- cannot choose their questions or replay an answer sheet. Attempts hold no answers and no personal data.
CREATE TABLE training_attempts (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores(id),
    account_id TEXT NOT NULL REFERENCES accounts(id),
    module_id TEXT NOT NULL,
    module_version INTEGER NOT NULL,
    paper TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    submitted_at BIGINT
);
CREATE INDEX training_attempts_member ON training_attempts (store_id, account_id, module_id);

-- One row per passed quiz, taken in an MFA-verified session (`mfa_at`: when that session passed its second
-- factor). Each row is also appended to the store's audit chain (`audit_event_id`), whose details repeat every
-- field, so an edited or deleted row is found by comparing the two, and an edited event by `palisade audit verify`.
CREATE TABLE training_completions (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores(id),
    account_id TEXT NOT NULL REFERENCES accounts(id),
    module_id TEXT NOT NULL,
    module_version INTEGER NOT NULL,
    correct INTEGER NOT NULL,
    total INTEGER NOT NULL,
    score_percent INTEGER NOT NULL,
    started_at BIGINT NOT NULL,
    completed_at BIGINT NOT NULL,
    mfa_at BIGINT NOT NULL,
    audit_event_id TEXT NOT NULL
);
CREATE INDEX training_completions_store ON training_completions (store_id, account_id, module_id);

-- Training-due reminders already mailed: one per member, module, due date and stage (30, 7 or 1 days before), so
-- the daily job sends each at most once per certification cycle.
CREATE TABLE training_reminders (
    store_id TEXT NOT NULL REFERENCES stores(id),
    account_id TEXT NOT NULL REFERENCES accounts(id),
    module_id TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    stage TEXT NOT NULL,
    sent_at BIGINT NOT NULL,
    PRIMARY KEY (store_id, account_id, module_id, due_at, stage)
);
