-- Weekly security digest (palisade-store::digest).
--
-- A member's choice lives on their membership (per store): 1 = send me the digest (the default for the owners and
-- staff managers who receive it), 0 = opted out, from the Security Center or the mail's unsubscribe link.
ALTER TABLE store_members ADD COLUMN security_digest INTEGER NOT NULL DEFAULT 1;

-- One row per store and ISO week (e.g. `2026-W49`) whose digest was claimed: the insert is the claim, so two nodes
-- or a second run in the same week send nothing more.
CREATE TABLE security_digests (
    store_id TEXT NOT NULL REFERENCES stores(id),
    week TEXT NOT NULL,
    sent_at BIGINT NOT NULL,
    PRIMARY KEY (store_id, week)
);
