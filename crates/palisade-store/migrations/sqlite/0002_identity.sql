-- Identity: passwords, TOTP, recovery codes, sessions, login throttling, MFA policy, permissions, outbox.

ALTER TABLE accounts ADD COLUMN password_hash TEXT;
ALTER TABLE accounts ADD COLUMN password_changed_at BIGINT;

-- Fine-grained permissions on top of the role, as a JSON array of permission names.
ALTER TABLE store_members ADD COLUMN permissions TEXT NOT NULL DEFAULT '[]';

CREATE TABLE totp_credentials (
    account_id TEXT PRIMARY KEY NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    secret_sealed TEXT NOT NULL,
    confirmed_at BIGINT,
    last_step BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE recovery_codes (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX recovery_codes_account ON recovery_codes (account_id);

-- Only a hash of the cookie value is stored: a database leak does not hand out live sessions.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    mfa_at BIGINT,
    reauth_at BIGINT NOT NULL,
    ip TEXT,
    user_agent TEXT,
    revoked_at BIGINT
);
CREATE INDEX sessions_account ON sessions (account_id);

-- Failure counters per key ('account:<email>' or 'ip:<address>').
CREATE TABLE login_throttle (
    key TEXT PRIMARY KEY NOT NULL,
    failures BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL,
    blocked_until BIGINT NOT NULL
);

CREATE TABLE store_security (
    store_id TEXT PRIMARY KEY NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    require_staff_mfa INTEGER NOT NULL DEFAULT 0,
    mfa_grace_until BIGINT,
    updated_at BIGINT NOT NULL
);

CREATE TABLE known_devices (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, fingerprint)
);

CREATE TABLE outbox (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT,
    to_addr TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    sent_at BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX outbox_created ON outbox (created_at);

-- Staff invitations: a link by email, single use, expiring. Only the token's hash is stored.
CREATE TABLE invitations (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'staff')),
    token_hash TEXT NOT NULL UNIQUE,
    invited_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    accepted_at BIGINT,
    accepted_by TEXT
);
CREATE INDEX invitations_store ON invitations (store_id);

-- Passkeys (WebAuthn): the public credential as webauthn-rs serialises it, with a name the person chose.
CREATE TABLE passkeys (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    credential_id TEXT NOT NULL UNIQUE,
    passkey TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX passkeys_account ON passkeys (account_id);

-- Ceremony state between the two halves of a WebAuthn registration or sign-in (server-side, single use).
CREATE TABLE webauthn_challenges (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL CHECK (purpose IN ('register', 'authenticate')),
    state TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
