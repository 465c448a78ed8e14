-- Erasure tombstones and personal-data retention (issue #21 items 4 and 6; palisade-commerce::erasure, ::retention).
--
-- One tombstone per erased account: its id and a keyed hash (HMAC under a master-key-derived key, made by the web
-- layer) of the normalised email it had, and when. No plain personal data: the account row itself is anonymised in
-- place. `palisade backup restore` keeps the target's tombstones across the restore and re-applies every one, so an
-- older snapshot cannot bring an erased person back.
CREATE TABLE erasure_tombstones (
    account_id TEXT PRIMARY KEY NOT NULL,
    email_key TEXT NOT NULL,
    erased_at BIGINT NOT NULL,
    reapplied_at BIGINT
);
CREATE INDEX erasure_tombstones_email_key ON erasure_tombstones (email_key);

-- When an inactive buyer was told their account will be erased (retention: notice, then erasure after a grace period).
ALTER TABLE accounts ADD COLUMN retention_notice_at BIGINT;

-- One row per retention run: counts per data class (JSON), whether it only counted.
CREATE TABLE retention_runs (
    id TEXT PRIMARY KEY NOT NULL,
    ran_at BIGINT NOT NULL,
    dry_run INTEGER NOT NULL,
    counts TEXT NOT NULL
);
CREATE INDEX retention_runs_ran_at ON retention_runs (ran_at);
