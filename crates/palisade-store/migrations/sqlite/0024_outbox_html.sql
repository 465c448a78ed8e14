-- Mail in a store's name: an HTML alternative beside the plain text, and the sender's display name (the store's
-- name; the address stays the platform's own, so SPF/DKIM hold and no merchant can spoof another domain).
ALTER TABLE outbox ADD COLUMN html TEXT;
ALTER TABLE outbox ADD COLUMN from_name TEXT;
