-- Extensions (issue #19 items 2 and 3; palisade-store::extensions): the platform's catalog of signed releases and
-- each store's installs with its update policy.
--
-- A publisher is a handle with the minisign public key its releases must be signed with. A release is immutable:
-- (extension, version) once, its archive kept as a content-addressed object (`extensions/<sha256>`) with the
-- publisher's signature beside it, so an install verifies the exact signed bytes again.
CREATE TABLE extension_publishers (
    handle TEXT PRIMARY KEY NOT NULL,
    public_key TEXT NOT NULL,
    key_id TEXT NOT NULL,
    registered_at BIGINT NOT NULL
);

CREATE TABLE extension_releases (
    extension_id TEXT NOT NULL,
    version TEXT NOT NULL,
    publisher TEXT NOT NULL REFERENCES extension_publishers (handle),
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    data_level INTEGER NOT NULL CHECK (data_level IN (0, 1, 2)),
    kinds TEXT NOT NULL,
    -- The plugin's hook points (comma-separated): a release adding one is not installed automatically.
    hooks TEXT NOT NULL,
    object_key TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    length BIGINT NOT NULL,
    signature TEXT NOT NULL,
    published_at BIGINT NOT NULL,
    PRIMARY KEY (extension_id, version)
);

-- One row per store and extension. `policy`: 'manual' (every update by hand), 'security' (security fixes at once),
-- 'minor' (security fixes at once, other updates within the same major version once `delay_days` old). A major
-- version is always installed by hand. `last_error` is the last failed automatic update, cleared by a success.
CREATE TABLE store_extensions (
    store_id TEXT NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    extension_id TEXT NOT NULL,
    version TEXT NOT NULL,
    policy TEXT NOT NULL CHECK (policy IN ('manual', 'security', 'minor')),
    delay_days INTEGER NOT NULL CHECK (delay_days BETWEEN 0 AND 30),
    installed_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    installed_by TEXT NOT NULL,
    last_error TEXT,
    last_error_at BIGINT,
    PRIMARY KEY (store_id, extension_id),
    FOREIGN KEY (extension_id, version) REFERENCES extension_releases (extension_id, version)
);
