-- An installed app's API token (issue #19, the app form): issued at its install, revoked at its removal, and held to
-- the protected customer data level (0, 1, 2) its release declared. Both are NULL on tokens staff create.
ALTER TABLE api_tokens ADD COLUMN extension_id TEXT;
ALTER TABLE api_tokens ADD COLUMN data_level INTEGER;
CREATE INDEX api_tokens_by_extension ON api_tokens (store_id, extension_id);
