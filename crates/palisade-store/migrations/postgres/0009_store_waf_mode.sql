-- A store's own WAF mode and paranoia level for its paths (NULL: the platform's). A merchant may enforce more
-- than the platform, or step back to detect-only while tuning; either is audited and shown in the matrix.
ALTER TABLE store_firewall ADD COLUMN waf_mode TEXT CHECK (waf_mode IN ('off', 'detect', 'block'));
ALTER TABLE store_firewall ADD COLUMN waf_paranoia BIGINT CHECK (waf_paranoia BETWEEN 1 AND 4);
