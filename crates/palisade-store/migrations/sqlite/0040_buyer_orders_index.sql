-- The fraud score asks at every checkout how many paid orders this buyer has at the store (and whether any), and
-- the only index it could use was (store_id, status): each checkout walked every paid order of the store, so a
-- checkout got slower with every order the store had taken (bench/storefront.sh, profiled: most of a checkout's
-- database time). With the buyer in the index the answer is a lookup; a guest (no buyer) finds nothing at once.
CREATE INDEX orders_store_buyer ON orders (store_id, buyer_id, status);
