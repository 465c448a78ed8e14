-- An order's Idempotency-Key is bound to who sent it and to what they sent: a SHA-256 over the sender (the
-- buyer's account, or a keyed hash of what a guest holds) and the request (email, address, lines). A replay is
-- answered with the order only when this matches; anything else is refused. Orders placed before this column
-- existed have none, and a replay of their key is refused (fail closed).
ALTER TABLE orders ADD COLUMN idempotency_fingerprint TEXT;
