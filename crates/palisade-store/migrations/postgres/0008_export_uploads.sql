-- Merchants may upload an archive they keep (kind 'upload') to test-restore, preview and import it.
ALTER TABLE store_exports DROP CONSTRAINT store_exports_kind_check;
ALTER TABLE store_exports ADD CONSTRAINT store_exports_kind_check
    CHECK (kind IN ('export', 'restore-test', 'import', 'upload'));
