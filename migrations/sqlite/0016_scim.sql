-- SCIM 2.0 provisioning (issue 12, part 2). Kept in step with migrations/postgres/0016_scim.sql.

-- Bearer tokens of provisioning clients (the personnel system). Only a hash is kept; a token
-- limited to an OPD unit may touch only accounts and units in that unit's subtree.
CREATE TABLE scim_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    token_hash   TEXT NOT NULL UNIQUE,
    opd_id       TEXT REFERENCES opd_units (id),
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);

-- The provisioning client's own identifier for a person or a unit (SCIM `externalId`).
ALTER TABLE accounts ADD COLUMN external_id TEXT;
CREATE INDEX accounts_external_id ON accounts (external_id);
CREATE INDEX accounts_email ON accounts (email);
ALTER TABLE opd_units ADD COLUMN external_id TEXT;
