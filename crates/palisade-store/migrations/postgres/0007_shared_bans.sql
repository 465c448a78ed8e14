-- Temporary bans of client addresses that keep tripping the firewall. A node that bans an address writes it
-- here; every node reads the active ones every few seconds, so an address banned by one node is refused by all.
CREATE TABLE shield_bans (
    ip TEXT PRIMARY KEY NOT NULL,
    banned_until BIGINT NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX shield_bans_until ON shield_bans (banned_until);
