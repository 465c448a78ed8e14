-- The firewall's fourth decision: a suspicious request below the block threshold is challenged (proof of work
-- in the browser) rather than let through.
ALTER TABLE shield_events DROP CONSTRAINT shield_events_action_check;
ALTER TABLE shield_events ADD CONSTRAINT shield_events_action_check CHECK (action IN ('block', 'challenge', 'log'));
