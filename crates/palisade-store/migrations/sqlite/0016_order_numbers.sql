-- Order numbers people can quote: a per-store sequence starting at #1001 (a UUID's first digits are a timestamp,
-- so every order of a day looked alike). The store's row keeps the last number given; a checkout takes the next
-- one in its own transaction, and the unique index makes a duplicate impossible whatever happens.
ALTER TABLE orders ADD COLUMN number BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stores ADD COLUMN last_order_number BIGINT NOT NULL DEFAULT 1000;
UPDATE orders SET number = n.num
FROM (SELECT id, 1000 + ROW_NUMBER() OVER (PARTITION BY store_id ORDER BY created_at, id) AS num FROM orders) AS n
WHERE n.id = orders.id;
UPDATE stores SET last_order_number = COALESCE((SELECT MAX(o.number) FROM orders o WHERE o.store_id = stores.id), 1000);
CREATE UNIQUE INDEX orders_store_number ON orders (store_id, number);
