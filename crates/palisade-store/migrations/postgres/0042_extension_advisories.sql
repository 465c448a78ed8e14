-- Advisories against extensions (issue #19 items 4 and 7; palisade-store::extensions::advisories).
--
-- `extension_release_advisories` is the operator's feed matched against every release in the catalog (rewritten
-- whole by each sync), so every node reads the same answer from the database instead of its own copy of the feed.
-- `extension_findings` is each store's life of a match: open while its installed version is affected, fixed when a
-- rematch no longer finds it (updated, removed, or the advisory withdrawn), or accepted by staff with a reason
-- until an expiry (at most 90 days). A critical advisory without a fixed release gets the install disabled by the
-- platform after a grace period (`disabled_at`, `disabled_reason` on the install): its plugin and theme stop.
CREATE TABLE extension_release_advisories (
    extension_id TEXT NOT NULL,
    version TEXT NOT NULL,
    advisory_id TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('critical', 'high', 'medium', 'low', 'unknown')),
    summary TEXT NOT NULL,
    PRIMARY KEY (extension_id, version, advisory_id),
    FOREIGN KEY (extension_id, version) REFERENCES extension_releases (extension_id, version)
);

CREATE TABLE extension_findings (
    store_id TEXT NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    extension_id TEXT NOT NULL,
    advisory_id TEXT NOT NULL,
    -- The installed version the advisory matched when last seen.
    version TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('critical', 'high', 'medium', 'low', 'unknown')),
    summary TEXT NOT NULL,
    -- The oldest release newer than `version` that the advisory does not affect (NULL: no fix published).
    fixed_in TEXT,
    state TEXT NOT NULL CHECK (state IN ('open', 'fixed', 'accepted')),
    opened_at BIGINT NOT NULL,
    closed_at BIGINT,
    accepted_reason TEXT,
    accepted_until BIGINT,
    accepted_by TEXT,
    PRIMARY KEY (store_id, extension_id, advisory_id)
);

ALTER TABLE store_extensions ADD COLUMN disabled_at BIGINT;
ALTER TABLE store_extensions ADD COLUMN disabled_reason TEXT;
