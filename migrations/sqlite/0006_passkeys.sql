-- WebAuthn credentials (passkeys and security keys). `credential` is webauthn-rs's serialized
-- Passkey (public key, counter, flags); nothing secret is stored.
CREATE TABLE passkeys (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    cred_id      TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    credential   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX passkeys_account ON passkeys (account_id);
