-- Advisories against extensions (issue #19 items 4 and 7; palisade-store::extensions::advisories).
--
-- `extension_release_advisories` is the operator's feed matched against every release in the catalog (rewritten
-- whole by each sync), so every node reads the same answer from the database instead of its own copy of the feed.
-- `extension_findings` is each store's life of a match: open while its installed version is affected, fixed when a
-- rematch no longer finds it (updated, removed, or the advisory withdrawn), or accepted by staff with a reason
-- until an expiry (at most 90 days); `opened_at` is when it was first found and never moves. A critical advisory
-- without a fixed release gets the install disabled by the platform 3 days after `critical_since`
-- (`disabled_at`, `disabled_reason` on the install): its plugin and theme stop.
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
    -- The oldest checked release newer than `version` that no critical or high advisory affects (NULL: none).
    fixed_in TEXT,
    -- Since when it has been critical with no fixed release: the platform disables the install 3 days later.
    critical_since BIGINT,
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
