-- Fulfilment details merchants asked for (issue #18 item 12): the carrier an order was shipped with (beside its
-- tracking number), and the options of the variant each line was bought as (size, colour …), kept on the line
-- as they were at checkout so a packing slip shows what the buyer chose even if the variant changes later.
-- Lines written before this migration take their variant's current options (the best record there is).
ALTER TABLE orders ADD COLUMN carrier TEXT;
ALTER TABLE order_items ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
UPDATE order_items SET options = COALESCE(
    (SELECT v.options FROM variants v WHERE v.id = order_items.variant_id AND v.store_id = order_items.store_id),
    '{}');
-- The store dashboard sums a store's orders by day.
CREATE INDEX orders_store_created ON orders (store_id, created_at);
