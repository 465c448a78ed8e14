-- Foundation: platform, tenancy, API tokens, audit log, jobs, schedules, nodes, control history.
-- Portable types (see docs/architecture.md): ids TEXT (UUIDv7), times BIGINT unix ms, flags INTEGER 0/1, JSON as TEXT.

CREATE TABLE platform_settings (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE accounts (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL,
    email_key TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('operator', 'staff', 'buyer')),
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    last_active_at BIGINT
);

CREATE TABLE stores (
    id TEXT PRIMARY KEY NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'closed')),
    currency TEXT NOT NULL,
    security_contact_email TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE store_members (
    store_id TEXT NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'staff')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (store_id, account_id)
);
CREATE INDEX store_members_account ON store_members (account_id);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    store_id TEXT REFERENCES stores (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT,
    last_used_ip TEXT,
    revoked_at BIGINT
);
CREATE INDEX api_tokens_account ON api_tokens (account_id);

-- Append-only, one SHA-256 hash chain per store and one for the platform ('platform').
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY NOT NULL,
    chain TEXT NOT NULL,
    seq BIGINT NOT NULL,
    store_id TEXT,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    details TEXT NOT NULL,
    ip TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (chain, seq)
);
CREATE INDEX audit_events_store_at ON audit_events (store_id, at);

-- The last link of each chain, written in the same transaction: deleting the newest events is detected too.
CREATE TABLE audit_heads (
    chain TEXT PRIMARY KEY NOT NULL,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

CREATE TABLE jobs (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    store_id TEXT,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at BIGINT NOT NULL,
    locked_by TEXT,
    lease_until BIGINT,
    last_error TEXT,
    dedupe_key TEXT UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX jobs_ready ON jobs (status, run_at);

CREATE TABLE schedules (
    name TEXT PRIMARY KEY NOT NULL,
    cron TEXT NOT NULL,
    job_kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    next_run_at BIGINT NOT NULL,
    last_run_at BIGINT,
    last_fired_by TEXT
);

CREATE TABLE nodes (
    id TEXT PRIMARY KEY NOT NULL,
    hostname TEXT NOT NULL,
    version TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);

-- Current state of each control per subject ('platform' or a store id), and every change of it.
CREATE TABLE control_states (
    subject TEXT NOT NULL,
    control_id TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    since BIGINT NOT NULL,
    evaluated_at BIGINT NOT NULL,
    PRIMARY KEY (subject, control_id)
);

CREATE TABLE control_transitions (
    id TEXT PRIMARY KEY NOT NULL,
    subject TEXT NOT NULL,
    control_id TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    reason TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX control_transitions_subject_at ON control_transitions (subject, at);
