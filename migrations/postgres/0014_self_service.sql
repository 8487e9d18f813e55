-- People arriving and recovering on their own (issue 11). Kept in step with
-- migrations/sqlite/0014_self_service.sql.

-- One-time links mailed or shown to people: password reset, account activation, e-mail
-- verification and citizen registration. Only a hash of the secret is kept. `target` is what the
-- link confirms: the address being verified, or the pending registration (JSON, with a password
-- hash) that becomes an account only when its link is followed. `used_at` is set once, by the
-- single UPDATE that takes the link (or when a newer link of the same purpose replaces it).
CREATE TABLE action_links (
    id          TEXT PRIMARY KEY,
    purpose     TEXT NOT NULL CHECK (purpose IN ('reset', 'activation', 'email', 'registration')),
    account_id  TEXT REFERENCES accounts (id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,
    target      TEXT NOT NULL DEFAULT '',
    issued_by   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX action_links_account ON action_links (account_id, purpose);
CREATE INDEX action_links_expiry ON action_links (expires_at);

-- Contact details are columns, not profile attributes: staff have them too, and a reset or a
-- notification must find them without parsing JSON. An address counts as verified only once a
-- link sent to it was followed. `locale` is the language the person last used, for their e-mail.
ALTER TABLE accounts ADD COLUMN email TEXT;
ALTER TABLE accounts ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE accounts ADD COLUMN phone_number TEXT;
ALTER TABLE accounts ADD COLUMN locale TEXT;
UPDATE accounts SET email = profile::jsonb ->> 'email', phone_number = profile::jsonb ->> 'phone_number',
    profile = ((profile::jsonb) - 'email' - 'phone_number')::text;

-- An application may admit only citizens whose identity an officer verified at a counter.
ALTER TABLE clients ADD COLUMN require_verified BOOLEAN NOT NULL DEFAULT FALSE;

-- Devices (browsers) a person signed in from, by a hash of a long-lived random cookie, so a
-- sign-in from a new one can be told to them.
CREATE TABLE known_devices (
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    device_hash TEXT NOT NULL,
    first_seen  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    PRIMARY KEY (account_id, device_hash)
);
