-- The SPBE identity and authorization model: the OPD tree, profiles, roles and their
-- assignment, and application access rules. Same text for SQLite and PostgreSQL.
CREATE TABLE opd_units (
    id         TEXT PRIMARY KEY,
    code       TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    parent_id  TEXT REFERENCES opd_units (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX opd_units_parent ON opd_units (parent_id);

ALTER TABLE accounts ADD COLUMN opd_id TEXT REFERENCES opd_units (id);
-- Profile attributes as JSON; `identity::profile` is the schema (names, types, scopes).
ALTER TABLE accounts ADD COLUMN profile TEXT NOT NULL DEFAULT '{}';

-- A role belongs to one application (client_id) or is global (client_id = '').
CREATE TABLE roles (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL DEFAULT '',
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    UNIQUE (client_id, name)
);

-- Assigned to one account, or to an OPD unit (its staff and the staff of units below inherit).
CREATE TABLE role_assignments (
    id         TEXT PRIMARY KEY,
    role_id    TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    account_id TEXT REFERENCES accounts (id) ON DELETE CASCADE,
    opd_id     TEXT REFERENCES opd_units (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    CHECK ((account_id IS NULL AND opd_id IS NOT NULL) OR (account_id IS NOT NULL AND opd_id IS NULL))
);
CREATE UNIQUE INDEX role_assignments_account ON role_assignments (role_id, account_id) WHERE account_id IS NOT NULL;
CREATE UNIQUE INDEX role_assignments_opd ON role_assignments (role_id, opd_id) WHERE opd_id IS NOT NULL;

-- Role ids carried by the latest tokens of a grant, so removing a role can revoke them.
ALTER TABLE grants ADD COLUMN roles TEXT NOT NULL DEFAULT '';

ALTER TABLE clients ADD COLUMN category TEXT NOT NULL DEFAULT 'umum';
ALTER TABLE clients ADD COLUMN owner_opd_id TEXT REFERENCES opd_units (id);
ALTER TABLE clients ADD COLUMN account_types TEXT NOT NULL DEFAULT 'asn citizen';
ALTER TABLE clients ADD COLUMN required_roles TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN min_level BIGINT NOT NULL DEFAULT 1;
